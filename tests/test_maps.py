"""Whole-tile maps on Dask: tiled == untiled (halos at every edge, tile borders), GeoTIFF/Zarr written atomically with
the input's georeference, a LocalCluster run, and errors that name the bad input."""
import numpy as np
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("rioxarray")
pytest.importorskip("dask.array")
import torch

from pimc.cube import Cube
from pimc.embed import embed_pixels
from pimc.embed import embed_patches
from pimc.maps import embed_map, predict_map, predict_pixels, tile_map, write_map
from pimc.models import PIMC

TRANSFORM = (20.0, 0.0, 399960.0, 0.0, -20.0, 5000040.0)


@pytest.fixture(scope='module')
def cube():
    from pimc.synthetic import season_dates, synth_patch
    sp = synth_patch(season_dates(0, n_dates=12), size=17, rng=3)
    mask = sp.mask.copy()
    mask[:, 0, :3] = False                                            # never-observed pixels at the tile border
    return Cube(sp.values, sp.dates, 'pastis_s2', mask=mask, crs='EPSG:32632', transform=TRANSFORM, name='t17')


def model(patch, pad='reflect', date='median'):
    torch.manual_seed(0)
    return PIMC(10, embed_dim=6, widths=(8, 16), rp_meta=dict(size=12),
                image_meta=dict(size=patch, patch_date=date, pad=pad)).eval()


@pytest.mark.parametrize('patch,pad,date', [(5, 'reflect', 'median'), (4, 'zeros', 3), (7, 'reflect', 0)])
def test_tiled_equals_untiled_image(cube, patch, pad, date):
    "Blocks of 4 x 5 px (3 along y with a 1-px last one, 4 along x): every block has halos on every inner side."
    torch.set_num_threads(1)
    m = model(patch, pad, date)
    halo = patch // 2
    da = cube.to_xarray().chunk({'y': max(4, halo), 'x': 5})
    out = embed_map(da, m, which='image')
    assert out.data.numblocks[1] >= 3 and out.data.numblocks[2] >= 3
    ref = embed_patches(cube, m)
    np.testing.assert_allclose(out.values.transpose(1, 2, 0), ref, atol=2e-5)
    assert np.isnan(out.values[:, 0, :3]).all() and np.isfinite(out.values[:, 1:]).all()


def test_tiled_equals_untiled_rp_and_predict(cube):
    torch.set_num_threads(1)
    m = model(5)
    da = cube.to_xarray().chunk({'y': 6, 'x': 4})
    np.testing.assert_allclose(embed_map(da, m).values.transpose(1, 2, 0), embed_pixels(cube, m), atol=2e-5)
    from pimc.classify import TempCNN
    clf = TempCNN(3, 5, len(cube)).eval()
    p = predict_map(da, clf)
    np.testing.assert_allclose(p.values.transpose(1, 2, 0), predict_pixels(cube, clf), atol=2e-5)
    assert list(p.band.values) == ['p0', 'p1', 'p2', 'p3', 'p4']


def test_written_geotiff_and_zarr_keep_the_georeference(cube, tmp_path):
    import rasterio
    m = embed_map(cube.to_xarray().chunk({'y': 8, 'x': 8}), model(3), which='image')
    p = write_map(m, tmp_path / 'emb.tif', progress=False)
    with rasterio.open(p) as f:
        assert f.crs.to_string() == 'EPSG:32632'
        assert tuple(f.transform)[:6] == TRANSFORM
        assert f.tags(ns='IMAGE_STRUCTURE')['LAYOUT'] == 'COG'
        np.testing.assert_allclose(f.read(), m.values, atol=1e-6)
    z = write_map(m, tmp_path / 'emb.zarr', progress=False)
    back = xr.open_zarr(z, decode_coords='all')['image_embedding']
    assert back.rio.crs.to_string() == 'EPSG:32632' and tuple(back.rio.transform())[:6] == TRANSFORM
    assert sorted(q.name for q in tmp_path.iterdir()) == ['emb.tif', 'emb.zarr']


def _fails_on_last_block(c, model=None):
    if c.shape[2] < 8: raise RuntimeError('block failed')
    return np.zeros((*c.shape[2:], 1), np.float32)


def test_write_is_atomic(cube, tmp_path):
    "A map whose computation fails leaves the file already there untouched, and no temporary file."
    good = tile_map(cube.to_xarray(), lambda c, m=None: np.ones((*c.shape[2:], 1), np.float32), ['one'], chunks=8)
    for name in ('m.tif', 'm.zarr'):
        write_map(good, tmp_path / name, progress=False)
        bad = tile_map(cube.to_xarray(), _fails_on_last_block, ['one'], chunks=8)
        with pytest.raises(RuntimeError, match='block failed'): write_map(bad, tmp_path / name, overwrite=True, progress=False)
        with pytest.raises(FileExistsError, match='overwrite=True'): write_map(good, tmp_path / name, progress=False)
    import rasterio
    with rasterio.open(tmp_path / 'm.tif') as f: assert (f.read() == 1).all()
    assert (xr.open_zarr(tmp_path / 'm.zarr')['map'].values == 1).all()
    assert sorted(q.name for q in tmp_path.iterdir()) == ['m.tif', 'm.zarr']


def test_local_cluster(cube):
    "A LocalCluster computes the same map; the model is one key of the graph, and the graph survives pickling."
    distributed = pytest.importorskip('distributed')
    import cloudpickle
    m = model(5)
    da = cube.to_xarray().chunk({'y': 6, 'x': 6})
    out = embed_map(da, m, which='image')
    assert sum('pimc-model' in str(k) for k in out.data.__dask_graph__()) == 1
    ref = embed_patches(cube, m)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as lc, \
            distributed.Client(lc):
        got = out.compute()
    np.testing.assert_allclose(got.values.transpose(1, 2, 0), ref, atol=2e-5)
    shipped = cloudpickle.loads(cloudpickle.dumps(out))                  # what worker processes receive
    np.testing.assert_allclose(shipped.compute(scheduler='sync').values.transpose(1, 2, 0), ref, atol=2e-5)


def test_bad_input_is_named(cube, tmp_path):
    m = model(5)
    da = cube.to_xarray()
    with pytest.raises(ValueError, match="no 'time' dim"): embed_map(da.isel(time=0), m)
    with pytest.raises(ValueError, match="no band coordinate"): embed_map(da.drop_vars('band'), m)
    with pytest.raises(ValueError, match=r"blocks along y are \(3, 3, 3, 3, 5\) px: the smallest \(3\) is smaller than the halo of 4"):
        embed_map(da.chunk({'y': 3, 'x': 8}), model(9), which='image')
    thin = embed_map(da.chunk({'y': 8, 'x': 8}), model(9), which='image')   # a 1-px remainder joins its neighbour
    assert thin.data.chunks[1:] == ((8, 9), (8, 9))
    nocrs = embed_map(da.drop_vars('spatial_ref'), m)
    with pytest.raises(ValueError, match="has no CRS: a GeoTIFF needs one"): write_map(nocrs, tmp_path / 'x.tif')
    with pytest.raises(ValueError, match="cannot tell the format"): write_map(nocrs, tmp_path / 'x.png')
    assert list(tmp_path.iterdir()) == []


SMOKE = __import__('pimc.experiments', fromlist=['find_notebook']).find_notebook('smoke')


def test_sweep_on_a_local_dask_cluster(tmp_path):
    "Three runs on a LocalCluster of 2 worker processes, one failing: recorded, one table; a re-run skips the finished."
    pytest.importorskip('distributed'); pytest.importorskip('papermill')
    from pimc import experiments as ex
    grid = {'lr': [0.1, 0.3, 5.0], 'fixed': {'n_steps': 20, 'n_pixels': 4}}
    (tmp_path / 'grid.yaml').write_text('lr: [0.1, 0.3, 5.0]\nfixed: {n_steps: 20, n_pixels: 4}\n')
    from pimc.cli import main
    rc = main(['sweep', str(SMOKE), '--grid', str(tmp_path / 'grid.yaml'), '--workers', '2', '--name', 'dask3',
                  '--out-root', str(tmp_path), '--executor', 'dask'])                # `pimc sweep ... --executor dask`
    assert rc == 1                                                                    # a run failed
    df = ex.collate(tmp_path / 'dask3', write=False)
    assert list(df.run) == ['lr=0.1', 'lr=0.3', 'lr=5.0'] and list(df.status) == ['complete', 'complete', 'failed']
    assert 'FloatingPointError' in df.error[2] and df.rmse[:2].notna().all()
    assert (tmp_path / 'dask3' / 'results.csv').exists()
    again = ex.sweep(SMOKE, {'lr': [0.1, 0.3], 'fixed': grid['fixed']}, name='dask3', out_root=tmp_path, executor=_Unused(),
                     progress=False)
    assert list(again.skipped) == [True, True]


class _Unused:
    "An executor that must not be used (every run is already complete)."
    def submit(self, *a, **k): raise AssertionError('a finished run was sent again')


def test_lost_worker_marks_the_run_failed(tmp_path):
    "A task that dies (a lost worker, after Dask's own retries) is recorded as a failed run with its error."
    from concurrent.futures import Future
    from pimc import experiments as ex

    class Dies:
        def submit(self, fn, *a):
            f = Future(); f.set_exception(RuntimeError('KilledWorker: worker tcp://10.0.0.7:4242 died')); return f
    df = ex.sweep(SMOKE, {'lr': [0.1, 0.2]}, name='lost', out_root=tmp_path, executor=Dies(), progress=False)
    assert list(df.status) == ['failed', 'failed'] and df.error.str.contains('RuntimeError: KilledWorker').all()
    rec = ex.read_sidecar(tmp_path / 'lost' / 'lr=0.2')
    assert rec['status'] == 'failed' and rec['params']['lr'] == 0.2 and rec['error']['cell'] is None


# -- issue 18: scale, masked pixels, clear errors up front, writes that never lose or leave anything --------------

def _noscale(da):
    "The DataArray stackstac / rioxarray give: reflectance x 10 000 and no `scale` attribute."
    out = da.copy()
    out.attrs = {}
    return out


def test_missing_scale_is_refused_up_front(cube):
    "No `scale` attribute on x 10 000 values: refused in the caller (not a map of identical embeddings or all NaN)."
    from pimc.classify import TempCNN
    m, clf = model(5), TempCNN(3, 5, len(cube)).eval()
    bare = _noscale(cube.to_xarray()).chunk({'y': 8, 'x': 8})
    for f in (lambda: embed_map(bare, m), lambda: embed_map(bare, m, which='image'), lambda: predict_map(bare, clf)):
        with pytest.raises(ValueError, match=r"no 'scale' attribute.*pass scale= \(e\.g\. scale=10000\), or sensor="):
            f()
    ref = embed_map(cube.to_xarray().chunk({'y': 8, 'x': 8}), m).values
    np.testing.assert_allclose(embed_map(bare, m, scale=10000).values, ref, atol=1e-6)
    np.testing.assert_allclose(embed_map(bare, m, sensor='pastis_s2').values, ref, atol=1e-6)
    np.testing.assert_allclose(predict_map(bare, clf, scale=10_000).values,
                               predict_pixels(cube, clf).transpose(2, 0, 1), atol=2e-5)
    with pytest.raises(ValueError, match="is scale 1 right"): embed_map(bare, m, scale=1)
    with pytest.raises(ValueError, match=r"scale must be a number > 0.*got -3"): embed_map(bare, m, scale=-3)


def test_pixel_with_every_index_value_masked_is_not_observed(cube):
    "Reflectances all out of range (a wrong scale) mask every index value: such a pixel is not observed (NaN), loudly."
    from pimc.bands import get_sensor
    from pimc.embed import pixel_rps
    wrong = Cube(cube.values, cube.dates, get_sensor('pastis_s2', 1.0), mask=cube.mask)
    with pytest.warns(UserWarning, match="is the scale of sensor"):
        _, seen = pixel_rps(wrong, [5, 6], [5, 7], 12)
    assert not seen.any()
    with pytest.warns(UserWarning, match="is the scale of sensor"):
        assert np.isnan(embed_pixels(wrong, model(5))).all()
    v = np.asarray(cube.values).copy()
    v[:, :, 4, 4] = 30000                                             # one pixel: every value saturated
    _, seen = pixel_rps(Cube(v, cube.dates, cube.sensor, mask=cube.mask), [4, 5], [4, 5], 12)
    assert seen.tolist() == [False, True]


def test_single_date_rp_warns_or_is_refused(cube):
    from pimc.embed import pixel_rps
    one = Cube(cube.values[:1], cube.dates[:1], cube.sensor)
    with pytest.warns(UserWarning, match="one date is a single 0"): pixel_rps(one, [1], [1], 12)
    with pytest.raises(ValueError, match="has 1 date .*expected a series of >= 2 dates"):
        embed_map(cube.to_xarray().isel(time=[0]), model(5))
    assert embed_map(cube.to_xarray().isel(time=[3]), model(5), which='image').shape == (6, 17, 17)


def test_rp_map_without_roles_fails_in_the_caller(cube):
    "Bands the sensor cannot name (no nir/red/blue): an error from embed_map / predict_map, before any Dask block."
    from pimc.classify import TempCNN
    da = _noscale(cube.to_xarray()).assign_coords(band=[f'C{i}' for i in range(10)]).assign_attrs(scale=10000.)
    da = da.chunk({'y': 8, 'x': 8})                                    # band names without roles
    with pytest.raises(ValueError, match=r"need the bands \['nir', 'red', 'blue'\].*pass sensor="):
        embed_map(da, model(5))
    with pytest.raises(ValueError, match=r"pass sensor="): predict_map(da, TempCNN(3, 5, len(cube)).eval())


def test_clear_errors_for_chunks_empty_input_and_date_count(cube, tmp_path):
    from pimc.classify import TempCNN
    da = cube.to_xarray()
    for bad in (0, -4, (8, 0), 2.5, 'auto'):
        with pytest.raises(ValueError, match=r"chunks must be a block size in pixels >= 1"):
            embed_map(da, model(5), chunks=bad)
    with pytest.raises(ValueError, match=r"the DataArray is empty .*expected at least one date, band and pixel"):
        tile_map(da.isel(x=slice(0, 0)), lambda c, m=None: np.zeros((*c.shape[2:], 1), np.float32), ['a'])
    with pytest.raises(ValueError, match=r"is empty .*expected at least one band and pixel"):
        write_map(embed_map(da, model(5)).isel(x=slice(0, 0)), tmp_path / 'e.zarr', progress=False)
    with pytest.raises(ValueError, match=r"the model fails on .*12 dates.*built for another number of dates"):
        predict_map(da.chunk({'y': 8, 'x': 8}), TempCNN(3, 5, 20).eval())
    with pytest.raises(ValueError, match="blocksize must be a GeoTIFF tile size"):
        write_map(embed_map(da, model(5)), tmp_path / 'b.tif', blocksize=100, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_write_2d_subset_and_class_maps(cube, tmp_path):
    "A 2-D map, a band subset, predict_map's class map (uint8 + colour table) and a user's uint8 map all write."
    import rasterio
    from pimc.classify import TempCNN
    da = cube.to_xarray().chunk({'y': 8, 'x': 8})
    m = embed_map(da, model(5))
    write_map(m.isel(band=0), tmp_path / 'one.tif', progress=False)
    write_map(m.isel(band=[1, 3]), tmp_path / 'two.tif', progress=False)
    with rasterio.open(tmp_path / 'one.tif') as f: assert f.count == 1 and f.descriptions == ('z0',)
    with rasterio.open(tmp_path / 'two.tif') as f:
        assert f.descriptions == ('z1', 'z3')
        np.testing.assert_allclose(f.read(), m.values[[1, 3]], atol=1e-6)
    cl = predict_map(da, TempCNN(3, 5, len(cube)).eval(), output='class')
    write_map(cl, tmp_path / 'class.tif', progress=False)
    with rasterio.open(tmp_path / 'class.tif') as f:
        assert f.dtypes == ('uint8',) and f.nodata == 255
        got, cmap = f.read(1), f.colormap(1)
    ref = cl.values[0]
    assert (got[np.isnan(ref)] == 255).all() and (got[~np.isnan(ref)] == ref[~np.isnan(ref)]).all()
    assert cmap[255][3] == 0 and len({cmap[k] for k in range(5)}) == 5
    mine = cl.isel(band=0).fillna(255).astype('uint8')                   # a user's uint8 map (NaN no-data attribute)
    write_map(mine, tmp_path / 'mine.tif', progress=False)
    write_map(mine, tmp_path / 'mine.zarr', progress=False)
    with rasterio.open(tmp_path / 'mine.tif') as f: assert f.dtypes == ('uint8',) and (f.read(1) == got).all()


def test_two_writers_of_one_new_path(cube, tmp_path):
    "Two write_map(overwrite=False) of one new path at once: one writes it, the other fails and replaces nothing."
    import threading
    barrier = threading.Barrier(2, timeout=60)

    def value(v):
        def fn(c, model=None):
            barrier.wait()                                              # both writers are past the existence check
            return np.full((*c.shape[2:], 1), v, np.float32)
        return fn
    for name in ('m.tif', 'm.zarr'):
        errors, done = [], []

        def write(v):
            try: write_map(tile_map(cube.to_xarray(), value(v), ['v']), tmp_path / name, progress=False); done.append(v)
            except FileExistsError as e: errors.append(str(e))
        ts = [threading.Thread(target=write, args=(v,)) for v in (1.0, 2.0)]
        for t in ts: t.start()
        for t in ts: t.join(120)
        barrier.reset()
        assert len(done) == 1 and len(errors) == 1, (done, errors)
        assert 'appeared while the map was computed' in errors[0] and 'overwrite=True' in errors[0]
        back = xr.open_zarr(tmp_path / name)['map'].values if name.endswith('zarr') else __import__('rasterio').open(
            tmp_path / name).read()
        assert (back == done[0]).all()
    assert sorted(q.name for q in tmp_path.iterdir()) == ['m.tif', 'm.zarr']


_SLOW_WRITER = '''
import sys, time, numpy as np
from pimc.cube import Cube
from pimc.maps import tile_map, write_map
def slow(c, model=None):
    time.sleep(0.3); return np.ones((*c.shape[2:], 1), np.float32)
c = Cube(np.full((2, 4, 32, 32), 1000, np.int16), ['2020-01-01', '2020-02-01'], 'cbers4_awfi', crs='EPSG:32632',
         transform=(10.0, 0.0, 0.0, 0.0, -10.0, 0.0))
print('start', flush=True)
write_map(tile_map(c.to_xarray(), slow, ['one'], chunks=4), sys.argv[1], progress=False)
'''


@pytest.mark.parametrize('name', ['m.tif', 'm.zarr'])
def test_sigterm_during_write_leaves_no_temporary(tmp_path, name):
    import os, signal, subprocess, sys, time
    out = tmp_path / 'out'; out.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(__import__('pathlib').Path(__file__).parents[1]),
                                                      os.environ.get('PYTHONPATH', '')]))
    p = subprocess.Popen([sys.executable, '-c', _SLOW_WRITER, str(out / name)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    t0 = time.time()
    while not any(out.iterdir()) and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.05)
    assert p.poll() is None, p.communicate()[1].decode()[-2000:]
    assert any(q.name.startswith('.m.') for q in out.iterdir())       # the write is under way: its temporary is there
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    assert p.returncode != 0
    assert list(out.iterdir()) == []


def test_a_killed_writers_temporaries_are_removed(cube, tmp_path):
    "Temporaries of a write_map whose process is gone (SIGKILL) are removed by the next write of that path."
    import os, subprocess, sys
    from pimc.locks import temp_path
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = temp_path(tmp_path / 'm.zarr').name.replace(f'-{os.getpid()}-', f'-{pid}-')
    (tmp_path / stale).mkdir(); (tmp_path / stale / 'x').write_text('left by a killed writer')
    mine = temp_path(tmp_path / 'm.zarr'); mine.mkdir()                  # a live writer's (this process): kept
    write_map(tile_map(cube.to_xarray(), lambda c, m=None: np.ones((*c.shape[2:], 1), np.float32), ['one']),
              tmp_path / 'm.zarr', progress=False)
    assert sorted(q.name for q in tmp_path.iterdir()) == sorted([mine.name, 'm.zarr'])


ALBERS = ('PROJCS["unnamed",GEOGCS["GRS 1980(IUGG, 1980)",DATUM["unknown",SPHEROID["GRS80",6378137,298.257222101]],'
          'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]]],'
          'PROJECTION["Albers_Conic_Equal_Area"],PARAMETER["latitude_of_center",-12],'
          'PARAMETER["longitude_of_center",-54],PARAMETER["standard_parallel_1",-2],'
          'PARAMETER["standard_parallel_2",-22],PARAMETER["false_easting",5000000],'
          'PARAMETER["false_northing",10000000],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],'
          'AXIS["Northing",NORTH]]')                                    # CBERS-4 AWFI (the sits sample): EPSG:10857


def test_custom_crs_is_written_as_its_definition(tmp_path):
    "CBERS' Albers: GeoTIFF keys give the projection itself (not EPSG:10857), Zarr a spatial_ref with crs_wkt."
    import rasterio
    from pyproj import CRS
    tifffile = pytest.importorskip('tifffile')
    c = Cube(np.full((3, 4, 16, 16), 1000, np.int16), ['2020-01-01', '2020-02-01', '2020-03-01'], 'cbers4_awfi',
             transform=(64.0, 0.0, 5794837.0, 0.0, -64.0, 9776348.0))
    da = c.to_xarray().rio.write_crs(rasterio.crs.CRS.from_wkt(ALBERS))
    m = tile_map(da, lambda c, m=None: np.ones((*c.shape[2:], 1), np.float32), ['one'])
    ref = CRS.from_wkt(ALBERS)
    for crs in (rasterio.crs.CRS.from_wkt(ALBERS), 'EPSG:10857'):
        mm = m.rio.write_crs(crs) if isinstance(crs, str) else m
        try: mm = mm.rio.write_crs(crs)
        except Exception: continue                                      # a PROJ without EPSG:10857 at all
        p = write_map(mm, tmp_path / 'a.tif', progress=False, overwrite=True)
        with tifffile.TiffFile(p) as t: keys = t.geotiff_metadata
        assert int(keys['ProjectedCSTypeGeoKey']) == 32767 and int(keys['ProjCoordTransGeoKey']) == 11   # Albers
        assert keys['ProjStdParallel1GeoKey'] == -2 and keys['ProjFalseNorthingGeoKey'] == 10_000_000
        with rasterio.open(p) as f: assert CRS.from_wkt(f.crs.to_wkt()).equals(ref, ignore_axis_order=True)
    z = write_map(m, tmp_path / 'a.zarr', progress=False)
    wkt = xr.open_zarr(z)['spatial_ref'].attrs['crs_wkt']
    assert 'Albers' in wkt and CRS.from_wkt(wkt).equals(ref, ignore_axis_order=True)


def test_tiles_aligned_to_blocks(cube):
    "Small Dask blocks are gathered into whole GeoTIFF tiles before writing (each tile compressed once)."
    from pimc.maps import _tile_aligned
    m = tile_map(cube.to_xarray().chunk({'y': 4, 'x': 6}), lambda c, m=None: np.ones((*c.shape[2:], 2), np.float32),
                 ['a', 'b'])
    a = _tile_aligned(m, 16)
    assert a.chunks[1:] == ((16, 1), (16, 1)) and (a.values == m.values).all()
    big = m.chunk({'y': 32, 'x': 32})
    assert _tile_aligned(big, 16) is big


def test_lat_lon_maps_are_written(tmp_path):
    "A map on lat/lon dims without a CRS is written on y/x with EPSG:4326; lat/lon that are not degrees: an error."
    import rasterio
    lat, lon = 45.0 - 0.01 * (np.arange(12) + 0.5), 10.0 + 0.01 * (np.arange(10) + 0.5)
    m = xr.DataArray(np.arange(120, dtype=np.float32).reshape(1, 12, 10), dims=('band', 'lat', 'lon'),
                     coords={'band': ['v'], 'lat': lat, 'lon': lon}, name='v')
    p = write_map(m, tmp_path / 'll.tif', progress=False)
    with rasterio.open(p) as f:
        assert f.crs.to_epsg() == 4326 and (f.read(1) == m.values[0]).all()
        np.testing.assert_allclose(tuple(f.transform)[:6], (0.01, 0, 10.0, 0, -0.01, 45.0), atol=1e-9)
    z = write_map(m, tmp_path / 'll.zarr', progress=False)
    assert xr.open_zarr(z, decode_coords='all')['v'].rio.crs.to_epsg() == 4326
    with pytest.raises(ValueError, match="are not degrees"):
        write_map(m.assign_coords(lat=lat * 1e4), tmp_path / 'bad.tif', progress=False)
    c = Cube(np.full((3, 4, 12, 10), 1000, np.int16), ['2020-01-01', '2020-02-01', '2020-03-01'], 'cbers4_awfi')
    da = c.to_xarray().rename(y='lat', x='lon').assign_coords(lat=lat, lon=lon)      # lat/lon dims, no CRS
    e = write_map(embed_map(da.chunk(lat=6, lon=5), model(3)), tmp_path / 'e.tif', progress=False)
    with rasterio.open(e) as f:
        assert f.crs.to_epsg() == 4326 and f.count == 6
        np.testing.assert_allclose(tuple(f.transform)[:6], (0.01, 0, 10.0, 0, -0.01, 45.0), atol=1e-9)
