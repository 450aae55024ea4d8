"""EuroSAT reader: real RGB chips in every layout, 13-band MS fixtures in the real format (bands by name, B8A last),
split lists, and errors that name the file or root."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pimc.bands import ndvi
from pimc.eurosat import EUROSAT_CLASSES, FIXTURE_DIRS, FIXTURE_SPECTRA, EuroSAT, find_eurosat, make_eurosat, read_chip
from pimc.errors import DatasetFormatError, DatasetNotFoundError

REAL = ["AnnualCrop", "Forest", "HerbaceousVegetation", "PermanentCrop", "River"]


def samples(name):
    "The shared samples sub-folder `name` (pimc.readers.samples_dir); skips the test, naming the folder, when absent."
    from pimc.readers import samples_dir
    try: return samples_dir(name)
    except FileNotFoundError as e: pytest.skip(f"real sample data not available: {e}")


@pytest.fixture(scope="module")
def ms_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("eurosat_tg")
    make_eurosat(out, n_per_class=3, layout="torchgeo")
    return out


# ---------------------------------------------------------------- real RGB chips
@pytest.mark.parametrize("layout", [".", "2750", "EuroSAT_RGB", "eurosat/2750", "classes-parent", "flat"])
def test_real_rgb_chips_in_every_layout(tmp_path, layout):
    src = samples("eurosat_rgb_samples")
    if layout == "flat": root = src
    else:
        base = tmp_path / ("" if layout in (".", "classes-parent") else layout)
        for c in REAL:
            (base / c).mkdir(parents=True); shutil.copy(src / f"{c}.jpg", base / c / f"{c}_1.jpg")
        root = tmp_path
    ds = EuroSAT(root)
    assert len(ds) == 5 and [EUROSAT_CLASSES[t] for t in ds.targets] == REAL
    assert ds.targets.tolist() == [0, 1, 2, 6, 8]            # official indices, even with 5 of the 10 classes
    for i, c in enumerate(REAL):
        s = ds[i]
        assert s["image"].shape == (3, 64, 64) and s["image"].dtype == np.float32 and s["label"] == EUROSAT_CLASSES.index(c)
        raw = np.asarray(Image.open(src / f"{c}.jpg").convert("RGB")).transpose(2, 0, 1) / 255
        np.testing.assert_allclose(s["image"], raw, atol=1e-6)
    # a real forest chip is darker and greener than a real annual-crop chip
    forest, crop = ds[1]["image"], ds[0]["image"]
    assert forest.mean() < crop.mean() and forest[1].mean() > forest[0].mean()


def test_real_rgb_bands_by_name_and_arrays():
    ds = EuroSAT(samples("eurosat_rgb_samples"), bands=["blue", "R"])
    full = EuroSAT(samples("eurosat_rgb_samples"))
    assert ds.sensor.bands == ("B", "R") and ds.sensor.scale == 1
    np.testing.assert_array_equal(ds[2]["image"], full[2]["image"][[2, 0]])
    X, y = full.as_arrays(progress=False)
    assert X.shape == (5, 3, 64, 64) and y.tolist() == full.targets.tolist()
    fig = full.plot([0, 1], prediction=[0, 3])
    assert len([a for a in fig.axes if a.images]) == 2


# ---------------------------------------------------------------- MS fixtures in the real format
@pytest.mark.parametrize("layout", ["torchgeo", "zenodo"])
def test_ms_layouts_and_band_order(tmp_path, layout):
    make_eurosat(tmp_path, n_per_class=1, layout=layout)
    ds = EuroSAT(tmp_path, kind="ms")
    assert ds.image_dir == tmp_path / FIXTURE_DIRS[layout]['ms']
    assert len(ds) == 10 and ds.targets.tolist() == list(range(10))
    assert ds.sensor.bands[-1] == "B8A" and ds.sensor.bands[7] == "B08"
    for i, c in enumerate(EUROSAT_CLASSES):
        x = ds[i]["image"]
        assert x.shape == (13, 64, 64) and x.dtype == np.float32
        np.testing.assert_allclose(x.mean((1, 2)), np.asarray(FIXTURE_SPECTRA[c]), atol=3e-3)   # reflectance, B8A last
    rgb = EuroSAT(tmp_path, kind="rgb")
    assert rgb.image_dir == tmp_path / FIXTURE_DIRS[layout]['rgb'] and len(rgb) == 10


def test_ms_bands_by_name(ms_tree, tmp_path):
    full = EuroSAT(ms_tree, kind="ms")
    sub = EuroSAT(ms_tree, kind="ms", bands=["B8A", "nir", "B04"])
    assert sub.sensor.bands == ("B8A", "B08", "B04")
    for i in (0, 3, 15):
        f, s = full[i]["image"], sub[i]["image"]
        np.testing.assert_array_equal(s[0], f[12]); np.testing.assert_array_equal(s[1], f[7]); np.testing.assert_array_equal(s[2], f[3])
        c = EUROSAT_CLASSES[full.targets[i]]
        d = FIXTURE_SPECTRA[c][12] - FIXTURE_SPECTRA[c][7]
        assert s[0].mean() - s[1].mean() == pytest.approx(d, abs=2e-3) and abs(d) >= 0.01   # B8A is not B08
    # cross-check with another GeoTIFF reader (tifffile; uncompressed, since its LZW needs imagecodecs)
    import tifffile
    make_eurosat(tmp_path, n_per_class=1, classes=("Pasture",), compress=None, rgb=False, splits=False)
    raw_ds = EuroSAT(tmp_path, kind="ms")
    raw = tifffile.imread(raw_ds.paths[0])
    raw = raw if raw.shape[0] == 13 else raw.transpose(2, 0, 1)
    np.testing.assert_allclose(raw_ds[0]["image"], raw / 10_000, rtol=1e-6)
    assert raw[12].mean() / raw[7].mean() == pytest.approx(.380 / .360, rel=0.02)


def test_ms_indices_need_no_rescaling(ms_tree):
    ds = EuroSAT(ms_tree, kind="ms")
    by = {EUROSAT_CLASSES[t]: ds[i]["image"] for i, t in enumerate(ds.targets)}
    nd = {c: float(np.nanmean(ndvi(x, ds.sensor, axis=0).values)) for c, x in by.items()}
    assert nd["Forest"] > 0.7 and nd["Pasture"] > 0.6 and nd["SeaLake"] < 0 and nd["Industrial"] < 0.2


def test_rgb_matches_ms_like_eurosat_made_it(ms_tree):
    ms, rgb = EuroSAT(ms_tree, kind="ms", bands=["red", "green", "blue"]), EuroSAT(ms_tree, kind="rgb")
    assert [Path(p).stem for p in ms.paths] == [Path(p).stem for p in rgb.paths]
    for i in (0, 11, 29):
        want, got = np.clip(ms[i]["image"] / 0.275, 0, 1), rgb[i]["image"]
        np.testing.assert_allclose(got.mean((1, 2)), want.mean((1, 2)), atol=0.005)    # same colour per band
        assert np.abs(got - want).mean() < 0.015                                       # JPEG noise per pixel


# ---------------------------------------------------------------- splits
def test_splits_partition_and_map_jpg_to_tif(ms_tree):
    allp = {p.stem for p in EuroSAT(ms_tree, kind="ms").paths}
    parts = {s: EuroSAT(ms_tree, kind="ms", split=s) for s in ("train", "val", "test")}
    stems = {s: {p.stem for p in d.paths} for s, d in parts.items()}
    assert set().union(*stems.values()) == allp and sum(len(v) for v in stems.values()) == len(allp)
    assert all(p.suffix == ".tif" for p in parts["val"].paths)
    assert {p.stem for p in EuroSAT(ms_tree, kind="rgb", split="val").paths} == stems["val"]
    assert (ms_tree / "eurosat-val.txt").read_text().splitlines()[0].endswith(".jpg")
    custom = ms_tree / "mine.txt"; custom.write_text("Forest_2.tif\nRiver_1.jpg\n")
    assert [EUROSAT_CLASSES[t] for t in EuroSAT(ms_tree, kind="ms", split=custom).targets] == ["Forest", "River"]


def test_split_errors(ms_tree, tmp_path):
    src = ms_tree / FIXTURE_DIRS["torchgeo"]['ms']
    shutil.copytree(src, tmp_path / "EuroSAT_MS")
    with pytest.raises(DatasetNotFoundError, match=r"split file eurosat-train.txt not found in root .*In-domain representation learning"):
        EuroSAT(tmp_path, kind="ms", split="train")
    with pytest.raises(ValueError, match=r"EuroSAT\(split=...\): split must be None, 'train', 'val', 'test' or the path of a .txt split file \(got 'training'\)"):
        EuroSAT(tmp_path, kind="ms", split="training")
    with pytest.raises(ValueError, match=r"split must be None, .* \(got 3\)"):
        EuroSAT(tmp_path, kind="ms", split=3)
    with pytest.raises(DatasetNotFoundError, match=r"split file .*nope.txt does not exist"):
        EuroSAT(tmp_path, kind="ms", split=tmp_path / "nope.txt")
    (tmp_path / "eurosat-test.txt").write_text("Forest_1.jpg\nForest_99.jpg\n")
    with pytest.warns(UserWarning, match=r"1 of 2 listed chips are not under"):
        assert len(EuroSAT(tmp_path, kind="ms", split="test")) == 1
    (tmp_path / "eurosat-val.txt").write_text("Nothing_1.jpg\n")
    with pytest.raises(DatasetNotFoundError, match=r"none of the 1 chips listed in .*eurosat-val.txt is under"):
        EuroSAT(tmp_path, kind="ms", split="val")
    (tmp_path / "eurosat-val.txt").write_text("\n")
    with pytest.raises(DatasetFormatError, match=r"eurosat-val.txt: the split file lists no chips"):
        EuroSAT(tmp_path, kind="ms", split="val")


# ---------------------------------------------------------------- errors
def test_not_found_names_root_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"EuroSAT root .*missing does not exist.*Zenodo, record 7711810") as e:
        EuroSAT(tmp_path / "missing")
    assert isinstance(e.value, FileNotFoundError) and str(tmp_path / "missing") in str(e.value)
    (tmp_path / "2750" / "Forest").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"no EuroSAT MS chips under root .*looked for ds/images/remote_sensing/otherDatasets/sentinel_2/tif/<Class>/\*.tif.*EuroSAT_MS/<Class>/\*.tif"):
        EuroSAT(tmp_path, kind="ms")
    with pytest.raises(DatasetNotFoundError, match=r"no EuroSAT RGB chips under root"):
        EuroSAT(tmp_path)


@pytest.mark.parametrize("kw,match", [
    (dict(kind="nir"), r"EuroSAT\(kind=...\): kind must be 'rgb' or 'ms' \(got 'nir'\)"),
    (dict(kind="ms", bands=["B13"]), r"EuroSAT\(bands=...\): band 'B13' not found in sensor 'eurosat_ms': bands present are B01, .*B8A"),
    (dict(kind="rgb", bands=["nir"]), r"EuroSAT\(bands=...\): band 'nir' not found in sensor 'eurosat_rgb'"),
    (dict(kind="ms", bands=[]), r"EuroSAT\(bands=...\): give at least one band"),
])
def test_bad_parameters(ms_tree, kw, match):
    with pytest.raises(ValueError, match=match):
        EuroSAT(ms_tree, **kw)


def test_corrupt_and_wrong_files_name_the_file(tmp_path):
    make_eurosat(tmp_path, n_per_class=1, classes=("Forest", "River"), splits=False)
    tif = tmp_path / FIXTURE_DIRS["torchgeo"]['ms'] / "Forest" / "Forest_1.tif"
    jpg = tmp_path / "2750" / "River" / "River_1.jpg"
    ms, rgb = EuroSAT(tmp_path, kind="ms"), EuroSAT(tmp_path)
    ms[1]; rgb[0]
    tif.write_bytes(tif.read_bytes()[:500])
    with pytest.raises(DatasetFormatError, match=r"Forest_1.tif: cannot read this EuroSAT MS chip as a GeoTIFF"):
        ms[0]
    jpg.write_bytes(jpg.read_bytes()[:300])
    with pytest.raises(DatasetFormatError, match=r"River_1.jpg: cannot read this EuroSAT RGB chip as an image"):
        rgb[1]
    import rasterio
    with rasterio.open(tif, "w", driver="GTiff", dtype="uint16", count=12, height=64, width=64, crs="EPSG:32632",
                       transform=rasterio.transform.Affine(10, 0, 5e5, 0, -10, 5e6)) as d:
        d.write(np.zeros((12, 64, 64), np.uint16))
    with pytest.raises(DatasetFormatError, match=r"Forest_1.tif: 12 bands, expected 13 \(EuroSAT MS: B01, .*B8A, B8A last\)"):
        ms[0]
    tif.unlink()
    with pytest.raises(DatasetNotFoundError, match=r"EuroSAT chip .*Forest_1.tif is missing"):
        ms[0]


def test_unknown_class_folders_and_size_mismatch(tmp_path):
    make_eurosat(tmp_path, n_per_class=1, classes=("Forest", "River"), splits=False)
    base = tmp_path / "2750"
    (base / "Glacier").mkdir(); Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(base / "Glacier" / "Glacier_1.jpg")
    with pytest.warns(UserWarning, match=r"ignoring 1 folder\(s\) that are not EuroSAT classes: Glacier"):
        ds = EuroSAT(tmp_path)
    assert ds.classes == EUROSAT_CLASSES and ds.targets.tolist() == [1, 8]   # official ids; Glacier is not a class
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(base / "River" / "River_2.jpg")
    with pytest.warns(UserWarning, match="Glacier"): ds = EuroSAT(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"River_2.jpg: chip of shape \(3, 32, 32\), but .*Forest_1.jpg is \(3, 64, 64\)"):
        ds.as_arrays(progress=False)
    with pytest.raises(IndexError, match=r"index 3 out of range for 3 chips"): ds[3]
    with pytest.raises(ValueError, match=r"needs the red, green and blue bands; this dataset returns only \['G'\]"):
        EuroSAT(tmp_path, bands=["G"]).plot(0)


def test_dataloader_and_transforms(ms_tree):
    import torch
    ds = EuroSAT(ms_tree, kind="ms", bands=["B04", "B08"], transforms=lambda s: {**s, "image": s["image"] * 2})
    b = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert b["image"].shape == (4, 2, 64, 64) and b["label"].tolist() == [0, 0, 0, 1] and len(b["path"]) == 4
    np.testing.assert_allclose(b["image"][0].numpy(), 2 * read_chip(ds.paths[0], "ms", [3, 7]))
    d, chips = find_eurosat(ms_tree, "ms")
    assert len(chips) == 30 and chips[0][1] == "AnnualCrop"


# ---------------------------------------------------------------- the decoded-chip cache (issue 18, item 10)
def test_chip_cache_leaves_no_temp_file_when_a_decode_fails(tmp_path):
    "A corrupt chip halfway: the error names it, and no full-size .tmp stays in the cache (nor piles up per try)."
    from pimc.eurosat import chip_cache
    make_eurosat(tmp_path / "e", n_per_class=3, size=16, rgb=True, splits=False)
    paths = EuroSAT(tmp_path / "e").paths
    paths[5].write_bytes(b"not a jpeg")
    cache = tmp_path / "cache"
    for _ in range(2):
        with pytest.raises(DatasetFormatError, match=rf"{paths[5].name}: cannot read this EuroSAT RGB chip"):
            chip_cache(paths, cache_dir=cache, progress=False)
        assert not list(cache.glob(".*.tmp-*")) and not list(cache.glob("*.npy"))
    make_eurosat(tmp_path / "f", n_per_class=1, size=16, rgb=True, splits=False)
    good = EuroSAT(tmp_path / "f").paths
    a = chip_cache(good, cache_dir=cache, progress=False)                   # a killed writer's leftover goes too
    from pimc.locks import temp_path
    temp_path(a.filename).write_bytes(b"x" * 10)
    Path(a.filename).unlink()
    b = chip_cache(good, cache_dir=cache, progress=False)
    assert b.shape == (10, 3, 16, 16) and not list(cache.glob(".*.tmp-*"))
