"""Pixel classification: label fractions, every method on a toy split, pretrained encoders plugged in by their meta,
and the real-data splits (the image variants themselves are tested in test_recurrence)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from pimc.classify import (METHODS, ClassifyData, PixelClassifier, TempCNN, ClassifySettings, compare_methods, rp_backbone,
                           run_method, series_stats)
from pimc.fit import label_fraction, match_indices, recalibrate_bn
from pimc.recurrence import variant_channels
from pimc.models import Encoder, ProjectionHead, ResNetEncoder

TINY = ClassifySettings(epochs=2, batch_size=16, min_steps=0, size=16, encoder=dict(widths=(8, 16)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=6), st.floats(0.01, 1.0), st.integers(0, 9))
def test_label_fraction(counts, frac, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    idx = label_fraction(y, frac, seed)
    assert (np.diff(idx) > 0).all()
    got = np.bincount(y[idx], minlength=len(counts))
    for c, n in enumerate(counts):
        assert got[c] == (n if frac == 1 else min(n, max(1, round(frac * n))))


def _toy(n, seed):
    rng = np.random.default_rng(seed); tt = np.linspace(0, 2 * np.pi, 24)
    y = rng.integers(0, 2, n)
    x = (0.3 + 0.3 * y)[:, None] + 0.15 * np.sin(tt + rng.normal(0, .3, (n, 1))) + rng.normal(0, .02, (n, 24))
    return np.stack([x, 1.2 * x], 1).astype(np.float32), y


@pytest.fixture(scope='module')
def toy():
    (xtr, ytr), (xte, yte) = _toy(64, 0), _toy(40, 1)
    return ClassifyData(xtr, ytr, xte, yte, ['low', 'high'], ('NDVI', 'SAVI'), 'toy')


def _toy_encoder(variant='rp', indices=('NDVI', 'EVI', 'SAVI')):
    bb = ResNetEncoder(variant_channels(variant, len(indices)), (8, 16), norm='batch', stem_stride=2)
    return Encoder(bb, ProjectionHead(bb.out_dim, 8), 'rp', meta=dict(indices=list(indices), variant=variant, size=16))


@pytest.mark.parametrize('method, kw', [('rf', {}), ('tempcnn', {}), ('rp-cnn', {'variant': 'rp+level'}), ('rp-cnn', {'stats': True}),
                                        ('rp-cnn', {'variant': 'rp+level', 'stats': True, 'conv': True}),
                                        ('pimc-probe', {'stats': True}), ('pimc-finetune', {}), ('pimc-finetune', {'stats': True, 'conv': True})])
def test_every_method_runs(toy, method, kw):
    enc = _toy_encoder('rp+level') if method.startswith('pimc') else None
    rep, info = run_method(method, toy, encoder=enc, settings=TINY, **kw)
    assert rep.n == 40 and 0 <= rep.oa <= 1 and info['seconds'] > 0
    if method.startswith('pimc'):
        assert info['variant'] == 'rp+level' and any('EVI channel filled with NDVI' in n for n in info['notes'])


def test_conv_branch_only_for_networks(toy):
    with pytest.raises(ValueError, match="conv=True is for 'rp-cnn' and 'pimc-finetune'"): run_method('rf', toy, conv=True)
    rep, _ = run_method('rp-cnn', toy, conv=True, settings=TINY)
    assert rep.name == 'rp-cnn [rp+conv]'


def test_minirocket(toy):
    import torch
    n = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        rep, _ = run_method('minirocket', toy)
        assert torch.get_num_threads() == 1   # numba shares torch's OpenMP runtime: MiniRocket must not reset torch's threads
    finally: torch.set_num_threads(n)
    assert rep.oa > 0.8                      # level differences are easy for MiniRocket
    with pytest.raises(ValueError, match='at least 9 time steps'):
        run_method('minirocket', ClassifyData(toy.x_train[..., :8], toy.y_train, toy.x_test[..., :8], toy.y_test, ['a', 'b'], ('NDVI', 'SAVI')))


def test_compare_and_fractions(toy):
    df, reps = compare_methods(toy, ['rf', ('rp-cnn', {'variant': 'rp', 'label': 'plain'})], fractions=(0.25, 1.0), settings=TINY, progress=False)
    assert list(df.method) == ['rf', 'plain', 'rf', 'plain'] and list(df.n_train) == [16, 16, 64, 64]
    assert ('plain', 0.25) in reps and 'F1 low' in df.columns


def test_data_checks(toy):
    with pytest.raises(ValueError, match='index names'): ClassifyData(toy.x_train, toy.y_train, toy.x_test, toy.y_test, ['a', 'b'], ('NDVI',))
    with pytest.raises(KeyError, match="indices \\('EVI',\\) requested"): toy.select_indices(('EVI',))
    assert toy.select_indices(('SAVI',)).x_train.shape == (64, 1, 24)
    with pytest.raises(KeyError, match='no NDVI to stand in'): match_indices(toy.x_train, ['EVI', 'SAVI'], ['NDVI'])
    with pytest.raises(ValueError, match='needs a pretrained encoder'): run_method('pimc-finetune', toy)
    with pytest.raises(ValueError, match='method must be one of'): run_method('svm', toy)


def test_from_encoder_keeps_stats_and_copies():
    enc = _toy_encoder(); enc.set_input_stats([1., 2., 3.], [4., 5., 6.])
    m = PixelClassifier.from_encoder(enc, 3)
    assert torch.equal(m.mean, enc.mean) and m.backbone is not enc.backbone
    x = torch.rand(4, 3, 16, 16)
    assert m(x).shape == (4, 3)


def test_recalibrate_bn_matches_data():
    m = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 1), torch.nn.BatchNorm1d(2))
    x = torch.randn(200, 1, 5) * 3 + 7
    recalibrate_bn(m, x, batch_size=64)
    h = m[0](x).detach()
    np.testing.assert_allclose(m[1].running_mean, h.mean((0, 2)), rtol=1e-4)


def test_training_is_seeded(toy):
    a = run_method('rp-cnn', toy, settings=TINY, seed=3)[0].cm
    b = run_method('rp-cnn', toy, settings=TINY, seed=3)[0].cm
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('name, K, n_classes', [('cawa', 1, 10), ('tempcnn', 2, 13), ('eolearn', 1, 4), ('modis', 1, 4)])
def test_real_splits(samples, name, K, n_classes):
    samples()
    from pimc.splits import classify_data
    d = classify_data(name)
    assert d.x_train.shape[1] == K and d.n_classes == n_classes and np.isfinite(d.x_test).all()
    assert set(np.unique(d.y_train)) == set(range(n_classes))
    if name == 'tempcnn': assert len(d.x_train) == len(d.x_test) == 260


def test_real_cawa_rf_beats_chance(samples):
    samples('cawa_central_asia')
    from pimc.splits import classify_data
    d = classify_data('cawa', cap_per_class=60)
    rep, _ = run_method('rf', d, settings=ClassifySettings(n_estimators=100))
    assert rep.oa > 0.5 and rep.macro_f1 > 0.4  # 10 classes: chance is 0.1


# ---------------------------------------------------------------- the benchmark's output folder (issue 18, item 6)
def test_benchmark_checks_out_before_training(toy, tmp_path, monkeypatch):
    "out= a file, or a folder that cannot be made: refused before the encoder is pretrained or any method trains."
    import pimc.tasks as tasks
    from pimc.classify import ABLATION, CLASSIFY
    from pimc.errors import PimcError
    monkeypatch.setattr(tasks, 'pretrain_encoder', lambda *a, **k: pytest.fail('pretrained before out= was checked'))
    f = tmp_path / 'results.md'; f.write_text('not a folder')
    for out, match in ((f, 'is a file, not a folder'), (f / 'sub', 'cannot make this folder')):
        for task in (CLASSIFY, ABLATION):
            with pytest.raises(PimcError, match=match) as e:
                tasks.benchmark(task, toy, pretrain_source='eolearn', out=out, progress=False)
            assert str(out) in str(e.value) and isinstance(e.value, ValueError)
    assert f.read_text() == 'not a folder'


def test_benchmark_keeps_the_table_when_writing_fails(toy, tmp_path, monkeypatch):
    "The disk fills up after training: the error says where the table and results went; nothing computed is lost."
    import pandas as pd
    import pimc.classify as classify
    from pimc.tasks import benchmark
    def full(*a, **k): raise OSError(28, 'No space left on device')
    monkeypatch.setattr(classify, 'write_results', full)
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(OSError, match='No space left on device') as e:
        benchmark(classify.CLASSIFY, toy, methods=['rf'], pretrain_source=None, out=tmp_path / 'out', progress=False)
    df, reps = e.value.results
    saved = next((tmp_path / 'cache' / 'unsaved').glob('classify_toy-*'))
    assert str(saved) in str(e.value) and 'classify_toy' in str(e.value)
    assert pd.read_csv(saved / 'classify_toy.csv').OA.tolist() == pytest.approx(df.OA.tolist())
    assert list(df.method) == ['rf'] and ('rf', 1.0) in reps


def test_raw_probe_sits_beside_the_pimc_probe(toy):
    from pimc.classify import BASELINES, classify_methods
    names = [m if isinstance(m, str) else m[0] for m in classify_methods()]
    assert names.index('raw-probe') + 1 == names.index('pimc-probe') and 'raw-probe' in BASELINES
    assert 'raw-probe' in [m if isinstance(m, str) else m[0] for m in classify_methods(pretrained=False)]
    rep, _ = run_method('raw-probe', toy, stats=True)
    assert rep.name == 'raw-probe [stats]' and rep.oa > 0.9


@pytest.mark.parametrize('conv', [False, True])
def test_lpft_starts_from_the_probe(toy, conv):
    from pimc.classify import ClassifyRun, _finetune_start
    from pimc.fit import linear_probe, model_features, predict_classes
    r = ClassifyRun(toy, toy.x_train, toy.y_train, toy.x_test, TINY, stats=True, conv=conv,
                    encoder=_toy_encoder('rp+level'), info={'notes': []})
    m, tr, te = _finetune_start(r)
    probe = linear_probe(model_features(m, tr), toy.y_train, model_features(m, te), TINY.probe_C)
    np.testing.assert_array_equal(predict_classes(m, te), probe)      # step 0 of fine-tuning = the linear probe
    r.head = 'random'; m2, _, te2 = _finetune_start(r)
    assert not torch.equal(m2.head.weight, m.head.weight)


def test_finetune_options(toy):
    enc = _toy_encoder('rp+level')
    rep, info = run_method('pimc-finetune', toy, encoder=enc, settings=TINY, head='random', lr_ratio=1)
    assert rep.name == 'pimc-finetune [rp+level+random head+lr_ratio 1]' and info['head'] == 'random'
    with pytest.raises(ValueError, match="options of 'pimc-finetune'"): run_method('rp-cnn', toy, head='random')
    with pytest.raises(ValueError, match="head must be 'probe' or 'random'"):
        run_method('pimc-finetune', toy, encoder=enc, settings=TINY, head='linear')


@pytest.mark.parametrize('block, split_col', [(16, 64), (8, 20), (16, 40), (5, 64)])
def test_worldcover_split_is_spatial(block, split_col):
    from pimc.splits import worldcover_split
    rng = np.random.default_rng(block + split_col)
    r, c = np.divmod(np.arange(3 * 128 * 128) % (128 * 128), 128); cube = np.arange(3 * 128 * 128) // (128 * 128)
    lab = rng.integers(1, 5, len(r))
    itr, ite, kept, _ = worldcover_split(lab, r, c, cube, block, split_col, min_pixels=10, cap_per_class=200,
                                         test_cap_per_class=200)
    assert len(itr) and len(ite) and (c[ite] >= split_col).all() and (c[itr] < split_col).all()
    blk = lambda i: set(zip(cube[i], r[i] // block, c[i] // block))
    assert not blk(itr) & blk(ite)                                     # no block gives both train and test pixels


def test_worldcover_test_half_is_not_pretrained_on(samples):
    samples()
    import inspect
    from pimc.splits import greenearthnet_series, worldcover_data, worldcover_split
    from pimc.sources import SOURCES
    split = inspect.signature(worldcover_data).parameters['split_col'].default
    assert split == SOURCES['greenearthnet'].split_col == 64
    d = worldcover_data(cap_per_class=50, test_cap_per_class=50)
    assert d.x_train.shape[1:] == (3, 30) and d.n_classes == 5 and np.isfinite(d.x_test).all()
    assert d.p_test.shape == (len(d.x_test), 4, 9, 9)
    s, lab, row, col, cube, _ = greenearthnet_series()
    _, ite, _, _ = worldcover_split(lab, row, col, cube, 16, split, 100, 50, 50)
    assert (col[ite] >= 64).all()


def test_series_plus_patch_probe(toy):
    from dataclasses import replace
    from pimc.classify import classify_methods
    rng = np.random.default_rng(0)
    pt = lambda y: (rng.normal(0, .1, (len(y), 4, 5, 5)) + y[:, None, None, None]).astype(np.float32)
    d = replace(toy, p_train=pt(toy.y_train), p_test=pt(toy.y_test))
    bb = ResNetEncoder(4, (8, 16), norm='batch', stem_stride=1)
    img = Encoder(bb, ProjectionHead(bb.out_dim, 8), 'image', meta=dict(size=5))
    rep, _ = run_method('pimc-probe+patch', d, encoder=(_toy_encoder('rp+level'), img), stats=True, settings=TINY)
    assert rep.name == 'pimc-probe+patch [rp+level+stats]' and rep.oa > 0.9
    with pytest.raises(ValueError, match='needs image patches'):
        run_method('pimc-probe+patch', toy, encoder=(_toy_encoder('rp+level'), img), settings=TINY)
    with pytest.raises(ValueError, match='p_train and p_test must both be given'): replace(toy, p_train=d.p_train)
    names = lambda **kw: [m if isinstance(m, str) else m[0] for m in classify_methods(**kw)]
    assert 'pimc-probe+patch' in names(patches=True) and 'pimc-probe+patch' not in names()


def test_patch_row_only_with_the_fitting_image_encoder(toy):
    from dataclasses import replace
    from pimc.classify import CLASSIFY
    p = np.zeros((len(toy.y_train), 4, 5, 5), np.float32), np.zeros((len(toy.y_test), 4, 5, 5), np.float32)
    d = replace(toy, p_train=p[0], p_test=p[1], patch_source='greenearthnet')
    names = lambda src: [m if isinstance(m, str) else m[0] for m in CLASSIFY.default_methods(d, True, src)]
    assert 'pimc-probe+patch' in names('greenearthnet') and 'pimc-probe+patch' not in names('eolearn')
    bb = ResNetEncoder(13, (8, 16), norm='batch', stem_stride=1)
    img = Encoder(bb, ProjectionHead(bb.out_dim, 8), 'image', meta=dict(size=5, bands=['B01'] * 13))
    with pytest.raises(ValueError, match='the image encoder takes 13 bands'):
        run_method('pimc-probe+patch', d, encoder=(_toy_encoder('rp+level'), img), settings=TINY)
