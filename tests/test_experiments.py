"""End-to-end tests of the papermill runner (pimc.experiments), the `pimc` command (pimc.cli) and the demo (pimc.demo)
on the packaged pimc/notebooks/smoke.ipynb.

Kernels are what costs time (a few seconds each): this file starts 7 of them in all (a 4-run sweep with 2 workers,
the re-run of its failed run, one `pimc run`, one demo run). Everything else is checked without a kernel.
"""
import json, os, shutil, subprocess, sys, time
from pathlib import Path

import nbformat
import pytest

from pimc import experiments as ex
from pimc import cli, demo

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / 'pimc' / 'notebooks' / 'smoke.ipynb'
# 4 runs, small and fast; lr=5.0 makes gradient descent diverge and the notebook raise FloatingPointError
GRID = {'lr': [0.01, 0.1, 0.3, 5.0], 'fixed': {'n_steps': 20, 'n_pixels': 4}}
NAMES = ['lr=0.01', 'lr=0.1', 'lr=0.3', 'lr=5.0']


def _pimc_cmd():
    "The installed console script (`pimc = pimc.cli:main`), else the module (the script needs `pip install -e .`)."
    script = Path(sys.executable).with_name('pimc')
    ok = script.exists() and 'pimc.cli' in script.read_text(errors='replace')
    return [str(script)] if ok else [sys.executable, '-m', 'pimc.cli']


def _env(**kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else [])))
    env.update(kw)
    return env


@pytest.fixture(scope='module')
def first(tmp_path_factory):
    "A sweep of 4 runs with 2 workers, one of which fails; returns (table, sweep folder, executed-notebook mtimes)."
    root = tmp_path_factory.mktemp('runs')
    t0 = time.time()
    df = ex.sweep(SMOKE, GRID, workers=2, name='smoke4', out_root=root, metric='rmse', x='lr', progress=False)
    print(f"4-run sweep: {time.time() - t0:.1f} s")
    sdir = root / 'smoke4'
    mtimes = {n: (sdir / f'{n}.ipynb').stat().st_mtime_ns for n in NAMES}
    return df, sdir, mtimes


@pytest.fixture(scope='module')
def second(first):
    "The same sweep started again: the 3 complete runs are skipped, the failed one runs again."
    _, sdir, _ = first
    time.sleep(0.05)   # mtime resolution
    return ex.sweep(SMOKE, GRID, workers=2, name='smoke4', out_root=sdir.parent, progress=False)


def test_sweep_table(first):
    df, sdir, _ = first
    assert list(df.run) == NAMES
    assert list(df.status) == ['complete'] * 3 + ['failed']
    assert list(df.skipped) == [False] * 4
    assert list(df.lr) == [0.01, 0.1, 0.3, 5.0] and (df.n_steps == 20).all() and (df.n_pixels == 4).all()
    assert df.rmse[:3].notna().all() and df.rmse[3] != df.rmse[3]    # NaN: no metric for the failed run
    assert df.rmse[0] > df.rmse[2]                                    # too small a step has not converged in 20 steps
    assert (df.error[:3] == '').all()
    for f in ('results.csv', 'results.md', 'rmse_vs_lr.png', 'sweep.json'): assert (sdir / f).exists(), f
    md = (sdir / 'results.md').read_text()
    assert '| lr=5.0 | failed |' in md and 'FloatingPointError' in md
    import pandas as pd
    assert list(pd.read_csv(sdir / 'results.csv').run) == NAMES


def test_failure_recorded(first):
    df, sdir, _ = first
    assert df.error[3].startswith('FloatingPointError: gradient descent diverged at step'), df.error[3]
    rec = ex.read_sidecar(sdir / 'lr=5.0')
    err = rec['error']
    assert rec['status'] == 'failed' and err['type'] == 'FloatingPointError' and 'lr=5.0 is too large' in err['message']
    nb = nbformat.read(sdir / 'lr=5.0.ipynb', as_version=4)     # the executed notebook is kept, traceback inside
    outs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert outs and outs[0]['ename'] == 'FloatingPointError'
    assert 'raise FloatingPointError' in nb.cells[err['cell']].source     # `cell` indexes the executed notebook
    assert err['source'] == '\n'.join(nb.cells[err['cell']].source.splitlines()[:3])


def test_sidecars_of_complete_runs(first):
    _, sdir, _ = first
    for n in NAMES[:3]:
        rec = ex.read_sidecar(sdir / n)
        assert rec['status'] == 'complete' and rec['error'] is None
        assert Path(rec['python']).resolve() == Path(sys.executable).resolve()    # the kernel ran on this interpreter
        assert rec['params']['lr'] == float(n.split('=')[1]) and rec['params']['n_steps'] == 20
        assert 'run_dir' not in rec['params']
        assert set(rec['metrics']) == {'loss', 'rmse', 'r2'} and rec['timings']['total_s'] > 0
        assert rec['version'] == ex.pimc.__version__ and len(rec['git_commit'] or 'x' * 40) == 40
        assert (sdir / n / 'fit.png').stat().st_size > 1000


def test_rerun_skips_complete(first, second):
    _, sdir, mtimes = first
    assert list(second.skipped) == [True, True, True, False]
    assert list(second.status) == ['complete'] * 3 + ['failed']
    for n in NAMES[:3]: assert (sdir / f'{n}.ipynb').stat().st_mtime_ns == mtimes[n], f"{n} was run again"
    assert (sdir / 'lr=5.0.ipynb').stat().st_mtime_ns > mtimes['lr=5.0'], "the failed run was not retried"


def test_changed_fixed_params_are_not_skipped(first):
    _, sdir, _ = first
    assert ex._completed(sdir / 'lr=0.1', {'lr': 0.1, 'n_steps': 20}) is not None
    assert ex._completed(sdir / 'lr=0.1', {'lr': 0.1, 'n_steps': 21}) is None     # same name, other fixed value


def test_interrupted_run_is_not_complete(tmp_path):
    ex.write_sidecar(tmp_path / 'a', {'lr': 0.1}, status='running')
    assert ex._completed(tmp_path / 'a', {'lr': 0.1}) is None
    (tmp_path / 'b').mkdir(); (tmp_path / 'b' / 'run.json').write_text('{"status": "compl')   # half-written
    assert ex._completed(tmp_path / 'b', {'lr': 0.1}) is None
    with pytest.raises(ValueError, match='not a valid sidecar'): ex.read_sidecar(tmp_path / 'b')


@pytest.mark.parametrize('grid, match', [
    ({'lrate': [0.1, 0.2]}, r"smoke.ipynb: unknown parameter 'lrate' \(did you mean 'lr'\?\); the notebook declares: lr, n_steps, seed"),
    ({'lr': [0.1], 'fixed': {'epochs': 3}}, r"unknown parameter 'epochs'"),
    ({'n_steps': [10, 2.5]}, r"parameter 'n_steps' is declared `int` but got 2.5 \(float\)"),
    ({'seed': [True]}, r"'seed' is declared `int` but got True \(bool\)"),
    ({'lr': ['fast']}, r"'lr' is declared `float` but got 'fast' \(str\)"),
    ({'lr': [0.1], 'fixed': {'run_dir': '/tmp/x'}}, r"'run_dir' is set by the runner"),
    ({'lr': 0.1}, r"'lr' must be a list of values \(got 0.1\); put single values under 'fixed:'"),
    ({'lr': []}, r"'lr' has an empty list of values"),
    ({'lr': [0.1], 'fixed': {'lr': 0.2}}, r"\['lr'\] both swept and fixed"),
])
def test_bad_grids_rejected_before_running(tmp_path, grid, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ex.sweep(SMOKE, grid, name='bad', out_root=tmp_path, progress=False)
    assert not (tmp_path / 'bad').exists()     # nothing ran, nothing was written


def test_grid_yaml(tmp_path):
    g = tmp_path / 'g.yaml'
    g.write_text("# comment\nlr: [0.1, 0.2]\nseed: [0, 1, 2]\nfixed:\n  n_steps: 10\n  noise: 0.01\n")
    runs, swept, fixed = ex.load_grid(g)
    assert len(runs) == 6 and runs[0] == {'lr': 0.1, 'seed': 0} and runs[-1] == {'lr': 0.2, 'seed': 2}
    assert swept == ['lr', 'seed'] and fixed == {'n_steps': 10, 'noise': 0.01}
    runs, swept, fixed = ex.load_grid(ROOT / 'pimc' / 'notebooks' / 'grid.example.yaml')
    assert len(runs) == 8 and fixed == {'n_steps': 40}
    for r in runs: ex.check_params(SMOKE, {**fixed, **r})     # the shipped example is valid for smoke.ipynb


def test_run_names():
    assert ex.run_name({'seed': 0, 'lr': 0.001}) == ex.run_name({'lr': 0.001, 'seed': 0}) == 'lr=0.001_seed=0'
    assert ex.run_name({'tile': '../etc passwd'}) == 'tile=..-etc-passwd'
    assert ex.run_name({}) == 'default'
    a, b = ex.run_name({'x': 'a' * 200}), ex.run_name({'x': 'a' * 199 + 'b'})
    assert len(a) == len(b) == 100 and a != b
    assert not ex.sanitize('.hidden').startswith('.')


def test_duplicate_run_names_rejected(tmp_path):
    with pytest.raises(ValueError, match='same name'):
        ex.sweep(SMOKE, {'n_steps': [10, 10]}, name='dup', out_root=tmp_path, progress=False)


def test_notebook_params_and_missing_parameters_cell(tmp_path):
    ps = ex.notebook_params(SMOKE)
    assert list(ps) == ['lr', 'n_steps', 'seed', 'patch', 'n_pixels', 'run_dir']
    assert ps['lr'] == ex.Param('lr', 'float', 0.5, ps['lr'].help) and 'diverges' in ps['lr'].help
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x: Optional[int] = None  # optional\ny = 2')])
    nb.cells[0].metadata['tags'] = ['parameters']     # and no kernelspec: papermill's Python reader all the same
    nbformat.write(nb, tmp_path / 'p.ipynb')
    ps = ex.notebook_params(tmp_path / 'p.ipynb')
    assert ps['x'].type == 'Optional[int]' and ps['x'].help == 'optional' and ps['y'].type is None
    assert ex.check_params(tmp_path / 'p.ipynb', {'x': None, 'y': 'anything'}) == {'x': None, 'y': 'anything'}
    for line in ('x: int | None = None  # optional', 'a = b = 2'):  # papermill cannot read these: refused, not dropped
        nb.cells[0].source = f'y = 2\n{line}'
        nbformat.write(nb, tmp_path / 'p.ipynb')
        with pytest.raises(ValueError, match=r"papermill cannot read line 2 of the parameters cell"):
            ex.notebook_params(tmp_path / 'p.ipynb')
    del nb.cells[0].metadata['tags']
    nbformat.write(nb, tmp_path / 'q.ipynb')
    with pytest.raises(ValueError, match="no cell is tagged 'parameters'"): ex.notebook_params(tmp_path / 'q.ipynb')
    with pytest.raises(FileNotFoundError, match='notebook not found'): ex.notebook_params(tmp_path / 'nope.ipynb')


def test_cli(first, tmp_path, capsys):
    _, sdir, _ = first
    cmd = _pimc_cmd()
    r = subprocess.run(cmd + ['run', str(SMOKE), '-p', 'lr', '0.3', '-p', 'n_steps', '10', '-p', 'n_pixels', '2',
                              '--out', str(tmp_path / 'one')], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'lr=0.3_n_pixels=2_n_steps=10: complete' in r.stdout and 'rmse = ' in r.stdout
    rec = ex.read_sidecar(tmp_path / 'one' / 'lr=0.3_n_pixels=2_n_steps=10')
    assert rec['params']['n_steps'] == 10 and isinstance(rec['params']['lr'], float)
    # wrong parameters: exit 2, nothing run
    r = subprocess.run(cmd + ['run', str(SMOKE), '-p', 'lrate', '1', '--out', str(tmp_path / 'bad')],
                       capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 2 and "unknown parameter 'lrate'" in r.stderr and not (tmp_path / 'bad').exists()
    assert cli.main(['run', str(SMOKE), '-p', 'n_steps', 'many']) == 2        # same code path, in-process
    assert "'n_steps' is declared `int`: cannot read 'many'" in capsys.readouterr().err
    # collate an existing sweep folder
    r = subprocess.run(cmd + ['collate', str(sdir), '--metric', 'r2', '--x', 'lr'], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert 'lr=5.0' in r.stdout and 'FAILED lr=5.0: FloatingPointError' in r.stdout and (sdir / 'r2_vs_lr.png').exists()
    # a sweep from a grid file whose runs are all complete: nothing runs, the table is printed
    g = tmp_path / 'done.yaml'; g.write_text('lr: [0.01, 0.1, 0.3]\nfixed: {n_steps: 20, n_pixels: 4}\n')
    r = subprocess.run(cmd + ['sweep', str(SMOKE), '--grid', str(g), '--name', sdir.name, '--out-root', str(sdir.parent),
                              '--workers', '2', '--metric', 'rmse'], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '3 of 3 runs complete (3 already were)' in r.stdout and 'rmse_vs_lr.png' in r.stdout


def test_console_script_declared():
    import tomllib
    scripts = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['scripts']
    assert scripts['pimc'] == 'pimc.cli:main'


def test_demo_runs_without_shared_data(tmp_path):
    "The demo must not need /work/shared: run it with PIMC_SAMPLES pointing nowhere."
    r = subprocess.run([sys.executable, '-m', 'pimc.cli', 'demo', '--notebook', str(SMOKE), '--out', str(tmp_path / 'demo'),
                        '-p', 'n_steps', '10'], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                       env=_env(PIMC_SAMPLES=str(tmp_path / 'no-such-folder')))
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'smoke.ipynb: complete' in r.stdout and 'demo/smoke/fit.png' in r.stdout
    assert (tmp_path / 'demo' / 'smoke.ipynb').exists() and (tmp_path / 'demo' / 'smoke' / 'run.json').exists()


def test_demo_picks_pretrain_when_present(tmp_path):
    (tmp_path / 'smoke.ipynb').touch()
    assert demo.demo_notebook(tmp_path).name == 'smoke.ipynb'
    (tmp_path / 'pretrain.ipynb').touch()
    assert demo.demo_notebook(tmp_path).name == 'pretrain.ipynb'
    assert demo.demo_notebook().parent == ROOT / 'pimc' / 'notebooks'


def test_collate_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='sweep folder not found'): ex.collate(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match='no run sidecars'): ex.collate(tmp_path)
    ex.write_sidecar(tmp_path / 'a', {'lr': 0.1}, {'loss': 1.0})
    ex.write_sidecar(tmp_path / 'b', {'lr': 0.2}, {'loss': 0.5, 'lr': 3})      # a metric named like a parameter
    df = ex.collate(tmp_path, 'loss')
    assert list(df.run) == ['a', 'b'] and list(df['metric.lr'].fillna(-1)) == [-1, 3] and (tmp_path / 'loss_vs_lr.png').exists()
    with pytest.raises(ValueError, match="no parameter column 'seed'"): ex.plot_metric(df, 'loss', 'seed')
    with pytest.raises(FileNotFoundError, match=r"no sidecar for run\(s\) \['c'\]"): ex.collate(tmp_path, runs=['a', 'c'])


def test_foreign_folder_is_refused_not_deleted(tmp_path):
    (tmp_path / 'lr=0.3').mkdir(); (tmp_path / 'lr=0.3' / 'precious.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='is not a run folder'):
        ex.run_notebook(SMOKE, {'lr': 0.3}, out_dir=tmp_path)
    with pytest.raises(FileExistsError, match='is not a run folder'):
        ex.sweep(SMOKE, {'lr': [0.1, 0.3]}, name=tmp_path.name, out_root=tmp_path.parent, progress=False)
    assert (tmp_path / 'lr=0.3' / 'precious.txt').read_text() == 'keep me' and not (tmp_path / 'lr=0.1').exists()


def test_code_changes_invalidate_finished_runs(tmp_path):
    nb = nbformat.read(SMOKE, as_version=4)
    h = ex.notebook_hash(SMOKE)
    md = next(c for c in nb.cells if c.cell_type == 'markdown'); md.source += '\nmore prose'
    nbformat.write(nb, tmp_path / 'prose.ipynb')
    assert ex.notebook_hash(tmp_path / 'prose.ipynb') == h            # prose does not count
    code = [c for c in nb.cells if c.cell_type == 'code'][-1]; code.source += '\nprint(1)'
    nbformat.write(nb, tmp_path / 'code.ipynb')
    assert ex.notebook_hash(tmp_path / 'code.ipynb') != h
    ex.write_sidecar(tmp_path / 'r', {'lr': 0.1}, notebook_hash=h)
    assert ex._completed(tmp_path / 'r', {'lr': 0.1}, h) is not None
    assert ex._completed(tmp_path / 'r', {'lr': 0.1}, ex.notebook_hash(tmp_path / 'code.ipynb')) is None


def test_run_by_name_and_list(tmp_path):
    "A packaged notebook is named without path (what an installed pimc runs); `pimc notebooks` lists them."
    r = subprocess.run(_pimc_cmd() + ['notebooks'], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0 and {'pretrain', 'smoke', 'classify'} <= set(r.stdout.split()), r.stdout + r.stderr
    assert ex.find_notebook('smoke') == SMOKE and ex.notebook_params('smoke') == ex.notebook_params(SMOKE)
    with pytest.raises(FileNotFoundError, match='packaged notebooks: .*smoke'): ex.notebook_params('smokey')


def test_experiment_notebooks_write_only_under_run_dir():
    "No packaged experiment notebook writes into the repository (a sweep over seeds used to overwrite results/)."
    for nb in sorted((ROOT / 'pimc' / 'notebooks').glob('*.ipynb')):
        code = '\n'.join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == 'code')
        assert "parents[1] / 'results'" not in code and 'results_dir' not in code, nb.name


def test_help_is_fast_and_lists_every_command():
    r = subprocess.run([sys.executable, '-X', 'importtime', '-m', 'pimc.cli', '--help'], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    for c in ('run', 'sweep', 'collate', 'params', 'notebooks', 'pretrain', 'benchmark', 'speed', 'demo'): assert c in r.stdout
    imported = {l.split('|')[-1].strip() for l in r.stderr.splitlines() if l.startswith('import time:')}
    assert not imported & {'torch', 'numpy', 'papermill', 'pandas'}, imported & {'torch', 'numpy', 'papermill', 'pandas'}
