"""One cut of the patch around a pixel (issue 19, item 3): the pairs (training), `pimc.embed.embed_patches` (maps)
and the explorer's patch panel give the same patch for the same pixel, corners and edges included."""
import numpy as np
import pytest
import torch

import pimc.embed
from pimc.cube import Cube
from pimc.embed import embed_patches
from pimc.models import PIMC
from pimc.pairs import PixelPatchPairs, patch_at

H, W, P = 9, 11, 5
PIXELS = [(0, 0), (0, W - 1), (H - 1, 0), (H - 1, W - 1), (0, 5), (4, 0), (1, 9), (4, 5), (H - 2, 1)]


def coded_cube():
    "Every band of pixel (r, c), on every date, stores the code 1 + r * W + c: a patch tells where it was cut."
    code = 1 + np.arange(H * W, dtype=np.int16).reshape(H, W)
    dates = np.datetime64('2020-01-01') + np.arange(6) * 20
    return Cube(np.broadcast_to(code, (6, 10, H, W)).copy(), dates, 'pastis_s2', name='coded')


def decode(patch):
    "(P, P) codes (reflectance x 10 000) back to integer codes."
    return np.rint(np.asarray(patch, np.float64) * 10_000).astype(int)


def test_pairs_embed_and_explorer_cut_the_same_patch(monkeypatch):
    cube = coded_cube()
    ds = PixelPatchPairs(cube, pixels=np.array([[0, r, c] for r, c in PIXELS]), rp_size=8, patch_size=P,
                         normalize=None, groups='cube')
    from_pairs = [decode(ds[i]['patch'][0].numpy()) for i in range(len(PIXELS))]

    seen = []
    def capture(x, enc, batch_size, features):
        seen.append(np.array(x)); return np.zeros((len(x), enc.embed_dim), np.float32)
    monkeypatch.setattr(pimc.embed, 'embed_images', capture)
    model = PIMC(10, embed_dim=8, widths=(8,), rp_meta=dict(size=8),
                 image_meta=dict(size=P, bands=list(cube.bands), patch_date='median', pad='reflect')).eval()
    embed_patches(cube, model)
    every = np.concatenate(seen)                                          # (H * W, C, P, P), pixels in row order
    from_embed = [decode(every[r * W + c, 0]) for r, c in PIXELS]

    pytest.importorskip('holoviews'); pytest.importorskip('ipywidgets')
    from pimc.explorer import Explorer
    ex = Explorer(cube, patch_size=P)
    code = (1 + np.arange(H * W, dtype=np.float32).reshape(H, W)) / 10_000
    monkeypatch.setattr(ex, 'patch_source', lambda t, image, patch_date: np.repeat(code[..., None], 3, -1))
    from_explorer = []
    for r, c in PIXELS:
        rgb = next(e for e in ex.patch_element(r, c, 0, 'rgb', P) if e.group == 'RGB')
        from_explorer.append(decode(np.asarray(rgb.data)[..., 0]))

    for k, (r, c) in enumerate(PIXELS):
        want = decode(patch_at(code, r, c, P))
        assert want[P // 2, P // 2] == 1 + r * W + c
        np.testing.assert_array_equal(from_pairs[k], want, err_msg=f"pairs, pixel {(r, c)}")
        np.testing.assert_array_equal(from_embed[k], want, err_msg=f"embed_patches, pixel {(r, c)}")
        np.testing.assert_array_equal(from_explorer[k], want, err_msg=f"explorer, pixel {(r, c)}")
