"""Does pretraining on every real cube at once help? (issue 20): one-source PIMC encoder against the all-real corpus,
and against the all-real corpus with the series-only tables paired with second views of themselves.

Reads the classification tables written by `pimc benchmark classify` with the default encoder (results/, pretrained
on one source: eolearn; greenearthnet for worldcover), with `--pretrain-source all-real` (results/all_real/, the
corpus without the evaluation's own source where they share pixels) and with `--pretrain-source all-real+series`
(results/all_real/series/, without the evaluation's own table), and their seed tables
(<folder>/seeds/seed*/classify_<dataset>.csv; the one-source encoder's low-label seeds in
results/all_real/one_source/seeds/) where present. Writes results/all_real/README-table.md: per dataset and
label fraction, the raw-series probe against the frozen PIMC probes, and the same RP network from scratch against the
pretrained ones fine-tuned (no TempCNN branch), as mean ± std over the seeds found; the Δ columns are those of the
all-real + series encoder.

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
    "Markdown table per dataset and fraction: raw probe vs the probes, scratch vs fine-tuning, for the three encoders."
    lines = ['| dataset | labels | raw probe | probe: one source | all-real | + series | Δ probe − raw | '
             'scratch | fine-tuned: one source | all-real | + series | Δ fine-tuned − scratch |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for d in datasets:
        if not (corpus / 'series' / f'classify_{d}.csv').exists(): continue
        a, b, c = tables(one, d, corpus / 'one_source'), tables(corpus, d), tables(corpus / 'series', d)
        for f in sorted(c.label_fraction.unique()):
            raw, scr = cell(c, ROWS['raw probe'], f), cell(c, ROWS['scratch'], f)   # baselines: the same runs
            p = [cell(t, ROWS['probe'], f) for t in (a, b, c)]
            ft = [cell(t, ROWS['fine-tuned'], f) for t in (a, b, c)]
            lines.append(f"| {d} | {f:g} | {fmt(*raw)} | {' | '.join(fmt(*x) for x in p)} | {p[2][0] - raw[0]:+.3f} | "
                         f"{fmt(*scr)} | {' | '.join(fmt(*x) for x in ft)} | {ft[2][0] - scr[0]:+.3f} |")
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
