"""Gap filling: property tests against np.interp, edge handling, empty series, dates."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pimc.timeseries import fill_gaps


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 40).flatmap(lambda T: st.tuples(
    st.lists(st.floats(-1, 1), min_size=T, max_size=T),
    st.lists(st.booleans(), min_size=T, max_size=T),
    st.lists(st.integers(1, 30), min_size=T, max_size=T))))
def test_matches_np_interp_by_date(case):
    vals, ok, gaps = map(np.asarray, case)
    dates = np.cumsum(gaps).astype(float)
    x = np.where(ok, vals, np.nan).astype(np.float64)
    if not ok.any():
        with pytest.warns(UserWarning, match="no valid date"):
            f = fill_gaps(x[None], dates=dates)
        assert f.empty[0] and np.isnan(f.values).all()
        return
    f = fill_gaps(x[None], dates=dates)
    want = np.interp(dates, dates[ok], vals[ok])  # linear inside, nearest value at the edges
    np.testing.assert_allclose(f.values[0], want, rtol=1e-9, atol=1e-12)
    assert (f.valid[0] == ok).all() and not f.empty[0]


def test_axis_and_mask_kept():
    x = np.arange(24, dtype=np.float32).reshape(4, 2, 3)  # (T, H, W)
    valid = np.ones_like(x, bool)
    valid[1:3, 0, 0] = False
    f = fill_gaps(x, valid, dates=np.array(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-05"], "datetime64[D]"), axis=0)
    assert f.values.shape == x.shape and (f.valid == valid).all()
    np.testing.assert_allclose(f.values[1:3, 0, 0], [0 + 18 * 1 / 4, 0 + 18 * 2 / 4])
    assert (f.values[valid] == x[valid]).all()


def test_empty_is_reported_never_zero():
    x = np.full((3, 5), np.nan)
    x[0] = 1.0
    with pytest.warns(UserWarning, match="2 of 3 series have no valid date"):
        f = fill_gaps(x)
    assert f.empty.tolist() == [False, True, True] and np.isnan(f.values[1:]).all()
    with pytest.raises(ValueError, match="2 of 3 series"):
        fill_gaps(x, on_empty="raise")
    fill_gaps(x, on_empty="ignore")


@pytest.mark.parametrize("kw,msg", [
    (dict(on_empty="zero"), "on_empty must be 'warn', 'raise' or 'ignore' (got 'zero')"),
    (dict(dates=[3, 2, 1, 4]), "dates must be strictly increasing"),
    (dict(dates=[1, 2]), "4 expected along axis -1"),
    (dict(valid=np.ones((2, 2), bool)), "valid has shape (2, 2) but values has shape (3, 4)"),
])
def test_bad_input(kw, msg):
    with pytest.raises(ValueError) as e:
        fill_gaps(np.ones((3, 4)), **kw)
    assert msg in str(e.value)
