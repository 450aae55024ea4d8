"""A user's own arrays through the benchmarks: labels of any kind (or a clear refusal when the split is made), a
missing encoder refused before the first method trains, windows from plain series in one call, the forecast
table's n_train without the validation series, and pretraining runs cached per recipe outside the cwd."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pimc.classify as classify
from pimc.classify import ClassifyData, ClassifySettings, compare_methods
from pimc.forecast import ForecastData, ForecastSettings, compare_forecasters, window_starts

TINY = ClassifySettings(epochs=1, batch_size=16, min_steps=0, size=16, encoder=dict(widths=(8, 16)))


def _series(n, seed=0, T=24):
    rng = np.random.default_rng(seed)
    return rng.random((n, T)).astype(np.float32)


@pytest.mark.parametrize('y_train, y_test, names, want_names, want_test', [
    (['b', 'a', 'c', 'a'], ['c', 'a'], None, ['a', 'b', 'c'], [2, 0]),                 # text, numbered by sorted value
    ([1, 2, 3, 1], [3, 3], None, ['1', '2', '3'], [2, 2]),                               # 1..K
    ([1, 2, 3, 1], [2, 1], {3: 'rice', 1: 'wheat', 2: 'maize'}, ['rice', 'wheat', 'maize'], [2, 1]),
    ([0, 1, 1, 0], [1, 0], ['a', 'b'], ['a', 'b'], [1, 0]),                               # 0..K-1 with names: as before
    ([0, 1, 1, 0], [2, 0], ['a', 'b', 'c'], ['a', 'b', 'c'], [2, 0]),                     # a class only in the test set
])
def test_any_labels(y_train, y_test, names, want_names, want_test):
    d = ClassifyData(_series(4), y_train, _series(2, 1), y_test, names)
    assert d.class_names == want_names and d.y_test.tolist() == want_test and d.y_train.dtype == np.int64


@pytest.mark.parametrize('y_train, y_test, names, msg', [
    ([1, 2, 3, 1], [3, 1], ['a', 'b', 'c'], 'names 3 classes, labels 0..2'),
    ([0.5, 1, 0, 1], [0, 1], ['a', 'b'], 'names 2 classes'),
    ([1, 2, 1, 2], [1, 5], {1: 'a', 2: 'b'}, 'y_test holds labels [5]'),
    ([1, 2, 1, 3], [1, 2], {1: 'a', 2: 'b'}, 'y_train holds labels [3]'),
    ([0, 1, 0], [0, 1], ['a', 'b'], '4/2 series for 3/2 labels'),
])
def test_bad_labels_refused_on_creation(y_train, y_test, names, msg):
    with pytest.raises(ValueError, match=msg.replace('[', r'\[').replace(']', r'\]').replace('.', r'\.')):
        ClassifyData(_series(4), y_train, _series(2, 1), y_test, names)


def test_ignore_follows_the_label_numbering():
    d = ClassifyData(_series(4), ['x', 'void', 'y', 'x'], _series(2, 1), ['void', 'y'], ignore=('void',))
    assert d.class_names == ['void', 'x', 'y'] and d.ignore == (0,)


def test_missing_encoder_refused_before_the_first_method(monkeypatch):
    d = ClassifyData(_series(20), np.arange(20) % 2, _series(10, 1), np.arange(10) % 2, name='mine')
    ran = []
    monkeypatch.setitem(classify.METHODS, 'rf', lambda r: ran.append('rf') or np.zeros(len(r.x_test), int))
    from pimc.classify import classify_methods
    with pytest.raises(ValueError, match='pimc-probe, pimc-finetune need a pretrained'):
        compare_methods(d, classify_methods(), settings=TINY)
    with pytest.raises(ValueError, match="conv=True is for"):
        compare_methods(d, ['rf', ('tempcnn', {'conv': True})], settings=TINY)
    assert ran == []
    compare_methods(d, ['rf'], progress=False)
    assert ran == ['rf']


def test_windows_from_plain_series():
    s = _series(6, T=60)
    d = ForecastData.from_series(s[:4], s[4:], name='mine', stride=5)
    assert len(d.train) == 4 * 4 and len(d.test) == 2 and d.index_names == ('NDVI',) and 'every 5 steps' in d.notes[0]
    with pytest.raises(ValueError, match='name them'):
        ForecastData.from_series(np.zeros((2, 2, 60)), np.zeros((2, 2, 60)))
    with pytest.warns(UserWarning, match='single window of 32 \\+ 10 steps at stride 4'):
        window_starts(45, 32, 10, stride=4)
    with warnings.catch_warnings():
        warnings.simplefilter('error'); assert window_starts(68, 32, 10, stride=13).tolist() == [0, 13, 26]


def test_forecast_n_train_leaves_out_validation():
    s = _series(50, T=60)
    d = ForecastData.from_series(s[:40], s[40:], name='mine', stride=9)        # 3 windows per series
    st = ForecastSettings(epochs=1, batch_size=16)
    df, _ = compare_forecasters(d, ['persistence', 'ridge', 'cnn1d'], settings=st, progress=False)
    assert df[['n_train', 'n_val', 'n_test']].values.tolist() == [[0, 0, 10], [120, 0, 10], [108, 12, 10]]


def test_own_arrays_through_the_benchmarks(tmp_path):
    from pimc.tasks import benchmark
    from pimc.classify import CLASSIFY
    from pimc.forecast import FORECAST
    rng = np.random.default_rng(0)
    y = rng.choice(['crop', 'forest'], 60)
    x = (np.where(y == 'crop', 0.3, 0.7)[:, None] + 0.05 * rng.normal(size=(60, 24))).astype(np.float32)
    mine = ClassifyData(x[:40], y[:40], x[40:], y[40:], name='mine')
    df, reps = benchmark(CLASSIFY, mine, methods=['rf'], pretrain_source=None, out=tmp_path, progress=False)
    written = {p.name for p in tmp_path.iterdir()}
    assert df.OA.iloc[0] > 0.9 and {'classify_mine.md', 'classify_mine.csv', 'classify_mine_confusion.png'} <= written
    with pytest.raises(TypeError, match='data must be a ClassifyData'):
        benchmark(CLASSIFY, 'cawa', pretrain_source=None, out=None)
    s = (0.5 + 0.2 * np.sin(np.arange(60) / 4 + rng.uniform(0, 6, (30, 1)))).astype(np.float32)
    df, _ = benchmark(FORECAST, ForecastData.from_series(s[:20], s[20:], name='mine', stride=9),
                      methods=['persistence', 'ridge'], pretrain_source=None, out=tmp_path, progress=False)
    assert (tmp_path / 'forecast_mine.png').exists()
    assert pd.read_csv(tmp_path / 'forecast_mine.csv').n_train.tolist() == [0, 60]


def test_pretrain_runs_cached_per_recipe(tmp_path, monkeypatch):
    from pimc.pretrained import cache_dir, pretrain_dir
    monkeypatch.delenv('PIMC_CACHE', raising=False); monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache_dir() == tmp_path / 'xdg' / 'pimc'
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path / 'c'))
    run, recipe = pretrain_dir('eolearn', 'rp+level', epochs=10)
    assert run.parent == tmp_path / 'c' / 'pretrain' and run.name.startswith('eolearn-rp+level-')
    assert recipe['epochs'] == 10
    others = {pretrain_dir('eolearn', 'rp+level', epochs=5)[0],
              pretrain_dir('eolearn', 'rp+level', epochs=10, seed=1)[0],
              pretrain_dir('eolearn', 'rp', epochs=10)[0],
              pretrain_dir('eolearn', 'rp+level', epochs=10, lr=1e-4)[0]}
    assert run not in others and len(others) == 4
    assert pretrain_dir('eolearn', 'rp+level', epochs=10)[0] == run          # the same recipe, the same folder


def test_pretrain_reuse_only_same_recipe(samples, tmp_path):
    samples('sits_samples/cbers4_awfi')
    from pimc.pretrained import pretrain_encoder
    kw = dict(source='cbers4', variant='rp', n_pixels=64, batch_size=32, out_dir=tmp_path)
    a = pretrain_encoder(epochs=1, **kw)
    stamp = (a / 'summary.json').stat().st_mtime_ns
    assert pretrain_encoder(epochs=1, **kw) == a                                          # reused, not retrained
    assert (a / 'summary.json').stat().st_mtime_ns == stamp
    b = pretrain_encoder(epochs=2, **kw)
    assert b != a and (b / 'summary.json').exists() and (a / 'summary.json').exists()
