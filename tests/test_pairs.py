"""Pixel-patch pairs: item format over a parameter grid, determinism, groups, patch centring and borders, samplers,
DataLoader workers (fork and spawn, memory-mapped cubes), and every kind of cube: hand-made, synthetic, eo-learn."""
import pickle, warnings

import numpy as np
import pytest
import torch

from pimc.bands import get_sensor
from pimc.cube import Cube
from pimc.recurrence import recurrence_plot
from pimc.pairs import (PixelIndex, PixelPatchPairs, hilbert_curve, hilbert_pixels, pairs_loader, pixel_groups, random_pixels,
                        stratified_pixels)

KEYS = ('rp', 'patch', 'group', 'cube', 'row', 'col', 'label')


def cube(T=10, H=18, W=21, seed=0, labels=True, mask=True, name='hand'):
    "A small PASTIS-band cube with a rising-falling NDVI, a cloud on date 2, and three classes in vertical stripes."
    rng = np.random.default_rng(seed)
    veg = np.sin(np.pi * np.linspace(0, 1, T))[:, None, None] * rng.uniform(0.3, 1, (H, W))
    soil = np.array([900, 1200, 1700, 2000, 2150, 2250, 2300, 2400, 3300, 2800.])
    leaf = np.array([250, 650, 300, 1000, 2900, 3700, 4200, 4300, 2100, 950.])
    v = soil[None, :, None, None] + veg[:, None] * (leaf - soil)[None, :, None, None]
    m = np.ones((T, H, W), bool); m[2, :6, :6] = False
    v[2][:, ~m[2]] = 5000
    lab = (np.arange(W)[None, :] * 3 // W).repeat(H, 0) if labels else None
    dates = np.datetime64('2019-01-01') + np.sort(rng.choice(365, T, replace=False))
    return Cube(v.astype(np.int16), dates, 'pastis_s2', mask=m if mask else None, labels=lab, name=name)


@pytest.fixture(scope='module')
def cubes():
    return [cube(), cube(T=7, H=12, W=12, seed=1, name='hand2')]


@pytest.fixture(scope='module')
def mini(tmp_path_factory):
    from pimc.synthetic import load_mini_pastis, make_mini_pastis
    return load_mini_pastis(make_mini_pastis(tmp_path_factory.mktemp('pairs') / 'mini', n_patches=3, size=24, seed=2))


# -- item format ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('rp_size,patch_size,pad', [(8, 15, 'reflect'), (32, 16, 'reflect'), (16, 1, 'zeros'), (24, 9, 'zeros'), (5, 32, 'reflect')])
def test_item_format(cubes, rp_size, patch_size, pad):
    ds = PixelPatchPairs(cubes, pixels=30, rp_size=rp_size, patch_size=patch_size, pad=pad)
    assert len(ds) == 60
    it = ds[7]
    assert tuple(it) == KEYS
    assert it['rp'].shape == (3, rp_size, rp_size) and it['rp'].dtype == torch.float32
    assert it['patch'].shape == (10, patch_size, patch_size) and it['patch'].dtype == torch.float32
    assert it['group'].dtype == torch.int64 and it['label'].dtype == torch.int64 and it['group'].ndim == 0
    assert all(type(it[k]) is int for k in ('cube', 'row', 'col'))
    assert torch.isfinite(it['rp']).all() and torch.isfinite(it['patch']).all()
    b = torch.utils.data.default_collate(ds.__getitems__([0, 5, 40]))
    assert b['rp'].shape == (3, 3, rp_size, rp_size) and b['cube'].tolist() == [0, 0, 1]
    assert b['label'].dtype == torch.int64 and b['row'].dtype == torch.int64


def test_getitem_matches_getitems(cubes):
    ds = PixelPatchPairs(cubes, pixels=20)
    many = ds.__getitems__([3, 25, 3, 11])
    for i, it in zip([3, 25, 3, 11], many):
        one = ds[i]
        for k in KEYS: assert torch.equal(torch.as_tensor(one[k]), torch.as_tensor(it[k])), k


def test_rp_is_the_recurrence_plot_of_the_index_series(cubes):
    ds = PixelPatchPairs(cubes, pixels=15, rp_size=12, rp_params=dict(dimension=2, time_delay=1))
    it = ds[20]
    ser = cubes[it['cube']].index_series(it['row'], it['col']).values
    np.testing.assert_allclose(it['rp'].numpy(), recurrence_plot(ser, dimension=2, size=12, backend='torch')[0], atol=1e-5)
    np.testing.assert_allclose(ds.series(20), ser[0], atol=1e-6)


def test_no_labels_gives_minus_one():
    ds = PixelPatchPairs(cube(labels=False), pixels=5)
    assert all(int(ds[i]['label']) == -1 for i in range(5))


# -- determinism and groups ----------------------------------------------------------------------------------------------

def test_same_seed_same_items(cubes):
    a, b = PixelPatchPairs(cubes, pixels=25, seed=4), PixelPatchPairs(cubes, pixels=25, seed=4)
    c = PixelPatchPairs(cubes, pixels=25, seed=5)
    assert all((x == y).all() for x, y in zip(a.pixels, b.pixels))
    assert not all((x == y).all() for x, y in zip(a.pixels, c.pixels))
    for i in (0, 17, 49):
        for k in KEYS: assert torch.equal(torch.as_tensor(a[i][k]), torch.as_tensor(b[i][k]))


@pytest.mark.parametrize('sampler', [lambda c, s: random_pixels(c, 40, seed=s), lambda c, s: stratified_pixels(c, 20, seed=s),
                                     lambda c, s: hilbert_pixels(c, 7, seed=s)])
def test_samplers_deterministic(cubes, sampler):
    a, b, c = sampler(cubes, 0), sampler(cubes, 0), sampler(cubes, 1)
    assert isinstance(a, PixelIndex) and all(x.dtype == np.int64 for x in a)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not all(len(x) == len(y) and (x == y).all() for x, y in zip(a, c))


def test_groups(cubes):
    ds = PixelPatchPairs(cubes, pixels=None)
    np.testing.assert_array_equal(ds.groups, ds.pixels.cube)
    blk = PixelPatchPairs(cubes, pixels=None, groups=6)
    n_blocks = 3 * 4 + 2 * 2                                   # 18 x 21 and 12 x 12 cubes in 6 x 6 blocks
    assert len(np.unique(blk.groups)) == n_blocks
    key = blk.pixels.cube * 1000 + (blk.pixels.row // 6) * 10 + blk.pixels.col // 6
    for g in np.unique(blk.groups): assert len(np.unique(key[blk.groups == g])) == 1
    with pytest.raises(ValueError, match="groups must be 'cube'"): pixel_groups(ds.pixels, 'block')


# -- patch centring and borders ---------------------------------------------------------------------------------------------

def impulse(H=13, W=11, r=6, c=4, T=3):
    "A float cube of zeros with reflectance 1.0 (stored 10 000) at pixel (r, c) in every band and date."
    v = np.zeros((T, 10, H, W), np.float32); v[:, :, r, c] = 10_000
    return Cube(v, np.datetime64('2019-05-01') + np.arange(T), 'pastis_s2', name='impulse')


@pytest.mark.parametrize('P', [1, 3, 4, 15, 16])
@pytest.mark.parametrize('rc', [(6, 4), (0, 0), (12, 10), (0, 10)])
def test_patch_centre_is_the_pixel(P, rc):
    r, c = rc
    cb = impulse(r=r, c=c)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')      # NDVI of an all-zero pixel is undefined: series set to 0, warned
        ds = PixelPatchPairs(cb, pixels=[[0, r, c]], patch_size=P, normalize=None, pad='zeros', patch_date=0)
    p = ds[0]['patch'].numpy()
    assert p[:, P // 2, P // 2].tolist() == [1.0] * 10              # the pixel lands at (P // 2, P // 2)
    assert p.sum() == 10                                              # and nowhere else


def test_neighbours_keep_their_offsets():
    cb = impulse(r=6, c=4)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ds = PixelPatchPairs(cb, pixels=[[0, 4, 7]], patch_size=9, normalize=None, pad='zeros', patch_date='median')
    p = ds[0]['patch'].numpy()[0]
    assert p[4 + (6 - 4), 4 + (4 - 7)] == 1.0 and p.sum() == 1.0     # impulse at offset (+2, -3) from the centre


def test_reflect_and_zero_borders():
    rng = np.random.default_rng(0)
    v = rng.uniform(0.1, 0.5, (2, 10, 9, 9)).astype(np.float32)
    cb = Cube(v, ['2019-05-01', '2019-05-06'], get_sensor('pastis_s2', scale=1.0))   # values are reflectance
    P, h = 7, 3
    z = PixelPatchPairs(cb, pixels=[[0, 0, 0]], patch_size=P, normalize=None, pad='zeros', patch_date=1)[0]['patch'].numpy()
    assert (z[:, :h] == 0).all() and (z[:, :, :h] == 0).all()        # outside the image: zeros
    np.testing.assert_allclose(z[:, h:, h:], v[1][:, :P - h, :P - h])
    rf = PixelPatchPairs(cb, pixels=[[0, 0, 0]], patch_size=P, normalize=None, pad='reflect', patch_date=1)[0]['patch'].numpy()
    np.testing.assert_allclose(rf[:, h:, h:], v[1][:, :P - h, :P - h])
    for k in range(1, h + 1):                                          # mirror without repeating the edge row/column
        np.testing.assert_allclose(rf[:, h - k], rf[:, h + k]); np.testing.assert_allclose(rf[:, :, h - k], rf[:, :, h + k])
    # zero padding happens after standardisation: padded pixels read 0 in the output
    zn = PixelPatchPairs(cb, pixels=[[0, 0, 0]], patch_size=P, pad='zeros', patch_date=1)[0]['patch'].numpy()
    assert (zn[:, :h] == 0).all() and abs(zn[:, h:, h:]).sum() > 0


def test_normalisation(cubes):
    ds = PixelPatchPairs(cubes, pixels=None)
    allp = torch.stack([ds[i]['patch'][:, 8, 8] for i in range(len(ds))])   # the centre pixels = every image pixel
    np.testing.assert_allclose(allp.mean(0), 0, atol=1e-4); np.testing.assert_allclose(allp.std(0, unbiased=False), 1, atol=1e-3)
    raw = PixelPatchPairs(cubes, pixels=None, normalize=None)
    given = PixelPatchPairs(cubes, pixels=None, normalize=(raw.mean + 0.1, raw.std * 2))
    np.testing.assert_allclose(given[3]['patch'], (raw[3]['patch'] - 0.1) / 2, atol=1e-5)
    with pytest.raises(ValueError, match='one value per patch band'): PixelPatchPairs(cubes, pixels=3, normalize=([0.] * 3, [1.] * 3))


def test_patch_dates(cubes):
    c0 = cubes[0]
    date = PixelPatchPairs(c0, pixels=[[0, 1, 1]], patch_date=str(c0.dates[2]), normalize=None, patch_size=1)[0]['patch']
    np.testing.assert_allclose(date[:, 0, 0], c0.values[2, :, 1, 1] / 1e4)          # the cloudy date, as asked
    med = PixelPatchPairs(c0, pixels=[[0, 1, 1]], normalize=None, patch_size=1)[0]['patch']
    clear = np.delete(c0.values[:, :, 1, 1], 2, axis=0) / 1e4
    np.testing.assert_allclose(med[:, 0, 0], np.median(clear, 0), atol=1e-6)         # the composite skips it
    win = PixelPatchPairs(c0, pixels=[[0, 1, 1]], normalize=None, patch_size=1, patch_date=(c0.dates[4], c0.dates[6]))[0]['patch']
    np.testing.assert_allclose(win[:, 0, 0], np.median(c0.values[4:7, :, 1, 1] / 1e4, 0), atol=1e-6)
    with pytest.raises(IndexError, match='out of range'): PixelPatchPairs(c0, pixels=2, patch_date=99)
    with pytest.raises(ValueError, match="patch_date must be 'median'"): PixelPatchPairs(c0, pixels=2, patch_date='soon')


# -- samplers ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('order', [1, 2, 3, 5])
def test_hilbert_curve(order):
    r, c = hilbert_curve(order)
    n = 1 << order
    assert len(r) == n * n and len(set(zip(r.tolist(), c.tolist()))) == n * n
    assert (np.abs(np.diff(r)) + np.abs(np.diff(c)) == 1).all()


def test_hilbert_pixels_spread():
    cb = cube(H=64, W=64, mask=False)
    hp = hilbert_pixels(cb, step=16, seed=0)
    assert len(hp) == 64 * 64 // 16
    counts = np.histogram2d(hp.row, hp.col, bins=[np.arange(0, 65, 16)] * 2)[0]
    assert counts.min() == counts.max() == 16                        # each 16 x 16 block gets exactly 16 picks
    odd = hilbert_pixels(cube(H=19, W=23, mask=False), step=4)
    assert odd.row.max() < 19 and odd.col.max() < 23 and abs(len(odd) - 19 * 23 / 4) <= 1


def test_stratified_and_observed_only(cubes):
    sp = stratified_pixels(cubes, n_per_class=25, seed=0)
    labs = np.array([cubes[c].labels[r, k] for c, r, k in zip(*sp)])
    assert np.bincount(labs).tolist() == [25, 25, 25]
    assert len(stratified_pixels(cubes, 10, exclude=(1,), classes=[0, 1, 2])) == 20
    # a pixel that is never clear is skipped by default, and warned about (series set to 0) when forced in
    cb = cube(); m = cb.mask.copy(); m[:, 3, 3] = False
    cb = Cube(cb.values, cb.dates, cb.sensor, mask=m, labels=cb.labels)
    every = random_pixels(cb, n=10_000)
    assert len(every) == 18 * 21 - 1 and not ((every.row == 3) & (every.col == 3)).any()
    with pytest.warns(UserWarning, match='1 of 1 pixels have no valid date'):
        ds = PixelPatchPairs(cb, pixels=[[0, 3, 3]])
    assert float(ds[0]['rp'].abs().sum()) == 0.0


def test_bad_input_named(cubes):
    with pytest.raises(IndexError, match=r'pixel \(18, 0\) is outside cube 0'): PixelPatchPairs(cubes, pixels=[[0, 18, 0]])
    with pytest.raises(IndexError, match='cube index 2 is out of range for 2 cubes'): PixelPatchPairs(cubes, pixels=[[2, 0, 0]])
    with pytest.raises(ValueError, match="rp_params must not contain 'size'"): PixelPatchPairs(cubes, pixels=2, rp_params={'size': 8})
    with pytest.raises(ValueError, match=r"percentage must be between 0 and 100 \(got 120\)"):
        PixelPatchPairs(cubes, pixels=2, rp_params={'threshold': 'point', 'percentage': 120})   # before any batch
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['thresold'\]"):
        PixelPatchPairs(cubes, pixels=2, rp_params={'thresold': 0.1})
    with pytest.raises(ValueError, match='patch_size must be a positive integer'): PixelPatchPairs(cubes, pixels=2, patch_size=0)
    with pytest.raises(ValueError, match="pad must be 'reflect' or 'zeros'"): PixelPatchPairs(cubes, pixels=2, pad='edge')
    other = Cube(np.ones((3, 4, 12, 12), np.int16), ['2019-01-01', '2019-02-01', '2019-03-01'], 'cbers4_awfi')
    with pytest.raises(ValueError, match='pass bands='): PixelPatchPairs([cubes[0], other], pixels=2)
    ok = PixelPatchPairs([cubes[0], other], pixels=2, bands=['blue', 'green', 'red', 'nir'])
    assert ok[3]['patch'].shape[0] == 4 and ok.bands == ('blue', 'green', 'red', 'nir')
    with pytest.raises(ValueError, match='patch_cubes\\[0\\] is 12x12 but cube 0 is 18x21'): PixelPatchPairs(cubes[:1], pixels=2, patch_cubes=[other])
    with pytest.raises(KeyError, match='EVI'): PixelPatchPairs(Cube(np.ones((3, 1, 4, 4), np.float32), ['2019-01-01', '2019-02-01', '2019-03-01'], 'index_ndvi'), pixels=2)


# -- workers and pickling --------------------------------------------------------------------------------------------------

def _batches(ds, **kw):
    dl = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=False, **kw)
    return [b for b in dl]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for k in KEYS: assert torch.equal(x[k], y[k]), k


def test_dataloader_fork_workers(cubes):
    ds = PixelPatchPairs(cubes, pixels=24)
    _same(_batches(ds, num_workers=2), _batches(ds))


def test_batch_equals_collated_items(cubes):
    ds = PixelPatchPairs(cubes, pixels=24, groups=5)
    idx = [40, 2, 17, 2, 33]
    b, items = ds.batch(idx), torch.utils.data.default_collate([ds[i] for i in idx])
    for k in KEYS: assert torch.equal(b[k], items[k]), k
    assert ds[np.array(idx)]['row'].tolist() == b['row'].tolist()    # a list/array index gives a batch


def test_pairs_loader(cubes):
    ds = PixelPatchPairs(cubes, pixels=24)
    a = list(pairs_loader(ds, batch_size=10, seed=3))
    assert len(a) == 4 and all(x['rp'].shape == (10, 3, 32, 32) for x in a)          # drop_last
    seen = torch.cat([x['cube'] * 10_000 + x['row'] * 100 + x['col'] for x in a])
    assert len(seen.unique()) == 40                                                    # no pair twice in an epoch
    _same(a, list(pairs_loader(ds, batch_size=10, seed=3)))                            # reproducible order
    assert not torch.equal(a[0]['row'], next(iter(pairs_loader(ds, batch_size=10, seed=4)))['row'])
    _same(a, list(pairs_loader(ds, batch_size=10, seed=3, num_workers=2)))             # workers change nothing
    seq = list(pairs_loader(ds, batch_size=16, shuffle=False, drop_last=False))
    assert [len(x['row']) for x in seq] == [16, 16, 16] and seq[0]['cube'].tolist() == [0] * 16


@pytest.mark.slow
def test_dataloader_spawn_workers_memmap(mini):
    "Spawned workers get the dataset pickled: memory-mapped cubes go as file references and are mapped again."
    ds = PixelPatchPairs(list(mini), pixels=16)
    blob = pickle.dumps(ds)
    assert len(blob) < sum(c.values.nbytes for c in mini) / 2
    back = pickle.loads(blob)
    assert all(isinstance(c.values, np.memmap) for c in back.cubes) and back.patch_cubes is back.cubes
    _same(_batches(ds, num_workers=2, multiprocessing_context='spawn'), _batches(ds))


# -- any cube ---------------------------------------------------------------------------------------------------------------

def test_synthetic_default_kind(mini):
    ds = PixelPatchPairs(mini, pixels=hilbert_pixels(mini, step=8), groups=8)
    it = ds[0]
    assert it['rp'].shape == (3, 32, 32) and it['patch'].shape == (10, 16, 16)
    assert len(np.unique(ds.groups)) == 3 * 9
    labels = np.array([int(ds[i]['label']) for i in range(0, len(ds), 7)])
    assert ((labels >= 0) & (labels <= 19)).all()
    fig = ds.plot(1)
    assert len(fig.axes) == 5


def test_eolearn_cube(samples):
    from pimc.readers import read_eopatch
    folder = samples('eolearn_test_eopatch')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        nd, ref = read_eopatch(folder, 'ndvi'), read_eopatch(folder, 'reference')
    ds = PixelPatchPairs(nd, pixels=stratified_pixels(nd, 20, exclude=(0,)), indices=('NDVI',), patch_cubes=ref,
                         bands=['B02', 'B03', 'B04', 'B08'], rp_size=24, patch_size=15)
    it = ds[0]
    assert it['rp'].shape == (1, 24, 24) and it['patch'].shape == (4, 15, 15)
    assert set(np.unique(ds._labels)) <= {1, 2, 3, 4, 8}
    ser = nd.values[:, 0, it['row'], it['col']]
    ok = nd.mask[:, it['row'], it['col']]
    np.testing.assert_allclose(ds.series(0)[0][ok], ser[ok], atol=1e-6)     # observed NDVI kept, gaps filled
    assert torch.isfinite(it['rp']).all()
