"""The synthetic mini-PASTIS: parameter grids, ground truth vs what the indices see, the on-disk PASTIS layout read
back through the PASTIS reader, caching (reuse, refusal, overwrite, interrupted and concurrent writes)."""
import json, multiprocessing as mp, os
from pathlib import Path

import numpy as np
import pytest

from pimc.bands import compute_indices
from pimc.cube import Cube
from pimc.pastis import PASTIS, read_pastis_metadata
from pimc import synthetic as syn
from pimc.synthetic import (PHENOLOGY, SEASON_START, SEASON_END, default_data, load_mini_pastis, make_mini_pastis,
                            parcel_layout, phenology_curve, season_dates, synth_patch, vegetation_fraction, ENDMEMBERS)


@pytest.fixture(scope='module')
def patch():
    return synth_patch(season_dates(3), 64, rng=3)


@pytest.fixture(scope='module')
def mini(tmp_path_factory):
    return make_mini_pastis(tmp_path_factory.mktemp('syn') / 'mini', n_patches=5, size=24, seed=7)


# -- the pieces -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(12))
def test_season_dates_like_pastis(seed):
    d = season_dates(seed)
    assert 38 <= len(d) <= 61
    assert d.dtype == np.dtype('datetime64[D]') and (np.diff(d) > np.timedelta64(0)).all()
    assert SEASON_START <= d[0] and d[-1] <= SEASON_END
    assert (np.diff(d).astype(int) % 5 == 0).all()                 # on a 5-day revisit grid


def test_season_dates_spread_over_seeds():
    assert len({len(season_dates(s)) for s in range(20)}) > 5        # the count really varies


@pytest.mark.parametrize('size,parcel', [(16, 8), (32, 14), (64, 14), (64, 24), (128, 14)])
def test_parcel_layout_grid(size, parcel):
    pid = parcel_layout(size, parcel, rng=1)
    assert pid.shape == (size, size) and pid.dtype == np.int32
    n = pid.max() + 1
    assert (np.unique(pid[pid >= 0]) == np.arange(n)).all()
    expected = size * size / parcel ** 2
    assert expected / 4 <= n <= expected * 4 + 4, (n, expected)
    assert (pid < 0).mean() < 0.25


def test_vegetation_fraction_exact_over_soils():
    rng = np.random.default_rng(0)
    soil = ENDMEMBERS['soil'] * rng.uniform(0.7, 1.3, (50, 1))
    n = rng.uniform(0.17, 0.85, 50)
    f = vegetation_fraction(n, soil)
    assert ((0 <= f) & (f <= 1)).all()
    mix = f[:, None] * ENDMEMBERS['vegetation'] + (1 - f[:, None]) * soil
    np.testing.assert_allclose((mix[:, 6] - mix[:, 2]) / (mix[:, 6] + mix[:, 2]), n, atol=1e-12)


def test_class_calendars_differ():
    "Winter crops green in spring, summer crops in summer, meadows mown: what makes the classes separable."
    may, aug = (np.datetime64('2019-05-15') - SEASON_START).astype(int), (np.datetime64('2019-08-15') - SEASON_START).astype(int)
    at = lambda k, d: float(phenology_curve(d, **PHENOLOGY[k]))
    for winter in (2, 4, 5): assert at(winter, may) > 0.7 and at(winter, aug) < 0.25
    may1, jul = ((np.datetime64(d) - SEASON_START).astype(int) for d in ('2019-05-01', '2019-07-20'))
    for summer in (3, 7): assert at(summer, may1) < 0.25 and at(summer, jul) > 0.6
    days = np.arange(240, 400)
    assert (np.diff(phenology_curve(days, **PHENOLOGY[1])) < -0.1).sum() == 3   # three cuts


# -- one patch: ground truth vs what the indices see -------------------------------------------------------------

def test_patch_types_and_shapes(patch):
    T = len(patch.dates)
    assert patch.values.shape == (T, 10, 64, 64) and patch.values.dtype == np.int16
    assert patch.mask.shape == (T, 64, 64) and patch.mask.dtype == bool
    assert patch.target.dtype == np.uint8 and set(np.unique(patch.target)) <= {0, *PHENOLOGY}
    assert patch.values.min() >= 0


def test_patch_deterministic(patch):
    again = synth_patch(season_dates(3), 64, rng=3)
    for a, b in zip(patch, again): np.testing.assert_array_equal(a, b)
    other = synth_patch(season_dates(3), 64, rng=4)
    assert not np.array_equal(other.values, patch.values)


def test_clear_pixels_carry_the_intended_ndvi(patch):
    nd = compute_indices(patch.values, 'pastis_s2', ('NDVI',), axis=1).values[:, 0]
    err = np.abs(nd - patch.ndvi)
    assert err[patch.mask].mean() < 0.02 and np.percentile(err[patch.mask], 99) < 0.08
    assert err[~patch.mask].mean() > 0.08                               # masked pixels really are cloudy or shadowed


def test_evi_and_savi_follow_ndvi(patch):
    ix = compute_indices(patch.values, 'pastis_s2', axis=1).values       # (T, 3, H, W)
    m = patch.mask
    nd, evi, savi = (ix[:, k][m] for k in range(3))
    rank = lambda a: np.argsort(np.argsort(a))
    for other in (evi, savi):
        assert np.corrcoef(rank(nd), rank(other))[0, 1] > 0.95           # Spearman: the same signal


def test_clouds_are_bright_and_masked(patch):
    blue = patch.values[:, 0].astype(float) / 1e4
    m = patch.mask
    clear_dates = m.all((1, 2))
    assert 0.2 < clear_dates.mean() < 0.8 and 0.6 < m.mean() < 0.95
    opaque = blue > 0.3
    assert opaque.any() and not (opaque & m).any()                      # every bright (cloud-top) pixel is masked


def test_parameters_checked():
    d = season_dates(0)
    with pytest.raises(ValueError, match='no phenology for class'): synth_patch(d, 16, rng=0, class_weights={6: 1.0})
    with pytest.raises(ValueError, match='n_dates must be between 2 and'): season_dates(0, n_dates=(50, 40))
    with pytest.raises(ValueError, match='n_tiles must be 1-4'): make_mini_pastis('/nonexistent/x', n_tiles=5)
    with pytest.raises(ValueError, match='size must be an integer >= 8'): make_mini_pastis('/nonexistent/x', size=4)


# -- on disk, read back as PASTIS -------------------------------------------------------------------------------------

def test_layout_and_reader_roundtrip(mini):
    names = sorted(p.name for p in mini.iterdir())
    assert names == ['ANNOTATIONS', 'DATA_S2', 'INSTANCE_ANNOTATIONS', 'MASK_S2', 'NORM_S2_patch.json', 'SYNTHETIC.json', 'metadata.geojson']
    meta = read_pastis_metadata(mini)
    assert [p.patch_id for p in meta] == list(range(10_000, 10_005))
    assert [p.fold for p in meta] == [1, 2, 3, 4, 5]
    assert [p.tile for p in meta] == ['t30uxv', 't31tfj'] * 2 + ['t30uxv']
    np.testing.assert_array_equal(meta[0].dates, meta[2].dates)         # a tile's patches share their dates
    ds = PASTIS(mini)
    c = ds[1]
    raw = synth_patch(meta[1].dates, 24, np.random.default_rng(np.random.SeedSequence(7, spawn_key=(0, 1))))
    np.testing.assert_array_equal(np.asarray(c.values), raw.values)     # the reader sees exactly what was generated
    np.testing.assert_array_equal(c.labels, raw.target)
    assert c.mask is None                                               # plain PASTIS: no mask, like the real one
    inst = np.load(mini / 'INSTANCE_ANNOTATIONS' / 'INSTANCES_10001.npy')
    np.testing.assert_array_equal(inst, raw.parcels + 1)


def test_norm_computed_from_the_data(mini):
    norm = json.loads((mini / 'NORM_S2_patch.json').read_text())
    x = np.load(mini / 'DATA_S2' / 'S2_10002.npy').astype(float)        # the only fold-3 patch
    np.testing.assert_allclose(norm['Fold_3']['mean'], x.mean((0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(norm['Fold_3']['std'], x.std((0, 2, 3)), rtol=1e-6)


def test_load_attaches_masks(mini):
    ds = load_mini_pastis(mini)
    assert 'MiniPASTIS' in repr(ds) and len(ds) == 5
    for c in ds:
        assert c.mask.shape == (len(c), 24, 24) and c.meta['synthetic']
        assert 0.5 < c.mask.mean() < 0.98
    assert [c.meta['fold'] for c in load_mini_pastis(mini, folds=[1, 4])] == [1, 4]
    fig = ds.plot(0)
    assert len(fig.axes) >= 8


def test_missing_mask_named(tmp_path):
    root = make_mini_pastis(tmp_path / 'm', n_patches=1, size=16, seed=0)
    (root / 'MASK_S2' / 'MASK_10000.npy').unlink()
    with pytest.raises(FileNotFoundError, match='MASK_10000.npy is missing'): load_mini_pastis(root)[0]


def test_prefix_property(tmp_path):
    "The first patches of a larger set are the patches of a smaller one (per-patch seeds)."
    a = load_mini_pastis(make_mini_pastis(tmp_path / 'a', n_patches=2, size=16, seed=3))
    b = load_mini_pastis(make_mini_pastis(tmp_path / 'b', n_patches=4, size=16, seed=3))
    for i in range(2): np.testing.assert_array_equal(np.asarray(a[i].values), np.asarray(b[i].values))


# -- caching and safe writing ------------------------------------------------------------------------------------------

def test_reuse_refuse_overwrite(tmp_path):
    root = make_mini_pastis(tmp_path / 'm', n_patches=2, size=16, seed=0)
    stamp = (root / 'SYNTHETIC.json').stat().st_mtime_ns
    assert make_mini_pastis(root, n_patches=2, size=16, seed=0) == root
    assert (root / 'SYNTHETIC.json').stat().st_mtime_ns == stamp            # reused, not rewritten
    with pytest.raises(FileExistsError, match='made with other parameters'): make_mini_pastis(root, n_patches=3, size=16)
    (tmp_path / 'other').mkdir(); (tmp_path / 'other' / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='holds other files'): make_mini_pastis(tmp_path / 'other', n_patches=1, size=16)
    assert (tmp_path / 'other' / 'notes.txt').read_text() == 'mine'      # nothing of the user's is touched
    make_mini_pastis(root, n_patches=3, size=16, overwrite=True)
    assert len(load_mini_pastis(root)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m', 'other']   # no temporary folders left behind


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    real, calls = syn.synth_patch, []
    def failing(*a, **k):
        calls.append(1)
        if len(calls) == 2: raise KeyboardInterrupt('simulated Ctrl-C')
        return real(*a, **k)
    monkeypatch.setattr(syn, 'synth_patch', failing)
    with pytest.raises(KeyboardInterrupt): make_mini_pastis(tmp_path / 'm', n_patches=3, size=16)
    assert list(tmp_path.iterdir()) == []                                # neither a half set nor a temp folder
    monkeypatch.setattr(syn, 'synth_patch', real)
    assert len(load_mini_pastis(make_mini_pastis(tmp_path / 'm', n_patches=3, size=16))) == 3


def _make(root): make_mini_pastis(root, n_patches=3, size=24, seed=5); return 'ok'


def test_concurrent_generation(tmp_path):
    "Two processes asked for the same set at once both succeed and leave one complete copy."
    root = tmp_path / 'same'
    with mp.get_context('fork').Pool(2) as pool: assert pool.map(_make, [root, root]) == ['ok', 'ok']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['same']
    assert len(load_mini_pastis(root)) == 3


def test_default_data_caches(tmp_path, monkeypatch):
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path))
    d = default_data(n_patches=2, size=16)
    assert d.root == tmp_path / f'mini_pastis-v{syn.SYNTH_VERSION}-seed0-2x16'
    stamp = (d.root / 'SYNTHETIC.json').stat().st_mtime_ns
    d2 = default_data(n_patches=2, size=16)
    assert (d2.root / 'SYNTHETIC.json').stat().st_mtime_ns == stamp and len(d2) == 2
    assert default_data(root=tmp_path / 'mine', n_patches=1, size=16).root == tmp_path / 'mine'


def test_default_cache_name(monkeypatch, tmp_path):
    monkeypatch.delenv('PIMC_CACHE', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    assert syn.cache_dir() == tmp_path / 'pimc'


def test_plot_phenology():
    fig = syn.plot_phenology()
    assert len(fig.axes[0].get_lines()) == len(PHENOLOGY) * 6
