"""Scene classification: EuroSAT fixtures in the real on-disk formats (RGB JPEG and 13-band GeoTIFF), bands matched by
name, the five real RGB chips through the inference path, and every method."""
from pathlib import Path
import numpy as np
import pytest
import torch

from pimc.models import Encoder, ProjectionHead, ResNetEncoder
from pimc.scene import (SCENE_METHODS, SceneClassifier, SceneSettings, band_statistics, compare_scene_methods, eurosat_data,
                        match_bands, run_scene_method)
from pimc.eurosat import FIXTURE_SPECTRA, make_eurosat
from pimc.fit import model_features


TINY = SceneSettings(epochs=2, batch_size=8, encoder=dict(widths=(8, 16), norm='batch'))


@pytest.fixture(scope='module')
def fixture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('eurosat')
    make_eurosat(root, n_per_class=6, size=32, layout='zenodo')
    return root


@pytest.mark.parametrize('kind, bands, C', [('ms', None, 13), ('ms', ['B08', 'B8A', 'red'], 3), ('rgb', None, 3), ('rgb', ['B', 'G'], 2)])
def test_eurosat_data(fixture_root, kind, bands, C):
    d = eurosat_data(fixture_root, kind, bands, progress=False)
    assert d.x_train.shape[1:] == (C, 32, 32) and d.n_classes == 10
    assert len(d.x_train) == len(d.x_test) == 20          # official lists: 2 train and 2 test chips per class


def test_random_split_and_cap(fixture_root, tmp_path):
    make_eurosat(tmp_path, n_per_class=5, size=16, splits=False, rgb=False)
    d = eurosat_data(tmp_path, 'ms', split='auto', test_size=0.4, progress=False)
    assert d.notes[0].startswith('stratified random split') and len(d.x_test) == 20
    c = eurosat_data(tmp_path, 'ms', split='random', max_per_class=2, progress=False)
    assert np.bincount(c.y_train).max() == 2
    with pytest.raises(Exception, match='eurosat-train.txt'): eurosat_data(tmp_path, 'ms', split='official', progress=False)


def test_match_bands_by_name(fixture_root):
    d = eurosat_data(fixture_root, 'ms', progress=False)
    l1c = ('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12')   # L1C order: B8A after B08
    m = match_bands(d.x_train, d.bands, l1c)
    np.testing.assert_array_equal(m[:, 8], d.x_train[:, 12])                                          # EuroSAT stores B8A last
    forest = d.y_train == d.class_names.index('Forest')
    assert abs(m[forest, 8].mean() - FIXTURE_SPECTRA['Forest'][12]) < 0.01
    z = match_bands(d.x_train, d.bands, ['B04'], mean=[0.1], std=[0.05])
    np.testing.assert_allclose(z[:, 0], (d.x_train[:, 3] - 0.1) / 0.05, rtol=1e-5)
    with pytest.raises(KeyError, match='lack'): match_bands(d.x_train[:, :3], d.bands[:3], ['B08'])


def _enc(bands):
    bb = ResNetEncoder(len(bands), (8, 16), norm='batch')
    return Encoder(bb, ProjectionHead(bb.out_dim, 8), 'image', meta=dict(bands=list(bands), input='normalized',
                                                                           patch_mean=[0.1] * len(bands), patch_std=[0.05] * len(bands)))


@pytest.mark.parametrize('method', SCENE_METHODS)
def test_every_method(fixture_root, method):
    d = eurosat_data(fixture_root, 'ms', progress=False)
    rep, info = run_scene_method(method, d, encoder=_enc(['B02', 'B03', 'B04', 'B08']), settings=TINY)
    assert rep.n == 20 and 0 <= rep.oa <= 1
    if method.startswith('pimc'): assert info['bands'] == ['B02', 'B03', 'B04', 'B08']
    if method == 'band-stats': assert rep.oa > 0.9                  # one spectrum per class in the fixture


def test_compare_skips_pimc_without_encoder(fixture_root, capsys):
    d = eurosat_data(fixture_root, 'rgb', progress=False)
    df, _ = compare_scene_methods(d, settings=TINY, fractions=(0.5, 1.0))
    assert set(df.method) == {'band-stats', 'cnn-scratch', 'resnet-scratch'} and len(df) == 6 and 'skipped' in capsys.readouterr().out
    assert band_statistics(d.x_test).shape == (20, 15)


def test_real_rgb_chips(samples):
    from pimc.eurosat import EuroSAT
    real = EuroSAT(samples('eurosat_rgb_samples'), 'rgb')
    x, y = real.as_arrays(progress=False)
    assert x.shape == (5, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    refl = match_bands(x, real.sensor.bands, ['B02', 'B03', 'B04'], 'rgb')
    assert refl.max() <= 0.275 + 1e-6
    np.testing.assert_allclose(refl[:, 2], x[:, 0] * 0.275)           # red (B04) is the JPEG's first channel
    f = model_features(SceneClassifier.from_encoder(_enc(['B02', 'B03', 'B04']), 10), torch.as_tensor(refl))
    assert f.shape == (5, 16) and np.isfinite(f).all()


def _class_dir(root, name):
    return next(p for p in Path(root).rglob(name) if p.is_dir())


@pytest.mark.parametrize('splits', [True, False])
def test_a_missing_class_is_an_error(tmp_path, splits):
    "A class folder gone (split lists or a random split): an error naming the class and what was expected."
    import shutil
    from pimc.errors import DatasetFormatError
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16, rgb=True, splits=splits)
    shutil.rmtree(_class_dir(tmp_path / 'e', 'Forest'))
    match = r"listed chip\(s\) are not under" if splits else r"class\(es\) \['Forest'\] have no chip in the train split"
    with pytest.raises(DatasetFormatError, match=match):
        eurosat_data(tmp_path / 'e', 'rgb', progress=False)


def test_split_lists_naming_missing_chips_are_an_error(tmp_path):
    "One listed chip deleted: the split no longer matches the files; the error names the list, never a silent subset."
    from pimc.errors import DatasetFormatError
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16, rgb=True)
    gone = sorted(_class_dir(tmp_path / 'e', 'River').glob('*.jpg'))[0]; gone.unlink()
    with pytest.raises(DatasetFormatError, match=rf"eurosat-\w+\.txt: 1 listed chip\(s\) .*{gone.stem}"):
        eurosat_data(tmp_path / 'e', 'rgb', progress=False)


@pytest.mark.parametrize('into', ['test', 'val'])
def test_overlapping_split_lists_are_refused(tmp_path, into):
    "A train chip also in the test (or val) list: refused, naming both split files and the chip, before anything trains."
    from pimc.errors import DatasetFormatError
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16, rgb=True)
    train = (tmp_path / 'e' / 'eurosat-train.txt').read_text().split()
    other = tmp_path / 'e' / f'eurosat-{into}.txt'
    other.write_text(other.read_text() + ''.join(f'{c}\n' for c in train[:4]))
    with pytest.raises(DatasetFormatError, match=rf"eurosat-train.txt and .*eurosat-{into}.txt: 4 chip\(s\) in both "
                                                 rf".*{train[0].split('.')[0]}") as e:
        eurosat_data(tmp_path / 'e', 'rgb', progress=False)
    assert str(other) in str(e.value)
    with pytest.raises(DatasetFormatError, match='in both'):                     # the folder of split files too
        eurosat_data(tmp_path / 'e', 'rgb', split_dir=tmp_path / 'e', progress=False)
