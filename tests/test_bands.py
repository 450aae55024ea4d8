"""Index formulas: hand-computed values, numpy/torch agreement, parameter errors, and real Sentinel-2 data."""
import json, os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from pimc.bands import compute_indices, evi, get_sensor, ndvi, register_sensor, savi, vegetation_index, SENSORS

EOPATCH = Path(os.environ.get("PIMC_SAMPLES", Path(__file__).resolve().parents[2] / "shared" / "data")) / "eolearn_test_eopatch"


def test_band_tables_by_name():
    assert get_sensor("pastis_s2").bands == ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
    assert get_sensor("s2_l1c").bands[7:9] == ("B08", "B8A")
    assert get_sensor("eurosat_ms").bands[-1] == "B8A" and len(get_sensor("eurosat_ms").bands) == 13
    assert get_sensor("eurosat_rgb").bands == ("R", "G", "B")
    for name, (n, r, b) in {"pastis_s2": (6, 2, 0), "s2_l1c": (7, 3, 1), "eurosat_ms": (7, 3, 1), "cbers4_awfi": (3, 2, 0)}.items():
        s = get_sensor(name)
        assert (s.index("nir"), s.index("red"), s.index("blue")) == (n, r, b), name
    f2 = get_sensor("formosat2")
    assert (f2.index("nir"), f2.index("red"), f2.index("green")) == (0, 1, 2)


@pytest.mark.parametrize("name,N,R,B,expected", [
    ("NDVI", 0.5, 0.1, 0.05, 0.4 / 0.6),
    ("EVI", 0.5, 0.1, 0.05, 2.5 * 0.4 / (0.5 + 0.6 - 0.375 + 1)),
    ("SAVI", 0.5, 0.1, 0.05, 1.5 * 0.4 / 1.1),
    ("NDVI", 0.2, 0.2, 0.1, 0.0),
])
def test_hand_computed(name, N, R, B, expected):
    x = np.array([B, 0.0, R, 0, 0, 0, N, 0, 0, 0]) * 10_000  # PASTIS order, stored x 10 000
    got = vegetation_index(name, x[:, None, None], "pastis_s2").values.item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_scale_is_explicit():
    x = np.array([500.0, 0, 1000, 0, 0, 0, 5000, 0, 0, 0])[:, None, None]
    assert ndvi(x, "pastis_s2").values.item() == pytest.approx(ndvi(x / 10_000, "pastis_s2", scale=1).values.item())
    # EVI has constant terms: the scale changes the value, so it must not be guessed
    assert evi(x, "pastis_s2").values.item() != pytest.approx(evi(x, "pastis_s2", scale=1, valid_range=None).values.item())
    with pytest.warns(UserWarning, match=r"outside \[0.0, 1.5\] and are masked: is the scale of sensor 'pastis_s2' right"):
        assert not evi(x, "pastis_s2", scale=1).valid.item()     # the wrong scale is masked, not passed on


def test_safe_division_and_mask():
    x = np.zeros((10, 2, 2), np.float32)
    x[6, 0, 1], x[2, 0, 1] = 0.3, 0.1
    x[6, 1, 0] = np.nan
    x[6, 1, 1], x[2, 1, 1] = np.inf, 0.1
    r = ndvi(x, "pastis_s2", scale=1)
    assert r.valid.tolist() == [[False, True], [False, False]]
    assert np.isnan(r.values[~r.valid]).all()
    m = ndvi(x, "pastis_s2", scale=1, mask=np.array([[True, False], [True, True]]))
    assert not m.valid.any()


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 4), st.just(10), st.integers(1, 5), st.integers(1, 5)),
              elements=st.floats(0, 10_000, width=32)))
def test_numpy_torch_agree_and_ndvi_bounded(x):
    for name in ("NDVI", "EVI", "SAVI"):
        a = vegetation_index(name, x, "pastis_s2")
        t = vegetation_index(name, torch.from_numpy(x), "pastis_s2")
        assert np.array_equal(a.valid, t.valid.numpy())
        np.testing.assert_allclose(a.values[a.valid], t.values.numpy()[a.valid], rtol=1e-4, atol=1e-5)
    r = ndvi(x, "pastis_s2")
    assert (np.abs(r.values[r.valid]) <= 1 + 1e-6).all()


def test_any_leading_shape():
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 13, 5, 4)).astype(np.float32)  # (B, T, C, H, W) with L1C bands
    assert compute_indices(x, "s2_l1c").values.shape == (2, 3, 3, 5, 4)
    assert compute_indices(x.swapaxes(-3, -2), "s2_l1c", names=["SAVI"], axis=-2).values.shape == (2, 3, 5, 1, 4)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: vegetation_index("ndwi", np.ones((10, 1, 1)), "pastis_s2"), ValueError, "index must be one of NDVI, EVI, SAVI (got 'ndwi')"),
    (lambda: evi(np.ones((3, 1, 1)), "formosat2"), KeyError, "band 'blue' not found in sensor 'formosat2': bands present are NIR, R, G"),
    (lambda: ndvi(np.ones((9, 1, 1)), "pastis_s2"), ValueError, "x has 9 values along axis -3"),
    (lambda: get_sensor("sentinel3"), KeyError, "unknown sensor 'sentinel3'"),
    (lambda: register_sensor("pastis_s2", ("B1",)), ValueError, "sensor 'pastis_s2' is already registered"),
    (lambda: get_sensor("pastis_s2", scale=-1), ValueError, "scale must be > 0 (got -1)"),
])
def test_errors_name_the_problem(call, exc, msg):
    with pytest.raises(exc) as e:
        call()
    assert msg in str(e.value)


def test_user_declared_sensors():
    cb = register_sensor("test_cbers", ("B13", "B14", "B15", "B16"), 10_000,
                         roles={"blue": "B13", "green": "B14", "red": "B15", "nir": "B16"}, overwrite=True)
    x = np.array([300.0, 600, 500, 4000])[:, None]
    assert savi(x, cb, axis=0).values.item() == pytest.approx(1.5 * 0.35 / 0.95)
    SENSORS.pop("test_cbers")


@pytest.mark.skipif(not EOPATCH.exists(), reason=f"real eo-learn sample folder {EOPATCH} not found (set PIMC_SAMPLES)")
def test_ndvi_matches_eolearn_reference():
    """NDVI from REFERENCE_SCENES B08/B04 equals data/NDVI.npy at the matching dates (README.txt: index [2,1,4,3,0])."""
    ref = np.load(EOPATCH / "REFERENCE_SCENES.npy")  # (5, H, W, 13) L1C TOA reflectance, B8A after B08
    want = np.load(EOPATCH / "data" / "NDVI.npy")[[2, 1, 4, 3, 0], ..., 0]
    got = ndvi(ref, "s2_l1c", axis=-1)
    assert got.valid.mean() > 0.99
    np.testing.assert_allclose(got.values[got.valid], want[got.valid], atol=1e-6)
    dates = json.loads((EOPATCH / "timestamps.json").read_text())
    assert [dates[i][:10] for i in (2, 1, 4, 3, 0)] == ["2015-08-20", "2015-07-31", "2015-09-09", "2015-08-30", "2015-07-11"]
    # EVI and SAVI are computable on those scenes too, and well-behaved over vegetation
    e, s = evi(ref, "s2_l1c", axis=-1), savi(ref, "s2_l1c", axis=-1)
    assert e.valid.mean() > 0.99 and s.valid.mean() > 0.99
    veg = got.values > 0.6
    assert np.median(e.values[veg]) > 0.3 and np.median(s.values[veg]) > 0.3
