"EuroSAT scene protocol: split files, val choosing the epoch, and the pipeline end to end on real chips."
import time
from pathlib import Path
import numpy as np
import pytest

from pimc.eurosat import EuroSAT, make_eurosat, write_splits
from pimc.scene import SceneData, SceneSettings, eurosat_data, run_scene_method

REAL = Path(__file__).resolve().parents[2] / 'shared/data/eurosat_rgb'
for _p in (Path('/work/shared/data/eurosat_rgb'),):
    if not REAL.is_dir() and _p.is_dir(): REAL = _p


def test_split_files_byte_identical(tmp_path):
    make_eurosat(tmp_path / 'e', n_per_class=10, splits=False, rgb=True)
    a = {s: f.read_bytes() for s, f in write_splits(tmp_path / 'e', out=tmp_path / 'a').items()}
    b = {s: f.read_bytes() for s, f in write_splits(tmp_path / 'e', out=tmp_path / 'b').items()}
    assert a == b and all(a.values())
    names = [set(v.decode().split()) for v in a.values()]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and sum(map(len, names)) == 100


def test_split_dir_outside_root(tmp_path):
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16, splits=False)   # a read-only data folder: lists kept elsewhere
    write_splits(tmp_path / 'e', out=tmp_path / 'lists', kind='ms')
    sd = eurosat_data(tmp_path / 'e', 'ms', bands=['B04'], progress=False, split_dir=tmp_path / 'lists')
    assert sd.x_val is not None and len(sd.x_train) + len(sd.x_val) + len(sd.x_test) == 60
    assert not list((tmp_path / 'e').rglob('eurosat-*.txt'))
    with pytest.raises(Exception, match='eurosat-train.txt'):
        eurosat_data(tmp_path / 'e', 'ms', progress=False, split_dir=tmp_path / 'nowhere')

def test_val_not_test_picks_the_epoch(tmp_path):
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16)
    sd = eurosat_data(tmp_path / 'e', 'ms', bands=['B04', 'B03', 'B02'], progress=False)
    assert sd.x_val is not None
    st = SceneSettings(epochs=4, batch_size=8, encoder=dict(widths=(8,), norm='batch'))
    rng = np.random.default_rng(0)
    other = SceneData(sd.x_train, sd.y_train, rng.permutation(sd.x_test), rng.permutation(sd.y_test), sd.class_names,
                      sd.bands, sd.kind, sd.name, [], sd.x_val, sd.y_val)
    (_, a), (_, b) = (run_scene_method('cnn-scratch', d, settings=st) for d in (sd, other))
    assert a['best_epoch'] == b['best_epoch']                       # another test set: the same epoch kept
    shuffled = SceneData(sd.x_train, sd.y_train, sd.x_test, sd.y_test, sd.class_names, sd.bands, sd.kind, sd.name, [],
                         sd.x_val, rng.permutation(sd.y_val))
    epochs = {run_scene_method('cnn-scratch', shuffled, settings=st, seed=0)[1]['best_epoch'], a['best_epoch']}
    assert all(0 <= e <= 4 for e in epochs)


@pytest.mark.skipif(not (REAL / 'EuroSAT_RGB').is_dir(), reason='the real EuroSAT RGB set is not here')
def test_real_pipeline_20_per_class(tmp_path):
    from pimc.scene import benchmark_eurosat, scene_report
    root = tmp_path / 'eurosat'; root.mkdir()                          # the real chips, with split files of our own
    (root / 'EuroSAT_RGB').symlink_to(REAL / 'EuroSAT_RGB', target_is_directory=True)
    write_splits(root)
    t0 = time.time()
    df = benchmark_eurosat(root, ('band-stats', 'cnn-scratch'), fractions=(1.0,), seeds=(0,), epochs=1, min_steps=0,
                           max_per_class=20, out=tmp_path / 'out', progress=False)
    assert len(EuroSAT(root, split='val')) == 5400
    assert set(df.method) == {'band-stats', 'cnn-scratch'} and (df.n_train == 200).all()
    assert df.set_index('method').loc['band-stats', 'OA'] > 0.3          # real chips: well above chance (0.1)
    tab = scene_report(tmp_path / 'out')
    assert all((tmp_path / 'out' / f'scene_eurosat_{k}.png').is_file() for k in ('confusion', 'fractions'))
    assert len(tab) == 2 and time.time() - t0 < 180   # ~15 s on a 2-core CPU (27 000 files listed once per split)


@pytest.mark.skipif(not (REAL / 'EuroSAT_RGB').is_dir(), reason='the real EuroSAT RGB set is not here')
def test_corpus_size_spec_pretrains_its_own_encoder(tmp_path, monkeypatch):
    "A spec's n_pixels= / pretrain_epochs= pretrain a smaller-corpus encoder; the row says its pairs and epochs."
    from pimc.scene import benchmark_eurosat, scene_report
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path / 'cache'))             # the encoders: not in the user's cache
    root = tmp_path / 'eurosat'; root.mkdir()
    (root / 'EuroSAT_RGB').symlink_to(REAL / 'EuroSAT_RGB', target_is_directory=True)
    write_splits(root)
    specs = ('pimc-probe:n_pixels=150,pretrain_epochs=2', 'pimc-finetune:n_pixels=150,pretrain_epochs=2')
    df = benchmark_eurosat(root, specs,
                           fractions=(1.0,), seeds=(0,), epochs=1, min_steps=0, max_per_class=10,
                           out=tmp_path / 'out', progress=False)
    assert len(list((tmp_path / 'cache' / 'pretrain').glob('rgb-*'))) == 1    # one encoder, shared by both rows
    pairs = df.pretrain_pairs.unique()
    assert len(pairs) == 1 and 150 < pairs[0] < 300 and (df.pretrain_epochs == 2).all()  # 2 cubes, 150 px at most
    notes = (tmp_path / 'out' / 'scene_eurosat.md').read_text() if scene_report(tmp_path / 'out') is not None else ''
    assert f"{int(pairs[0])} pairs, patch 9 px, 2 pretraining epochs" in notes


def test_one_command_writes_table_and_plots(tmp_path, monkeypatch):
    "`pimc benchmark scene-eurosat` trains, then writes the table, the confusion matrix and the fractions plot."
    from pimc.cli import benchmark_main as main
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path / 'cache'))             # the decoded chips: not in the user's cache
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16, rgb=True)
    rc = main(['scene-eurosat', '--root', str(tmp_path / 'e'), '--methods', 'band-stats', 'cnn-scratch',
               '--fractions', '0.5', '1', '--seeds', '0', '--epochs', '1', '--min-steps', '0',
               '--out', str(tmp_path / 'o')])
    assert rc == 0
    written = ('scene_eurosat.md', 'scene_eurosat.csv', 'scene_eurosat_confusion.png', 'scene_eurosat_fractions.png',
               'scene_eurosat_runs.csv')
    assert all((tmp_path / 'o' / f).is_file() for f in written)
