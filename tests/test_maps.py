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
from pimc.maps import embed_map, embed_patches, predict_map, predict_pixels, tile_map, write_map
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
