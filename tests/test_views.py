"""Series-only pairs (pimc.views) and their place in a corpus and in pretraining: second views (property grid), the
series tables read from the real samples, a corpus of cubes and series tables (shares, blank patches, partner flags,
new views every epoch), the loss keeping the two kinds of partner apart, leave-one-dataset-out, and
`pimc pretrain --data cbers4,sits-modis` from the command line."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pimc.corpus import ALL_SERIES, corpus_names, is_corpus, make_corpus, real_sources
from pimc.loss import clip_loss
from pimc.readers import has_samples
from pimc.tasks import pretrain_source_for
from pimc.views import SERIES_SOURCES, SeriesViews, images_by_length, second_view

torch.set_num_threads(1)
TINY = ["--batch-size", "32", "--rp-size", "8", "--patch-size", "3", "--widths", "8", "16", "--embed-dim", "8",
        "--device", "cpu", "--progress", "false", "--ckpt-every", "0"]


def _need(*folders):
    missing = [f for f in folders if not has_samples(f)]
    if missing: pytest.skip(f"real sample folders absent: {missing}")


def _season(T=23, K=1):
    t = np.linspace(0, 2 * np.pi, T)
    return np.stack([0.5 + 0.3 * np.sin(t + k) for k in range(K)]).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- second views
@pytest.mark.parametrize("T", [6, 12, 23, 149])
@pytest.mark.parametrize("keep", [(0.6, 1.0), (0.3, 0.5), (1.0, 1.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_second_view_crops_within_bounds_and_keeps_channels(T, keep, seed):
    s = _season(T, K=2)
    v = second_view(s, np.random.default_rng(seed), keep=keep, jitter=0)
    assert v.shape[0] == 2 and min(T, 6) <= v.shape[1] <= T and v.dtype == np.float32
    assert v.shape[1] >= min(T, round(T * keep[0]))
    # without noise a view's values stay within the series' range (linear fill never overshoots)
    assert v.min() >= s.min() - 1e-6 and v.max() <= s.max() + 1e-6
    np.testing.assert_array_equal(v, second_view(s, np.random.default_rng(seed), keep=keep, jitter=0))


def test_second_view_ends_are_kept_values_and_noise_has_its_scale():
    s = _season(40)
    v = second_view(s, np.random.default_rng(3), keep=(1, 1), drop=0.5, jitter=0)
    assert v[0, 0] == s[0, 0] and v[0, -1] == s[0, -1]
    assert np.abs(v - s).max() > 0                                # dropped dates are filled, not copied
    n = second_view(np.zeros((1, 2000), np.float32), np.random.default_rng(0), keep=(1, 1), drop=0, jitter=0.02)
    assert abs(n.std() - 0.02) < 0.002


def test_images_by_length_matches_one_call_per_length():
    S = [_season(23), _season(12), _season(23), _season(9)]
    im = images_by_length(S, "rp+level", 16)
    from pimc.recurrence import series_images
    assert im.shape == (4, 3, 16, 16)
    torch.testing.assert_close(im[1], series_images(S[1][None], "rp+level", 16)[0])
    torch.testing.assert_close(im[0], im[2])


def test_series_views_checks_its_input():
    with pytest.raises(ValueError, match=r"series must be \(N, 2, T\)"):
        SeriesViews(np.zeros((3, 1, 10), np.float32), indices=("NDVI", "EVI"))
    sv = SeriesViews(np.stack([_season()] * 3), rp_size=8, patch_size=3)
    with pytest.raises(IndexError, match="out of range for 3 series"):
        sv.batch([0, 3])


# ---------------------------------------------------------------------------------------------------- real tables
@pytest.mark.parametrize("name", list(SERIES_SOURCES))
def test_series_sources_read_from_the_real_samples(name):
    src = SERIES_SOURCES[name]
    _need(src.folder)
    s = src.series()
    assert s.ndim == 3 and s.shape[1] == 1 and len(s) >= 100 and np.isfinite(s).all()
    assert -1.5 < float(np.median(s)) < 1.5                           # NDVI, not raw reflectance


# ---------------------------------------------------------------------------------------------------- in a corpus
@pytest.fixture(scope="module")
def mixed():
    _need("sits_samples/cbers4_awfi", "sits_samples", "cawa_central_asia")
    return make_corpus("cbers4,sits-modis,cawa", rp_size=8, patch_size=3, variant="rp+level", verbose=False)


def test_corpus_names_and_spec():
    assert is_corpus(ALL_SERIES) and corpus_names(ALL_SERIES) == real_sources() + list(SERIES_SOURCES)
    assert corpus_names("all-real,cawa") == real_sources() + ["cawa"]


def test_equal_share_is_the_smallest_cube_sources(mixed):
    by = {r["source"]: r for r in mixed.report()}
    cb = by["cbers4"]["per_epoch"]
    assert by["cawa"]["per_epoch"] == cb == 2500 and by["sits-modis"]["per_epoch"] == min(cb, by["sits-modis"]["pairs"])
    assert by["cawa"]["sensor"].startswith("series only")


def test_views_have_blank_patches_and_a_partner_flag(mixed):
    b = mixed.batch(np.arange(0, len(mixed), 7))
    views = torch.from_numpy(mixed.views)[b["source"]]
    assert torch.equal(b["partner"].bool(), views)
    assert b["patch"][views].abs().sum() == 0 and b["patch"][~views].abs().sum() > 0
    assert b["view"][~views].abs().sum() == 0 and b["view"][views].abs().sum() > 0
    assert b["rp"].shape == b["view"].shape == (len(b["rp"]), 3, 8, 8)


def test_new_views_every_epoch_same_views_same_epoch(mixed):
    idx = np.flatnonzero(mixed._src == mixed.names.index("sits-modis"))[:5]
    mixed.set_epoch(0); a = mixed.batch(idx)["view"]
    mixed.set_epoch(0); torch.testing.assert_close(mixed.batch(idx)["view"], a)
    mixed.set_epoch(1); assert not torch.equal(mixed.batch(idx)["view"], a)
    mixed.set_epoch(0)


def test_loss_keeps_kinds_apart():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(32, 8), dim=1), F.normalize(torch.randn(32, 8), dim=1)
    k = (torch.arange(32) < 10).long()
    whole = clip_loss(a, b, 10., kinds=k)
    parts = (10 * clip_loss(a[:10], b[:10], 10.) + 22 * clip_loss(a[10:], b[10:], 10.)) / 32
    torch.testing.assert_close(whole, parts)


def test_leave_one_dataset_out():
    from types import SimpleNamespace
    for ds, skip in (("cawa", "cawa"), ("tempcnn", "tempcnn")):
        left = pretrain_source_for(ALL_SERIES, SimpleNamespace(name=ds, pretrain_overlap=(skip,))).split(",")
        assert skip not in left and "eolearn" in left
    modis = SimpleNamespace(name="modis_ndvi", pretrain_overlap=("modis", "sits-modis"))
    left = pretrain_source_for(ALL_SERIES, modis).split(",")
    assert "modis" not in left and "sits-modis" not in left and "sits-landsat" in left
    with pytest.raises(ValueError, match="holds the pixels"):
        pretrain_source_for("sits-modis", modis)


def test_splits_name_their_own_series_sources():
    _need("cawa_central_asia", "sits_samples")
    from pimc.splits import classify_data
    assert classify_data("cawa").pretrain_overlap == ("cawa",)
    assert set(classify_data("modis").pretrain_overlap) == {"modis", "sits-modis"}


def test_cli_pretrain_on_cubes_and_a_series_table(tmp_path):
    _need("sits_samples/cbers4_awfi", "sits_samples")
    from pimc.cli import pretrain_main
    run = pretrain_main(["--data", "cbers4,sits-modis", "--max-steps", "3", "--per-source", "64", "--variant",
                         "rp+level", *TINY, "--out-dir", str(tmp_path / "cli")])
    assert run.info["steps"] == 3 and np.isfinite(run.info["final_loss"])
    saved = json.loads((tmp_path / "cli" / "corpus.json").read_text())
    assert [s["source"] for s in saved["sources"]] == ["cbers4", "sits-modis"]
    # the image encoder's input statistics come from real patches, not the blank ones of series-only pairs
    from pimc.corpus import make_corpus as mk
    c = mk("cbers4", rp_size=8, patch_size=3, verbose=False)
    real = c.batch(np.arange(len(c)))["patch"]
    torch.testing.assert_close(run.image_encoder.mean, real.mean((0, 2, 3)), atol=0.02, rtol=0.05)
