"""Pretrain a few steps on toy pairs: run alone (1 process) or under torchrun (DDP); rank 0 saves the result.

    python tests/ddp_pretrain.py OUT                          # one process
    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_pretrain.py OUT   # two gloo processes on the CPU

Used by tests/test_pretrain.py::test_ddp_matches_single_process: both must end at the same weights.
"""
import os
import sys
from pathlib import Path

import torch

from pimc.pretrain import PretrainConfig, pretrain, toy_pairs

CONFIG = dict(epochs=2, max_steps=5, batch_size=32, rp_size=16, patch_size=7, embed_dim=16, widths=(8, 16), lr=3e-3,
              warmup=2, device='cpu', ckpt_every=3, log_every=1, progress=False, seed=0)


def run(out: Path, **over):
    torch.set_num_threads(1)
    data = toy_pairs(96, rp_size=16, patch_size=7, channels=4, n_groups=12)
    r = pretrain(data, PretrainConfig(**{**CONFIG, **over}), out_dir=str(out / 'run'))
    if int(os.environ.get('RANK', 0)) == 0:    # the process group is gone once pretrain returns: ask torchrun's env
        torch.save({'params': r.model.state_dict(), 'losses': [m['loss'] for m in r.metrics]}, out / 'result.pt')
    return r


if __name__ == '__main__':
    run(Path(sys.argv[1]))
