"""Does pretraining on every real cube at once help? (issue 20): one-source PIMC encoder against the all-real corpus.

Reads the classification tables written by `pimc benchmark classify` with the default encoder (results/, pretrained
on one source: eolearn; greenearthnet for worldcover) and with `--pretrain-source all-real` (results/all_real/, the
corpus without the evaluation's own source where they share pixels), and their seed tables
(<folder>/seeds/seed*/classify_<dataset>.csv; the one-source encoder's low-label seeds in
results/all_real/one_source/seeds/) where present. Writes results/all_real/README-table.md: per dataset and
label fraction, the raw-series probe against the frozen PIMC probe, and the same RP network from scratch against the
pretrained one fine-tuned (no TempCNN branch), as mean ± std over the seeds found.

    .venv/bin/python tools/encoder_sources.py [--datasets cawa tempcnn worldcover modis] [--out results/all_real]
"""
from __future__ import annotations
import argparse
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ROWS = {'raw probe': 'raw-probe [stats]', 'scratch': 'rp-cnn [rp+level+stats]',
        'probe': 'pimc-probe [rp+level+stats]', 'fine-tuned': 'pimc-finetune [rp+level+stats]'}


def tables(folder: Path, dataset: str, *more: Path) -> pd.DataFrame:
    "Every seed's table of `dataset`: seed 0 in `folder`, others in seeds/seed*/ of `folder` and of `more` folders."
    found = [(0, folder / f'classify_{dataset}.csv')]
    for f in (folder, *more):
        found += [(int(p.parent.name.removeprefix('seed')), p)
                  for p in sorted(f.glob(f'seeds/seed*/classify_{dataset}.csv'))]
    return pd.concat([pd.read_csv(p).assign(seed=s) for s, p in found if p.exists()], ignore_index=True)


def cell(df: pd.DataFrame, method: str, fraction: float) -> tuple[float, float, int]:
    "(mean, std, seeds) of the OA of `method` at `fraction`."
    oa = df[(df.method == method) & (df.label_fraction.round(4) == round(fraction, 4))].OA
    return float(oa.mean()), float(oa.std()) if len(oa) > 1 else float('nan'), len(oa)


def fmt(m, s, n) -> str:
    return f"{m:.3f}" + (f" ± {s:.3f}" if n > 1 else '')


def compare(datasets, one: Path, corpus: Path) -> str:
    "Markdown table per dataset and fraction: probe − raw probe, fine-tuned − scratch; one source vs all-real."
    lines = ['| dataset | labels | raw probe | probe (one source) | probe (all-real) | Δ probe all-real − raw | '
             'scratch | fine-tuned (one source) | fine-tuned (all-real) | Δ fine-tuned all-real − scratch |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for d in datasets:
        if not (corpus / f'classify_{d}.csv').exists(): continue
        a, b = tables(one, d, corpus / 'one_source'), tables(corpus, d)
        for f in sorted(b.label_fraction.unique()):
            raw, scr = cell(b, ROWS['raw probe'], f), cell(b, ROWS['scratch'], f)   # baselines: from the same run
            p1, p2 = cell(a, ROWS['probe'], f), cell(b, ROWS['probe'], f)
            f1, f2 = cell(a, ROWS['fine-tuned'], f), cell(b, ROWS['fine-tuned'], f)
            lines.append(f"| {d} | {f:g} | {fmt(*raw)} | {fmt(*p1)} | {fmt(*p2)} | {p2[0] - raw[0]:+.3f} | "
                         f"{fmt(*scr)} | {fmt(*f1)} | {fmt(*f2)} | {f2[0] - scr[0]:+.3f} |")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--datasets', nargs='+', default=['cawa', 'tempcnn', 'worldcover', 'modis'])
    ap.add_argument('--one', default=str(ROOT / 'results'), help='tables with the one-source encoder')
    ap.add_argument('--out', default=str(ROOT / 'results' / 'all_real'), help='tables with the all-real encoder')
    a = ap.parse_args(argv)
    md = compare(a.datasets, Path(a.one), Path(a.out))
    (Path(a.out) / 'README-table.md').write_text(md)
    print(md)


if __name__ == '__main__':
    main()
