"""The `pimc benchmark` command (one subcommand per task, every documented command line still valid) and the
benchmark runners' output folder: checked before anything trains, and nothing computed lost when writing fails."""
import json, re, shlex
from pathlib import Path
import pytest

import pimc.cli as cli
import pimc.scene as scene
from pimc.errors import PimcError
from pimc.eurosat import make_eurosat

ROOT = Path(__file__).parents[1]
TASKS = ('classify', 'forecast', 'ablation', 'scene', 'scene-split', 'scene-eurosat', 'scene-report', 'pretrain',
         'headline', 'seeds', 'all')


def _help(capsys, *argv):
    with pytest.raises(SystemExit) as e: cli.benchmark_main([*argv, '--help'])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_help_is_pimc_benchmark_with_one_subcommand_per_task(capsys):
    top = _help(capsys)
    assert top.startswith('usage: pimc benchmark TASK') or top.startswith('usage: pimc benchmark [-h] TASK')
    assert all(re.search(rf'^\s+{t}\s+\S', top, re.M) for t in TASKS)             # each with a one-line description
    assert '--min-steps' not in top and '--dataset' not in top                      # options belong to their task
    cls = _help(capsys, 'classify')
    assert cls.startswith('usage: pimc benchmark classify') and '--fractions' in cls and '--dataset' in cls
    assert not any(o in cls for o in ('--root', '--min-steps', '--corpus', '--variant', '--kind'))
    se = _help(capsys, 'scene-eurosat')
    assert all(o in se for o in ('--root', '--splits', '--min-steps', '--methods', '--seeds', '--pretrain-epochs'))
    assert not any(o in se for o in ('--dataset', '--variant', '--kind'))
    assert '--root' not in _help(capsys, 'headline') and '--out' in _help(capsys, 'scene-report')


def _documented() -> list[str]:
    "Every `pimc benchmark ...` command line of README.md and the notebooks' prose and outputs (blocks and spans)."
    text = [(ROOT / 'README.md').read_text()]
    for f in sorted((ROOT / 'nbs').glob('*.ipynb')):
        cells = json.loads(f.read_text())['cells']
        text += [''.join(c['source']) for c in cells if c['cell_type'] == 'markdown']
        text += [''.join(o.get('data', {}).get('text/markdown', '')) for c in cells for o in c.get('outputs', [])]
    text = '\n'.join(text)
    found = [l.split('#')[0] for b in re.findall(r'```\w*\n(.*?)```', text, re.S)
             for l in b.replace('\\\n', ' ').splitlines() if l.startswith('pimc benchmark')]
    for span in re.findall(r'`([^`\n]*pimc benchmark [^`]*)`', re.sub(r'```.*?```', '', text, flags=re.S)):
        for c in span.split(';'):
            found.append(re.sub(r'\(S = .*?\)', '', c).replace('seedS', 'seed1').replace('--seed S', '--seed 1'))
    prose = ("pimc benchmark scene-split --splits",)     # the words "written by `pimc benchmark scene-split --splits`"
    return sorted({f.strip() for f in found if f.strip().startswith('pimc benchmark ') and f.strip() not in prose
                   and 'TASK' not in f})                                  # the pattern, not a command


def test_every_documented_command_line_still_parses():
    cmds = _documented()
    assert len(cmds) >= 12 and any('--min-steps' not in c and 'scene-eurosat' in c for c in cmds)
    for c in cmds:
        if '--help' in c.split():                  # a documented help line prints the help and exits with 0
            with pytest.raises(SystemExit) as e: cli.benchmark_parser().parse_args(shlex.split(c)[2:])
            assert e.value.code == 0, c; continue
        a = cli.benchmark_parser().parse_args(shlex.split(c)[2:])
        assert a.task == shlex.split(c)[2], c
    a = cli.benchmark_parser().parse_args(shlex.split('scene-eurosat --root R --splits S --fractions 0.01 0.1 1 --seeds 0 1 2 '
                                           '--pretrain-epochs 20 --methods band-stats pimc-finetune:head=random'))
    assert (a.root, a.splits, a.fractions, a.seeds, a.pretrain_epochs) == ('R', 'S', [0.01, 0.1, 1], [0, 1, 2], 20)
    assert a.methods == ['band-stats', 'pimc-finetune:head=random']


def test_cli_refuses_an_out_file_before_training(tmp_path, capsys, monkeypatch):
    import pimc.splits
    monkeypatch.setattr(pimc.splits, 'classify_data', lambda *a, **k: pytest.fail('read data before out= was checked'))
    f = tmp_path / 'out.txt'; f.write_text('')
    assert cli.benchmark_main(['classify', '--dataset', 'cawa', '--out', str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('pimc benchmark classify: error:') and str(f) in err and 'not a folder' in err


def test_scene_runners_check_out_first(tmp_path, monkeypatch):
    "benchmark_eurosat and benchmark_scene: out= a file is refused before the chips are read."
    import pimc.scene
    monkeypatch.setattr(pimc.scene, 'eurosat_data', lambda *a, **k: pytest.fail('read chips before out= was checked'))
    f = tmp_path / 'out'; f.write_text('')
    with pytest.raises(PimcError, match='is a file, not a folder'):
        scene.benchmark_eurosat(tmp_path / 'nowhere', out=f, progress=False)
    with pytest.raises(PimcError, match='is a file, not a folder'):
        scene.benchmark_scene(None, pretrain_source=None, out=f, progress=False)


def test_eurosat_run_kept_when_its_row_cannot_be_written(tmp_path, monkeypatch):
    "The runs table cannot be written (here a folder sits at its name): the error says where the rows went."
    import pandas as pd
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path / 'cache'))
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16, rgb=True)
    (tmp_path / 'o' / 'scene_eurosat_runs.csv').mkdir(parents=True)
    with pytest.raises(OSError, match=r'scene_eurosat_runs') as e:
        scene.benchmark_eurosat(tmp_path / 'e', ['band-stats'], fractions=(1.0,), seeds=(0,), out=tmp_path / 'o',
                             progress=False)
    saved = next((tmp_path / 'cache' / 'unsaved').glob('scene_eurosat_runs-*'))
    assert str(saved) in str(e.value)
    assert pd.read_csv(saved / 'scene_eurosat_runs.csv').method.tolist() == ['band-stats']


def test_scene_eurosat_refuses_overlapping_splits(tmp_path, capsys, monkeypatch):
    "`pimc benchmark scene-eurosat` on split files sharing chips: exit 2, naming the files and chips; nothing trained."
    monkeypatch.setenv('PIMC_CACHE', str(tmp_path / 'cache'))
    make_eurosat(tmp_path / 'e', n_per_class=6, size=16, rgb=True)
    chip = (tmp_path / 'e' / 'eurosat-train.txt').read_text().split()[0]
    with open(tmp_path / 'e' / 'eurosat-test.txt', 'a') as fh: fh.write(chip + '\n')
    rc = cli.benchmark_main(['scene-eurosat', '--root', str(tmp_path / 'e'), '--methods', 'band-stats', '--out',
                  str(tmp_path / 'o')])
    err = capsys.readouterr().err
    assert rc == 2 and 'eurosat-train.txt and' in err and 'eurosat-test.txt' in err and chip.split('.')[0] in err
    assert not (tmp_path / 'o' / 'scene_eurosat_runs.csv').exists()
