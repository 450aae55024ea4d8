"""PASTIS reader: the real metadata layout round-trips, errors name the file and the problem, writers are atomic,
and iterating over 200 memory-mapped patches does not grow the process's memory."""
import importlib.util, json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pimc.cube import Cube
from pimc.errors import DatasetFormatError, DatasetNotFoundError, PimcError
from pimc.pastis import (PASTIS, PASTIS_CLASSES, parse_dates_s2, read_pastis_metadata, rss_while_iterating,
                         write_pastis_metadata, write_pastis_norm, write_pastis_patch)

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_pastis", HERE / "data" / "make_pastis.py")
make_pastis = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(make_pastis)


def samples(name):
    "The shared samples sub-folder `name` (pimc.readers.samples_dir); skips the test, naming the folder, when absent."
    from pimc.readers import samples_dir
    try: return samples_dir(name)
    except FileNotFoundError as e: pytest.skip(f"real sample data not available: {e}")


@pytest.fixture(scope="module")
def real_meta():
    d = samples("pastis_metadata")
    return json.loads((d / "metadata.geojson").read_text()), json.loads((d / "NORM_S2_patch.json").read_text()), d


@pytest.fixture(scope="module")
def fixture_root(real_meta, tmp_path_factory):
    return make_pastis.make_pastis(tmp_path_factory.mktemp("pastis") / "PASTIS", size=32, metadata=real_meta[2])


DAYS = ["2018-09-24", "2018-10-04", "2019-04-12", "2019-06-21", "2019-08-10"]


def small_tree(root, ids_folds=((10, 1), (20, 2), (30, 3)), T=5, size=8, seed=0):
    "A tiny PASTIS tree (no real metadata needed) for the error tests."
    rng = np.random.default_rng(seed)
    recs = [write_pastis_patch(root, pid, rng.integers(0, 5000, (T, 10, size, size)), DAYS[:T],
                               rng.integers(0, 20, (size, size)), fold=f) for pid, f in ids_folds]
    write_pastis_metadata(root, recs); write_pastis_norm(root)
    return root


# ---------------------------------------------------------------- the real metadata, read back
def test_fixture_matches_real_metadata(fixture_root, real_meta):
    gj, norm, _ = real_meta
    feats = {f["properties"]["ID_PATCH"]: f["properties"] for f in gj["features"]}
    raw = json.loads((fixture_root / "metadata.geojson").read_text())
    assert any(isinstance(f["properties"]["dates-S2"], str) for f in raw["features"]), "one patch must carry dates-S2 as a JSON string"
    ds = PASTIS(fixture_root)
    assert ds.patch_ids == sorted(feats) and len(ds) == 9
    for i, pid in enumerate(ds.patch_ids):
        c = ds[i]
        real_dates = [str(v) for _, v in sorted(feats[pid]["dates-S2"].items(), key=lambda kv: int(kv[0]))]
        assert [d.replace("-", "") for d in c.dates.astype(str)] == real_dates
        assert c.shape == (len(real_dates), 10, 32, 32) and c.values.dtype == np.int16 and isinstance(c.values, np.memmap)
        assert c.meta == {"patch_id": pid, "fold": feats[pid]["Fold"], "tile": feats[pid]["TILE"], "path": str(ds.paths(i)[0])}
        assert c.name == f"PASTIS/{pid}" and c.sensor.name == "pastis_s2" and tuple(c.class_names) == PASTIS_CLASSES
        assert 0 <= int(c.labels.min()) and int(c.labels.max()) <= 19
    for f in range(1, 6):
        assert PASTIS(fixture_root, folds=[f]).patch_ids == sorted(p for p, v in feats.items() if v["Fold"] == f)
    assert (fixture_root / "NORM_S2_patch.json").read_text() and json.loads((fixture_root / "NORM_S2_patch.json").read_text()) == norm


@pytest.mark.parametrize("folds", [None, [1], [2, 4], (1, 3, 5), 3])
def test_norm_averages_selected_folds_like_utae(fixture_root, real_meta, folds):
    norm = real_meta[1]
    use = range(1, 6) if folds is None else [folds] if isinstance(folds, int) else folds
    ds = PASTIS(fixture_root, folds=folds)
    m, s = ds.norm()
    np.testing.assert_allclose(m, np.mean([norm[f"Fold_{f}"]["mean"] for f in use], 0), rtol=1e-6)
    np.testing.assert_allclose(s, np.mean([norm[f"Fold_{f}"]["std"] for f in use], 0), rtol=1e-6)
    z = ds.normalize(ds[0])
    np.testing.assert_allclose(z[:, 2], (np.asarray(ds[0].values[:, 2], np.float32) - m[2]) / s[2], rtol=1e-5)


def test_fixture_is_plausible(fixture_root):
    "Bands by name give sensible indices: crops green up in season, background stays low, NDVI in range."
    ds = PASTIS(fixture_root)
    c = ds.cube(10000)
    ix = c.indices(fill=False)
    ndvi = ix.values[:, 0]
    assert np.nanmin(ndvi) > -0.5 and np.nanmax(ndvi) < 1
    lab = np.asarray(c.labels)
    crops = np.isin(lab, range(1, 19))
    if crops.any() and (lab == 0).any():
        assert np.nanmax(np.nanmean(ndvi[:, crops], 1)) > np.nanmax(np.nanmean(ndvi[:, lab == 0], 1))
    series = c.index_series([0, 5], [0, 7])
    assert series.values.shape == (2, 3, len(c)) and np.isfinite(series.values).all()


def test_transforms_and_iteration(tmp_path):
    root = small_tree(tmp_path, ids_folds=((10, 1), (11, 1), (20, 2)))
    ds = PASTIS(root, folds=[1], transforms=lambda c: c.sel_dates(idx=range(3)))
    assert [len(c) for c in ds] == [3, 3]
    assert PASTIS(root, mmap=False)[0].values.__class__ is np.ndarray


def test_dataloader_over_patches(tmp_path):
    import torch
    ds = PASTIS(small_tree(tmp_path), transforms=lambda c: torch.as_tensor(np.asarray(c.values[:5, :, :4, :4], np.float32)))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch.shape == (3, 5, 10, 4, 4)


# ---------------------------------------------------------------- errors: what, where, what was expected
def test_not_found_names_root_file_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"does not exist.*Zenodo, record 5012942.*29 GB") as e:
        PASTIS(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(e.value)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, PimcError)
    with pytest.raises(DatasetNotFoundError, match=r"metadata.geojson does not exist.*5012942"):
        PASTIS(tmp_path)
    small_tree(tmp_path)
    (tmp_path / "DATA_S2" / "S2_20.npy").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 of the 3 patches .* no Sentinel-2 series file in .*DATA_S2: S2_20.npy"):
        PASTIS(tmp_path)
    assert len(PASTIS(tmp_path, folds=[1, 3])) == 2          # the missing file is outside the selected folds
    for f in (tmp_path / "ANNOTATIONS").iterdir(): f.unlink()
    (tmp_path / "ANNOTATIONS").rmdir()
    with pytest.raises(DatasetNotFoundError, match=r"ANNOTATIONS is missing"):
        PASTIS(tmp_path, folds=[1])


@pytest.mark.parametrize("folds", [0, 6, [], [1, 7], "1", [1.5], True, [None]])
def test_bad_folds_name_parameter_and_value(tmp_path, folds):
    small_tree(tmp_path)
    with pytest.raises(ValueError, match=r"PASTIS\(folds=...\): folds must be None \(all\) or fold numbers from 1 to 5") as e:
        PASTIS(tmp_path, folds=folds)
    assert f"(got {folds!r})" in str(e.value)


@pytest.mark.parametrize("mmap", [True, False])
def test_truncated_npy_names_file(tmp_path, mmap):
    small_tree(tmp_path)
    p = tmp_path / "DATA_S2" / "S2_20.npy"
    p.write_bytes(p.read_bytes()[:1000])
    ds = PASTIS(tmp_path, mmap=mmap)
    ds[0]  # others still read
    with pytest.raises(DatasetFormatError, match=r"S2_20.npy: cannot read this PASTIS Sentinel-2 series as a .npy array \(1000 bytes.*truncated or corrupt"):
        ds.cube(20)
    p.write_bytes(b"not an npy file at all")
    with pytest.raises(DatasetFormatError, match=r"S2_20.npy: cannot read"):
        ds.cube(20)


@pytest.mark.parametrize("shape,match", [
    ((4, 10, 8, 8), r"S2_10.npy: 4 time steps, but metadata.geojson lists 5 dates-S2 for patch 10"),
    ((5, 13, 8, 8), r"S2_10.npy: shape \(5, 13, 8, 8\), expected \(T, 10, H, W\) with the 10 bands"),
    ((5, 8, 8), r"S2_10.npy: shape \(5, 8, 8\), expected \(T, 10, H, W\)"),
])
def test_wrong_shapes_name_file(tmp_path, shape, match):
    small_tree(tmp_path)
    np.save(tmp_path / "DATA_S2" / "S2_10.npy", np.zeros(shape, np.int16))
    with pytest.raises(DatasetFormatError, match=match):
        PASTIS(tmp_path)[0]


@pytest.mark.parametrize("target,match", [
    (np.full((3, 8, 8), 25, np.uint8), r"TARGET_10.npy: semantic classes \(channel 0\) must be integers 0-19 \(got 25..25\)"),
    (np.zeros((3, 8, 9), np.uint8), r"TARGET_10.npy: shape \(8, 9\) \(channel 0\), expected \(H, W\) = \(8, 8\)"),
    (np.full((3, 8, 8), 2.5, np.float32), r"TARGET_10.npy: semantic classes .* integers 0-19"),
])
def test_bad_targets_name_file(tmp_path, target, match):
    small_tree(tmp_path)
    np.save(tmp_path / "ANNOTATIONS" / "TARGET_10.npy", target)
    with pytest.raises(DatasetFormatError, match=match):
        PASTIS(tmp_path)[0]


def test_float_targets_are_read_as_int(tmp_path):
    small_tree(tmp_path)
    t = np.load(tmp_path / "ANNOTATIONS" / "TARGET_10.npy").astype(np.float32)
    np.save(tmp_path / "ANNOTATIONS" / "TARGET_10.npy", t)
    assert PASTIS(tmp_path)[0].labels.dtype == np.int64


@pytest.mark.parametrize("edit,exc,match", [
    (lambda gj: "{ not json", DatasetFormatError, r"metadata.geojson: not valid JSON"),
    (lambda gj: json.dumps({"type": "Feature"}), DatasetFormatError, r"expected a GeoJSON FeatureCollection"),
    (lambda gj: json.dumps({**gj, "features": [{"properties": {"ID_PATCH": 1}}]}), DatasetFormatError, r"feature 0 lacks \['Fold', 'dates-S2'\]"),
    (lambda gj: json.dumps({**gj, "features": gj["features"][:1] * 2}), DatasetFormatError, r"ID_PATCH 10 appears twice"),
    (lambda gj: json.dumps({**gj, "features": [{**gj["features"][0], "properties": {**gj["features"][0]["properties"], "Fold": 9}}]}),
     DatasetFormatError, r"patch 10: Fold must be 1-5 \(got 9\)"),
    (lambda gj: json.dumps({**gj, "features": [{**gj["features"][0], "properties": {**gj["features"][0]["properties"], "dates-S2": "{bad"}}]}),
     DatasetFormatError, r"patch 10: dates-S2 is a string but not JSON"),
])
def test_bad_metadata_names_file(tmp_path, edit, exc, match):
    small_tree(tmp_path)
    p = tmp_path / "metadata.geojson"
    p.write_text(edit(json.loads(p.read_text())))
    with pytest.raises(exc, match=match):
        PASTIS(tmp_path)


def test_norm_file_errors(tmp_path):
    small_tree(tmp_path)
    ds = PASTIS(tmp_path)
    (tmp_path / "NORM_S2_patch.json").write_text(json.dumps({"Fold_1": {"mean": [0] * 10, "std": [1] * 10}}))
    with pytest.raises(DatasetFormatError, match=r"NORM_S2_patch.json: expected .*missing 'Fold_2'"):
        ds.norm()
    assert PASTIS(tmp_path, folds=[1]).norm().std.tolist() == [1.0] * 10
    (tmp_path / "NORM_S2_patch.json").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"normalisation file .*NORM_S2_patch.json is missing"):
        PASTIS(tmp_path).norm()


def test_index_errors(tmp_path):
    ds = PASTIS(small_tree(tmp_path))
    with pytest.raises(IndexError, match=r"index 3 out of range for 3 patches"): ds[3]
    assert ds[-1].meta["patch_id"] == 30
    with pytest.raises(TypeError, match=r"use .cube\(patch_id\)"): ds["10"]
    with pytest.raises(KeyError, match=r"patch 99 is not in this PASTIS selection .*folds \[2\], 1 patches: 20..20"):
        PASTIS(tmp_path, folds=[2]).cube(99)


# ---------------------------------------------------------------- writers
@settings(max_examples=20, deadline=None)
@given(T=st.integers(1, 6), H=st.integers(1, 9), W=st.integers(1, 9), fold=st.integers(1, 5),
       as_string=st.booleans(), seed=st.integers(0, 2**16))
def test_write_read_roundtrip(tmp_path_factory, T, H, W, fold, as_string, seed):
    root = tmp_path_factory.mktemp("rt")
    rng = np.random.default_rng(seed)
    v = rng.integers(-32768, 32767, (T, 10, H, W)).astype(np.int16)
    dates = np.datetime64("2018-09-01") + np.sort(rng.choice(450, T, replace=False)).astype("timedelta64[D]")
    lab = rng.integers(0, 20, (H, W))
    rec = write_pastis_patch(root, 7, v, dates, lab, fold, tile="t31tfm", N_Parcel=3)
    if as_string: rec["dates-S2"] = json.dumps(rec["dates-S2"])
    write_pastis_metadata(root, [rec])
    c = PASTIS(root)[0]
    np.testing.assert_array_equal(np.asarray(c.values), v)
    np.testing.assert_array_equal(c.dates, dates)
    np.testing.assert_array_equal(np.asarray(c.labels), lab)
    assert c.meta["fold"] == fold and c.meta["tile"] == "t31tfm"
    assert read_pastis_metadata(root)[0].properties["N_Parcel"] == 3


def test_writers_are_atomic(tmp_path, monkeypatch):
    small_tree(tmp_path)
    good = (tmp_path / "DATA_S2" / "S2_10.npy").read_bytes()
    real_save = np.save
    def failing_save(f, a, *args, **kw):
        f.write(b"\x93NUMPY partial"); raise OSError("disk full (simulated)")
    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_pastis_patch(tmp_path, 10, np.ones((5, 10, 8, 8)), DAYS, np.zeros((8, 8)), 1)
    with pytest.raises(OSError, match="disk full"):
        write_pastis_patch(tmp_path, 99, np.ones((5, 10, 8, 8)), DAYS, np.zeros((8, 8)), 1)
    monkeypatch.setattr(np, "save", real_save)
    assert (tmp_path / "DATA_S2" / "S2_10.npy").read_bytes() == good      # the good file survived
    assert not (tmp_path / "DATA_S2" / "S2_99.npy").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]
    PASTIS(tmp_path)[0]


@pytest.mark.parametrize("kw,match", [
    (dict(values=np.zeros((5, 10, 8, 8)), dates=DAYS[:4]), r"4 dates for T=5"),
    (dict(values=np.zeros((5, 10, 8, 8)), dates=DAYS[::-1]), r"dates must be strictly increasing"),
    (dict(values=np.full((5, 10, 8, 8), 40000)), r"values must fit int16"),
    (dict(values=np.full((5, 10, 8, 8), np.nan)), r"values contain NaN"),
    (dict(target=np.full((8, 8), 20)), r"semantic classes \(target channel 0\) must be integers 0-19"),
    (dict(target=np.zeros((4, 4))), r"target must be \(H, W\) = \(8, 8\)"),
    (dict(fold=0), r"fold must be 1-5 \(got 0\)"),
])
def test_write_patch_errors(tmp_path, kw, match):
    args = dict(values=np.zeros((5, 10, 8, 8)), dates=DAYS, target=np.zeros((8, 8)), fold=1) | kw
    with pytest.raises(ValueError, match=r"write_pastis_patch\(patch_id=1\): " + match):
        write_pastis_patch(tmp_path, 1, **args)
    assert not (tmp_path / "DATA_S2" / "S2_1.npy").exists()


def test_write_norm_from_data_and_given(tmp_path):
    small_tree(tmp_path, ids_folds=((10, 1), (11, 1), (20, 2)))
    x1 = np.concatenate([np.load(tmp_path / "DATA_S2" / f"S2_{i}.npy") for i in (10, 11)]).astype(float)
    xa = np.concatenate([np.load(tmp_path / "DATA_S2" / f"S2_{i}.npy") for i in (10, 11, 20)]).astype(float)
    n = json.loads((tmp_path / "NORM_S2_patch.json").read_text())
    np.testing.assert_allclose(n["Fold_1"]["mean"], x1.mean((0, 2, 3))); np.testing.assert_allclose(n["Fold_1"]["std"], x1.std((0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(n["Fold_4"]["mean"], xa.mean((0, 2, 3)))   # no fold-4 patch: all patches' statistics
    write_pastis_norm(tmp_path, (np.arange(10), np.ones(10)))
    assert PASTIS(tmp_path).norm().mean.tolist() == list(range(10))
    with pytest.raises(ValueError, match=r"stats lack fold 3"):
        write_pastis_norm(tmp_path, {1: (np.zeros(10), np.ones(10)), 2: (np.zeros(10), np.ones(10))})
    with pytest.raises(ValueError, match=r"mean and std need 10 values"):
        write_pastis_norm(tmp_path, (np.zeros(9), np.ones(9)))


def test_parse_dates_variants():
    d = parse_dates_s2({"0": 20180924, "1": "20181004"})
    assert d.dtype == np.dtype("datetime64[D]") and d.tolist()[1].isoformat() == "2018-10-04"
    with pytest.raises(DatasetFormatError, match=r"dates-S2 must be a non-empty dict"): parse_dates_s2({})
    with pytest.raises(DatasetFormatError, match=r"keys must be indices"): parse_dates_s2({"a": 20180924})
    with pytest.raises(DatasetFormatError, match=r"not YYYYMMDD dates"): parse_dates_s2({"0": "soon"})


# ---------------------------------------------------------------- memory
@pytest.mark.slow
def test_rss_flat_while_iterating(tmp_path):
    """200 memory-mapped patches, all Cubes kept alive: anonymous memory stays flat; a reader that loads each
    patch into memory grows by (nearly) the whole data set, so the bound below would catch it."""
    from pimc.readers import has_samples
    if has_samples("pastis_metadata"):   # the real date lists (T = 43)
        root = make_pastis.make_pastis(tmp_path / "P200", size=32, n=200, metadata=samples("pastis_metadata"))
    else:                                # same sizes without the samples
        rng, root = np.random.default_rng(0), tmp_path / "P200"
        dates = np.datetime64("2018-09-24") + 10 * np.arange(43).astype("timedelta64[D]")
        write_pastis_metadata(root, [write_pastis_patch(root, i, rng.integers(0, 5000, (43, 10, 32, 32)), dates,
                                                        rng.integers(0, 20, (32, 32)), i % 5 + 1) for i in range(200)])
    def measure(mmap, keep):
        # a fresh process each time: memory this pytest process allocated and freed before (glibc keeps it for
        # reuse) would otherwise absorb the growth we are looking for
        code = ("import json, sys; from pimc.pastis import rss_while_iterating; "
                f"print(json.dumps(rss_while_iterating(sys.argv[1], mmap={mmap}, keep={keep})))")
        out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    m = measure(mmap=True, keep=True)
    assert m["n_patches"] == 200 and m["data_mb"] > 150
    bound = 0.1 * m["data_mb"]
    assert m["growth_anon_mb"] < bound, m
    flat = measure(mmap=True, keep=False)
    assert flat["peak"]["rss"] - flat["start"]["rss"] < 5 * flat["patch_mb"] + 5, flat
    eager = measure(mmap=False, keep=True)
    assert eager["growth_anon_mb"] > bound and eager["growth_anon_mb"] > 0.8 * eager["data_mb"], eager
