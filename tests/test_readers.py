"""Readers: each real sample cube (skipped when absent), small fixtures written here in the real on-disk formats, and
the errors bad input must give (naming the file, the problem and what was expected)."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from pimc.bands import ndvi
from pimc.cube import as_dates
from pimc.bands import index_bands
from pimc.errors import DatasetNotFoundError, ReadError
from pimc.readers import (LULC_CLASSES, date_from_name, has_samples,
                          read_cbers_awfi, read_cropharvest, read_eopatch, read_geotiff_stack, read_modis_ndvi, read_npy_cube,
                          samples_dir, CROPHARVEST_BANDS)
import pimc.readers as readers

UTM = (10.0, 0.0, 500000.0, 0.0, -10.0, 4800000.0)


# ---------------------------------------------------------------- fixture writers (the real formats, tiny)
def write_tif(path, data, transform=UTM, crs="EPSG:32631", nodata=None, descriptions=None, driver="GTiff"):
    data = np.asarray(data)
    with rasterio.open(path, "w", driver=driver, height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=data.dtype,
                       crs=crs, transform=Affine(*transform), nodata=nodata) as w:
        w.write(data)
        for i, d in enumerate(descriptions or [], 1):
            w.set_band_description(i, d)
    return path


def write_eopatch(root, T=6, H=6, W=5, seed=0):
    "A miniature eo-learn EOPatch folder with the layout of eolearn_test_eopatch."
    rng = np.random.default_rng(seed)
    root = Path(root)
    for d in ("data", "mask", "mask_timeless", "data_timeless"):
        (root / d).mkdir(parents=True, exist_ok=True)
    stamps = [f"2016-0{t + 1}-1{t}T10:0{t}:00" for t in range(T)]
    (root / "timestamps.json").write_text(json.dumps(stamps))
    x0, y0 = 465180.0, 5079240.0
    poly = [[x0, y0], [x0, y0 + 10 * H], [x0 + 10 * W, y0 + 10 * H], [x0 + 10 * W, y0], [x0, y0]]
    (root / "bbox.geojson").write_text(json.dumps({"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}},
                                                   "type": "Polygon", "coordinates": [poly]}))
    ref = rng.uniform(0.01, 0.5, (5, H, W, 13)).astype(np.float32)
    np.save(root / "REFERENCE_SCENES.npy", ref)
    nd = rng.uniform(-0.1, 0.9, (T, H, W, 1)).astype(np.float32)
    np.save(root / "data/NDVI.npy", nd)
    clm = np.zeros((T, H, W, 1), np.uint8); clm[1] = 1; clm[2, 0, 0] = 1
    valid = np.ones((T, H, W, 1), bool); valid[1] = False
    np.save(root / "mask/CLM.npy", clm)
    np.save(root / "mask/CLM_S2C.npy", np.zeros((T, H, W, 1), bool))
    np.save(root / "mask/IS_VALID.npy", valid)
    np.save(root / "mask/IS_DATA.npy", np.ones((T, H, W, 1), np.uint8))
    np.save(root / "mask_timeless/LULC.npy", rng.choice([0, 1, 2, 8], (H, W, 1)).astype(np.uint16))
    np.save(root / "data_timeless/DEM.npy", rng.uniform(600, 800, (H, W, 1)).astype(np.float32))
    return root


def write_cbers(root, dates=("2017-08-29", "2017-09-14", "2017-09-30"), H=5, W=6, seed=0):
    "A miniature sits CBERS-4 AWFI folder: CBERS-4_AWFI_<band>_<date>.tif, int16 bands (nodata -9999) + uint8 CMASK."
    rng = np.random.default_rng(seed)
    root = Path(root); root.mkdir(parents=True, exist_ok=True)
    vals = {}
    for d in dates:
        for b, (lo, hi) in {"B13": (200, 900), "B14": (300, 1000), "B15": (200, 1200), "B16": (1500, 5000)}.items():
            a = rng.integers(lo, hi, (1, H, W)).astype(np.int16)
            vals[(b, d)] = a
            write_tif(root / f"CBERS-4_AWFI_{b}_{d}.tif", a, transform=(64.0, 0, 5794837.2, 0, -64.0, 9776347.98), crs="EPSG:4326", nodata=-9999)
        cm = np.zeros((1, H, W), np.uint8)
        write_tif(root / f"CBERS-4_AWFI_CMASK_{d}.tif", cm, transform=(64.0, 0, 5794837.2, 0, -64.0, 9776347.98), crs="EPSG:4326", nodata=255)
    return root, vals


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


# ---------------------------------------------------------------- samples_dir
def test_samples_dir_env_and_errors(tmp_path, monkeypatch):
    (tmp_path / "eolearn_test_eopatch").mkdir()
    monkeypatch.setenv("PIMC_SAMPLES", str(tmp_path))
    assert samples_dir() == tmp_path and samples_dir("eolearn_test_eopatch") == tmp_path / "eolearn_test_eopatch"
    assert has_samples("eolearn_test_eopatch") and not has_samples("cawa_central_asia")
    with pytest.raises(DatasetNotFoundError, match=r"cawa_central_asia not found; looked in \$PIMC_SAMPLES"):
        samples_dir("cawa_central_asia")
    monkeypatch.delenv("PIMC_SAMPLES")
    monkeypatch.setattr(readers, "_repo_root", lambda: None)   # as if installed in site-packages
    with pytest.raises(DatasetNotFoundError, match="installed outside its repository.*set PIMC_SAMPLES"):
        samples_dir()


def test_samples_dir_default_is_beside_the_repo(monkeypatch):
    monkeypatch.delenv("PIMC_SAMPLES", raising=False)
    root = Path(readers.__file__).resolve().parents[1]
    expected = root.parent / "shared" / "data"
    if expected.is_dir():
        assert samples_dir() == expected
    else:
        with pytest.raises(DatasetNotFoundError, match="shared/data not found"):
            samples_dir()


def test_import_stays_light():
    code = "import sys, pimc.readers; print(sorted(m for m in ('rasterio', 'pandas', 'matplotlib', 'pyts') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"pimc.readers imports {out} at module level"


# ---------------------------------------------------------------- eo-learn EOPatch
def test_eopatch_real_ndvi(samples):
    ep = samples("eolearn_test_eopatch")
    c = read_eopatch(ep)
    assert c.shape == (68, 1, 101, 100) and c.sensor.name == "index_ndvi" and c.values.dtype == np.float32
    assert c.dates.dtype == np.dtype("datetime64[s]") and str(c.dates[0]) == "2015-07-11T10:00:08" and str(c.dates[-1]) == "2017-12-22T10:04:15"
    assert (c.dates[7:9] == as_dates(["2015-12-08T10:04:09", "2015-12-08T10:11:25"])).all()   # two passes, one day
    valid = np.load(ep / "mask/IS_VALID.npy")[..., 0] & ~np.load(ep / "mask/CLM.npy")[..., 0].astype(bool)
    assert (c.mask == valid).all() and 0.55 < c.mask.mean() < 0.65
    u, n = np.unique(c.labels, return_counts=True)
    assert dict(zip(u.tolist(), n.tolist())) == {0: 155, 1: 11, 2: 7601, 3: 1777, 4: 358, 8: 198}   # README counts
    assert len(c.class_names) == 11 and c.class_names[8] == "artificial surface"
    assert c.crs == "EPSG:32633"
    a, b, x0, d, e, y0 = c.transform
    assert (b, d) == (0, 0) and a == pytest.approx(10, abs=0.01) and e == pytest.approx(-10, abs=0.01)
    assert (x0, y0) == pytest.approx((465181.0522, 5080254.6335))


def test_eopatch_reference_ndvi_matches_shipped_ndvi(samples):
    "README: NDVI from REFERENCE_SCENES B08/B04 equals data/NDVI.npy at dates [2, 1, 4, 3, 0]."
    ep = samples("eolearn_test_eopatch")
    nd, ref = read_eopatch(ep), read_eopatch(ep, "reference")
    assert ref.shape == (5, 13, 101, 100) and ref.sensor.name == "s2_l1c" and list(ref.meta["time_index"]) == [0, 1, 2, 3, 4]
    assert (ref.dates == nd.dates[:5]).all() and ref.transform == nd.transform and (ref.labels == nd.labels).all()
    mine = ndvi(ref.values, ref.sensor, axis=1).values
    assert np.abs(mine - np.asarray(nd.values[:5, 0])).max() < 1e-6
    raw = np.load(ep / "REFERENCE_SCENES.npy")          # scene k is date [2, 1, 4, 3, 0][k]
    for k, t in enumerate([2, 1, 4, 3, 0]):
        assert np.array_equal(ref.values[t], raw[k].transpose(2, 0, 1))
    assert not ref.mask[1].any() and not ref.mask[2].any() and ref.mask[[0, 3, 4]].all()   # two fully clouded scenes


def test_eopatch_index_series(samples):
    c = read_eopatch(samples("eolearn_test_eopatch"))
    rows, cols = np.array([0, 50, 100]), np.array([0, 40, 99])
    s = c.index_series(rows, cols)
    assert s.values.shape == (3, 1, 68) and np.isfinite(s.values).all()
    obs = s.valid[:, 0]
    assert (obs == c.mask[:, rows, cols].T).all()
    assert np.allclose(s.values[:, 0][obs], np.asarray(c.values[:, 0, rows, cols]).T[obs])
    st = c.indices()
    assert st.values.shape == (68, 1, 101, 100) and np.allclose(st.values[:, 0, rows, cols].T, s.values[:, 0])


def test_eopatch_fixture_and_errors(tmp_path):
    ep = write_eopatch(tmp_path / "patch")
    c = read_eopatch(ep)
    assert c.shape == (6, 1, 6, 5) and c.crs == "EPSG:32633" and c.transform == pytest.approx((10, 0, 465180, 0, -10, 5079300))
    assert not c.mask[1].any() and not c.mask[2, 0, 0] and c.mask[2].sum() == 29 and "dem" in c.meta
    assert read_eopatch(ep, cloud_mask="CLM_S2C").mask[2, 0, 0]     # IS_VALID still removes date 1
    r = read_eopatch(ep, "reference")
    assert r.shape == (5, 13, 6, 5)
    before = listing(ep)
    (ep / "mask/CLM.npy").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"EOPatch folder .*patch lacks mask/CLM.npy"):
        read_eopatch(ep)
    np.save(ep / "mask/CLM.npy", np.zeros((3, 6, 5, 1), np.uint8))
    with pytest.raises(ReadError, match=r"CLM.npy: shape \(3, 6, 5, 1\); expected \(6, 6, 5, 1\)"):
        read_eopatch(ep)
    (ep / "data/NDVI.npy").write_bytes((ep / "data/NDVI.npy").read_bytes()[:200])
    with pytest.raises(ReadError, match="NDVI.npy: cannot read as .npy"):
        read_eopatch(ep)
    assert listing(ep) == before                                    # a failed read leaves nothing behind
    with pytest.raises(ValueError, match="layer must be 'ndvi' or 'reference'"):
        read_eopatch(ep, "bands")
    with pytest.raises(DatasetNotFoundError, match="EOPatch folder .*nope not found"):
        read_eopatch(tmp_path / "nope")


def test_eopatch_all_cloudy_pixel(tmp_path):
    ep = write_eopatch(tmp_path / "p")
    clm = np.load(ep / "mask/CLM.npy"); clm[:, 3, 4] = 1
    np.save(ep / "mask/CLM.npy", clm)
    with pytest.warns(UserWarning, match=r"1 of 30 pixels have no usable date \(first at row 3, col 4\)"):
        read_eopatch(ep)
    with pytest.raises(ReadError, match="no usable date"):
        read_eopatch(ep, on_empty="raise")


# ---------------------------------------------------------------- CBERS-4 AWFI
def test_cbers_real(samples):
    c = read_cbers_awfi(samples("sits_samples/cbers4_awfi"))
    assert c.shape == (24, 4, 50, 50) and c.values.dtype == np.int16 and c.bands == ("B13", "B14", "B15", "B16")
    assert str(c.dates[0]) == "2017-08-29" and str(c.dates[-1]) == "2018-08-29"
    assert set(np.diff(c.dates).astype(int)) <= {13, 16, 17}          # 16-day cube (restarting on 1 January)
    assert c.crs == "EPSG:10857" and c.transform[0] == pytest.approx(64, abs=0.01) and c.transform[4] == pytest.approx(-64, abs=0.01)
    assert 48 <= c.values.min() and c.values.max() <= 6187              # reflectance x 10 000
    ix = c.indices()
    med = np.nanmedian(ix.values, axis=(0, 2, 3))
    assert 0.3 < med[0] < 0.9 and 0.2 < med[1] < 0.8 and 0.2 < med[2] < 0.7   # NDVI, EVI, SAVI in their usual ranges
    assert (~c.mask[5]).mean() == pytest.approx(0.18, abs=0.01) and c.mask[:5].all()


def test_cbers_fixture_cmask_and_errors(tmp_path):
    root, vals = write_cbers(tmp_path / "cb")
    with rasterio.open(root / "CBERS-4_AWFI_CMASK_2017-09-14.tif", "r+") as w:
        cm = np.zeros((1, 5, 6), np.uint8); cm[0, 0, :3] = (4, 2, 255); w.write(cm)
    with rasterio.open(root / "CBERS-4_AWFI_B16_2017-09-30.tif", "r+") as w:
        a = w.read(); a[0, 4, 5] = -9999; w.write(a)
    c = read_cbers_awfi(root)
    assert c.shape == (3, 4, 5, 6) and (c.values[0, 3] == vals[("B16", "2017-08-29")][0]).all()
    assert c.mask[1, 0, :3].tolist() == [False, False, False] and c.mask[1, 0, 3] and not c.mask[2, 4, 5]
    assert (~c.mask).sum() == 4
    assert read_cbers_awfi(root, bad_cmask=(4,)).mask[1, 0, :3].tolist() == [False, True, True]
    before = listing(root)
    (root / "CBERS-4_AWFI_B15_2017-09-14.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match="cb: no file for B15 2017-09-14"):
        read_cbers_awfi(root)
    write_tif(root / "CBERS-4_AWFI_B15_2017-09-14.tif", np.ones((1, 5, 7), np.int16), crs="EPSG:4326",
              transform=(64.0, 0, 5794837.2, 0, -64.0, 9776347.98))
    with pytest.raises(ReadError, match=r"B15_2017-09-14.tif: shape \(5, 7\) differs from \(5, 6\)"):
        read_cbers_awfi(root)
    write_tif(root / "CBERS-4_AWFI_B15_2017-09-14.tif", np.ones((1, 5, 6), np.int16), crs="EPSG:32633",
              transform=(64.0, 0, 5794837.2, 0, -64.0, 9776347.98))
    with pytest.raises(ReadError, match="B15_2017-09-14.tif: crs EPSG:32633 differs from EPSG:4326"):
        read_cbers_awfi(root)
    (root / "CBERS-4_AWFI_CMASK_2017-09-30.tif").unlink()
    write_tif(root / "CBERS-4_AWFI_B15_2017-09-14.tif", np.ones((1, 5, 6), np.int16), crs="EPSG:4326",
              transform=(64.0, 0, 5794837.2, 0, -64.0, 9776347.98))
    with pytest.raises(DatasetNotFoundError, match="no CMASK file for 2017-09-30"):
        read_cbers_awfi(root)
    with pytest.raises(DatasetNotFoundError, match="holds no"):
        read_cbers_awfi(tmp_path)


# ---------------------------------------------------------------- CropHarvest
def test_cropharvest_real(samples):
    f = next(samples("cropharvest_togo").glob("*.tif"))
    c = read_cropharvest(f)
    assert c.shape == (12, 13, 17, 17) and c.sensor.name == "cropharvest_s2" and c.bands[7:9] == ("B8", "B8A")
    assert str(c.dates[0]) == "2019-02-06" and str(c.dates[-1] + np.timedelta64(30, "D")) == "2020-02-01"   # the name's end date
    assert c.crs == "EPSG:4326" and c.mask.all()
    assert c.meta["s1"].shape == (12, 2, 17, 17) and c.meta["weather"].shape == (12, 2, 17, 17)
    assert 200 < np.nanmin(c.meta["elevation"]) and np.isnan(c.meta["slope"]).sum() == 109
    assert -30 < c.meta["s1"].min() and c.meta["s1"].max() < 0 and 290 < c.meta["weather"][:, 0].min()   # dB and kelvin
    with rasterio.open(f) as r:
        assert np.array_equal(c.values[3, c.bands.index("B4")], r.read(3 * 17 + 6))   # band B4 of step 3, 1-based
    s = c.index_series([0, 8, 16], [0, 8, 16])
    assert s.values.shape == (3, 3, 12) and np.isfinite(s.values).all() and 0.4 < s.values[:, 0].max() < 0.9


def test_cropharvest_fixture_errors(tmp_path):
    T, H, W = 2, 3, 4
    names = [b if t == 0 else f"{b}_{t}" for t in range(T) for b in CROPHARVEST_BANDS] + ["elevation", "slope"]
    data = np.random.default_rng(0).uniform(500, 3000, (len(names), H, W))
    f = write_tif(tmp_path / "7-test_2020-01-01_2020-03-01.tif", data, crs="EPSG:4326", transform=(1e-4, 0, 1.0, 0, -1e-4, 7.0), descriptions=names)
    c = read_cropharvest(f)
    assert c.shape == (2, 13, 3, 4) and str(c.dates[1]) == "2020-01-31" and np.allclose(c.values[1, 0], data[17 + 2])
    assert str(read_cropharvest(f, start="2021-05-01").dates[0]) == "2021-05-01"
    bad = list(names); bad[3], bad[4] = bad[4], bad[3]
    g = write_tif(tmp_path / "8-swap_2020-01-01_2020-03-01.tif", data, crs="EPSG:4326", descriptions=bad)
    with pytest.raises(ReadError, match="8-swap_2020-01-01_2020-03-01.tif: band 4 is 'B3'; expected 'B2'"):
        read_cropharvest(g)
    h = write_tif(tmp_path / "9-short_2020-01-01_2020-03-01.tif", data[:30], crs="EPSG:4326")
    with pytest.raises(ReadError, match="9-short.*: 30 bands; expected T x 17"):
        read_cropharvest(h)
    k = write_tif(tmp_path / "nodate.tif", data, crs="EPSG:4326")
    with pytest.raises(ReadError, match="nodate.tif: no start date"):
        read_cropharvest(k)


# ---------------------------------------------------------------- MODIS MOD13Q1 (JP2)
def test_modis_real_jp2_and_points(samples):
    folder = samples("sits_samples/mod13q1_sinop")
    c = read_modis_ndvi(folder)
    assert c.shape == (12, 1, 147, 255) and c.values.dtype == np.int16 and c.sensor.scale == 10_000
    assert str(c.dates[0]) == "2013-09-14" and str(c.dates[-1]) == "2014-08-29" and index_bands(c.sensor) == {"NDVI": 0}
    p = c.meta["points"]
    assert len(p["row"]) == 18 and (p["row"] >= 0).all()
    counts = np.bincount(p["label"], minlength=5)
    assert dict(zip(c.class_names, counts)) == {"unlabelled": 0, "Cerrado": 3, "Forest": 3, "Pasture": 4, "Soy_Corn": 8}
    # pixel centres map back to within half a pixel (231.7 m) of the points
    from rasterio.warp import transform as warp
    a, _, x0, _, e, y0 = c.transform
    x, y = warp("EPSG:4326", c.crs, list(p["longitude"]), list(p["latitude"]))
    assert np.abs(x0 + (p["col"] + 0.5) * a - np.array(x)).max() <= abs(a) / 2
    assert np.abs(y0 + (p["row"] + 0.5) * e - np.array(y)).max() <= abs(e) / 2
    s = c.index_series(p["row"], p["col"])
    forest = p["label"] == c.class_names.index("Forest")
    assert s.values[forest, 0].mean() > s.values[~forest, 0].mean()     # forest is greener on average
    bad = c.values[~c.mask[:, None]]
    assert bad.size > 0 and ((bad < -2000) | (bad > 10_000)).all()   # outside MOD13Q1's valid range


# ---------------------------------------------------------------- users' GeoTIFF stacks
@pytest.fixture
def stack(tmp_path):
    rng = np.random.default_rng(1)
    px = rng.integers(100, 4000, (3, 4, 5, 6)).astype(np.float32)
    d = tmp_path / "stack"; d.mkdir()
    for name, a in zip(["S2_20190412.tif", "S2_2019-03-02.tif", "S2_20190530.tif"], px[[1, 0, 2]]):
        write_tif(d / name, a, nodata=-1, descriptions=["B2", "B4", "B8", "B11"])
    return d, px


def test_geotiff_stack_reads_in_date_order(stack):
    d, px = stack
    c = read_geotiff_stack(d, sensor=readers.get_sensor(("B2", "B4", "B8", "B11"), scale=10_000, roles="sentinel2"))
    assert list(c.dates.astype(str)) == ["2019-03-02", "2019-04-12", "2019-05-30"] and np.array_equal(c.values, px)
    assert c.crs == "EPSG:32631" and c.transform == UTM and c.mask.all() and c.name == "stack"
    assert [Path(p).name for p in c.meta["paths"]] == ["S2_2019-03-02.tif", "S2_20190412.tif", "S2_20190530.tif"]
    assert read_geotiff_stack(d).bands == ("B2", "B4", "B8", "B11")                  # names from the band descriptions
    assert read_geotiff_stack(str(d / "S2_2019*.tif")).shape == (3, 4, 5, 6)          # glob
    files = sorted(d.glob("*.tif"))
    c2 = read_geotiff_stack(files, dates=["2020-01-01", "2020-02-01", "2020-03-01"], band_names=["b", "r", "n", "s"])
    assert c2.bands == ("b", "r", "n", "s") and np.array_equal(c2.values[0], px[0])   # given dates keep the given order
    assert c.indices().values.shape == (3, 3, 5, 6)


def test_geotiff_stack_nodata_nan_masks_labels(stack, tmp_path):
    d, px = stack
    a = px[1].copy(); a[0, 0, 0] = -1; a[2, 1, 1] = np.nan
    write_tif(d / "S2_20190412.tif", a, nodata=-1)
    mdir = tmp_path / "masks"; mdir.mkdir()
    mvals = np.zeros((3, 1, 5, 6), np.uint8); mvals[2, 0, 4, 5] = 9; mvals[0, 0, 2, 2] = 3
    masks = [write_tif(mdir / f"m{t}.tif", mvals[t]) for t in range(3)]
    lab = write_tif(tmp_path / "labels.tif", np.arange(30, dtype=np.int16).reshape(1, 5, 6) % 3)
    c = read_geotiff_stack(d, band_names=list("abcd"))
    assert (~c.mask).sum() == 2 and not c.mask[1, 0, 0] and not c.mask[1, 1, 1]
    files = [d / "S2_2019-03-02.tif", d / "S2_20190412.tif", d / "S2_20190530.tif"]
    c = read_geotiff_stack(files, band_names=list("abcd"), mask_paths=masks, clear_values=[0], labels=lab, class_names=["x", "y", "z"])
    assert (~c.mask).sum() == 4 and not c.mask[2, 4, 5] and not c.mask[0, 2, 2] and c.labels[1, 0] == 0 and c.labels[0, 2] == 2
    with pytest.warns(UserWarning, match="28 of 30 pixels have no usable date"):
        c = read_geotiff_stack(files, band_names=list("abcd"), mask_paths=masks)  # default: non-zero = usable
    assert c.mask.sum() == 2
    c = read_geotiff_stack(d, band_names=list("abcd"), nodata=px[0, 0, 0, 0])
    assert not c.mask[0, 0, 0]


def test_geotiff_stack_errors(stack, tmp_path):
    d, px = stack
    before = listing(d)
    with pytest.raises(ReadError, match="4 bands; expected 10 for sensor 'pastis_s2'"):
        read_geotiff_stack(d, sensor="pastis_s2")
    write_tif(tmp_path / "x_20190101.tif", px[0])
    with pytest.raises(ReadError, match="x_20190101.tif: 4 bands without names"):
        read_geotiff_stack([tmp_path / "x_20190101.tif"])
    files = sorted(d.glob("*.tif"))
    with pytest.raises(ReadError, match=r"S2_20190530.tif: date 2019-03-01 is not after 2019-04-12"):
        read_geotiff_stack(files, dates=["2019-03-02", "2019-04-12", "2019-03-01"], band_names=list("abcd"))
    with pytest.raises(ValueError, match="2 dates for 3 GeoTIFFs"):
        read_geotiff_stack(files, dates=["2019-03-02", "2019-04-12"], band_names=list("abcd"))
    with pytest.raises(ReadError, match="no date in the file name"):
        read_geotiff_stack([tmp_path / "x_20190101.tif", write_tif(tmp_path / "scene.tif", px[0])], band_names=list("abcd"))
    write_tif(tmp_path / "y_2019-01-01.tif", px[0])
    with pytest.raises(ReadError, match="y_2019-01-01.tif: has the same date 2019-01-01 as x_20190101.tif"):
        read_geotiff_stack([tmp_path / "x_20190101.tif", tmp_path / "y_2019-01-01.tif"], band_names=list("abcd"))
    write_tif(d / "S2_20190601.tif", px[0, :3])
    with pytest.raises(ReadError, match="S2_20190601.tif: count 3 differs from 4"):
        read_geotiff_stack(d)
    write_tif(d / "S2_20190601.tif", px[0], crs="EPSG:32632")
    with pytest.raises(ReadError, match="S2_20190601.tif: crs EPSG:32632 differs from EPSG:32631 of S2_2019-03-02.tif"):
        read_geotiff_stack(d)
    write_tif(d / "S2_20190601.tif", px[0].astype(np.int16))
    with pytest.raises(ReadError, match="S2_20190601.tif: data type int16 differs from float32"):
        read_geotiff_stack(d)
    bad = px[0].copy(); bad[3, 2, 2] = np.inf
    write_tif(d / "S2_20190601.tif", bad)
    with pytest.raises(ReadError, match=r"S2_20190601.tif: 1 ±inf values \(first in band B11\)"):
        read_geotiff_stack(d)
    (d / "S2_20190601.tif").write_bytes((d / "S2_20190530.tif").read_bytes()[:500])   # truncated
    with pytest.raises(ReadError, match="S2_20190601.tif: cannot read as a raster"):
        read_geotiff_stack(d)
    (d / "S2_20190601.tif").write_text("not a tiff")
    with pytest.raises(ReadError, match="S2_20190601.tif: cannot read as a raster"):
        read_geotiff_stack(d)
    (d / "S2_20190601.tif").unlink()
    assert listing(d) == before
    with pytest.raises(DatasetNotFoundError, match="no GeoTIFF found"):
        read_geotiff_stack(tmp_path / "empty*.tif")
    with pytest.raises(DatasetNotFoundError, match="GeoTIFF .*missing.tif not found"):
        read_geotiff_stack([tmp_path / "missing.tif"])
    m = write_tif(tmp_path / "m.tif", np.ones((1, 5, 7), np.uint8))
    with pytest.raises(ReadError, match=r"m.tif: shape \(5, 7\) differs from \(5, 6\)"):
        read_geotiff_stack(files[:1], band_names=list("abcd"), mask_paths=[m])


def test_geotiff_stack_all_cloudy_pixel(stack, tmp_path):
    d, px = stack
    masks = []
    for t in range(3):
        m = np.ones((1, 5, 6), np.uint8); m[0, 4, 0] = 0
        masks.append(write_tif(tmp_path / f"m{t}.tif", m))
    files = [d / "S2_2019-03-02.tif", d / "S2_20190412.tif", d / "S2_20190530.tif"]
    with pytest.warns(UserWarning, match=r"1 of 30 pixels have no usable date \(first at row 4, col 0\)"):
        c = read_geotiff_stack(files, band_names=["B02", "B04", "B08", "B11"], mask_paths=masks)   # Sentinel-2 names
    with pytest.warns(UserWarning, match="no valid date"):
        s = c.index_series([4], [0], ["NDVI"])
    assert np.isnan(s.values).all()
    with pytest.raises(ReadError, match="no usable date"):
        read_geotiff_stack(files, band_names=["B2", "B4", "B8", "B11"], mask_paths=masks, on_empty="raise")


# ---------------------------------------------------------------- .npy cubes
def test_npy_cube(tmp_path):
    rng = np.random.default_rng(2)
    v = rng.uniform(0, 0.5, (4, 4, 3, 5)).astype(np.float32); v[2, 1, 0, 0] = np.nan
    np.save(tmp_path / "c.npy", v)
    m = np.ones((4, 3, 5), bool); m[0, 2, 2] = False
    np.save(tmp_path / "m.npy", m); np.save(tmp_path / "l.npy", np.arange(15).reshape(3, 5) % 2)
    dates = ["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01"]
    c = read_npy_cube(tmp_path / "c.npy", dates, "cbers4_awfi", mask=tmp_path / "m.npy", labels=tmp_path / "l.npy", class_names=["a", "b"],
                      crs="EPSG:32633", transform=UTM)
    assert isinstance(c.values, np.memmap) and c.shape == (4, 4, 3, 5) and c.valid.sum() == 60 - 2 and c.labels[0, 1] == 1
    assert c.name == "c" and c.crs == "EPSG:32633"
    stack = c.indices(fill=False).values
    np.testing.assert_array_equal(c.index_series([1], [1], fill=False).values[0], stack[:, :, 1, 1].T)
    with pytest.raises(ReadError, match=r"c.npy: 4 bands \(shape \(4, 4, 3, 5\)\); expected 10 for sensor 'pastis_s2'"):
        read_npy_cube(tmp_path / "c.npy", dates, "pastis_s2")
    with pytest.raises(ReadError, match=r"c.npy: Cube 'c': dates must be strictly increasing"):
        read_npy_cube(tmp_path / "c.npy", dates[::-1], "cbers4_awfi")
    with pytest.raises(ReadError, match=r"c.npy: Cube 'c': 3 dates for 4 time steps"):
        read_npy_cube(tmp_path / "c.npy", dates[:3], "cbers4_awfi")
    np.save(tmp_path / "l2.npy", np.zeros((5, 3), int))
    with pytest.raises(ReadError, match=r"l2.npy: labels of shape \(5, 3\); expected \(3, 5\) to match c.npy"):
        read_npy_cube(tmp_path / "c.npy", dates, "cbers4_awfi", labels=tmp_path / "l2.npy")
    np.save(tmp_path / "flat.npy", v[0])
    with pytest.raises(ReadError, match=r"flat.npy: shape \(4, 3, 5\); expected \(T, C, H, W\)"):
        read_npy_cube(tmp_path / "flat.npy", dates, "cbers4_awfi")
    w = v.copy(); w[3, 0, 1, 1] = -np.inf; np.save(tmp_path / "inf.npy", w)
    with pytest.raises(ReadError, match="inf.npy: ±inf at time step 3"):
        read_npy_cube(tmp_path / "inf.npy", dates, "cbers4_awfi")
    assert read_npy_cube(tmp_path / "inf.npy", dates, "cbers4_awfi", check=False).shape == (4, 4, 3, 5)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "c.npy").read_bytes()[:400])
    with pytest.raises(ReadError, match="cut.npy: cannot read as .npy"):
        read_npy_cube(tmp_path / "cut.npy", dates, "cbers4_awfi")
    with pytest.raises(DatasetNotFoundError, match="nope.npy not found"):
        read_npy_cube(tmp_path / "nope.npy", dates, "cbers4_awfi")


def test_date_from_name():
    assert date_from_name("S2A_MSIL2A_20170613T101031_87_48.tif") == np.datetime64("2017-06-13")
    assert date_from_name("CBERS-4_AWFI_B13_2017-08-29.tif") == np.datetime64("2017-08-29")
    assert date_from_name("tile_12345678_20190230_20190301.tif") == np.datetime64("2019-03-01")   # skips impossible dates
    with pytest.raises(ReadError, match="x_123.tif: no date in the file name"):
        date_from_name("/a/x_123.tif")


# ---------------------------------------------------------------- issue 18, item 9: time zones keep the calendar day
def _tz(hours):
    import datetime as dt
    return dt.timezone(dt.timedelta(hours=hours))


@pytest.mark.parametrize("hours", [2, -5])
def test_as_dates_keeps_local_day_and_time(hours):
    "A tz-aware date keeps its wall-clock date and time in its own zone; the zone is dropped (no shift to UTC)."
    import datetime as dt
    import warnings
    import pandas as pd
    tz, want = _tz(hours), np.array(['2021-06-01T00:30', '2021-07-15T23:45'], 'datetime64[m]')
    idx = pd.DatetimeIndex(['2021-06-01T00:30', '2021-07-15T23:45']).tz_localize(tz)
    sign = '+' if hours >= 0 else '-'
    iso = [f"2021-06-01T00:30{sign}{abs(hours):02d}:00", f"2021-07-15 23:45{sign}{abs(hours):02d}00"]
    with warnings.catch_warnings():
        warnings.simplefilter('error')                           # no numpy "no explicit representation of timezones"
        for given in (idx, pd.Series(idx), list(idx), [d.to_pydatetime() for d in idx], iso, np.array(iso, object)):
            d = as_dates(given)
            assert d.dtype.kind == 'M' and (d == want).all(), (type(given), d)
        assert as_dates(idx[0]) == want[0]
        assert as_dates(['2021-06-01T00:30Z']) == want[0]
        assert as_dates(dt.datetime(2021, 6, 1, 0, 30, tzinfo=tz)) == want[0]
        # plain dates stay what they were
        assert as_dates(['2021-06-01', '2021-06-02']).dtype == np.dtype('datetime64[D]')
        assert as_dates(['2021-06-01T00:30']).dtype == np.dtype('datetime64[m]')


def test_tz_aware_dates_in_cubes_and_readers(tmp_path):
    "Cube, sel_dates, read_npy_cube and read_eopatch all keep a tz-aware date's own calendar day."
    import pandas as pd
    from pimc.cube import Cube
    berlin = pd.date_range('2021-06-01', periods=4, freq='7D', tz='Europe/Berlin')          # local midnights
    ny = pd.date_range('2021-06-01 21:00', periods=4, freq='7D', tz='America/New_York')    # evenings
    v = np.ones((4, 4, 3, 5), np.float32)
    for idx in (berlin, ny):
        c = Cube(v, idx, 'cbers4_awfi')
        assert c.dates.astype('datetime64[D]').astype(str).tolist() == ['2021-06-01', '2021-06-08', '2021-06-15',
                                                                        '2021-06-22']
        assert len(c.sel_dates(idx[1], idx[2])) == 2
    np.save(tmp_path / "c.npy", v)
    c = read_npy_cube(tmp_path / "c.npy", berlin, "cbers4_awfi")
    assert c.dates.astype('datetime64[D]').astype(str).tolist()[0] == '2021-06-01'
    ep = write_eopatch(tmp_path / "patch", T=3)
    (ep / "timestamps.json").write_text(json.dumps(["2016-01-01T00:30:00+02:00", "2016-02-01T23:30:00-05:00",
                                                    "2016-03-01T10:00:00Z"]))
    assert read_eopatch(ep).dates.astype(str).tolist() == ['2016-01-01T00:30:00', '2016-02-01T23:30:00',
                                                          '2016-03-01T10:00:00']
