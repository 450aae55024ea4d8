"""Input share of the benchmarks' pretraining recipe with the next epoch drawn in turn or in the background.

    python tools/prefetch_share.py inturn 10 all-real            # Trainer.prefetch disabled: each epoch drawn at its start
    python tools/prefetch_share.py background 10 all-real        # the default: next epoch drawn while this one trains
    python tools/prefetch_share.py background 10 all-real+series

Each call pretrains the benchmarks' small encoder (`pimc.pretrained.pretrain_encoder`, `rp+level`, one torch thread)
for the given epochs on the given corpus into _runs/prefetch_share/<mode><corpus>/ and prints the run's steps, train
seconds, data share, pairs/s and final loss (the same in both modes: the draws are identical) and the wall time.
Run the two modes one after the other on the same machine to compare them.
"""
import json, shutil, sys, time
from pathlib import Path

import torch


def main(mode: str, epochs: str = '10', corpus: str = 'all-real'):
    if mode not in ('inturn', 'background'): raise SystemExit(f"mode must be 'inturn' or 'background' (got {mode!r})")
    torch.set_num_threads(1)
    from pimc.pretrain import Trainer
    from pimc.pretrained import pretrain_encoder
    out = Path('_runs/prefetch_share') / f'{mode}{corpus}'
    shutil.rmtree(out, ignore_errors=True)
    if mode == 'inturn': Trainer.prefetch = lambda self, epoch: None
    t = time.time()
    pretrain_encoder(corpus, variant='rp+level', epochs=int(epochs), out_dir=out, progress=False)
    s = json.loads(next(out.glob('*/summary.json')).read_text())
    print(mode, corpus, {k: s[k] for k in ('steps', 'train_seconds', 'data_share', 'pairs_per_s', 'final_loss')},
          'wall', round(time.time() - t, 1))


if __name__ == '__main__': main(*sys.argv[1:])
