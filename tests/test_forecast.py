"""Forecasting: windows standardised by their input only (no leakage into inputs or RPs), baselines against known
answers, every forecaster on a toy set, and the real forecasting datasets."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from pimc.recurrence import series_images
from pimc.forecast import (FORECASTERS, ForecastData, ForecastSettings, RPForecaster, Windows, compare_forecasters, make_windows,
                           persistence, plot_error_by_step, plot_forecasts, ridge_forecast, run_forecaster, window_starts)
from pimc.models import Encoder, ProjectionHead, ResNetEncoder

TINY = ForecastSettings(epochs=2, batch_size=16, size=16, encoder=dict(widths=(8, 16)))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 15))
def test_future_never_leaks_into_inputs(seed, start):
    "Changing everything after the input window changes neither the inputs, their statistics nor their RPs."
    rng = np.random.default_rng(seed)
    s = rng.random((3, 2, 60)).astype(np.float32)
    s2 = s.copy(); s2[..., start + 32:] = rng.random(s2[..., start + 32:].shape) * 5
    a, b = make_windows(s, starts=(start,)), make_windows(s2, starts=(start,))
    np.testing.assert_array_equal(a.x, b.x); np.testing.assert_array_equal(a.mean, b.mean); np.testing.assert_array_equal(a.std, b.std)
    np.testing.assert_array_equal(series_images(a.x, 'rp'), series_images(b.x, 'rp'))
    assert not np.allclose(a.y, b.y)


def test_standardisation_and_inverse():
    s = np.random.default_rng(0).random((4, 3, 50)).astype(np.float32) * 0.5 + 0.2
    w = make_windows(s, 32, 10, (0, 8))
    np.testing.assert_allclose(w.x.mean(-1), 0, atol=1e-5); np.testing.assert_allclose(w.x.std(-1), 1, atol=1e-4)
    np.testing.assert_allclose(w.raw(w.y)[5], s[1, :, 8 + 32:8 + 42], atol=1e-5)
    flat = make_windows(np.ones((1, 1, 42), np.float32))
    assert np.isfinite(flat.x).all() and (flat.std >= 1e-3).all()        # a flat window does not divide by zero


@pytest.mark.parametrize('T, stride, first, last, want', [(68, None, 0, None, [0]), (68, 13, 0, None, [0, 13, 26]),
                                                          (204, 1, 143, None, list(range(143, 163)))])
def test_window_starts(T, stride, first, last, want):
    assert window_starts(T, 32, 10, stride, first, last).tolist() == want


def test_window_errors():
    with pytest.raises(ValueError, match='does not fit'): window_starts(40, 32, 10)
    with pytest.raises(ValueError, match='needs 32 \\+ 10 steps'): make_windows(np.zeros((2, 40)), starts=(0,))
    with pytest.raises(ValueError, match='fill gaps'): make_windows(np.full((2, 50), np.nan))


def test_baselines_known_answers():
    t = np.arange(60, dtype=np.float32)
    lines = np.stack([a * t + b for a, b in [(0.01, 0.2), (-0.02, 0.9), (0.005, 0.5), (0.03, 0.1)]])[:, None]
    w = make_windows(lines, starts=(0, 5, 10, 15))
    p = ridge_forecast(w, w, alphas=(1e-6,))
    np.testing.assert_allclose(p, w.y, atol=1e-3)                        # straight lines: ridge is exact
    np.testing.assert_allclose(persistence(w)[..., 0], w.x[..., -1])


def _waves(n, seed):
    rng = np.random.default_rng(seed); tt = np.arange(60)
    return (0.5 + 0.2 * np.sin(2 * np.pi * tt / 23 + rng.uniform(0, 6.3, (n, 1))) + 0.02 * rng.normal(size=(n, 60)))[:, None].astype(np.float32)


@pytest.fixture(scope='module')
def toy():
    return ForecastData(make_windows(_waves(96, 0)), make_windows(_waves(40, 1)), ('NDVI',), 'toy')


def _enc():
    bb = ResNetEncoder(3, (8, 16), norm='batch', stem_stride=2)
    return Encoder(bb, ProjectionHead(bb.out_dim, 8), 'rp', meta=dict(indices=['NDVI'], variant='rp+level', size=16))


@pytest.mark.parametrize('method, kw', [('persistence', {}), ('ridge', {}), ('cnn1d', {}), ('rp-cnn', {'use_series': False}),
                                        ('rp-cnn', {'variant': 'signed', 'skip': True}), ('rp-cnn', {'variant': 'rp+level', 'conv': True, 'skip': 'ridge'}),
                                        ('pimc-frozen', {}), ('pimc-finetune', {'skip': 'ridge'}), ('pimc-finetune', {'conv': True})])
def test_every_forecaster(toy, method, kw):
    pred, info = run_forecaster(method, toy, encoder=_enc() if method.startswith('pimc') else None, settings=TINY, **kw)
    assert pred.shape == toy.test.y.shape and np.isfinite(pred).all()


def test_ridge_skip_starts_at_ridge(toy):
    from pimc.forecast import fit_ridge
    from pimc.classify import rp_backbone
    r = fit_ridge(toy.train)
    m = RPForecaster(rp_backbone(1, widths=(8, 16)), 1, 32, 10, skip=True).set_skip(r.coef_, r.intercept_).eval()
    I = series_images(toy.test.x, 'rp', 16)
    np.testing.assert_allclose(m(I, torch.as_tensor(toy.test.x)).detach().numpy(), ridge_forecast(toy.train, toy.test), atol=1e-4)


def test_validation_split_kinds(toy):
    from pimc.forecast import validation_split
    fit, val = validation_split(toy.train, toy.n_out, 0.1, seed=3)
    assert not set(toy.train.series[fit]) & set(toy.train.series[val]) and len(fit) + len(val) == len(toy.train)
    fit, val = validation_split(toy.train, toy.n_out, 0.1, val_series=[5])
    assert set(toy.train.series[val]) == {5}
    one = make_windows(_waves(1, 2), 16, 4, np.arange(0, 41))
    fit, val = validation_split(one, 4, 0.2)
    assert one.start[fit].max() + 16 + 4 <= one.start[val].min() + 16       # no training target overlaps a validation target
    with pytest.raises(ValueError, match='holds out every one'): validation_split(toy.train, toy.n_out, 0.1, val_series=np.unique(toy.train.series))


def test_compare_and_plots(toy):
    df, preds = compare_forecasters(toy, ['persistence', 'ridge'], settings=TINY, progress=False)
    assert df.loc[1, 'RMSE NDVI'] < df.loc[0, 'RMSE NDVI']
    assert len(plot_forecasts(toy, preds, [0, 3, 5]).axes) == 4 and plot_error_by_step(toy, preds) is not None
    with pytest.raises(ValueError, match='needs a pretrained encoder'): run_forecaster('pimc-finetune', toy)
    with pytest.raises(ValueError, match='method must be one of'): run_forecaster('arima', toy)


@pytest.mark.parametrize('name, K, n_test', [('eolearn', 1, 1000), ('point_mt', 3, 20), ('tempcnn', 2, 260 * 11)])
def test_real_forecast_data(samples, name, K, n_test):
    samples()
    from pimc.splits import forecast_data
    d = forecast_data(name)
    assert d.train.x.shape[1:] == (K, 32) and len(d.test) == n_test and np.isfinite(d.test.y).all()
    if name == 'point_mt': assert d.train.start.max() + 42 <= d.test.start.min()   # temporal split, no shared step
    if name == 'eolearn': assert (d.test.start == 0).all()                           # the paper: first 32 in, next 10 out
    p = ridge_forecast(d.train, d.test)
    assert np.sqrt(((p - d.test.y) ** 2).mean()) < np.sqrt(((persistence(d.test) - d.test.y) ** 2).mean())


# ---------------------------------------------------------------- the benchmark's output folder (issue 18, item 6)
def test_benchmark_checks_out_before_training(toy, tmp_path, monkeypatch):
    "out= a file: refused before any forecaster trains; a failed write keeps the table computed."
    import pandas as pd
    import pimc.forecast as fc
    from pimc.tasks import benchmark
    from pimc.errors import PimcError
    real = fc.compare_forecasters
    monkeypatch.setattr(fc, 'compare_forecasters', lambda *a, **k: pytest.fail('trained before out= was checked'))
    f = tmp_path / 'results'; f.write_text('a file')
    with pytest.raises(PimcError, match=r'results: .*is a file, not a folder'):
        benchmark(fc.FORECAST, toy, methods=['persistence'], pretrain_source=None, out=f, progress=False)
    monkeypatch.setattr(fc, 'compare_forecasters', real)
    def full(*a, **k): raise OSError(28, 'No space left on device')
    monkeypatch.setattr(fc, 'write_results', full)
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(OSError, match='No space left on device') as e:
        benchmark(fc.FORECAST, toy, methods=['persistence', 'ridge'], pretrain_source=None, out=tmp_path / 'o',
                              progress=False)
    saved = next((tmp_path / 'cache' / 'unsaved').glob('forecast_toy-*'))
    assert pd.read_csv(saved / 'forecast_toy.csv').method.tolist() == ['persistence', 'ridge']
    assert list(e.value.results[0].method) == ['persistence', 'ridge']
