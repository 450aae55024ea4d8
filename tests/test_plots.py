"""The plot contract (nbs/00_plots.ipynb): every public plot takes `ax=None, show_titles=True, suptitle=None` and
returns the matplotlib Figure it drew into; a given `ax` is used (and its number checked), `suptitle` lands on the
figure. One parametrised test calls every plot on small inputs."""
import inspect
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from pimc import (classify, embed, eurosat, experiments, forecast, metrics, pairs, pastis, readers, series_tables, synthetic,
                  pretrain)
from pimc.cube import Cube


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = synthetic.make_mini_pastis(tmp_path_factory.mktemp("plots") / "mini", n_patches=2, size=16, n_dates=8)
    return synthetic.load_mini_pastis(root)


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    from PIL import Image
    root = tmp_path_factory.mktemp("eurosat")
    for k, c in enumerate(("AnnualCrop", "Forest")):
        Image.fromarray(np.full((16, 16, 3), 60 + 80 * k, np.uint8)).save(root / f"{c}_1.jpg")
    return eurosat.EuroSAT(root)


def _report(k=3):
    y = np.arange(30) % k
    return metrics.classification_report(y, np.roll(y, 1), [f"c{i}" for i in range(k)], name="toy")


def _forecast_data():
    t = np.linspace(0, 6, 48)
    s = np.sin(t + np.arange(12)[:, None]).astype(np.float32)
    w = forecast.make_windows(s, n_in=16, n_out=4)
    return forecast.ForecastData(w, w, ("NDVI",), "toy")


def _sweep():
    df = pd.DataFrame({"run": ["a", "b", "c"], "status": ["complete", "complete", "failed"], "lr": [0.1, 0.3, 1.0],
                       "loss": [1.0, 0.5, np.nan]})
    df.attrs["params"] = ["lr"]
    return df


def _table():
    rng = np.random.default_rng(0)
    return series_tables.SeriesTable(rng.random((12, 1, 6)).astype(np.float32), ("NDVI",), np.arange(12) % 2, ("a", "b"))


def _metrics_records():
    return [dict(step=s, loss=2.0 / s, lr=1e-3, logit_scale=14.0, batch_size=8) for s in range(1, 6)]


def _pair_inputs():
    df = pd.DataFrame({"method": ["rf", "pimc-rp linear"], "label_fraction": [1.0, 1.0], "OA": [0.5, 0.6],
                       "macro_F1": [0.4, 0.5], "ablation": ["none", "none"]})
    reps = {(m, 1.0): _report() for m in df.method}
    return reps, df


# name -> (how many panels, a call that takes the contract's keywords)
PLOTS = {
    "Cube.plot": (1, lambda m, c, **kw: m[0].plot(1, labels=True, **kw)),
    "readers.plot_index": (1, lambda m, c, **kw: readers.plot_index(m[0], 1, **kw)),
    "PASTIS.plot": (3, lambda m, c, **kw: pastis.PASTIS(m.root).plot(0, **kw)),
    "MiniPASTIS.plot": (5, lambda m, c, **kw: m.plot(0, n_dates=3, **kw)),
    "synthetic.plot_phenology": (1, lambda m, c, **kw: synthetic.plot_phenology(n_parcels=1, **kw)),
    "EuroSAT.plot": (2, lambda m, c, **kw: c.plot([0, 1], prediction=[0, 0], **kw)),
    "SeriesTable.plot": (1, lambda m, c, **kw: _table().plot(**kw)),
    "PixelPatchPairs.plot": (5, lambda m, c, **kw: pairs.PixelPatchPairs(m, pixels=pairs.hilbert_pixels(m, step=8),
                                                                       rp_size=8, patch_size=5).plot(0, **kw)),
    "ClassReport.plot": (1, lambda m, c, **kw: _report().plot(**kw)),
    "metrics.plot_confusion": (1, lambda m, c, **kw: metrics.plot_confusion(_report().cm, title="t", **kw)),
    "pretrain.plot_metrics": (2, lambda m, c, **kw: pretrain.plot_metrics(_metrics_records(), **kw)),
    "PretrainRun.plot": (2, lambda m, c, **kw: pretrain.PretrainRun(Path("run"), pretrain.PretrainConfig(), None, _metrics_records()).plot(
        **kw)),
    "embed.plot_embedding_map": (3, lambda m, c, **kw: embed.plot_embedding_map(m[0], np.random.default_rng(0).random(
        (16, 16, 4)).astype(np.float32), **kw)),
    "experiments.plot_metric": (1, lambda m, c, **kw: experiments.plot_metric(_sweep(), "loss", "lr", **kw)),
    "forecast.plot_forecasts": (2, lambda m, c, **kw: forecast.plot_forecasts(_forecast_data(), {}, 2, **kw)),
    "forecast.plot_error_by_step": (1, lambda m, c, **kw: forecast.plot_error_by_step(
        (d := _forecast_data()), {"copy": d.test.y}, **kw)),
    "classify.plot_pair": (2, lambda m, c, **kw: classify.plot_pair(*_pair_inputs(), 1.0, **kw)),
    "classify.plot_ablation": (1, lambda m, c, **kw: classify.plot_ablation(_pair_inputs()[1], **kw)),
}


def _public_plots() -> dict:
    "Every public `plot` method and `plot_*` function of the modules above (explorer's HoloViews panels are not plots)."
    found = {"Cube.plot": Cube.plot}
    for mod in (classify, embed, eurosat, experiments, forecast, metrics, pairs, pastis, readers, series_tables, synthetic,
                pretrain):
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and name.startswith("plot_") and obj.__module__ == mod.__name__:
                found[f"{mod.__name__.split('.')[-1]}.{name}"] = obj
            if inspect.isclass(obj) and "plot" in vars(obj) and obj.__module__ == mod.__name__:
                found[f"{name}.plot"] = obj.plot
    return found


def test_every_plot_is_listed_and_has_the_contract_keywords():
    plots = _public_plots()
    assert set(plots) <= set(PLOTS), f"plots without a contract test: {set(plots) - set(PLOTS)}"
    for name, f in plots.items():
        ps = inspect.signature(f).parameters
        assert list(ps)[-3:] == ["ax", "show_titles", "suptitle"], f"{name}: last parameters are {list(ps)[-3:]}"
        assert (ps["ax"].default, ps["show_titles"].default, ps["suptitle"].default) == (None, True, None), name


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_plot_contract(name, mini, chips):
    n, call = PLOTS[name]
    try:
        fig = call(mini, chips)
        assert isinstance(fig, Figure), f"{name} returned {type(fig).__name__}"
        titled = [a.get_title() for a in fig.axes if a.get_title()]
        bare = call(mini, chips, show_titles=False, suptitle="S")
        assert isinstance(bare, Figure) and bare._suptitle is not None and bare._suptitle.get_text() == "S"
        assert not any(a.get_title() for a in bare.axes) or not titled, f"{name}: show_titles=False kept titles"
        own = Figure(); axs = own.subplots(1, n, squeeze=False).ravel()
        got = call(mini, chips, ax=axs if n > 1 else axs[0])
        assert got is own, f"{name} did not draw into the given ax"
        with pytest.raises(ValueError, match="ax must be"):
            call(mini, chips, ax=list(Figure().subplots(1, n + 1)))
    finally:
        plt.close("all")
