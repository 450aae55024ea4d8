"""Pretraining: config validation, repeatability, exact resume after a crash, atomic checkpoints, corrupt and
mismatched checkpoints, cached vs streamed data, DDP (2 gloo processes under torchrun) vs one process, cubes through
PixelPatchPairs, the embedding API, and a CUDA smoke run when a GPU is present (sources, real samples and the
command line: tests/test_sources.py)."""
import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pimc.pretrain import (PretrainConfig, PretrainRun, TensorPairs, TrainingInterrupted, batch_indices, epoch_order,
                        latest_checkpoint, list_checkpoints, load_checkpoint, load_encoders, pretrain, save_atomic, toy_pairs)

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

SMALL = dict(epochs=4, batch_size=32, rp_size=16, patch_size=7, embed_dim=16, widths=(8, 16), lr=3e-3, warmup=2,
             device="cpu", ckpt_every=4, log_every=2, progress=False, seed=0)


@pytest.fixture(scope="module")
def data():
    return toy_pairs(128, rp_size=16, patch_size=7, channels=4, n_groups=16)


def cfg(tmp_path, name="run", **kw):
    return PretrainConfig(**{**SMALL, **kw, "out_dir": str(tmp_path / name)})


def params_of(run):
    return {k: v.clone() for k, v in run.model.state_dict().items()}


def assert_same_params(a, b, exact=True):
    assert a.keys() == b.keys()
    for k in a:
        if exact: assert torch.equal(a[k], b[k]), k
        else: torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4, msg=k)


# ----------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("field,value,message", [
    ("lr", -1e-3, "PretrainConfig.lr must be a finite number > 0 (got -0.001)"),
    ("lr", float("nan"), "PretrainConfig.lr must be a finite number > 0 (got nan)"),
    ("rp_size", 0, "PretrainConfig.rp_size must be an integer >= 1 (got 0)"),
    ("patch_size", 2.5, "PretrainConfig.patch_size must be an integer >= 1 (got 2.5)"),
    ("batch_size", True, "PretrainConfig.batch_size must be an integer >= 1 (got True)"),
    ("epochs", 0, "PretrainConfig.epochs must be an integer >= 1 (got 0)"),
    ("max_steps", 0, "PretrainConfig.max_steps must be None or an integer >= 1 (got 0)"),
    ("device", "gpu", "PretrainConfig.device must be one of ('auto', 'cpu', 'cuda', 'mps') or 'cuda:N' (got 'gpu')"),
    ("device", "cuda:x", "PretrainConfig.device must be one of"),
    ("amp", "fp8", "PretrainConfig.amp must be one of ('auto', 'bf16', 'fp16', 'off') (got 'fp8')"),
    ("temperature", 0, "PretrainConfig.temperature must be a finite number > 0 (got 0)"),
    ("max_logit_scale", 5, "PretrainConfig.max_logit_scale must be >= 1/temperature = 14.2857 (got 5)"),
    ("weight_decay", -0.1, "PretrainConfig.weight_decay must be a number >= 0 (got -0.1)"),
    ("warmup", -1, "PretrainConfig.warmup must be a fraction in [0, 1) or a whole number of steps (got -1)"),
    ("min_lr_ratio", 1.5, "PretrainConfig.min_lr_ratio must be in [0, 1] (got 1.5)"),
    ("grad_clip", 0, "PretrainConfig.grad_clip must be None or a number > 0 (got 0)"),
    ("widths", (8, 0), "PretrainConfig.widths must be a non-empty tuple of integers >= 1 (got (8, 0))"),
    ("depths", (1, 1, 1), "PretrainConfig.depths must be an integer >= 1 or a tuple of 4 integers >= 1"),
    ("norm", "layer", "PretrainConfig.norm must be one of ('group', 'batch', 'none') (got 'layer')"),
    ("cache", "yes", "PretrainConfig.cache must be True, False or 'auto' (got 'yes')"),
    ("num_workers", -1, "PretrainConfig.num_workers must be an integer >= 0 (got -1)"),
    ("pairs", [1], "PretrainConfig.pairs must be a dict of PixelPatchPairs arguments (got [1])"),
])
def test_bad_config_is_rejected(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        PretrainConfig(**{field: value})


def test_bad_override_rejected_before_any_work(tmp_path, data):
    with pytest.raises(ValueError, match="PretrainConfig.lr must be"):
        pretrain(data, cfg(tmp_path), lr=-1)
    assert not (tmp_path / "run").exists()                      # nothing written


def test_data_dependent_checks(tmp_path, data):
    with pytest.raises(ValueError, match=re.escape("batch_size=256 is larger than the dataset (128 pairs)")):
        pretrain(data, cfg(tmp_path, batch_size=256))
    with pytest.raises(ValueError, match=re.escape("patch_size=9 but the pairs dataset yields patches of 7x7")):
        pretrain(data, cfg(tmp_path, patch_size=9))
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="device 'cuda' was asked for but CUDA is not available"):
            pretrain(data, cfg(tmp_path, device="cuda"))
    with pytest.raises(ValueError, match="lack \\['group'\\]"):
        pretrain([{"rp": torch.zeros(3, 16, 16), "patch": torch.zeros(4, 7, 7)}] * 64, cfg(tmp_path))
    with pytest.raises(TypeError, match="cannot pretrain on int"):
        pretrain(3, cfg(tmp_path))
    with pytest.raises(TypeError, match="sample names and paths are opened by pimc.sources"):
        pretrain("cbers4", cfg(tmp_path))                         # names are for pimc.pretrained.pretrain_source
    assert not (tmp_path / "run").exists()


def test_config_json_roundtrip(tmp_path):
    c = cfg(tmp_path, image_widths=(4, 8), depths=(2, 1))
    assert PretrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# ----------------------------------------------------------------------------------------------- batches
def test_batches_cover_each_epoch_once_and_split_across_ranks():
    n, B = 103, 16
    for epoch in range(3):
        full = batch_indices(n, B, 5, epoch)
        assert len(full) == n // B and len(np.unique(np.concatenate(full))) == (n // B) * B
        for W in (2, 4):
            parts = [batch_indices(n, B, 5, epoch, r, W) for r in range(W)]
            for i in range(len(full)):
                np.testing.assert_array_equal(np.concatenate([p[i] for p in parts]), full[i])
    assert not np.array_equal(epoch_order(50, 0, 0), epoch_order(50, 1, 0))
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        batch_indices(100, 16, 0, 0, 0, 3)


# ----------------------------------------------------------------------------------------------- runs
def test_run_folder_metrics_and_repeatability(tmp_path, data):
    a = pretrain(data, cfg(tmp_path, "a"))
    b = pretrain(data, cfg(tmp_path, "b"))
    assert_same_params(params_of(a), params_of(b))              # same seed, same weights
    c = pretrain(data, cfg(tmp_path, "c", seed=1))
    assert not torch.equal(params_of(a)["rp.head.net.0.weight"], params_of(c)["rp.head.net.0.weight"])
    assert {p.name for p in a.dir.iterdir()} == {"checkpoints", "config.json", "loss.png", "metrics.jsonl", "summary.json"}
    recs = [json.loads(l) for l in (a.dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [2, 4, 6, 8, 10, 12, 14, 16]
    assert set(recs[0]) >= {"step", "epoch", "loss", "lr", "logit_scale", "pairs_per_s", "data_share", "grad_norm"}
    assert recs[-1]["epoch"] == 4.0 and 0 <= recs[-1]["data_share"] <= 1 and recs[-1]["pairs_per_s"] > 0
    assert recs[-1]["loss"] < recs[0]["loss"]
    assert PretrainConfig.from_dict(json.loads((a.dir / "config.json").read_text())) == a.config
    summary = json.loads((a.dir / "summary.json").read_text())
    assert summary["steps"] == 16 and summary["n_pairs"] == 128 and summary["final_loss"] == recs[-1]["loss"]
    r = PretrainRun.load(a.dir)
    assert_same_params(params_of(r), params_of(a))
    assert r.metrics == a.metrics and r.checkpoint == list_checkpoints(a.dir)[-1]


def test_lr_schedule_and_logit_scale_clamp(tmp_path, data):
    r = pretrain(data, cfg(tmp_path, log_every=1, lr=1e-2, warmup=4, min_lr_ratio=0.1, max_logit_scale=15.0, temperature=0.07))
    lr = [m["lr"] for m in r.metrics]
    assert lr[0] == pytest.approx(1e-2 * 2 / 4) and max(lr) == pytest.approx(1e-2) and lr[-1] == pytest.approx(1e-3)
    assert all(m["logit_scale"] <= 15.0 + 1e-4 for m in r.metrics)
    assert r.model.logit_scale.item() <= math.log(15.0) + 1e-6


@pytest.mark.parametrize("stop_at", [3, 4, 9, 13])
def test_resume_after_crash_is_exact(tmp_path, data, stop_at):
    "Crash after step k (the last checkpoint is at a multiple of 4), resume: the same weights, bit for bit, as a run never stopped."
    ref = pretrain(data, cfg(tmp_path, "ref"))
    with pytest.raises(TrainingInterrupted):
        pretrain(data, cfg(tmp_path, "cut"), stop_at=stop_at)
    done = [int(p.stem.split("_")[1]) for p in list_checkpoints(tmp_path / "cut")]
    assert done == [s for s in (4, 8, 12) if s <= stop_at][-2:]  # keep_ckpts=2
    if not done:
        with pytest.raises(FileExistsError, match="already holds a run"):
            pretrain(data, cfg(tmp_path, "cut"))
        return
    res = pretrain(data, cfg(tmp_path, "cut"), resume=True)
    assert_same_params(params_of(ref), params_of(res))
    assert [m["step"] for m in res.metrics] == [m["step"] for m in ref.metrics]
    assert [m["loss"] for m in res.metrics] == [m["loss"] for m in ref.metrics]


class Redrawn(torch.utils.data.Dataset):
    "Like a corpus that redraws: each epoch takes another 128 pairs of a pool of 256 (a fixed function of the epoch)."
    def __init__(self, pool): self.pool = pool; self.set_epoch(0)
    def set_epoch(self, epoch): self.take = np.random.default_rng([7, epoch]).choice(len(self.pool), 128, replace=False)
    def __len__(self): return 128
    def __getitem__(self, i): return self.pool[int(self.take[i])]


@pytest.mark.parametrize("stop_at", [None, 9])
def test_background_draw_of_the_next_epoch_changes_nothing(tmp_path, monkeypatch, stop_at):
    "A redrawing dataset: the next epoch drawn in a background thread gives the weights of drawing it in turn, bit for bit (and across a crash and resume)."
    from pimc.pretrain import Trainer
    pool = toy_pairs(256, rp_size=16, patch_size=7, channels=4, n_groups=32)
    drawn = []
    real_prefetch = Trainer.prefetch
    monkeypatch.setattr(Trainer, "prefetch", lambda self, epoch: (drawn.append(epoch), real_prefetch(self, epoch)))
    if stop_at:
        with pytest.raises(TrainingInterrupted):
            pretrain(Redrawn(pool), cfg(tmp_path, "bg"), stop_at=stop_at)
        bg = pretrain(Redrawn(pool), cfg(tmp_path, "bg"), resume=True)
    else: bg = pretrain(Redrawn(pool), cfg(tmp_path, "bg"))
    assert set(drawn) == {1, 2, 3}                                  # every epoch after the first, none past the last
    monkeypatch.setattr(Trainer, "prefetch", lambda self, epoch: None)
    fg = pretrain(Redrawn(pool), cfg(tmp_path, "fg"))
    assert_same_params(params_of(fg), params_of(bg))
    assert [m["loss"] for m in bg.metrics] == [m["loss"] for m in fg.metrics]


def test_resume_a_finished_run_changes_nothing_and_config_must_match(tmp_path, data):
    a = pretrain(data, cfg(tmp_path))
    b = pretrain(data, cfg(tmp_path), resume=True)
    assert_same_params(params_of(a), params_of(b))
    with pytest.raises(ValueError, match=re.escape("the config differs from the checkpoint's in lr (now 0.001, checkpoint 0.003)")):
        pretrain(data, cfg(tmp_path, lr=1e-3), resume=True)
    with pytest.raises(ValueError, match="it was trained on 128 pairs, the data now has 96"):
        pretrain(TensorPairs(**{k: v[:96] for k, v in data.data.items()}), cfg(tmp_path), resume=True)
    with pytest.raises(FileExistsError, match="nothing was overwritten"):
        pretrain(data, cfg(tmp_path))


def test_cached_and_streamed_data_give_the_same_run(tmp_path, data):
    class Plain(torch.utils.data.Dataset):             # a dataset that is not TensorPairs: items one by one
        def __len__(self): return len(data)
        def __getitem__(self, i): return data[i]
    a = pretrain(data, cfg(tmp_path, "a", cache=True, epochs=2))
    b = pretrain(Plain(), cfg(tmp_path, "b", cache=False, epochs=2))
    c = pretrain(Plain(), cfg(tmp_path, "c", cache=True, epochs=2))
    assert_same_params(params_of(a), params_of(b)); assert_same_params(params_of(a), params_of(c))
    assert a.info["cached"] is True and b.info["cached"] is False and c.info["cached"] is True


@pytest.mark.slow
def test_streamed_with_workers(tmp_path, data):
    a = pretrain(data, cfg(tmp_path, "a", cache=False, epochs=1))
    b = pretrain(data, cfg(tmp_path, "b", cache=False, num_workers=2, epochs=1))
    assert_same_params(params_of(a), params_of(b))


# ----------------------------------------------------------------------------------------------- checkpoints
def test_atomic_save_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    p = save_atomic({"v": torch.ones(3)}, tmp_path / "ck.pt")
    def boom(obj, f):
        f.write(b"half a checkpoint"); raise OSError("disk full")
    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"v": torch.zeros(3)}, p)
    monkeypatch.undo()
    assert torch.equal(torch.load(p, weights_only=True)["v"], torch.ones(3))
    assert [q.name for q in tmp_path.iterdir()] == ["ck.pt"]    # no temporary file left behind


def test_corrupt_and_mismatched_checkpoints_are_named(tmp_path, data):
    run = pretrain(data, cfg(tmp_path))
    good = run.checkpoint.read_bytes()
    bad = tmp_path / "bad.pt"
    cases = {
        "truncated": good[: len(good) // 3],
        "garbage": os.urandom(4096),
        "empty": b"",
    }
    for what, blob in cases.items():
        bad.write_bytes(blob)
        with pytest.raises(ValueError, match=re.escape(f"checkpoint {bad} cannot be read")):
            load_encoders(bad)
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match=re.escape(f"{bad} is not a pimc pretraining checkpoint")):
        load_encoders(bad)
    ck = torch.load(run.checkpoint, weights_only=True)
    ck["model"]["rp.head.net.0.weight"] = torch.zeros(3, 3)
    torch.save(ck, bad)
    with pytest.raises(ValueError, match=re.escape("rp.head.net.0.weight: checkpoint (3, 3) vs model (16, 16)")):
        load_encoders(bad)
    ck = torch.load(run.checkpoint, weights_only=True); del ck["model"]["image.mean"]; ck["model"]["extra"] = torch.ones(1)
    torch.save(ck, bad)
    with pytest.raises(ValueError, match=r"1 missing, 1 unexpected.*missing \['image.mean'\]; unexpected \['extra'\]"):
        load_encoders(bad)
    ck = torch.load(run.checkpoint, weights_only=True); ck["hparams"]["norm"] = "layer"; torch.save(ck, bad)
    with pytest.raises(ValueError, match="hyper-parameters do not build a PIMC model"):
        load_encoders(bad)
    with pytest.raises(FileNotFoundError, match="no checkpoint or run folder"):
        load_encoders(tmp_path / "nowhere")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        load_encoders(tmp_path / "empty_run")
    bad.write_bytes(good[:1000])                               # a resume from a corrupt checkpoint is refused too
    with pytest.raises(ValueError, match="cannot be read"):
        pretrain(data, cfg(tmp_path, "r2"), resume=bad)


def test_load_encoders_ready_to_use(tmp_path, data):
    run = pretrain(data, cfg(tmp_path))
    rp, img = load_encoders(run.dir)
    assert not rp.training and not img.training
    with torch.no_grad():
        torch.testing.assert_close(rp(data.data["rp"][:8]), run.rp_encoder(data.data["rp"][:8]))
        z = img(data.data["patch"][:8])
    assert z.shape == (8, 16) and torch.allclose(z.norm(dim=1), torch.ones(8), atol=1e-5)
    # trained a little longer, the encoders put pairs of the same hidden class closer than the others
    run = pretrain(data, cfg(tmp_path, "longer", epochs=12, ckpt_every=0))
    rp, img = load_encoders(run.dir)
    with torch.no_grad():
        S = rp(data.data["rp"]) @ img(data.data["patch"]).T
    same_class = data.data["label"][:, None] == data.data["label"][None, :]
    assert S[same_class].mean() > S[~same_class].mean() + 0.08, (S[same_class].mean(), S[~same_class].mean())


# ----------------------------------------------------------------------------------------------- DDP
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_matches_single_process(tmp_path):
    "torchrun with 2 gloo processes on the CPU, each with half of every global batch, ends where one process does."
    sys.path.insert(0, str(ROOT / "tests"))
    import ddp_pretrain
    one = tmp_path / "one"; one.mkdir()
    ddp_pretrain.run(one)
    two = tmp_path / "two"; two.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(ROOT / "tests" / "ddp_pretrain.py"), str(two)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = torch.load(one / "result.pt", weights_only=True), torch.load(two / "result.pt", weights_only=True)
    np.testing.assert_allclose(a["losses"], b["losses"], rtol=1e-5)
    assert_same_params(a["params"], b["params"], exact=False)
    run_two = json.loads((two / "run" / "summary.json").read_text())
    assert run_two["world_size"] == 2 and run_two["steps"] == 5
    assert [q.name for q in list_checkpoints(two / "run")] == ["step_0000003.pt", "step_0000005.pt"]   # written once, by rank 0


# ----------------------------------------------------------------------------------------------- cubes, embeddings, CLI
@pytest.fixture(scope="module")
def cube():
    from pimc.cube import Cube
    from pimc.synthetic import season_dates, synth_patch
    sp = synth_patch(season_dates(1, n_dates=24), size=20, rng=1)
    return Cube(sp.values, sp.dates, "pastis_s2", mask=sp.mask, labels=sp.target.astype(np.int64), name="synth-20")


def test_pretrain_on_cubes_and_embed(tmp_path, cube):
    from pimc.embed import embed_images, embed_pixels, pca_rgb, pixel_rps
    from pimc.pairs import PixelPatchPairs
    c = cfg(tmp_path, batch_size=64, patch_size=5, pairs={"hilbert_step": 2}, epochs=2)
    with pytest.raises(ValueError, match=re.escape("patch_size=25 is larger than cube 'synth-20' (20x20 px)")):
        pretrain(cube, cfg(tmp_path, "big", patch_size=25))
    with pytest.raises(ValueError, match="PretrainConfig.pairs="):
        pretrain(cube, cfg(tmp_path, "typo", patch_size=5, pairs={"hilbert_stp": 2}))
    run = pretrain([cube, cube], c)
    assert run.info["n_pairs"] == 400 and run.info["source"] == "2 cube(s)"
    m = run.rp_encoder.meta
    assert m["size"] == 16 and m["indices"] == ["NDVI", "EVI", "SAVI"]
    assert run.image_encoder.meta["bands"][0] == "B2" and run.image_encoder.meta["input"] == "reflectance"
    emb = embed_pixels(cube, run.dir, chunk=150, batch_size=64)
    assert emb.shape == (20, 20, 16) and np.isfinite(emb).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=-1), 1, atol=1e-5)
    ds = PixelPatchPairs(cube, pixels=np.array([[0, 1, 2], [0, 19, 0]]), rp_size=16, patch_size=5, normalize="band")
    rps, seen = pixel_rps(cube, [1, 19], [2, 0], 16)
    np.testing.assert_allclose(rps, torch.stack([ds[0]["rp"], ds[1]["rp"]]).numpy(), atol=1e-6)
    # an encoder trained on dataset-standardised patches gets reflectance in embed_images and standardises it itself
    run2 = pretrain(PixelPatchPairs(cube, rp_size=16, patch_size=5, normalize="band", groups=5), cfg(tmp_path, "norm", patch_size=5, batch_size=64, epochs=1))
    assert run2.image_encoder.meta["input"] == "normalized"
    refl = PixelPatchPairs(cube, pixels=np.array([[0, 1, 2]]), rp_size=16, patch_size=5, normalize=None)[0]["patch"]
    with torch.no_grad(): want = run2.image_encoder(ds[0]["patch"][None]).numpy()
    np.testing.assert_allclose(embed_images(refl, run2), want, atol=1e-4)
    assert pca_rgb(emb).shape == (20, 20, 3)


def test_pretrain_on_a_dataset_of_cubes(tmp_path):
    from pimc.synthetic import load_mini_pastis, make_mini_pastis
    ds = load_mini_pastis(make_mini_pastis(tmp_path / "mini", n_patches=2, size=16, seed=3))
    run = pretrain(ds, cfg(tmp_path, batch_size=64, patch_size=5, pairs={"hilbert_step": 2}, epochs=1))
    assert run.info["n_pairs"] == 256 and len(run.info["cubes"]) == 2


# ----------------------------------------------------------------------------------------------- GPU
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_cuda_mixed_precision_smoke(tmp_path, data, amp):
    r = pretrain(data, cfg(tmp_path, device="cuda", amp=amp))
    assert r.info["device"].startswith("cuda") and math.isfinite(r.final_loss)
    assert r.metrics[-1]["loss"] < r.metrics[0]["loss"]
    rp, img = load_encoders(r.dir, device="cuda")
    assert rp(data.data["rp"][:4].cuda()).shape == (4, 16)
