"""One listing of a GeoTIFF stack (issue 19, item 3): `pimc.readers.geotiff_stack_files` is what the in-memory
reader (`read_geotiff_stack`) and the lazy one (`pimc.sources.open_geotiff_stack`) both use: any-case .tif/.tiff
names, files sharing a date refused (the CBERS layout named), ±inf refused."""
import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin

from pimc.errors import ReadError
from pimc.readers import geotiff_stack_files, read_geotiff_stack

BANDS = ("B02", "B03", "B04", "B08")


def _tif(path, value, dtype="float32", count=4):
    with rasterio.open(path, "w", driver="GTiff", height=4, width=5, count=count, dtype=dtype, crs="EPSG:32631",
                       transform=from_origin(600_000, 5_600_000, 10, 10)) as f:
        f.write(np.full((count, 4, 5), value, dtype))
    return path


def test_any_case_suffix_in_date_order(tmp_path):
    for name, v in (("s_20200301.TIFF", 0.3), ("s_20200101.Tif", 0.1), ("s_2020-02-01.tif", 0.2)):
        _tif(tmp_path / name, v)
    (tmp_path / "notes.txt").write_text("not a raster")
    files, dates, _ = geotiff_stack_files(tmp_path)
    assert [p.name for p in files] == ["s_20200101.Tif", "s_2020-02-01.tif", "s_20200301.TIFF"]
    assert read_geotiff_stack(tmp_path, band_names=BANDS).shape == (3, 4, 4, 5)
    pytest.importorskip("rioxarray")
    from pimc.sources import open_geotiff_stack
    da = open_geotiff_stack(tmp_path, sensor=BANDS, chunks=2)
    np.testing.assert_allclose(da.values[:, 0, 0, 0], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("lazy", [False, True], ids=["read", "open"])
def test_shared_dates_and_inf_are_refused_by_both(tmp_path, lazy):
    if lazy: pytest.importorskip("rioxarray")
    from pimc.sources import open_geotiff_stack
    read = (lambda d: open_geotiff_stack(d, sensor=BANDS, chunks=2).values) if lazy else \
        (lambda d: read_geotiff_stack(d, band_names=BANDS))
    awfi = tmp_path / "awfi"; awfi.mkdir()
    for b in ("B13", "B14", "B15", "B16"): _tif(awfi / f"CBERS-4_AWFI_{b}_2018-01-01.tif", 1, "int16", count=1)
    with pytest.raises(ReadError, match="has the same date 2018-01-01 .*read_cbers_awfi"): read(awfi)
    inf = tmp_path / "inf"; inf.mkdir()
    _tif(inf / "s_20200101.tif", 0.1); _tif(inf / "s_20200201.tif", np.inf)
    with pytest.raises(ReadError, match=r"s_20200201.tif: \d+ ±inf values"): read(inf)
