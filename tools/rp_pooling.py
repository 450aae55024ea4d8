"""Does an RP encoder that keeps time make a better frozen embedding? (issue 20, item 3)

Pretrains the benchmarks' RP encoder on eolearn with the recipe of the committed `pimc-probe` row of
results/classify_cawa.md (`pretrain_encoder('eolearn', 'rp+level', epochs=10)`, seed 0) once per RP pooling
('avg', the default; 'coord'; 'attn'), then linear-probes each frozen encoder on the CAWa split, beside a linear
probe on the raw NDVI series of the same split. Writes results/rp_pooling.csv/.md.

    PYTHONPATH=$PWD PIMC_SAMPLES=/work/shared/data OMP_NUM_THREADS=1 \\
        .venv/bin/python tools/rp_pooling.py [--seeds 0 1 2] [--pools avg coord attn] [--out results]
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

import numpy as np
import pandas as pd


def raw_probe(data, C: float = 1.0):
    "Linear probe (standardised logistic regression, as for the encoders) on the raw series (+ their mean and std)."
    from pimc.fit import linear_probe
    from pimc.classify import series_stats
    from pimc.metrics import classification_report
    rows = []
    for name, f in (('raw series', lambda x: x.reshape(len(x), -1)),
                    ('raw series + stats', lambda x: np.concatenate([x.reshape(len(x), -1), series_stats(x)], 1))):
        t0 = time.perf_counter()
        pred = linear_probe(f(data.x_train), data.y_train, f(data.x_test), C)
        rep = classification_report(data.y_test, pred, data.class_names, data.ignore, name=name)
        rows.append(dict(method=f'linear probe: {name}', variant='', pool='', seed='', OA=rep.oa, macro_F1=rep.macro_f1,
                         seconds=time.perf_counter() - t0))
    return rows


def untrained(run, seed: int):
    "The RP encoder of `run` with fresh random weights (seeded) and the run's input standardisation."
    import torch
    from pimc.models import PIMC
    from pimc.pretrain import load_checkpoint, load_encoders
    torch.manual_seed(seed)
    enc = PIMC(**load_checkpoint(run)['hparams']).rp.eval()
    trained = load_encoders(run)[0]
    enc.set_input_stats(trained.mean, trained.std)
    return enc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0])
    ap.add_argument('--pools', nargs='+', default=['avg', 'coord', 'attn'])
    ap.add_argument('--variants', nargs='+', default=['rp+level'],
                    help="series images of the RP encoder (the committed row: rp+level; 'rp': without the level)")
    ap.add_argument('--epochs', type=int, default=10, help='pretraining epochs (the committed row: 10)')
    ap.add_argument('--runs', default='_runs/rp_pooling', help='folder of the pretraining runs (one per recipe)')
    ap.add_argument('--out', default='results', help="folder for rp_pooling.csv/.md ('' : write nothing)")
    ap.add_argument('--finetune', action='store_true', help='also fine-tune each encoder (pimc-finetune, +stats)')
    ap.add_argument('--random', action='store_true', help='also probe each encoder untrained (random weights)')
    ap.add_argument('--name', default='rp_pooling', help='stem of the written tables')
    a = ap.parse_args(argv)
    import torch
    from pimc.pretrained import pretrain_encoder
    from pimc.splits import classify_data
    from pimc.classify import run_method
    torch.set_num_threads(1)
    data = classify_data('cawa')
    rows = raw_probe(data)
    for r in rows: print(f"{r['method']:40s} OA {r['OA']:.4f}  macro-F1 {r['macro_F1']:.4f}", flush=True)
    for seed, variant, pool in [(s, v, p) for s in a.seeds for v in a.variants for p in a.pools]:
        t0 = time.perf_counter()
        over = {} if pool == 'avg' else {'rp_pool': pool}   # 'avg': exactly the committed recipe
        run = pretrain_encoder('eolearn', variant, epochs=a.epochs, out_dir=a.runs, seed=seed, threads=1, **over)
        t_pre = time.perf_counter() - t0
        loss = json.loads((run / 'summary.json').read_text()).get('final_loss')
        specs = [('pimc-probe', True, run), ('pimc-probe', False, run)]
        if a.finetune: specs.append(('pimc-finetune', True, run))
        if a.random: specs.append(('pimc-probe', True, untrained(run, seed)))
        for method, stats, enc in specs:
            rep, info = run_method(method, data, variant=variant, stats=stats, encoder=enc, seed=seed)
            name = rep.name + (' untrained' if enc is not run else '')
            rows.append(dict(method=name, variant=variant, pool=pool, seed=seed, OA=rep.oa, macro_F1=rep.macro_f1,
                             seconds=info['seconds'], pretrain_seconds=round(t_pre), final_loss=loss))
            print(f"{name:40s} pool {pool:5s} seed {seed}  OA {rep.oa:.4f}  macro-F1 {rep.macro_f1:.4f}  "
                  f"(pretraining {t_pre:.0f} s, loss {loss})", flush=True)
    df = pd.DataFrame(rows)
    if a.out: write(df, Path(a.out) / a.name, f"python tools/{Path(__file__).name} {' '.join(argv or sys.argv[1:])}")
    return df


def summary(df):
    "Mean and standard deviation over the seeds of each (method, variant, pool)."
    g = df.fillna({'pool': '', 'variant': ''}).groupby(['method', 'variant', 'pool'], sort=False)
    out = g.agg(seeds=('OA', 'size'), OA=('OA', 'mean'), OA_std=('OA', 'std'), macro_F1=('macro_F1', 'mean'),
                macro_F1_std=('macro_F1', 'std'), final_loss=('final_loss', 'mean')).reset_index()
    return out


def write(df, stem, command: str):
    "The per-seed rows as <stem>_runs.csv/.md, the summary over seeds as <stem>.csv/.md."
    from pimc.metrics import write_results
    notes = [f"command: {command}"]
    write_results(df, Path(f'{stem}_runs'), 'RP pooling: frozen probe on CAWa, every run', notes,
                  bold_best={'OA': 'max', 'macro_F1': 'max'})
    write_results(summary(df), Path(stem), 'RP pooling: frozen probe on CAWa (mean over seeds)',
                  notes + ['every run: ' + Path(f'{stem}_runs.md').name], bold_best={'OA': 'max', 'macro_F1': 'max'})


if __name__ == '__main__':
    if sys.argv[1:2] == ['--from-csv']:          # --from-csv <stem>_runs.csv <stem> <command>: the tables again
        write(pd.read_csv(sys.argv[2], keep_default_na=False, na_values=['']), sys.argv[3], sys.argv[4])
    else: main()
