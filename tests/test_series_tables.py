"""Series tables: the real labelled sets (sizes from shared/data/README.md; skipped when absent), small CSV fixtures in
each dialect, bad rows, and the table operations (indices, gap filling, subsets, class filters, stratified splits)."""
import numpy as np
import pytest

from pimc.bands import savi
from pimc.errors import DatasetNotFoundError, TableError
from pimc.series_tables import SeriesTable, load_cawa, load_sits_csv, load_tempcnn, table_sensor
from pimc.timeseries import fill_gaps


# ---------------------------------------------------------------- real data, sizes as in the data README
def test_cawa_real(samples):
    t = load_cawa(samples("cawa_central_asia"))
    assert t.shape == (8435, 1, 23) and t.names == ("NDVI",) and t.series.dtype == np.float32
    assert list(t.dates) == list(range(1, 354, 16)) and t.meta["time_unit"] == "day of year"
    assert 1 - t.observed.mean() == pytest.approx(0.258, abs=0.002)                    # "26 % missing"
    c = t.counts()
    assert len(c) == 40 and list(c.items())[:6] == [("cotton", 4025), ("wheat", 1596), ("wheat-other", 1402), ("wheat-rice", 314),
                                                    ("orchard", 234), ("rice", 167)]
    assert sorted(set(t.columns["year"])) == [2008, 2011, 2015, 2016, 2017, 2018] and set(t.columns["season"]) >= {"summer", "winter"}
    cotton = t.series[t.labels == 0, 0]
    assert t.dates[np.nanargmax(np.nanmedian(cotton, 0))] == 241                      # README: cotton peaks at DOY 241
    f = t.fill_gaps()
    assert np.isfinite(f.series).all() and (f.valid == t.observed).all()
    big = t.classes_with_at_least(100)
    assert big.class_names == ("cotton", "wheat", "wheat-other", "wheat-rice", "orchard", "rice", "wheat-maize", "fallow", "maize", "alfalfa")
    tr, te = big.split_stratified(0.25, seed=3)
    assert len(tr) + len(te) == len(big) and abs(len(te) / len(big) - 0.25) < 0.01
    for k, n in big.counts().items():
        assert te.counts()[k] == pytest.approx(0.25 * n, abs=1)


@pytest.mark.parametrize("split", ["train", "test"])
def test_tempcnn_real(samples, split):
    t = load_tempcnn(samples("tempcnn_formosat2"), split)
    assert t.shape == (260, 3, 149) and t.names == ("NIR", "R", "G") and t.dates is None and t.sensor.scale == 1000
    assert set(t.counts().values()) == {20} and t.class_names == ("wheat", "barley", "rapeseed", "corn", "soy", "sunflower", "sorghum",
                                                                  "pea", "grassland", "deciduous", "conifer", "water", "urban")
    raw = np.loadtxt(samples("tempcnn_formosat2") / f"{split}_dataset.csv", delimiter=",")
    assert np.allclose(t.series[7, :, 10], raw[7, 2 + 30:2 + 33], rtol=1e-6) and (t.columns["polygon"] == raw[:, 1]).all()
    ix = t.indices(["NDVI", "SAVI"])
    assert ix.names == ("NDVI", "SAVI") and np.isfinite(ix.series).all()
    assert np.allclose(ix.series[:, 1], savi(t.series / 1000, ("NIR", "R", "G"), axis=1).values, atol=1e-6)   # SAVI on reflectance
    water = np.median(ix.series[t.labels == t.class_names.index("water"), 0])
    assert water < 0.1 and water < np.median(ix.series[t.labels == t.class_names.index("deciduous"), 0]) - 0.3
    with pytest.raises(KeyError, match="EVI cannot be computed .*band 'blue' not found"):
        t.indices(["EVI"])
    tr, va = t.split_stratified(0.2, seed=0, groups="polygon")
    assert not set(tr.columns["polygon"]) & set(va.columns["polygon"]) and 0.1 < len(va) / len(t) < 0.3


@pytest.mark.parametrize("name,N,K,T,counts,shared", [
    ("samples_modis_ndvi", 1218, 1, 12, {"Cerrado": 379, "Forest": 131, "Pasture": 344, "Soy_Corn": 364}, False),
    ("cerrado_2classes", 746, 2, 23, {"Cerrado": 400, "Pasture": 346}, False),
    ("samples_l8_rondonia_2bands", 160, 2, 25, {"Deforestation": 40, "Forest": 40, "NatNonForest": 40, "Pasture": 40}, True),
    ("point_mt_6bands", 1, 6, 204, {"NoClass": 1}, True),
])
def test_sits_real(samples, name, N, K, T, counts, shared):
    t = load_sits_csv(samples("sits_samples") / f"{name}_long.csv")
    assert t.shape == (N, K, T) and t.counts() == counts and t.name == name
    assert (t.dates.ndim == 1) == shared and t.dates.dtype == np.dtype("datetime64[D]")
    assert np.isfinite(t.series).all() and len(t.columns["longitude"]) == N
    ix = t.indices(["NDVI"])
    assert ix.shape == (N, 1, T) and -1 <= ix.series.min() and ix.series.max() <= 1


def test_sits_point_indices(samples):
    t = load_sits_csv(samples("sits_samples") / "point_mt_6bands_long.csv")
    assert t.names == ("MIR", "BLUE", "NIR", "RED", "EVI", "NDVI") and str(t.dates[0]) == "2000-09-13"
    ix = t.indices()
    nir, red, blue = t.series[0, 2], t.series[0, 3], t.series[0, 1]
    assert np.array_equal(ix.series[0, 0], t.series[0, 5]) and np.array_equal(ix.series[0, 1], t.series[0, 4])   # stored NDVI, EVI
    assert np.allclose(ix.series[0, 2], 1.5 * (nir - red) / (nir + red + 0.5), atol=1e-6)                       # SAVI computed
    # the stored MOD13Q1 EVI is the EVI of the stored bands (up to rounding): the roles BLUE/RED/NIR are the right ones
    evi = 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)
    assert np.median(np.abs(evi - t.series[0, 4])) < 0.01


# ---------------------------------------------------------------- fixtures in each dialect, and bad rows
def write_cawa(folder, n=5, bad=None):
    folder.mkdir(exist_ok=True)
    doy = list(range(1, 354, 16))
    rng = np.random.default_rng(0)
    lines = [",".join(f'"{d}"' for d in doy)]
    for i in range(n):
        v = rng.uniform(0.1, 0.8, 23).round(4).astype(str)
        v[[3, 4]] = "NA"
        lines.append(",".join(v))
    if bad: lines[bad[0]] = bad[1]
    (folder / "CAWa_CropType_time-series.csv").write_text("\n".join(lines) + "\n")
    (folder / "CAWa_samples_attributes_converted.csv").write_text(
        "sampler,country,region,date,year,label_1,label_2,area,lon,lat\n"
        + "".join(f"S,UZ,F,2016-06-01,2016,{'cotton' if i % 2 else 'wheat'},summer,1.0,71.5,40.5\n" for i in range(n)))
    return folder


def test_cawa_fixture_and_bad_rows(tmp_path):
    t = load_cawa(write_cawa(tmp_path / "c", n=5))
    assert t.shape == (5, 1, 23) and t.class_names == ("wheat", "cotton") and list(t.labels) == [0, 1, 0, 1, 0]
    assert np.isnan(t.series[:, 0, 3:5]).all() and t.observed.sum() == 5 * 21
    f = t.fill_gaps()
    ref = fill_gaps(t.series, dates=t.dates)
    assert np.allclose(f.series, ref.values) and not f.valid[:, 0, 3].any()
    with pytest.raises(TableError, match=r"CAWa_CropType_time-series.csv: line 3 has 22 fields; expected 23 like the header"):
        load_cawa(write_cawa(tmp_path / "d", bad=(2, ",".join(["0.5"] * 22))))
    with pytest.raises(TableError, match=r"time-series.csv: line 4, field 1 \('1'\) is 'x0.3'; expected a number"):
        load_cawa(write_cawa(tmp_path / "e", bad=(3, ",".join(["x0.3"] * 23))))
    with pytest.raises(TableError, match="time-series.csv: line 2, field 1 \\('1'\\) is infinite"):
        load_cawa(write_cawa(tmp_path / "f", bad=(1, ",".join(["inf"] * 23))))
    with pytest.raises(TableError, match=r"NDVI spans .*1.5; expected -1..1"):
        load_cawa(write_cawa(tmp_path / "g", bad=(1, ",".join(["1.5"] * 23))))
    g = write_cawa(tmp_path / "h", n=5)
    (g / "CAWa_samples_attributes_converted.csv").write_text("label_1\ncotton\nwheat\n")
    with pytest.raises(TableError, match="2 rows but CAWa_CropType_time-series.csv has 5; expected the two row-aligned"):
        load_cawa(g)
    (g / "CAWa_samples_attributes_converted.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match="CAWa folder .*h lacks CAWa_samples_attributes_converted.csv"):
        load_cawa(g)


def write_tempcnn(folder, rows):
    folder.mkdir(exist_ok=True)
    (folder / "train_dataset.csv").write_text("\n".join(rows) + "\n")
    (folder / "class_map.txt").write_text("value,class,colour\n1,wheat,#ff0\n2,corn,#f00\n3,water,#00f\n")
    return folder


def test_tempcnn_fixture_and_bad_rows(tmp_path):
    good = ["0,11,100,20,30,110,21,31", "2,12,50,60,70,51,61,71"]
    t = load_tempcnn(write_tempcnn(tmp_path / "a", good))
    assert t.shape == (2, 3, 2) and t.series[1, :, 1].tolist() == [51, 61, 71] and t.class_names == ("wheat", "corn", "water")
    assert list(t.labels) == [0, 2] and list(t.columns["polygon"]) == [11, 12]
    with pytest.raises(TableError, match="train_dataset.csv: line 2, field 5 is empty; expected a number"):
        load_tempcnn(write_tempcnn(tmp_path / "b", [good[0], "2,12,50,60,,51,61,71"]))
    with pytest.raises(TableError, match=r"train_dataset.csv: line 2 has class 5; expected an integer 0..2"):
        load_tempcnn(write_tempcnn(tmp_path / "c", [good[0], "5,12,50,60,70,51,61,71"]))
    with pytest.raises(TableError, match="train_dataset.csv: line 1 has class 0.5"):
        load_tempcnn(write_tempcnn(tmp_path / "d", ["0.5,11,100,20,30,110,21,31"]))
    with pytest.raises(TableError, match="7 columns; expected class, polygon id, then T x"):
        load_tempcnn(write_tempcnn(tmp_path / "e", ["0,11,100,20,30,110,21"]))
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_tempcnn(tmp_path / "a", "val")
    with pytest.raises(DatasetNotFoundError, match="lacks test_dataset.csv"):
        load_tempcnn(tmp_path / "a", "test")


HEAD = "sample_id,longitude,latitude,label,date,NDVI,EVI\n"


def test_sits_fixture_pivot(tmp_path):
    rows = [(7, "b", "2019-09-14", 0.5, 0.3), (7, "b", "2019-10-16", 0.6, 0.35), (3, "a", "2018-09-14", 0.2, 0.1),
            (3, "a", "2018-10-16", np.nan, 0.12), (7, "b", "2019-11-17", 0.7, 0.4), (3, "a", "2018-11-17", 0.3, 0.15)]
    (tmp_path / "x_long.csv").write_text(HEAD + "".join(f"{i},-55.1,-11.2,{l},{d},{a},{b}\n" for i, l, d, a, b in rows))
    t = load_sits_csv(tmp_path / "x_long.csv")
    assert t.shape == (2, 2, 3) and list(t.ids) == [7, 3] and t.class_names == ("a", "b") and list(t.labels) == [1, 0]
    assert t.series[0, 0].tolist() == pytest.approx([0.5, 0.6, 0.7]) and np.isnan(t.series[1, 0, 1]) and t.name == "x"
    assert t.dates.shape == (2, 3) and str(t.dates[1, 0]) == "2018-09-14" and t.sensor is None
    f = t.fill_gaps()                                    # per-series dates: filled along each series' own calendar
    assert f.series[1, 0, 1] == pytest.approx(0.2 + 0.1 * 32 / 64)
    with pytest.raises(KeyError, match="SAVI is not a channel of x .*no bands to compute it from"):
        t.indices(["SAVI"])


@pytest.mark.parametrize("body,msg", [
    ("0,1,2,a,2020-01-01,0.5,0.3\n0,1,2,a,2020-01-17,oops,0.3\n", r"x_long.csv: line 3, column NDVI is 'oops'; expected a number"),
    ("0,1,2,a,2020-01-01,0.5,0.3\n0,1,2,a,2020-13-17,0.5,0.3\n", r"line 3, column date is '2020-13-17'; expected YYYY-MM-DD"),
    ("0,1,2,a,2020-01-17,0.5,0.3\n0,1,2,a,2020-01-01,0.5,0.3\n", r"the dates of sample 0 are not increasing \(2020-01-17 then 2020-01-01\)"),
    ("0,1,2,a,2020-01-01,0.5,0.3\n0,1,2,b,2020-01-17,0.5,0.3\n", "sample 0 has more than one label"),
    ("0,1,2,a,2020-01-01,0.5,0.3\n0,1,2,a,2020-01-17,0.5,0.3\n1,1,2,a,2020-01-01,0.5,0.3\n0,1,2,a,2020-02-01,0.5,0.3\n"
     "2,1,2,a,2020-01-01,0.5,0.3\n2,1,2,a,2020-01-17,0.5,0.3\n1,1,2,a,2020-01-17,0.5,0.3\n2,1,2,a,2020-02-01,0.5,0.3\n",
     "sample 1 has 2 dates but most have 3"),
    ("0,1,2,a,2020-01-01,0.5,inf\n", r"line 2, column EVI is 'inf'"),
    ("0,1,2,a,2020-01-01,0.5,0.3,9\n", "x_long.csv: line 2 has 8 fields; expected 7 like the header"),
])
def test_sits_bad_rows(tmp_path, body, msg):
    (tmp_path / "x_long.csv").write_text(HEAD + body)
    with pytest.raises(TableError, match=msg):
        load_sits_csv(tmp_path / "x_long.csv")


def test_sits_missing_columns(tmp_path):
    (tmp_path / "y.csv").write_text("id,label,date\n0,a,2020-01-01\n")
    with pytest.raises(TableError, match="y.csv: no column sample_id"):
        load_sits_csv(tmp_path / "y.csv")
    (tmp_path / "z.csv").write_text("sample_id,longitude,latitude,label,date\n0,1,2,a,2020-01-01\n")
    with pytest.raises(TableError, match="no band columns"):
        load_sits_csv(tmp_path / "z.csv")
    with pytest.raises(DatasetNotFoundError, match="sits table .*none.csv not found"):
        load_sits_csv(tmp_path / "none.csv")


# ---------------------------------------------------------------- table operations
def table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.5, (n, 3, 8)).astype(np.float32)
    x[0, :, 2] = np.nan; x[1, 0] = np.nan
    return SeriesTable(x, ("B", "R", "NIR"), rng.integers(0, 3, n), ("p", "q", "r"), dates=np.arange(8) * 10.0,
                       sensor=table_sensor(("B", "R", "NIR"), 1.0), columns={"field": np.arange(n) // 3})


def test_table_validation():
    x = np.zeros((2, 1, 3))
    with pytest.raises(ValueError, match=r"series must be \(N, K, T\)"):
        SeriesTable(x[0], ["NDVI"], [0], ["a"])
    with pytest.raises(ValueError, match=r"2 channel names \('NDVI', 'EVI'\) for 1 channels"):
        SeriesTable(x, ["NDVI", "EVI"], [0, 0], ["a"])
    with pytest.raises(ValueError, match="labels must be N = 2 integers"):
        SeriesTable(x, ["NDVI"], [0.0, 1.0], ["a", "b"])
    with pytest.raises(ValueError, match=r"dates must be \(T,\) = \(3,\) or \(N, T\) = \(2, 3\)"):
        SeriesTable(x, ["NDVI"], [0, 0], ["a"], dates=[1, 2])
    with pytest.raises(ValueError, match=r"strictly increasing \(series 1\): step 2 is not after step 1"):
        SeriesTable(x, ["NDVI"], [0, 0], ["a"], dates=np.array([[1, 2, 3], [1, 5, 5]]))
    with pytest.raises(ValueError, match=r"±inf"):
        SeriesTable(np.full((2, 1, 3), np.inf), ["NDVI"], [0, 0], ["a"])
    with pytest.raises(ValueError, match="column 'lon' has 3 values for 2 series"):
        SeriesTable(x, ["NDVI"], [0, 0], ["a"], columns={"lon": [1, 2, 3]})
    with pytest.raises(ValueError, match="sensor bands .* differ from the channel names"):
        SeriesTable(np.zeros((2, 3, 3)), ["NIR", "R", "G"], [0, 0], ["a"], sensor="cbers4_awfi")


def test_indices_and_fill_keep_validity():
    t = table()
    ix = t.indices()
    assert ix.names == ("NDVI", "EVI", "SAVI") and ix.sensor is None
    n, r, b = t.series[:, 2], t.series[:, 1], t.series[:, 0]
    assert np.allclose(ix.series[:, 0], (n - r) / (n + r), equal_nan=True)
    assert np.isnan(ix.series[0, :, 2]).all()                                         # all bands missing at t=2
    assert np.isnan(ix.series[1, 1]).all() and np.isfinite(ix.series[1, [0, 2]]).all()  # no blue: EVI missing, NDVI/SAVI fine
    with pytest.warns(UserWarning, match="1 of 60 series of the table have a channel without any value"):
        f = ix.fill_gaps()
    assert f.meta["empty"][1].tolist() == [False, True, False] and np.isnan(f.series[1, 1]).all()
    assert np.isfinite(np.delete(f.series, 1, 0)).all() and np.isfinite(f.series[1, [0, 2]]).all()
    assert not f.valid[0, :, 2].any() and f.valid[0, :, 3].all()
    assert np.allclose(f.series[0, :, 2], (f.series[0, :, 1] + f.series[0, :, 3]) / 2)
    g = f.indices(["NDVI"])                                                           # valid travels through indices
    assert g.valid is not None and not g.valid[0, 0, 2]
    with pytest.raises(ValueError, match="index names must be among"):
        t.indices(["NDWI"])
    with pytest.raises(ValueError, match="1 of 60 series"):
        ix.fill_gaps(on_empty="raise")


def test_subset_classes_split():
    t = table(90)
    s = t.subset([5, 2, 9])
    assert list(s.ids) == [5, 2, 9] and np.array_equal(s.series[1], t.series[2], equal_nan=True) and list(s.columns["field"]) == [1, 0, 3]
    with pytest.raises(ValueError, match="one entry per series"):
        t.subset(np.ones(3, bool))
    k = t.subset(t.labels != 1).classes_with_at_least(1)
    assert k.class_names == ("p", "r") and set(k.labels) == {0, 1} and k.meta["dropped_classes"] == ("q",)
    with pytest.raises(ValueError, match="no class of the table has 1000 series"):
        t.classes_with_at_least(1000)
    a1, b1 = t.split_stratified(0.3, seed=5)
    a2, b2 = t.split_stratified(0.3, seed=5)
    assert list(b1.ids) == list(b2.ids) and sorted([*a1.ids, *b1.ids]) == list(range(90))   # seeded, a partition
    for c, n in t.counts().items():
        assert abs(b1.counts()[c] - 0.3 * n) <= 1
    a, b = t.split_stratified(0.3, seed=0, groups="field")
    assert not set(a.columns["field"]) & set(b.columns["field"])
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\)"):
        t.split_stratified(1.0)
    with pytest.raises(KeyError, match="no column 'poly' to group by: columns are field"):
        t.split_stratified(groups="poly")


def test_plot_runs():
    import matplotlib
    matplotlib.use("Agg")
    t = table()
    ax = t.indices(["NDVI"]).plot().axes[0]
    assert len(ax.lines) == 3 and ax.get_ylabel() == "NDVI"


def test_import_stays_light():
    import subprocess, sys
    code = "import sys, pimc.series_tables; print(sorted(m for m in ('pandas', 'rasterio', 'matplotlib', 'pyts') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"pimc.series_tables imports {out} at module level"


def test_sits_csv_dates_with_a_time_zone_keep_their_local_day(tmp_path):
    "A date written with its zone (00:30 at UTC+2 is the day before in UTC) keeps the calendar day it reads."
    rows = ['sample_id,longitude,latitude,label,date,NDVI']
    for s in (0, 1):
        for day, v in (('2021-06-01', .2), ('2021-06-17', .5), ('2021-07-03', .7)):
            rows.append(f'{s},1,2,crop,{day}T00:30:00+02:00,{v}')
    p = tmp_path / 'tz_long.csv'; p.write_text('\n'.join(rows) + '\n')
    t = load_sits_csv(p)
    days = np.asarray(t.dates).reshape(-1, 3)[0] if np.ndim(t.dates) else t.dates
    assert [str(d)[:10] for d in days] == ['2021-06-01', '2021-06-17', '2021-07-03']
