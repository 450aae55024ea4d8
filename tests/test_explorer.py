"""The explorer without a browser: every cube the readers give, taps through the Tap stream, every control through
its widget, the RP threshold grid against `recurrence_plot`, encoders, never-observed pixels, errors, and the time a
tap takes on a 128 x 128 cube (rendered with the bokeh backend, as in a notebook minus the browser)."""
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

hv = pytest.importorskip("holoviews")
pytest.importorskip("ipywidgets")

from pimc.cube import Cube
from pimc.explorer import (Explorer, explore, open_cube, index_stack, series_embedding, cosine_map, pixel_xy,
                           time_taps, IMAGE_MODES)
from pimc.recurrence import recurrence_plot
from pimc.sources import SOURCES as NAMED

HERE = Path(__file__).parent


@pytest.fixture(scope="module", autouse=True)
def bokeh():
    hv.extension("bokeh", logo=False)


def layer(el, group):
    "An overlay's layer by group (Curve, Scatter groups 'Observed' / 'Masked', Image, RGB, Points)."
    return next(e for e in el if e.group == group)


def title(el):
    return el.opts.get().kwargs["title"]


def toy_cube(T=14, H=12, W=9, seed=0, **kw):
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2019-01-05") + np.sort(rng.choice(360, T, replace=False))
    vals = rng.integers(300, 3000, (T, 10, H, W)).astype(np.int16)
    mask = rng.random((T, H, W)) > 0.2
    labels = rng.integers(0, 4, (H, W))
    return Cube(vals, dates, "pastis_s2", mask=mask, labels=labels, class_names=["bg", "a", "b", "c"], name="toy", **kw)


# ---------------------------------------------------------------- every cube the readers give
def _pastis_fixture(tmp_path_factory, samples):
    spec = importlib.util.spec_from_file_location("make_pastis", HERE / "data" / "make_pastis.py")
    mp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mp)
    root = mp.make_pastis(tmp_path_factory.mktemp("pastis") / "PASTIS", size=32, n=1, metadata=samples("pastis_metadata"))
    return open_cube(str(root), 0)

SOURCES = ["toy", "synthetic", "pastis", "eolearn", "eolearn-reference", "cbers4", "modis"]

@pytest.fixture(scope="module")
def cubes(tmp_path_factory):
    from pimc.readers import samples_dir
    def samples(name):
        try: return samples_dir(name)
        except FileNotFoundError as e: pytest.skip(f"real sample data not available: {e}")
    made = {}
    def get(name):
        if name not in made:
            if name == "toy": made[name] = toy_cube()
            elif name == "pastis": made[name] = _pastis_fixture(tmp_path_factory, samples)
            else:
                if NAMED[name].folder: samples(NAMED[name].folder)     # skips, naming the folder, where the real samples are absent
                made[name] = open_cube(name)
        return made[name]
    return get


@pytest.mark.parametrize("source", SOURCES)
def test_every_cube_taps(cubes, source):
    cube = cubes(source)
    T, C, H, W = cube.shape
    st = index_stack(cube)
    ex = explore(cube, series_embedding(st), patch_size=9)
    # the bokeh models the browser would get, for a cube with colour bands and one without (the others: the elements)
    plot = hv.renderer("bokeh").get_plot(ex.layout()) if source in ("toy", "eolearn") else None
    try:
        has_rgb = all(b in cube.sensor.roles for b in IMAGE_MODES["rgb"])
        assert ex.modes[0] == ("rgb" if has_rgb else st.names[0])   # no colour bands (NDVI layers): the index is the image
        for row, col in [(0, 0), (H - 1, W - 1), (H // 3, W // 2)]:
            x, y = pixel_xy(row, col, (H, W))
            ex.tap.event(x=x + 0.3, y=y - 0.3)                  # anywhere inside the pixel
            s = ex.series_dm[()]
            curves = [e for e in s if e.group == "Curve"]
            assert [c.label for c in curves] == list(st.names)
            for k, c in enumerate(curves): np.testing.assert_array_equal(c.dimension_values("index"), st.values[:, k, row, col])
            n_masked = int((~st.valid[:, :, row, col]).sum())
            assert len(layer(s, "Masked")) == n_masked and len(layer(s, "Observed")) == st.valid[:, :, row, col].sum()
            assert f"row {row}, col {col}" in title(s)
            rp = ex.plot_dm[()]
            K, gap = len(st.names), max(2, T // 10)
            assert rp.data.shape == (T, K * T + (K - 1) * gap)
            np.testing.assert_allclose(rp.data[::-1, :T], ex.distances(row, col)[0], atol=1e-6)
            p = ex.patch_dm[()]
            assert layer(p, "RGB").data.shape[:2] == (9, 9)
            sim = layer(ex.sim_dm[()], "Image").data
            assert sim.shape == (H, W)
            if np.isfinite(st.values[:, :, row, col]).all() and np.abs(series_embedding(st)[row, col]).sum() > 0:
                assert sim[row, col] == pytest.approx(1, abs=1e-5)
        for mode in ex.modes:                                   # every image mode renders at two dates
            ex.update(image=mode, t=T - 1)
            assert layer(ex.image_panel[()], "RGB").data.shape == (H, W, 3)
            ex.update(t=0)
    finally:
        if plot is not None: plot.cleanup()


def test_never_observed_pixel():
    cube = toy_cube()
    cube.mask[:, 2, 3] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # the explorer itself must not warn about it
        ex = Explorer(cube)
        ex.select(2, 3)
        s = ex.series_dm[()]
    assert "never observed" in title(s)
    assert np.isnan(layer(s, "Curve").dimension_values("index")).all()
    assert np.nanmax(ex.plot_dm[()].data) == 0                  # a flat series: an all-zero plot, as PixelPatchPairs does
    assert "never observed" in ex.info_html(2, 3)


# ---------------------------------------------------------------- the RP threshold control
GRID = [(None, 10), ("point", 5), ("point", 50), ("distance", 5), ("distance", 50), (0.02, 10), (0.2, 10)]

@pytest.mark.parametrize("dimension", [1, 3])
def test_threshold_grid_matches_recurrence_plot(dimension):
    ex = Explorer(toy_cube(), dimension=dimension)
    row, col = 4, 5
    ex.select(row, col)
    x, _ = ex.series(row, col)
    for threshold, percentage in GRID:
        ex.update(threshold=threshold, percentage=percentage)
        want = recurrence_plot(x, dimension=dimension, threshold=threshold, percentage=percentage)   # (3, S, S), origin top-left
        got = ex.plot_dm[()].data                                    # side by side, origin bottom-left
        S = want.shape[-1]; gap = max(2, S // 10)
        for k in range(3):
            np.testing.assert_allclose(got[::-1, k * (S + gap):k * (S + gap) + S], want[k], atol=1e-6, err_msg=f"{threshold} {percentage}")
        assert np.isnan(got[:, S:S + gap]).all()


def test_threshold_change_reuses_distances(monkeypatch):
    ex = Explorer(toy_cube())
    ex.select(1, 1); ex.plot_dm[()]
    calls = []
    import pimc.explorer as E
    monkeypatch.setattr(E, "rp_distances", lambda *a, **k: calls.append(a) or np.zeros((3, 14, 14)))
    for thr in ("point", "distance", 0.1, None):
        ex.update(threshold=thr)
        ex.plot_dm[()]
    assert calls == []                                           # binarising only: no new distance computation
    ex.select(2, 2); ex.plot_dm[()]
    assert len(calls) == 1


# ---------------------------------------------------------------- widgets drive the streams and the panels
def test_widgets_drive_every_panel():
    cube = toy_cube()
    ex = explore(cube, series_embedding(index_stack(cube)))
    ex.widget()
    w = ex.w
    w["t"].value = 5
    assert ex.view.contents["t"] == 5 and str(cube.dates[5]) in title(ex.image_dm[()])
    w["image"].value = "EVI"
    assert " · EVI " in title(ex.image_dm[()])
    w["labels"].value = False
    assert ex.labels_dm[()].opts.get().kwargs["alpha"] == 0
    w["index"].value = "SAVI"
    savi = ex.plot_dm[()].data                                  # SAVI alone, in the first of three slots (squares stay square)
    assert savi.shape == (14, 3 * 14 + 2 * 2) and np.isfinite(savi[:, :14]).all() and np.isnan(savi[:, 14:]).all()
    assert [e.opts.get().kwargs["visible"] for e in ex.series_dm[()] if e.group == "Curve"] == [False, False, True]
    w["threshold"].value = "point"; w["percentage"].value = 30
    assert ex.plots.contents["threshold"] == "point" and ex.plots.contents["percentage"] == 30
    d = ex.plot_dm[()].data
    assert set(np.unique(d[np.isfinite(d)])) == {0.0, 1.0}
    w["threshold"].value = "ε"; w["eps"].value = 0.07
    assert ex.plots.contents["threshold"] == 0.07
    w["patch_size"].value = 16
    assert layer(ex.patch_dm[()], "RGB").data.shape[:2] == (16, 16)
    w["patch_date"].value = "date"
    assert str(cube.dates[5]) in title(ex.patch_dm[()])
    ex.select(7, 2)
    assert w["info"].value.startswith(f"<b>pixel row 7, col 2</b> · class {cube.labels[7, 2]}")


def test_patch_matches_pixel_patch_pairs_window():
    "The patch panel cuts the window PixelPatchPairs feeds the image encoder: pixel at (P // 2, P // 2), mirrored edges."
    from pimc.pairs import patch_at
    img = np.arange(12 * 9, dtype=np.float32).reshape(12, 9)
    for P in (4, 5, 9):
        for r, c in [(0, 0), (6, 4), (11, 8)]:
            p = patch_at(img, r, c, P)
            assert p[P // 2, P // 2] == img[r, c] and np.isfinite(p).all()
            rr, cc = np.mgrid[:P, :P] + np.array([r - P // 2, c - P // 2])[:, None, None]
            inside = (rr >= 0) & (rr < 12) & (cc >= 0) & (cc < 9)
            np.testing.assert_array_equal(p[inside], img[rr[inside], cc[inside]])
            mir = np.abs(rr), np.abs(cc)                                   # reflection: -k is k, H - 1 + k is H - 1 - k
            mr, mc = np.where(mir[0] > 11, 22 - mir[0], mir[0]), np.where(mir[1] > 8, 16 - mir[1], mir[1])
            np.testing.assert_array_equal(p, img[mr, mc])


# ---------------------------------------------------------------- encoders
def test_encoder_object_and_tensor():
    torch = pytest.importorskip("torch")
    from pimc.models import PIMC
    from pimc.embed import embed_pixels
    cube = toy_cube(H=8, W=6)
    m = PIMC(10, embed_dim=8, widths=(8, 16), rp_meta=dict(size=16)).eval()
    ex = explore(cube, m.rp)
    np.testing.assert_allclose(ex.emb, embed_pixels(cube, m.rp), atol=1e-5)
    ex.select(3, 2)
    sim = layer(ex.sim_dm[()], "Image").data
    np.testing.assert_allclose(sim, cosine_map(ex.emb, 3, 2), atol=1e-6)
    assert ex.emb.shape == (8, 6, 8) and explore(cube, torch.from_numpy(ex.emb)).emb.shape == (8, 6, 8)


def test_kind_without_pyts_says_so(monkeypatch):
    import sys, builtins
    ex = Explorer(toy_cube()); ex.widget()
    real_import = builtins.__import__
    def no_pyts(name, *a, **k):
        if name.startswith("pyts"): raise ImportError("No module named 'pyts'")
        return real_import(name, *a, **k)
    monkeypatch.delitem(sys.modules, "pyts", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pyts)
    ex.w["kind"].value = "MTF"
    assert "MTF needs pyts" in ex.w["status"].value and ex.w["kind"].value == "RP" and ex.plots.contents["kind"] == "RP"


def test_errors_name_what_is_wrong():
    ex = Explorer(toy_cube())
    with pytest.raises(ValueError, match=r"image must be one of 'rgb', 'false', 'NDVI', 'EVI', 'SAVI' for cube 'toy' \(got 'ndwi'\)"):
        ex.update(image="ndwi")
    with pytest.raises(ValueError, match=r"threshold must be > 0 \(got -0.1\)"):      # pimc.recurrence.check_rp_params
        ex.update(threshold=-0.1)
    with pytest.raises(ValueError, match=r"percentage must be between 0 and 100 \(got 150\)"):
        ex.update(threshold='point', percentage=150)
    with pytest.raises(ValueError, match=r"t must be a date index in \[0, 13\] \(got 14\)"):
        ex.update(t=14)
    with pytest.raises(TypeError, match=r"unknown control\(s\) \['size'\]"):
        ex.update(size=3)
    with pytest.raises(IndexError, match=r"pixel \(12, 0\) is outside the 12x9 cube 'toy'"):
        ex.select(12, 0)
    with pytest.raises(ValueError, match="embeddings must be"):
        Explorer(toy_cube(), np.zeros((3, 3, 4)))
    nothing = Cube(np.zeros((3, 2, 4, 4), np.int16), ["2020-01-01", "2020-02-01", "2020-03-01"], ["B11", "B12"], name="swir")
    with pytest.raises(ValueError, match=r"cube 'swir' with bands \['B11', 'B12'\]: none of"):
        Explorer(nothing)


# ---------------------------------------------------------------- GASF / MTF through pyts (slow import)
@pytest.mark.slow
def test_gasf_and_mtf_through_pyts():
    from pimc.recurrence import gramian_angular_field, markov_transition_field
    ex = Explorer(toy_cube())
    ex.select(3, 3)
    x, _ = ex.series(3, 3)
    for kind, want in [("GASF", gramian_angular_field(x, "summation")), ("GADF", gramian_angular_field(x, "difference")),
                       ("MTF", markov_transition_field(x))]:
        ex.update(kind=kind)
        got = ex.plot_dm[()].data
        np.testing.assert_allclose(got[::-1, :14], want[0], atol=1e-5)
        assert title(ex.plot_dm[()]).startswith(kind)


# ---------------------------------------------------------------- responsiveness on a 128 x 128 cube
def test_tap_time_128():
    cube = open_cube("synthetic", size=128)
    assert cube.shape[2:] == (128, 128)
    ex = explore(cube, series_embedding(index_stack(cube)))
    t = time_taps(ex, n=8)
    print(f"\ntap on {cube.shape}: median {t['median_s']:.3f} s wall / {t['median_cpu_s']:.3f} s CPU, max {t['max_s']:.3f} s wall / {t['max_cpu_s']:.3f} s CPU")
    assert t["median_cpu_s"] < 1.0, t                          # CPU time: robust to other jobs on the machine
