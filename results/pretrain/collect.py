"""Collect the real-data pretraining runs into results/pretrain/: results.csv, results.md and the embedding-map PNGs.

Run from the repository root after the `pimc run` commands in README.md:  .venv/bin/python results/pretrain/collect.py
"""
import json, shutil, sys
from pathlib import Path
import pandas as pd

HERE = Path(__file__).parent
RUNS = {'eolearn': Path('_runs/pretrain_eolearn'), 'cbers4': Path('_runs/pretrain_cbers4')}

rows = []
for name, root in RUNS.items():
    found = sorted(root.glob('*/metrics.json'), key=lambda p: p.stat().st_mtime)
    if not found: print(f"no run under {root}: skipped", file=sys.stderr); continue
    run = found[-1].parent
    rec = json.loads(found[-1].read_text()); m, p = rec['metrics'], rec['params']
    rows.append(dict(dataset=name, pairs=m['n_pairs'], epochs=p['epochs'], batch=p['batch_size'], steps=m['steps'],
                     first_loss=round(m['first_loss'], 3), final_loss=round(m['final_loss'], 3), chance_logN=round(m['chance_loss'], 3),
                     pairs_per_s=round(m['pairs_per_s']), train_s=rec['timings']['train_s'], total_s=rec['timings']['total_s'],
                     knn_trained=m.get('knn_split_accuracy'), knn_untrained=m.get('knn_split_accuracy_untrained'),
                     knn_bal_trained=m.get('knn_split_balanced'), knn_bal_untrained=m.get('knn_split_balanced_untrained'),
                     majority=m.get('knn_split_majority'), run=str(run)))
    for src, dst in (('embedding_map_0.png', f'{name}_embedding_map.png'), ('embedding_map_untrained.png', f'{name}_embedding_map_untrained.png'),
                     ('loss.png', f'{name}_loss.png')):
        if (run / src).exists(): shutil.copyfile(run / src, HERE / dst)

df = pd.DataFrame(rows)
df.to_csv(HERE / 'results.csv', index=False)
show = df.drop(columns=['run']).copy()
for c in ('knn_trained', 'knn_untrained', 'knn_bal_trained', 'knn_bal_untrained', 'majority'):
    show[c] = show[c].map(lambda v: '—' if v is None or v != v else f'{v:.3f}')
md = '\n'.join(['| ' + ' | '.join(show.columns) + ' |', '|' + '---|' * len(show.columns)]
                + ['| ' + ' | '.join(str(v) for v in r) + ' |' for r in show.itertuples(index=False)])
(HERE / 'results.md').write_text(md + '\n')
print(md)
