"""pimc.recurrence against pyts (the oracle), across backends, shapes, dtypes and bad parameters.

Tests marked `slow` import pyts (about 30 s, once per session through the `pyts_image` fixture); CI runs them.
"""
import multiprocessing
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from pimc.recurrence import (RP_VARIANTS, _percentile_rows, check_rp_params, gramian_angular_field, index_rp_stack,
                             markov_transition_field, recurrence_plot, resize_rp, series_images, threshold_rp,
                             variant_channels)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")


@pytest.fixture(scope='session')
def pyts_image():
    "pyts.image, imported once per session (~30 s with pyts 0.14.1)."
    return pytest.importorskip('pyts.image')


def series(n=6, t=40, seed=0):
    return np.random.default_rng(seed).standard_normal((n, t))


def assert_matches_pyts(ours, ref, params):
    "Binary plots must be identical; distances equal to float32 (or float64) precision."
    ours = np.asarray(ours, np.float64)
    assert ours.shape == ref.shape, params
    if params.get('threshold') is None: np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(ref).max()), err_msg=str(params))
    else: np.testing.assert_array_equal(ours, ref, err_msg=str(params))


# ---------------------------------------------------------------- pyts as the oracle

GRID = [dict(dimension=d, time_delay=tau, threshold=thr, percentage=pct)
        for d in (1, 2, 3, 0.1)
        for tau in (1, 2, 3, 0.05)
        for thr in (None, 0.5, 'point', 'distance')
        for pct in ((10,) if thr is None or isinstance(thr, float) else (0, 10, 37.5, 100))]


@pytest.mark.slow
@pytest.mark.parametrize('params', GRID, ids=str)
@pytest.mark.parametrize('backend', ['numba', 'numpy', 'torch'])
def test_grid_matches_pyts(pyts_image, params, backend):
    X = series()
    ref = pyts_image.RecurrencePlot(**params).transform(X)
    assert_matches_pyts(recurrence_plot(X, backend=backend, **params), ref, params)
    assert_matches_pyts(recurrence_plot(X, dtype='float64', backend=backend, **params), ref, params)


@pytest.mark.slow
@pytest.mark.parametrize('X', [series(4, 30).astype(np.float32), np.random.default_rng(1).integers(-50, 50, (4, 30))],
                         ids=['float32', 'int64'])
def test_input_dtypes_match_pyts(pyts_image, X):
    for params in (dict(), dict(dimension=2, threshold='point')):
        assert_matches_pyts(recurrence_plot(X, dtype='float64', **params), pyts_image.RecurrencePlot(**params).transform(X), params)


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
rp_params = st.fixed_dictionaries(dict(
    dimension=st.one_of(st.integers(1, 4), st.floats(0.01, 0.3)),
    time_delay=st.one_of(st.integers(1, 4), st.floats(0.01, 0.3)),
    threshold=st.one_of(st.none(), st.floats(1e-3, 100), st.sampled_from(['point', 'distance'])),
    percentage=st.one_of(st.integers(0, 100), st.floats(0, 100)),
))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 30)),
                    elements=st.one_of(finite, st.sampled_from([0.0, 0.5, 1.0]))),  # ties, as real indices have
       params=rp_params, backend=st.sampled_from(['numba', 'numpy', 'torch']))
def test_random_series_match_pyts(pyts_image, X, params, backend):
    T = X.shape[1]
    m = params['dimension'] if isinstance(params['dimension'], int) else int(np.ceil(params['dimension'] * T))
    tau = params['time_delay'] if isinstance(params['time_delay'], int) else int(np.ceil(params['time_delay'] * T))
    assume(m <= T and tau <= T and T - (m - 1) * tau >= 1)
    ref = pyts_image.RecurrencePlot(**params).transform(X)
    assert_matches_pyts(recurrence_plot(X, dtype='float64', backend=backend, **params), ref, params)
    assert_matches_pyts(recurrence_plot(X, backend=backend, **params), ref, params)


@settings(max_examples=200, deadline=None)
@given(D=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 60)),
                    elements=st.one_of(st.floats(0, 1e6), st.sampled_from([0.0, 1.0]))),
       q=st.one_of(st.integers(0, 100), st.floats(0, 100)))
def test_percentile_rows_is_numpy(D, q):
    np.testing.assert_array_equal(_percentile_rows(torch.from_numpy(D), q).numpy(), np.percentile(D, q, axis=1))


# ---------------------------------------------------------------- kinds, backends, shapes, dtypes

@pytest.mark.parametrize('params', [dict(), dict(dimension=2, time_delay=3), dict(threshold='point', percentage=25),
                                    dict(threshold='distance'), dict(threshold=0.7, dimension=0.1)], ids=str)
def test_numpy_torch_and_backends_agree(params):
    X = series()
    ref = recurrence_plot(X, **params)
    assert isinstance(ref, np.ndarray) and ref.dtype == np.float32
    for backend in ('numba', 'numpy', 'torch'):
        Rt = recurrence_plot(torch.from_numpy(X), backend=backend, **params)
        assert isinstance(Rt, torch.Tensor) and Rt.dtype == torch.float32
        np.testing.assert_array_equal(Rt.numpy(), ref)
        np.testing.assert_array_equal(recurrence_plot(X, backend=backend, **params), ref)


def test_float32_input_fast_path_exact():
    X = series(5, 43).astype(np.float32)
    expected = np.abs(X[:, :, None] - X[:, None, :])
    for backend in ('numba', 'numpy', 'torch'):
        np.testing.assert_array_equal(recurrence_plot(X, backend=backend), expected)


def test_dtype_default_and_float64():
    X = series()
    assert recurrence_plot(X).dtype == np.float32
    assert recurrence_plot(X, dtype=np.float64).dtype == np.float64
    assert recurrence_plot(torch.from_numpy(X), dtype=torch.float64).dtype == torch.float64
    assert recurrence_plot(X, out=np.empty((6, 40, 40))).dtype == np.float64  # dtype=None follows out


def test_channels_are_independent_series():
    X = np.random.default_rng(2).standard_normal((4, 3, 25))
    for params in (dict(), dict(dimension=2, threshold='point')):
        R = recurrence_plot(X, **params)
        assert R.shape == (4, 3, 25 - (params.get('dimension', 1) - 1), 25 - (params.get('dimension', 1) - 1))
        for c in range(3): np.testing.assert_array_equal(R[:, c], recurrence_plot(X[:, c], **params))


def test_out_is_written_and_returned():
    X = series()
    for out in (np.full((6, 40, 40), np.nan, np.float32), torch.full((6, 40, 40), float('nan'))):
        Xk = torch.from_numpy(X) if isinstance(out, torch.Tensor) else X
        assert recurrence_plot(Xk, out=out) is out
        np.testing.assert_array_equal(np.asarray(out), recurrence_plot(X))
    # a non-contiguous out is filled through a temporary
    big = np.zeros((6, 40, 80), np.float32)
    recurrence_plot(X, out=big[:, :, ::2])
    np.testing.assert_array_equal(big[:, :, ::2], recurrence_plot(X))
    assert (big[:, :, 1::2] == 0).all()
    # with size=, out has the resized shape
    out = np.empty((6, 16, 16), np.float32)
    assert recurrence_plot(X, size=16, out=out) is out


def test_symmetry_zero_diagonal_and_empty_batch():
    R = recurrence_plot(series(3, 50), dimension=3, time_delay=2)
    np.testing.assert_array_equal(R, R.transpose(0, 2, 1))
    assert (np.diagonal(R, axis1=1, axis2=2) == 0).all()
    assert recurrence_plot(np.empty((0, 10))).shape == (0, 10, 10)
    assert recurrence_plot(np.empty((0, 3, 10)), size=4).shape == (0, 3, 4, 4)


def test_requires_grad_tensor_and_noncontiguous_input():
    X = torch.from_numpy(series()).requires_grad_()
    np.testing.assert_array_equal(recurrence_plot(X).numpy(), recurrence_plot(series()))
    Xt = np.asfortranarray(series())
    np.testing.assert_array_equal(recurrence_plot(Xt), recurrence_plot(series()))


# ---------------------------------------------------------------- resizing and the index stack

@pytest.mark.parametrize('lead', [(5,), (2, 3)])
@pytest.mark.parametrize('size', [1, 16, 43, 64])
@pytest.mark.parametrize('mode', ['bilinear', 'bicubic', 'area', 'nearest'])
def test_resize_shapes(lead, size, mode):
    R = recurrence_plot(np.random.default_rng(0).random((*lead, 43)))
    for r in (R, torch.from_numpy(R)):
        y = resize_rp(r, size, mode)
        assert tuple(y.shape) == (*lead, size, size) and type(y) is type(r)
        y = np.asarray(y)
        np.testing.assert_allclose(y, np.swapaxes(y, -1, -2), atol=1e-6)


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic', 'area', 'nearest', 'nearest-exact'])
@pytest.mark.parametrize('size', [1, 16, 40, 64])
def test_resize_is_torch_interpolate(mode, size):
    "The separable matrix resize gives torch's interpolate (antialiased bilinear / bicubic) to float64 precision."
    import torch.nn.functional as F
    R = recurrence_plot(np.random.default_rng(5).random((3, 2, 40)), dtype='float64')
    kw = dict(align_corners=False, antialias=True) if mode in ('bilinear', 'bicubic') else {}
    want = F.interpolate(torch.from_numpy(R).reshape(6, 1, 40, 40), size=(size, size), mode=mode, **kw)
    want = want.reshape(3, 2, size, size)
    np.testing.assert_allclose(resize_rp(R, size, mode), want.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(resize_rp(torch.from_numpy(R), size, mode).numpy(), want.numpy(), rtol=0, atol=1e-12)
    r32 = resize_rp(R.astype(np.float32), size, mode)
    assert r32.dtype == np.float32 and np.abs(r32 - want.numpy()).max() < 1e-6
    out = np.full((3, 2, size, size), np.nan)
    assert resize_rp(R, size, mode, out=out) is out
    np.testing.assert_array_equal(out, resize_rp(R, size, mode))


def test_size_makes_lengths_agree():
    X = np.random.default_rng(0).random((4, 3, 61))
    a, b = index_rp_stack(X, size=32), index_rp_stack(X[..., :38], size=32)
    assert a.shape == b.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(a, resize_rp(recurrence_plot(X), 32), atol=1e-6)


def test_index_rp_stack_by_name():
    X = np.random.default_rng(0).random((5, 3, 20))
    by_name = {'Savi': X[:, 2], 'NDVI': X[:, 0], 'evi': X[:, 1]}
    np.testing.assert_array_equal(index_rp_stack(by_name), index_rp_stack(X))
    t = index_rp_stack({k: torch.from_numpy(v) for k, v in by_name.items()}, size=8)
    assert isinstance(t, torch.Tensor) and t.shape == (5, 3, 8, 8)


# ---------------------------------------------------------------- thresholding distances

@pytest.mark.parametrize('threshold, percentage', [('point', 0), ('point', 10), ('point', 37.5), ('point', 100),
                                                   ('distance', 5), ('distance', 50), (0.3, 10), (2.0, 10)])
def test_threshold_rp_is_recurrence_plot_threshold(threshold, percentage):
    X = np.random.default_rng(6).standard_normal((4, 3, 30))
    D = recurrence_plot(X, dtype='float64', dimension=2)
    want = recurrence_plot(X, dtype='float64', dimension=2, threshold=threshold, percentage=percentage)
    np.testing.assert_array_equal(threshold_rp(D, threshold, percentage), want)
    np.testing.assert_array_equal(threshold_rp(torch.from_numpy(D), threshold, percentage).numpy(), want)
    assert threshold_rp(D.astype(np.float32), threshold, percentage).dtype == np.float32


def test_threshold_rp_none_and_errors():
    D = recurrence_plot(series())
    assert threshold_rp(D) is D
    with pytest.raises(ValueError, match=re.escape("threshold must be > 0 (got -1)")): threshold_rp(D, -1)
    with pytest.raises(ValueError, match=re.escape("percentage must be between 0 and 100 (got 120)")):
        threshold_rp(D, 'point', 120)
    with pytest.raises(ValueError, match=re.escape("D must have shape (..., T', T') with two equal last axes (got shape")):
        threshold_rp(D[..., :39], 'point')


# ---------------------------------------------------------------- image variants (series_images)

FAST = ('rp', 'signed', 'rp+level', 'signed+level')


@pytest.mark.parametrize('variant', FAST)
@pytest.mark.parametrize('K, T, size', [(1, 12, None), (2, 23, 32), (3, 68, 16)])
def test_series_images_shapes(variant, K, T, size):
    x = np.random.default_rng(0).random((5, K, T)).astype(np.float32)
    out = series_images(x, variant, size)
    assert out.shape == (5, variant_channels(variant, K), size or T, size or T) and out.dtype == torch.float32
    empty = series_images(torch.from_numpy(x[:0]), variant, size)
    assert empty.shape == (0, variant_channels(variant, K), size or T, size or T)


def test_series_images_rp_is_recurrence_plot():
    x = np.random.default_rng(1).random((4, 3, 30)).astype(np.float32)
    np.testing.assert_allclose(series_images(x, 'rp', None).numpy(), recurrence_plot(x), atol=1e-6)
    np.testing.assert_array_equal(series_images(x, 'rp', 16).numpy(), recurrence_plot(x, size=16))
    np.testing.assert_array_equal(series_images(x, 'rp', 16, dict(threshold='point')).numpy(),
                                  recurrence_plot(x, threshold='point', size=16))
    signed = x[..., None, :] - x[..., :, None]                                     # [i, j] = x_j - x_i
    np.testing.assert_array_equal(series_images(x, 'signed', 16).numpy(), resize_rp(signed, 16))


@settings(max_examples=30, deadline=None)
@given(st.floats(-0.5, 0.5), st.integers(0, 2**31 - 1))
def test_level_invariance(c, seed):
    "The plain RP ignores an offset and a sign flip; rp+level sees the offset, signed sees the flip."
    x = np.random.default_rng(seed).random((2, 1, 20)).astype(np.float32)
    R = series_images(x, 'rp', None)
    np.testing.assert_allclose(series_images(x + np.float32(c), 'rp', None), R, atol=1e-5)
    np.testing.assert_allclose(series_images(-x, 'rp', None), R, atol=1e-6)
    np.testing.assert_allclose(series_images(-x, 'signed', None), -series_images(x, 'signed', None), atol=1e-6)
    if abs(c) > 0.01:
        shifted = series_images(x + np.float32(c), 'rp+level', None)
        assert (shifted - series_images(x, 'rp+level', None)).abs().max() > 0.009


@pytest.mark.slow
@pytest.mark.parametrize('variant', ['gasf', 'gadf', 'gasf-raw', 'mtf'])
def test_pyts_variants(variant):
    x = np.random.default_rng(0).uniform(0.1, 0.9, (3, 2, 24)).astype(np.float32)
    out = series_images(x, variant, 16)
    assert out.shape == (3, 2, 16, 16) and torch.isfinite(out).all()
    if variant == 'gasf-raw':  # keeps the level: an offset changes it
        assert (series_images(x + 0.05, variant, None) - series_images(x, variant, None)).abs().max() > 0.01
    if variant == 'gasf':      # per-series rescaling: an offset does not
        np.testing.assert_allclose(series_images(x + 0.05, variant, None), series_images(x, variant, None), atol=1e-4)


@pytest.mark.parametrize('bad, error, msg', [
    (np.full((2, 5), np.nan), ValueError, 'series contains NaN at sample 0: fill gaps first'),
    (np.zeros((2, 2, 2, 2)), ValueError, 'series must be 2-D (n_samples, n_timestamps) or 3-D'),
])
def test_series_images_errors(bad, error, msg):
    with pytest.raises(error, match=re.escape(msg)): series_images(bad)
    with pytest.raises(ValueError, match="variant must be one of 'rp'"): series_images(np.zeros((2, 5)), 'nope')
    with pytest.raises(ValueError, match="variant must be one of 'rp'"): variant_channels('nope', 3)
    with pytest.raises(ValueError, match=re.escape("size must be a positive integer or None (got 0)")):
        series_images(np.zeros((2, 5)), size=0)
    assert set(RP_VARIANTS) == {'rp', 'signed', 'rp+level', 'signed+level', 'gasf', 'gadf', 'gasf-raw', 'mtf'}


# ---------------------------------------------------------------- errors

BAD = [
    (dict(dimension='2'), TypeError, "dimension must be an integer or a float (got '2')"),
    (dict(dimension=True), TypeError, "dimension must be an integer or a float (got True)"),
    (dict(dimension=0), ValueError, "dimension must be between 1 and n_timestamps=40 when an integer (got 0)"),
    (dict(dimension=41), ValueError, "dimension must be between 1 and n_timestamps=40 when an integer (got 41)"),
    (dict(dimension=1.5), ValueError, "dimension must be in (0, 1] when a float, a fraction of n_timestamps (got 1.5)"),
    (dict(dimension=0.0), ValueError, "dimension must be in (0, 1] when a float, a fraction of n_timestamps (got 0.0)"),
    (dict(time_delay=None), TypeError, "time_delay must be an integer or a float (got None)"),
    (dict(time_delay=-2), ValueError, "time_delay must be between 1 and n_timestamps=40 when an integer (got -2)"),
    (dict(time_delay=float('nan')), ValueError, "time_delay must be in (0, 1] when a float, a fraction of n_timestamps (got nan)"),
    (dict(dimension=5, time_delay=10), ValueError,
     "n_timestamps - (dimension - 1) * time_delay = 40 - (5 - 1) * 10 = 0 (got dimension=5, time_delay=10)"),
    (dict(dimension=0.5, time_delay=0.5), ValueError, "40 - (20 - 1) * 20 = -340 (got dimension=0.5, time_delay=0.5)"),
    (dict(threshold='points'), ValueError, "threshold must be None, 'point', 'distance' or a number > 0 (got 'points')"),
    (dict(threshold=[1]), TypeError, "threshold must be None, 'point', 'distance' or a number > 0 (got [1])"),
    (dict(threshold=-1), ValueError, "threshold must be > 0 (got -1)"),
    (dict(threshold=0), ValueError, "threshold must be > 0 (got 0)"),
    (dict(percentage='10'), TypeError, "percentage must be an integer or a float (got '10')"),
    (dict(percentage=101), ValueError, "percentage must be between 0 and 100 (got 101)"),
    (dict(percentage=-0.5), ValueError, "percentage must be between 0 and 100 (got -0.5)"),
    (dict(size=0), ValueError, "size must be a positive integer or None (got 0)"),
    (dict(size=2.5), ValueError, "size must be a positive integer or None (got 2.5)"),
    (dict(dtype='int32'), ValueError, "dtype must be float32 or float64 (got 'int32')"),
    (dict(dtype=torch.float16), ValueError, "dtype must be float32 or float64 (got torch.float16)"),
    (dict(backend='cuda'), ValueError, "backend must be None, 'numba', 'numpy' or 'torch' (got 'cuda')"),
    (dict(out=np.empty((6, 39, 39), np.float32)), ValueError, "out must have shape (6, 40, 40) (got (6, 39, 39))"),
    (dict(out=torch.empty(6, 40, 40)), TypeError, "out must be a numpy array like X (got Tensor)"),
    (dict(out=[0]), TypeError, "out must be a numpy array or a torch tensor (got list)"),
    (dict(out=np.empty((6, 40, 40)), dtype='float32'), ValueError, "out has dtype float64 but dtype=float32 was asked for"),
]


@pytest.mark.parametrize('params, error, message', BAD, ids=[str(p) for p, _, _ in BAD])
def test_bad_parameters(params, error, message):
    with pytest.raises(error, match=re.escape(message)):
        recurrence_plot(series(), **params)


def test_check_params_converts_fractions_like_pyts():
    absolute = lambda T, m, tau: tuple(check_rp_params(T, dimension=m, time_delay=tau).values())
    assert absolute(43, 0.1, 0.05) == (5, 3)  # ceil(4.3), ceil(2.15)
    assert absolute(40, 1.0, 1) == (40, 1)
    assert absolute(40, np.int64(2), np.float32(0.1)) == (2, 4)


@pytest.mark.parametrize('params, error, message', [
    (dict(dimension=0), ValueError, "dimension must be >= 1 when an integer (got 0)"),   # without T: what can be
    (dict(time_delay=1.5), ValueError, "time_delay must be in (0, 1] when a float"),
    (dict(threshold='points'), ValueError, "(got 'points')"),
    (dict(percentage=101), ValueError, "percentage must be between 0 and 100 (got 101)"),
    (dict(size=-3), ValueError, "size must be a positive integer or None (got -3)"),
    (dict(variant='rqa'), ValueError, "variant must be one of 'rp', 'signed', 'rp+level'"),
    (dict(n_bins=1), ValueError, "n_bins must be an integer >= 2 (got 1)"),
    (dict(method='sum'), ValueError, "method must be one of 'summation', 'difference' (got 'sum')"),
    (dict(mode=None), ValueError, "mode must be one of 'bilinear'"),
    (dict(thresold=0.1), TypeError, "unknown parameter(s) ['thresold']"),
])
def test_check_params_without_length(params, error, message):
    with pytest.raises(error, match=re.escape(message)):
        check_rp_params(**params)
    assert check_rp_params(dimension=0.5, time_delay=3, size=None) == dict(dimension=0.5, time_delay=3, size=None)


@pytest.mark.parametrize('X, message', [
    (np.where(np.arange(60).reshape(6, 10) == 37, np.nan, 1.0),
     "X contains NaN at sample 3: fill gaps first (pimc.timeseries.fill_gaps)"),
    (torch.tensor(np.where(np.arange(60).reshape(2, 3, 10) == 41, np.nan, 1.0)),
     "X contains NaN at sample 1 (channel 1): fill gaps first (pimc.timeseries.fill_gaps)"),
    (np.where(np.arange(60).reshape(6, 10) == 5, np.inf, 1.0), "X contains an infinite value at sample 0"),
])
def test_nonfinite_input(X, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        recurrence_plot(X)


@pytest.mark.parametrize('X, error, message', [
    (np.ones(10), ValueError, "X must be 2-D (n_samples, n_timestamps) or 3-D (n_samples, n_channels, n_timestamps) (got shape (10,))"),
    (np.ones((2, 0)), ValueError, "X must have at least one timestamp (got shape (2, 0))"),
    (np.ones((2, 5), complex), TypeError, "X must hold real numbers (got dtype complex128)"),
    (np.array([['a', 'b']]), TypeError, "X must hold real numbers (got dtype <U1)"),
])
def test_bad_input(X, error, message):
    with pytest.raises(error, match=re.escape(message)):
        recurrence_plot(X)


def test_bad_resize_and_stack():
    R = recurrence_plot(series())
    with pytest.raises(ValueError, match=re.escape("mode must be one of 'bilinear', 'bicubic', 'area', 'nearest', 'nearest-exact' (got 'linear')")):
        resize_rp(R, 8, 'linear')
    with pytest.raises(ValueError, match=re.escape("R must have shape (..., T', T') with two equal last axes (got shape (6, 40, 39))")):
        resize_rp(R[..., :39], 8)
    with pytest.raises(ValueError, match=re.escape("series must have shape (N, 3, T) with channels NDVI, EVI, SAVI (got shape (6, 40))")):
        index_rp_stack(series())
    with pytest.raises(KeyError, match=re.escape("missing EVI")):
        index_rp_stack({'ndvi': series(), 'savi': series()})


# ---------------------------------------------------------------- GAF / MTF through pyts

@pytest.mark.slow
def test_gaf_and_mtf_are_pyts(pyts_image):
    X = np.random.default_rng(3).random((4, 2, 30))
    flat = X.reshape(8, 30)
    for method in ('summation', 'difference'):
        g = gramian_angular_field(X, method)
        assert g.shape == (4, 2, 30, 30) and g.dtype == np.float32
        np.testing.assert_allclose(g.reshape(8, 30, 30), pyts_image.GramianAngularField(method=method).transform(flat), atol=1e-6)
    m = markov_transition_field(torch.from_numpy(X), n_bins=4, size=16)
    assert isinstance(m, torch.Tensor) and m.shape == (4, 2, 16, 16)
    ref = resize_rp(pyts_image.MarkovTransitionField(n_bins=4).transform(flat).astype(np.float32), 16)
    np.testing.assert_allclose(m.numpy().reshape(8, 16, 16), ref, atol=1e-6)
    with pytest.raises(ValueError, match=re.escape("strategy must be one of 'quantile', 'uniform', 'normal' (got 'q'")):
        markov_transition_field(X, strategy='q')


# ---------------------------------------------------------------- import cost, CUDA

@pytest.mark.skipif('fork' not in multiprocessing.get_all_start_methods(), reason="no fork start method here")
def test_fork_after_threads_started():
    "A process forked after numba started its OpenMP threads (a DataLoader worker) gets its plots instead of being killed."
    X = series(64, 43)
    expected = recurrence_plot(X)  # starts numba's threads in this process
    with multiprocessing.get_context('fork').Pool(1) as pool:
        got = pool.apply_async(recurrence_plot, (X,)).get(timeout=120)
    np.testing.assert_array_equal(got, expected)


def test_import_is_light():
    code = "import sys, pimc.recurrence; print(sorted(m for m in ('pyts', 'numba', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]', f"import pimc.recurrence pulled in {out.strip()}"


@CUDA
@pytest.mark.cuda
@pytest.mark.parametrize('params', [dict(), dict(dimension=3, time_delay=2), dict(threshold='point'),
                                    dict(threshold='distance', percentage=30), dict(threshold=0.5)], ids=str)
def test_cuda_equals_cpu(params):
    X = torch.from_numpy(np.random.default_rng(4).standard_normal((64, 3, 43)))
    cpu = recurrence_plot(X, **params)
    gpu = recurrence_plot(X.cuda(), **params)
    assert gpu.device.type == 'cuda'
    if params.get('threshold') is None: torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-6, atol=1e-6)
    else: assert torch.equal(gpu.cpu(), cpu)
    assert resize_rp(gpu, 32).device.type == 'cuda'
