"""Hostile inputs that once gave silently wrong results, lost work or unclear errors (issue 13), one test per case.

Every file is made small in `tmp_path`; the numbers in the test names follow the issue's cases."""
import json, os, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pimc.errors import PimcError


def _jpg(path, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), 99, np.uint8)).save(path)


# ---------------------------------------------------------------- 1. EuroSAT labels never shift
def test_01_eurosat_stray_folders_keep_the_label_ids(tmp_path):
    from pimc.eurosat import EuroSAT, EUROSAT_CLASSES
    root = tmp_path / "2750"
    for c in ("Forest", "River", "AA_old", "__MACOSX"): _jpg(root / c / f"{c}_1.jpg")
    _jpg(root / "Forest" / "._Forest_1.jpg")                  # a macOS resource fork beside a chip: not a chip
    with pytest.warns(UserWarning, match=r"ignoring 2 folder\(s\) that are not EuroSAT classes: AA_old, __MACOSX"):
        ds = EuroSAT(tmp_path)
    assert ds.classes == EUROSAT_CLASSES and len(ds) == 2
    assert ds.targets.tolist() == [EUROSAT_CLASSES.index("Forest"), EUROSAT_CLASSES.index("River")] == [1, 8]


def test_01_eurosat_only_unknown_folders_is_refused(tmp_path):
    from pimc.errors import DatasetNotFoundError
    from pimc.eurosat import EuroSAT
    for c in ("cats", "dogs"): _jpg(tmp_path / c / f"{c}_1.jpg")
    with pytest.raises(DatasetNotFoundError, match=r"are not EuroSAT classes; expected class folders named AnnualCrop"):
        EuroSAT(tmp_path)


# ---------------------------------------------------------------- 2. wrong bands, out-of-range values, bad labels
def test_02_bare_band_numbers_ask_for_the_sensor():
    from pimc.bands import get_sensor, ndvi
    l8 = [f"B{i}" for i in range(1, 10)]                       # a Landsat-8 stack: B5 is NIR, B8 panchromatic
    x = np.full((9, 2, 2), 0.1, np.float32); x[4] = 0.5; x[7] = 0.2
    with pytest.raises(KeyError, match=r"B8 is Sentinel-2's NIR but Landsat 8's panchromatic band.*roles='sentinel2'"):
        ndvi(x, l8, axis=0)
    got = ndvi(x, get_sensor(l8, roles="landsat8"), axis=0).values
    np.testing.assert_allclose(got, (0.5 - 0.1) / 0.6, rtol=1e-6)   # NIR is B5, not B8
    assert get_sensor(["B2", "B3", "B4", "B8", "B8A", "B11", "B12"]).roles["nir"] == "B8"   # B8A/B12: Sentinel-2
    assert get_sensor(["B02", "B04", "B08"]).roles["nir"] == "B08"                          # zero-padded: Sentinel-2
    assert get_sensor("pastis_s2").roles == {"blue": "B2", "green": "B3", "red": "B4", "nir": "B8"}
    from pimc.series_tables import table_sensor
    assert "nir" not in table_sensor(l8).roles and table_sensor(["B", "R", "NIR"]).roles["nir"] == "NIR"


def test_02_negative_and_too_bright_reflectances_are_masked():
    from pimc.bands import REFLECTANCE_RANGE, compute_indices, evi
    rng = np.random.default_rng(0)
    x = rng.uniform(0.02, 0.1, (10, 6, 6)).astype(np.float32)   # PASTIS band order, reflectance
    x[6] = rng.uniform(0.2, 0.5, (6, 6))                        # NIR (B8) of vegetation
    x[0, 0, :3] = -0.3                                          # negative blue
    x[6, 1, :2] = 3.0                                           # NIR far above 1
    r = evi(x, "pastis_s2", scale=1)
    assert not r.valid[0, :3].any() and not r.valid[1, :2].any() and r.valid[2:].all()
    assert np.nanmin(r.values) >= -1 and np.nanmax(r.values) <= 1      # was -70..44 with the negatives kept
    assert REFLECTANCE_RANGE == (0.0, 1.5)
    raw = evi(x, "pastis_s2", scale=1, valid_range=None)                   # the rule can be turned off
    assert raw.valid[0, :3].all()
    import torch
    t = compute_indices(torch.from_numpy(x), "pastis_s2", scale=1)
    np.testing.assert_array_equal(t.valid.numpy(), compute_indices(x, "pastis_s2", scale=1).valid)
    with pytest.warns(UserWarning, match=r"is the scale of sensor 'pastis_s2' right"):   # DN read at scale 1
        assert not evi(x * 10_000, "pastis_s2", scale=1).valid.any()


def test_02_real_samples_unchanged_by_the_range_rule(samples):
    from pimc.bands import ndvi
    ep = samples("eolearn_test_eopatch")
    ref = np.load(ep / "REFERENCE_SCENES.npy")
    a, b = ndvi(ref, "s2_l1c", axis=-1), ndvi(ref, "s2_l1c", axis=-1, valid_range=None)
    np.testing.assert_array_equal(a.valid, b.valid)


def test_02_labels_and_values_must_be_what_they_say():
    from pimc.cube import Cube
    v, d = np.ones((2, 10, 3, 3), np.int16), ["2020-01-01", "2020-01-11"]
    with pytest.raises(ValueError, match=r"labels must be class ids >= 0 \(got -3 at pixel \(0, 0\)\)"):
        Cube(v, d, "pastis_s2", labels=np.full((3, 3), -3))
    with pytest.raises(ValueError, match=r"labels must be whole class ids \(got 0.7 at pixel \(1, 2\)\)"):
        Cube(v, d, "pastis_s2", labels=np.array([[0, 1, 2], [0, 1, 0.7], [0, 0, 0]]))
    with pytest.raises(ValueError, match=r"values must be real numbers.*complex"):
        Cube(v.astype(np.complex64), d, "pastis_s2")
    with pytest.raises(ValueError, match=r"values must be real numbers.*<U"):
        Cube(v.astype(str), d, "pastis_s2")
    from pimc.bands import ndvi
    with pytest.raises(TypeError, match=r"NDVI: x must hold real numbers"):
        ndvi(v[0].astype(str), "pastis_s2")


def _pastis_tree(root):
    from pimc.pastis import write_pastis_metadata, write_pastis_norm, write_pastis_patch
    rng = np.random.default_rng(0)
    days = ["2019-01-01", "2019-02-01", "2019-03-01"]
    x, y = rng.integers(0, 5000, (3, 10, 4, 4)), rng.integers(0, 20, (4, 4))
    recs = [write_pastis_patch(root, 10, x, days, y, fold=1)]
    write_pastis_metadata(root, recs); write_pastis_norm(root)
    return root


def test_02_pastis_norm_with_zero_std_is_refused(tmp_path):
    from pimc.errors import DatasetFormatError
    from pimc.pastis import PASTIS
    ds = PASTIS(_pastis_tree(tmp_path))
    std = [100.0] * 10; std[6] = 0
    norm = {f"Fold_{f}": {"mean": [1.0] * 10, "std": std} for f in range(1, 6)}
    (tmp_path / "NORM_S2_patch.json").write_text(json.dumps(norm))
    with pytest.raises(DatasetFormatError, match=r"NORM_S2_patch.json: folds \[1, 2, 3, 4, 5\] give band\(s\) B8 a"):
        ds.normalize(ds[0].values)


# ---------------------------------------------------------------- 3. float16 input
def test_03_float16_indices_are_computed_in_float32():
    import torch
    from pimc.bands import compute_indices
    rng = np.random.default_rng(0)
    x = np.stack([rng.uniform(0.01, 0.08, (50,)) if b in (0, 2) else rng.uniform(0.2, 0.5, (50,)) for b in range(10)])
    h = x.astype(np.float16)
    r16 = compute_indices(h, "pastis_s2", axis=0, scale=1)
    r64 = compute_indices(h.astype(np.float64), "pastis_s2", axis=0, scale=1)
    assert r16.values.dtype == np.float32
    np.testing.assert_allclose(r16.values, r64.values, atol=1e-5)     # float16 arithmetic was off by up to 0.2 in EVI
    t = compute_indices(torch.from_numpy(h), "pastis_s2", axis=0, scale=1)
    assert t.values.dtype == torch.float32
    np.testing.assert_allclose(t.values.numpy(), r64.values, atol=1e-5)
    assert compute_indices(torch.from_numpy(h).bfloat16(), "pastis_s2", axis=0, scale=1).values.dtype == torch.float32


# ---------------------------------------------------------------- 9. unclear errors name the file or argument
@pytest.mark.parametrize("feature,says", [
    ("oops", r'feature 1 is "oops"'),
    (None, r"feature 1 is null"),
    ({"type": "Feature", "properties": [10, 1]}, r"feature 1 has properties \[10, 1\]"),
])
def test_09_pastis_metadata_with_non_object_features(tmp_path, feature, says):
    from pimc.errors import DatasetFormatError
    from pimc.pastis import PASTIS
    _pastis_tree(tmp_path)
    p = tmp_path / "metadata.geojson"
    gj = json.loads(p.read_text()); gj["features"].append(feature); p.write_text(json.dumps(gj))
    with pytest.raises(DatasetFormatError, match=rf"metadata.geojson: {says}; expected a GeoJSON Feature object"):
        PASTIS(tmp_path)


def test_09_npy_dates_as_7_digit_ints_name_the_file(tmp_path):
    from pimc.errors import ReadError
    from pimc.readers import read_npy_cube
    np.save(tmp_path / "cube.npy", np.ones((2, 10, 3, 3), np.int16))
    np.save(tmp_path / "dates.npy", np.array([2020111, 2020121]))          # YYYYMDD: a digit short
    with pytest.raises(ReadError, match=r"cube.npy: .*dates given as numbers must be YYYYMMDD, 8 digits \(got 2020111"):
        read_npy_cube(tmp_path / "cube.npy", np.load(tmp_path / "dates.npy"), "pastis_s2")


def test_09_string_cube_names_the_file(tmp_path):
    from pimc.errors import ReadError
    from pimc.readers import read_npy_cube
    np.save(tmp_path / "cube.npy", np.full((2, 10, 3, 3), "0.3"))
    with pytest.raises(ReadError, match=r"cube.npy: .*values must be real numbers.*got dtype <U3"):
        read_npy_cube(tmp_path / "cube.npy", ["2020-01-01", "2020-01-11"], "pastis_s2")


# ---------------------------------------------------------------- 4, 6, 8, 9, 11: training runs
SMALL = dict(epochs=3, batch_size=32, rp_size=16, patch_size=7, embed_dim=16, widths=(8, 16), lr=3e-3, warmup=2,
             device="cpu", ckpt_every=4, log_every=1, progress=False, seed=0)


@pytest.fixture(scope="module")
def pairs():
    import torch
    from pimc.pretrain import toy_pairs
    torch.set_num_threads(1)
    return toy_pairs(96, rp_size=16, patch_size=7, channels=4, n_groups=12)


def _cfg(tmp_path, name, **kw):
    from pimc.pretrain import PretrainConfig
    return PretrainConfig(**{**SMALL, **kw, "out_dir": str(tmp_path / name)})


def _same_weights(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)


def test_04_kill_before_the_first_checkpoint_then_resume_keeps_one_line_per_step(tmp_path, pairs):
    from pimc.pretrain import TrainingInterrupted, pretrain, list_checkpoints
    with pytest.raises(TrainingInterrupted):
        pretrain(pairs, _cfg(tmp_path, "run"), stop_at=3)                  # 3 lines logged, no checkpoint yet
    assert not list_checkpoints(tmp_path / "run")
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3
    run = pretrain(pairs, _cfg(tmp_path, "run"), resume=True)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == run.info["steps"] == 9 and [json.loads(l)["step"] for l in lines] == list(range(1, 10))


def test_04_resume_after_a_checkpoint_drops_the_lines_after_it(tmp_path, pairs):
    from pimc.pretrain import TrainingInterrupted, pretrain
    with pytest.raises(TrainingInterrupted):
        pretrain(pairs, _cfg(tmp_path, "run"), stop_at=6)                  # checkpoint at 4, lines 1..6
    run = pretrain(pairs, _cfg(tmp_path, "run"), resume=True)
    assert [m["step"] for m in run.metrics] == list(range(1, 10))


def test_08_a_corrupt_latest_checkpoint_falls_back_to_the_newest_readable(tmp_path, pairs):
    from pimc.pretrain import PretrainRun, TrainingInterrupted, list_checkpoints, load_encoders, pretrain
    ref = pretrain(pairs, _cfg(tmp_path, "ref"))
    with pytest.raises(TrainingInterrupted):
        pretrain(pairs, _cfg(tmp_path, "run"), stop_at=8)
    cks = list_checkpoints(tmp_path / "run")
    assert [p.name for p in cks] == ["step_0000004.pt", "step_0000008.pt"]
    cks[-1].write_bytes(cks[-1].read_bytes()[:500])                        # the latest one is torn
    with pytest.warns(UserWarning, match=r"falling back to step_0000004.pt: checkpoint .*step_0000008.pt cannot be"):
        enc = load_encoders(tmp_path / "run")
    assert enc[0] is not None
    with pytest.warns(UserWarning, match=r"step_0000008.pt cannot be read"):
        run = pretrain(pairs, _cfg(tmp_path, "run"), resume=True)
    assert _same_weights(run, ref)                                         # resumed from step 4: the same result
    assert [m["step"] for m in run.metrics] == list(range(1, 10))
    PretrainRun.load(tmp_path / "run")


def test_09_run_load_on_a_truncated_summary_names_the_file(tmp_path, pairs):
    from pimc.errors import DatasetFormatError
    from pimc.pretrain import PretrainRun, pretrain
    pretrain(pairs, _cfg(tmp_path, "run", epochs=1))
    s = tmp_path / "run" / "summary.json"
    s.write_text(s.read_text()[:40])
    with pytest.raises(DatasetFormatError, match=r"run/summary.json: not valid JSON .*delete the file to load the run"):
        PretrainRun.load(tmp_path / "run")


def test_11_a_refused_checkpoint_does_not_suggest_weights_only_false(tmp_path):
    import pathlib, torch
    from pimc.pretrain import CKPT_FORMAT, load_checkpoint
    p = tmp_path / "step_0000004.pt"
    torch.save({"format": CKPT_FORMAT, "model": {}, "where": pathlib.PurePosixPath("/x")}, p)
    with pytest.raises(ValueError) as e:
        load_checkpoint(p)
    msg = str(e.value)
    assert "holds a Python object (pathlib.PurePosixPath)" in msg and str(p) in msg
    assert "weights_only=False" not in msg and "safe_globals" not in msg and "trust" not in msg
    p.write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match=r"cannot be read \(UnpicklingError") as e:
        load_checkpoint(p)
    assert "weights_only=False" not in str(e.value)


def _hold(lock_path):
    "A separate process holding `lock_path` (the other sweep or resume); returns the Popen, once it holds."
    src = (f"from pimc.locks import folder_lock; import time\n"
           f"with folder_lock({str(lock_path)!r}, 'x'): print('held', flush=True); time.sleep(120)")
    p = subprocess.Popen([sys.executable, "-c", src], stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert p.stdout.readline().strip() == "held"
    return p


def test_06_two_resumes_of_one_training_run(tmp_path, pairs):
    from pimc.errors import FolderInUseError
    from pimc.pretrain import TrainingInterrupted, pretrain
    with pytest.raises(TrainingInterrupted):
        pretrain(pairs, _cfg(tmp_path, "run"), stop_at=5)
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    other = _hold(tmp_path / "run")
    try:
        with pytest.raises(FolderInUseError, match=rf"training run folder .*run: in use by process {other.pid} on"):
            pretrain(pairs, _cfg(tmp_path, "run"), resume=True)
    finally:
        other.kill(); other.wait()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before      # the refused resume wrote nothing
    run = pretrain(pairs, _cfg(tmp_path, "run"), resume=True)              # the holder gone (even by kill -9): free
    assert [m["step"] for m in run.metrics] == list(range(1, 10))


# ---------------------------------------------------------------- 5, 6, 7, 9: the experiment runner
def _notebook(path):
    "A tiny experiment notebook: `die` kills the process that runs its kernel (a sweep worker), as `kill -9` would."
    import nbformat
    params = nbformat.v4.new_code_cell("die: bool = False  # kill the worker running this kernel\n"
                                       "tag: str = 'x'  # a label\nrun_dir: str = ''  # set by the runner")
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell("import os, signal, time\n"
                                     "if die: os.kill(os.getppid(), signal.SIGKILL); time.sleep(30)\n"
                                     "from pimc.experiments import write_sidecar\n"
                                     "write_sidecar(run_dir, metrics={'ok': 1}, status='running')")
    nb = nbformat.v4.new_notebook(cells=[params, body])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_05_a_killed_sweep_worker_fails_its_run_only_and_the_table_is_written(tmp_path):
    from pimc import experiments as ex
    nb = _notebook(tmp_path / "nb.ipynb")
    df = ex.sweep(nb, {"die": [False, True]}, workers=2, name="s", out_root=tmp_path, progress=False, stagger=0)
    assert list(df.run) == ["die=False", "die=True"] and list(df.status) == ["complete", "failed"]
    assert "WorkerDied: the worker process running it died" in df.error[1]
    rec = json.loads((tmp_path / "s" / "die=True" / "run.json").read_text())
    assert rec["status"] == "failed" and rec["error"]["type"] == "WorkerDied"                # not left 'running'
    assert (tmp_path / "s" / "results.csv").exists() and (tmp_path / "s" / "results.md").exists()


def test_06_two_sweeps_into_one_folder(tmp_path):
    from pimc import experiments as ex
    from pimc.errors import FolderInUseError
    nb = _notebook(tmp_path / "nb.ipynb")
    other = _hold(tmp_path / "s")                                           # the first sweep, still running
    try:
        with pytest.raises(FolderInUseError, match=rf"sweep folder .*s: in use by process {other.pid} on .*since"):
            ex.sweep(nb, {"tag": ["a", "b"]}, name="s", out_root=tmp_path, progress=False)
    finally:
        other.kill(); other.wait()
    assert not (tmp_path / "s").exists()                                    # the second one touched nothing


def test_06_a_run_folder_in_use(tmp_path):
    from pimc import cli, experiments as ex
    from pimc.errors import FolderInUseError
    nb = _notebook(tmp_path / "nb.ipynb")
    (tmp_path / "out" / "tag=a").mkdir(parents=True)
    rec = {"status": "running", "params": {"tag": "a", "die": False}}
    (tmp_path / "out" / "tag=a" / "run.json").write_text(json.dumps(rec))
    other = _hold(tmp_path / "out" / "tag=a")
    try:
        with pytest.raises(FolderInUseError, match=rf"run folder .*tag=a: in use by process {other.pid}"):
            ex.run_notebook(nb, {"tag": "a"}, tmp_path / "out")
        assert cli.main(["run", str(nb), "-p", "tag", "a", "--out", str(tmp_path / "out")]) == 2
    finally:
        other.kill(); other.wait()
    assert json.loads((tmp_path / "out" / "tag=a" / "run.json").read_text())["status"] == "running"   # untouched


def test_07_pimc_run_name_collision_keeps_the_first_run(tmp_path):
    from pimc import experiments as ex
    nb = _notebook(tmp_path / "nb.ipynb")
    a = ex.run_notebook(nb, {"tag": "a/b"}, tmp_path / "out")
    assert a["status"] == "complete" and Path(a["run_dir"]).name == "tag=a-b"
    with pytest.warns(UserWarning, match=r"tag=a-b holds a run with other parameters; not touching it"):
        b = ex.run_notebook(nb, {"tag": "a b"}, tmp_path / "out")
    assert b["status"] == "complete" and Path(b["run_dir"]).name.startswith("tag=a-b-")
    assert json.loads((tmp_path / "out" / "tag=a-b" / "run.json").read_text())["params"]["tag"] == "a/b"   # kept
    assert json.loads((Path(b["run_dir"]) / "run.json").read_text())["params"]["tag"] == "a b"


def test_07_same_name_same_parameters_is_the_same_run():
    from pimc.experiments import _own_name
    import tempfile
    d = Path(tempfile.mkdtemp())
    (d / "r").mkdir(); (d / "r" / "run.json").write_text(json.dumps({"params": {"tag": "a", "die": False}}))
    assert _own_name(d, "r", {"tag": "a", "die": False, "run_dir": "ignored"}) == "r"
    with pytest.warns(UserWarning):
        assert _own_name(d, "r", {"tag": "b", "die": False}).startswith("r-")
    (d / "r" / "run.json").write_text('{"params": {"ta')                 # unreadable: its parameters are unknown
    with pytest.warns(UserWarning):
        assert _own_name(d, "r", {"tag": "a", "die": False}) != "r"


def test_09_yaml_errors_name_the_file_or_argument(tmp_path):
    from pimc import cli, experiments as ex
    g = tmp_path / "grid.yaml"
    g.write_text("lr: [0.1, 0.2\nseed: [0]\n")
    with pytest.raises(ValueError, match=r"grid file .*grid.yaml: not valid YAML at line \d+, column \d+"):
        ex.load_grid(g)
    with pytest.raises(ValueError, match=r"grid text: not valid YAML"):
        ex.load_grid("lr: [0.1\nseed: {")
    p = ex.Param("bands", "list", ["B04"], "")
    with pytest.raises(ValueError, match=r"parameter 'bands' is declared `list`: cannot read '\[B04, B08' as list "
                                         r"\(the value: not valid YAML at line 1"):
        ex.parse_cli_value("[B04, B08", p)
    nb = _notebook(tmp_path / "nb.ipynb")
    for argv in (["run", str(nb), "-y", "{tag: [a"], ["sweep", str(nb), "--grid", str(g)]):
        r = subprocess.run([sys.executable, "-m", "pimc.cli", *argv], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        says = "-y '{tag: [a': not valid YAML" if argv[0] == "run" else "grid.yaml: not valid YAML"
        assert says in r.stderr, r.stderr


# ---------------------------------------------------------------- 10. huge RP requests
def test_10_a_huge_rp_request_is_refused_before_allocating(monkeypatch, tmp_path):
    import torch
    from pimc import recurrence as rec
    X = np.broadcast_to(np.zeros(400, np.float32), (10**7, 3, 400))        # 10^7 x 3 x 400: a view, no memory
    with pytest.raises(MemoryError, match=r"recurrence_plot of shape \(10000000, 3, 400, 400\) \(float32\) needs "
                                          r"19,200.0 GB for 10,000,000 series, and .* are free in RAM; compute it in "
                                          r"batches of at most [\d,]+ series .*or pass out= a preallocated result"):
        rec.recurrence_plot(X)
    with pytest.raises(MemoryError, match=r"\(10000000, 3, 32, 32\)"):
        rec.recurrence_plot(torch.zeros(400).expand(10**7, 3, 400), size=32)
    monkeypatch.setattr(rec, "_free_bytes", lambda X: 10_000)                # a small machine: 10 kB free
    monkeypatch.setattr(rec, "_CHECK_ABOVE", 0)
    with pytest.raises(MemoryError, match=r"needs 44.4 kB for 2 series, and 10.0 kB are free in RAM; .*at most 1"):
        rec.recurrence_plot(np.zeros((2, 3, 43)))
    with pytest.raises(MemoryError, match=r"series_images\('gasf'\) of shape \(2, 3, 43, 43\) needs"):
        rec.series_images(np.zeros((2, 3, 43)), "gasf", size=None)
    out = np.lib.format.open_memmap(tmp_path / "rp.npy", "w+", np.float32, (2, 3, 43, 43))
    assert rec.recurrence_plot(np.zeros((2, 3, 43)), out=out) is out       # the way out: a result on disk


@pytest.mark.cuda
def test_10_a_huge_rp_request_on_the_gpu_is_refused_naming_the_gpu():
    import torch
    if not torch.cuda.is_available(): pytest.skip("needs an NVIDIA GPU")
    from pimc.bands import compute_indices
    from pimc.recurrence import recurrence_plot
    X = torch.zeros(400, device="cuda").expand(10**7, 3, 400)
    with pytest.raises(MemoryError, match=r"needs 19,200.0 GB for 10,000,000 series, and .* are free on cuda"):
        recurrence_plot(X)
    h = torch.rand(10, 64, device="cuda", dtype=torch.float16)             # float16 on the GPU: float32 results
    assert compute_indices(h, "pastis_s2", axis=0, scale=1).values.dtype == torch.float32
