"""Encoders and the contrastive loss: shape grids, batch independence, parameter errors, loss properties against a
naive reference, and the distributed gather with two gloo processes."""
import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from pimc.loss import ClipLoss, clip_loss, gather_nograd, gather_with_grad, same_group_mask
from pimc.models import PIMC, BasicBlock, Encoder, ProjectionHead, ResNetEncoder, count_params, norm_layer

torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------------- encoders
@pytest.mark.parametrize("cin,size", [(3, 32), (3, 17), (10, 9), (10, 5), (13, 64), (1, 3)])
@pytest.mark.parametrize("widths,depths", [((8,), 1), ((8, 16), (2, 1)), ((8, 16, 16, 32), 1)])
@pytest.mark.parametrize("pool", ["avg", "avgmax"])
def test_encoder_shapes(cin, size, widths, depths, pool):
    net = ResNetEncoder(cin, widths, depths, pool=pool)
    y = net(torch.randn(2, cin, size, size))
    assert y.shape == (2, widths[-1] * (2 if pool == "avgmax" else 1)) == (2, net.out_dim)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("norm", ["group", "batch", "none"])
@pytest.mark.parametrize("stem,stride", [("small", 1), ("small", 2), ("imagenet", 1)])
def test_every_parameter_gets_a_gradient(norm, stem, stride):
    net = ResNetEncoder(4, (8, 16), 2, norm=norm, stem=stem, stem_stride=stride)
    net(torch.randn(3, 4, 20, 20)).square().sum().backward()
    # the zero-initialised last norm of each block blocks gradients to its conv at step 0 only through its weight;
    # every parameter must still be part of the graph
    assert all(p.grad is not None for p in net.parameters())


def test_groupnorm_encoder_is_batch_independent():
    torch.manual_seed(0)
    m = PIMC(6, embed_dim=8, widths=(8, 16)).eval()
    with torch.no_grad():
        for blk in m.modules():
            if isinstance(blk, BasicBlock): torch.nn.init.normal_(blk.n2.weight)   # make the residual branches count
        rp, px = torch.rand(7, 3, 16, 16), torch.rand(7, 6, 9, 9)
        za, zb, _ = m(rp, px)
        za3, zb3, _ = m(rp[2:5], px[2:5])
    torch.testing.assert_close(za[2:5], za3, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(zb[2:5], zb3, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(in_channels=0), "in_channels must be an integer >= 1 (got 0)"),
    (dict(widths=()), "widths must be a non-empty sequence of integers >= 1 (got ())"),
    (dict(widths=(8, -1)), "widths must be a non-empty sequence of integers >= 1 (got (8, -1))"),
    (dict(depths=(1, 1, 1)), "depths has 3 stages but widths has 2"),
    (dict(depths=0), "depths must be a non-empty sequence of integers >= 1 (got (0, 0))"),
    (dict(pool="mean"), "pool must be one of ('avg', 'max', 'avgmax', 'coord', 'attn') (got 'mean')"),
    (dict(stem="big"), "stem must be 'small' or 'imagenet' (got 'big')"),
    (dict(stem_stride=3), "stem_stride must be 1 or 2 (got 3)"),
    (dict(norm="layer"), "norm must be one of ('group', 'batch', 'none') (got 'layer')"),
])
def test_encoder_errors(kwargs, message):
    base = dict(in_channels=3, widths=(8, 16), depths=1)
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        ResNetEncoder(**{**base, **kwargs})


def test_wrong_input_channels_named():
    with pytest.raises(ValueError, match=r"expects \(N, 3, H, W\) input \(got \(2, 4, 8, 8\)\)"):
        ResNetEncoder(3, (8,))(torch.zeros(2, 4, 8, 8))


def test_groupnorm_groups_have_at_least_8_channels():
    for c in (1, 3, 8, 10, 16, 24, 40, 64, 100, 128, 256):
        g = norm_layer("group", c).num_groups
        assert c % g == 0 and (c // g >= 8 or g == 1), (c, g)


def test_pimc_hparams_rebuild_and_sizes():
    m = PIMC(13, embed_dim=24, widths=(8, 16, 32), depths=(1, 2, 1), image_widths=(16, 32), image_depths=1, head_layers=1,
             rp_meta={"size": 24}, image_meta={"bands": ["B2"]})
    m2 = PIMC(**m.hparams)
    m2.load_state_dict(m.state_dict())
    assert m.rp.embed_dim == m.image.embed_dim == 24 and m.image.in_channels == 13
    assert m2.rp.meta == {"size": 24} and count_params(m2) == count_params(m)
    assert math.isclose(m.scale().item(), 1 / 0.07, rel_tol=1e-6)


def test_encoder_takes_numpy_and_standardises():
    enc = Encoder(ResNetEncoder(2, (8,)), ProjectionHead(8, 4), "image").eval()
    x = np.random.default_rng(0).normal(1000, 300, (3, 2, 5, 5)).astype(np.float32)
    enc.set_input_stats([1000, 1000], [300, 300])
    ref = Encoder(ResNetEncoder(2, (8,)), ProjectionHead(8, 4), "image").eval()
    ref.load_state_dict({**enc.state_dict(), "mean": torch.zeros(2), "std": torch.ones(2)})
    torch.testing.assert_close(enc(x), ref(torch.from_numpy((x - 1000) / 300)), atol=1e-5, rtol=1e-5)

# ----------------------------------------------------------------------------------------------- position-aware pools
def test_avg_pool_output_unchanged():
    "The default pooling gives the outputs it gave before 'coord' and 'attn' existed (same seed, same numbers)."
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0); net = ResNetEncoder(3, (8, 16)).eval()
    with torch.no_grad(): y = net(x)[:, :6]
    ref = [[0.20675383508205414, 1.0391740798950195, 0.1903790533542633, 0.21643631160259247, 0.0034194630570709705,
            0.12625426054000854],
           [0.24805907905101776, 1.1288968324661255, 0.19442181289196014, 0.23249641060829163, 0.0,
            0.11213169246912003]]
    torch.testing.assert_close(y, torch.tensor(ref), atol=1e-5, rtol=1e-4)
    torch.manual_seed(0); m = PIMC(4, embed_dim=8, widths=(8, 16)).eval()
    p = torch.randn(2, 4, 9, 9, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(): a, b, _ = m(x, p)
    torch.testing.assert_close(a[:, :4], torch.tensor([[0.29366883635520935, 0.19538618624210358, -0.651048481464386,
                                                        -0.4396660029888153],
                                                       [0.3197633922100067, 0.19717735052108765, -0.6339942216873169,
                                                        -0.45942580699920654]]), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b[:, :4], torch.tensor([[-0.30902010202407837, 0.18966984748840332, 0.6768373847007751,
                                                        -0.2098664790391922],
                                                       [-0.3058020770549774, 0.18123464286327362, 0.7283483147621155,
                                                        -0.06048158183693886]]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("pool", ["coord", "attn"])
@pytest.mark.parametrize("cin,size", [(3, 32), (3, 17), (10, 9), (1, 3)])
@pytest.mark.parametrize("widths,stride", [((8,), 1), ((8, 16, 32), 2)])
def test_position_pools_shapes_and_gradients(pool, cin, size, widths, stride):
    net = ResNetEncoder(cin, widths, 1, pool=pool, stem_stride=stride)
    y = net(torch.randn(2, cin, size, size))
    assert y.shape == (2, widths[-1]) == (2, net.out_dim) and torch.isfinite(y).all()
    y.square().sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    if pool == "attn":
        assert net.attn.pos.grad.abs().sum() > 0
        if size >= 9: assert net.attn.query.grad.abs().sum() > 0   # (one position: the softmax is 1, flat in q)
    else:
        assert net.stem[0].in_channels == cin + 2 and net.stem[0].weight.grad[:, cin:].abs().sum() > 0


def _shifted_blobs(size=64, at=(20, 36)):
    "Two RP-like images: the same small bump on the diagonal at two dates (a time shift), zero elsewhere."
    x = torch.zeros(2, 3, size, size)
    for n, t in enumerate(at): x[n, :, t:t + 3, t:t + 3] = torch.tensor([1., 2., 1.])[:, None, None]
    return x


@pytest.mark.parametrize("norm", ["group", "none"])
def test_position_pools_tell_a_time_shift_apart(norm):
    x = _shifted_blobs()
    out = {}
    for pool in ("avg", "coord", "attn"):
        torch.manual_seed(0)
        net = ResNetEncoder(3, (8, 16), 1, norm=norm, pool=pool).eval()
        with torch.no_grad(): out[pool] = net(x)
    # the bump moves by 16 pixels (a multiple of the stride), far from the borders: the feature map moves with it
    # and the average cannot see where it went
    torch.testing.assert_close(out["avg"][0], out["avg"][1], atol=1e-5, rtol=1e-5)
    for pool in ("coord", "attn"):
        gap = (out[pool][0] - out[pool][1]).abs().max() / out[pool].abs().max()
        assert gap > 1e-4, (pool, gap)   # small at initialisation, but hundreds of times the rounding of the average


def test_pimc_rp_pool_is_the_rp_encoders_and_rebuilds():
    m = PIMC(5, embed_dim=8, widths=(8, 16), rp_pool="attn")
    assert m.rp.backbone.pool == "attn" and m.image.backbone.pool == "avg" and m.hparams["rp_pool"] == "attn"
    m2 = PIMC(**m.hparams); m2.load_state_dict(m.state_dict())
    assert PIMC(5, widths=(8,)).rp.backbone.pool == "avg"                       # None: the shared `pool`
    assert PIMC(5, widths=(8,), pool="max", rp_pool="coord").image.backbone.pool == "max"
    old = {k: v for k, v in PIMC(5, widths=(8,)).hparams.items() if k != "rp_pool"}   # a checkpoint from before
    assert PIMC(**old).rp.backbone.pool == "avg"
    with pytest.raises(ValueError, match=r"pool must be one of .* \(got 'flat'\)"): PIMC(5, rp_pool="flat")


def test_pretrain_config_rp_pool():
    from pimc.pretrain import PretrainConfig
    from pimc.cli import pretrain_parser
    assert PretrainConfig().rp_pool is None and PretrainConfig(rp_pool="coord").rp_pool == "coord"
    with pytest.raises(ValueError, match=r"PretrainConfig.rp_pool must be None or one of .*'attn'.* \(got 'flat'\)"):
        PretrainConfig(rp_pool="flat")
    assert pretrain_parser().parse_args(["--rp-pool", "attn"]).rp_pool == "attn"


# ----------------------------------------------------------------------------------------------- loss
def naive_loss(a, b, s, groups=None):
    "Loop-by-loop InfoNCE with explicit exclusion of same-group negatives (the reference)."
    N, tot = len(a), 0.0
    for x, y in ((a, b), (b, a)):
        for i in range(N):
            keep = [j for j in range(N) if j == i or groups is None or groups[j] != groups[i]]
            logits = torch.stack([s * (x[i] @ y[j]) for j in keep])
            tot = tot - torch.log_softmax(logits, 0)[keep.index(i)]
    return tot / (2 * N)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(2, 8), scale=st.floats(0.5, 50), n_groups=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_loss_matches_reference(n, d, scale, n_groups, seed):
    g = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    b = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    grp = torch.randint(0, n_groups, (n,), generator=g)
    torch.testing.assert_close(clip_loss(a, b, scale, grp).double(), naive_loss(a, b, scale, grp).float().double(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(clip_loss(a, b, scale), clip_loss(b, a, scale), atol=1e-5, rtol=1e-5)   # symmetric
    p = torch.randperm(n, generator=g)
    torch.testing.assert_close(clip_loss(a[p], b[p], scale, grp[p]), clip_loss(a, b, scale, grp), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(clip_loss(a, b, scale, torch.arange(n)), clip_loss(a, b, scale), atol=1e-6, rtol=1e-6)
    assert clip_loss(a, b, scale, grp) >= 0


def test_loss_limits():
    torch.manual_seed(0)
    a = F.normalize(torch.randn(256, 64), dim=1)
    assert clip_loss(a, a, 100.).item() < 1e-3
    b = F.normalize(torch.randn(256, 64), dim=1)
    assert abs(clip_loss(a, b, 1.).item() - math.log(256)) < 0.05
    # one group holding everything: only the positives are left, the loss is 0 whatever the embeddings
    assert clip_loss(a, b, 10., torch.zeros(256, dtype=torch.long)).item() == pytest.approx(0, abs=1e-6)


def test_loss_gradient_reaches_scale_and_features():
    a = F.normalize(torch.randn(16, 8), dim=1).requires_grad_()
    b = F.normalize(torch.randn(16, 8), dim=1).requires_grad_()
    ls = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    ClipLoss()(a, b, ls.exp(), torch.arange(16) // 2).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0 and ls.grad.abs() > 0


def test_same_group_mask_offsets():
    g = torch.tensor([5, 5, 7, 5])
    m = same_group_mask(g[2:], g, offset=2)
    assert m.tolist() == [[False, False, False, False], [True, True, False, False]]


# ----------------------------------------------------------------------------------------------- distributed gather
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _gather_worker(rank, world, port, q):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    A = F.normalize(torch.randn(8, 5, dtype=torch.float64), dim=1)
    B = F.normalize(torch.randn(8, 5, dtype=torch.float64), dim=1)
    G = torch.tensor([0, 0, 1, 2, 2, 3, 4, 4])
    sl = slice(rank * 4, rank * 4 + 4)
    a, b = A[sl].clone().requires_grad_(), B[sl].clone().requires_grad_()
    s = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    loss = ClipLoss()(a, b, s, G[sl])
    loss.backward()
    tot = loss.detach().clone(); dist.all_reduce(tot)
    sg = s.grad.clone(); dist.all_reduce(sg)
    assert gather_nograd(G[sl]).tolist() == G.tolist() and gather_with_grad(a).shape == (8, 5)
    q.put((rank, (tot / world).item(), (a.grad / world).numpy(), (b.grad / world).numpy(), (sg / world).item()))
    dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_loss_and_gradients_match_one_process():
    """Two gloo processes, each with half the batch: the mean of their local losses is the global loss; each local
    gradient is world_size x that of the global loss (DDP's averaging then divides it back), and the logit-scale
    gradients average to the global one."""
    mp = torch.multiprocessing.get_context("spawn")
    q, port = mp.Queue(), _free_port()
    procs = [mp.Process(target=_gather_worker, args=(r, 2, port, q)) for r in range(2)]
    for p in procs: p.start()
    res = sorted(q.get(timeout=120) for _ in procs)
    for p in procs: p.join(60)
    torch.manual_seed(0)
    A = F.normalize(torch.randn(8, 5, dtype=torch.float64), dim=1).requires_grad_()
    B = F.normalize(torch.randn(8, 5, dtype=torch.float64), dim=1).requires_grad_()
    s = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    loss = clip_loss(A, B, s, torch.tensor([0, 0, 1, 2, 2, 3, 4, 4]))
    loss.backward()
    assert res[0][1] == pytest.approx(loss.item(), rel=1e-6)
    # clip_loss forms its logits in float32, so local (4 x 8) and global (8 x 8) products round apart by ~1e-8
    np.testing.assert_allclose(np.concatenate([res[0][2], res[1][2]]), A.grad.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.concatenate([res[0][3], res[1][3]]), B.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert res[0][4] == pytest.approx(s.grad.item(), rel=1e-6)
