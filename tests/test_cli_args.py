"""The `pimc` command as a user meets it (issue 18): one-line errors and exit status 2 for bad arguments, a folder of
ordinary int16 GeoTIFFs (reflectance x 10 000) with `--scale`, a band-per-file folder named for the reader that takes
it, `--executor` addresses checked before waiting, packaged grids by name, `--version` and the bench descriptions."""
import os, re, socket, subprocess, sys, time, warnings
from pathlib import Path

import numpy as np
import pytest

from pimc import cli, experiments as ex
from pimc.errors import ReadError

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / 'pimc' / 'notebooks' / 'smoke.ipynb'
S2_4 = ['B02', 'B03', 'B04', 'B08']
S2_10 = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12']
TINY = ['--batch-size', '32', '--rp-size', '16', '--patch-size', '5', '--widths', '8', '16', '--embed-dim', '16',
        '--device', 'cpu', '--progress', 'false', '--ckpt-every', '0']


def _env(**kw):
    pp = os.pathsep.join([str(ROOT)] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else []))
    return dict(os.environ, PYTHONPATH=pp, **kw)


def _pimc(*argv, cwd=None, timeout=300):
    "`python -m pimc.cli ARGV` in a fresh process, as a user runs it."
    return subprocess.run([sys.executable, '-m', 'pimc.cli', *map(str, argv)], capture_output=True, text=True,
                          env=_env(), cwd=cwd, timeout=timeout)


def _one_line_error(r, *wanted):
    "A refusal: exit status 2, no traceback, the last stderr line says `wanted` (one line)."
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    assert 'Traceback' not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip() and 'Warning' not in l and not l.startswith('  ')]
    assert len(lines) == 1, r.stderr
    for w in wanted: assert w in lines[0], lines[0]
    return lines[0]


def write_int16_stack(folder, bands, size=16, dates=('2021-03-01', '2021-04-10', '2021-05-20', '2021-06-29',
                                                     '2021-08-08', '2021-09-17')):
    "One multi-band int16 GeoTIFF per date (reflectance x 10 000, nodata -9999), named `S2_<YYYY-MM-DD>.tif`."
    import rasterio
    from rasterio.transform import from_origin
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = {'B02': 0.04, 'B03': 0.07, 'B04': 0.06, 'B05': 0.11, 'B06': 0.2, 'B07': 0.24, 'B08': 0.28, 'B8A': 0.3,
            'B11': 0.2, 'B12': 0.12}
    for t, d in enumerate(dates):
        green = np.sin(np.pi * t / (len(dates) - 1))                      # a growing season
        refl = []
        for b in bands:
            r = base[b] * (1 + (0.8 * green if b in ('B06', 'B07', 'B08', 'B8A') else -0.3 * green))
            refl.append(r + rng.normal(0, 0.005, (size, size)))
        v = np.round(np.clip(np.stack(refl), 0, 1) * 10_000).astype('int16')
        v[:, 0, 0] = -9999                                                # one nodata pixel
        with rasterio.open(folder / f'S2_{d}.tif', 'w', driver='GTiff', height=size, width=size, count=len(bands),
                           dtype='int16', nodata=-9999, crs='EPSG:32631',
                           transform=from_origin(600_000, 5_600_000, 10, 10)) as f:
            f.write(v)
    return folder


# ----------------------------------------------------------------------------------------------- item 3: --scale
@pytest.mark.parametrize('bands', [S2_4, S2_10], ids=['4-band', '10-band'])
def test_int16_stack_without_the_scale_is_refused_in_one_line(tmp_path, bands):
    stack = write_int16_stack(tmp_path / 'my_stack', bands)
    r = _pimc('pretrain', '--data', stack, '--sensor', *bands, '--epochs', '1', *TINY, '--out-dir', tmp_path / 'run')
    line = _one_line_error(r, 'pimc pretrain: error:', str(stack), '--scale 10000')
    assert 'no valid' in line
    assert not (tmp_path / 'run').exists()                                # nothing written


def test_int16_stack_with_a_wrong_scale_is_refused(tmp_path, capsys):
    from pimc.cli import pretrain_main
    stack = write_int16_stack(tmp_path / 'my_stack', S2_4)
    with pytest.raises(SystemExit) as e:
        pretrain_main(['--data', str(stack), '--sensor', *S2_4, '--scale', '10', '--epochs', '1', *TINY,
                       '--out-dir', str(tmp_path / 'run')])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert 'no valid' in err and 'scale 10' in err and '--scale 10000' in err, err


@pytest.mark.parametrize('bands', [S2_4, S2_10], ids=['4-band', '10-band'])
def test_int16_stack_with_the_scale_trains(tmp_path, bands):
    from pimc.cli import pretrain_main
    stack = write_int16_stack(tmp_path / 'my_stack', bands)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        run = pretrain_main(['--data', str(stack), '--sensor', *bands, '--scale', '10000', '--epochs', '1', *TINY,
                             '--out-dir', str(tmp_path / 'run')])
    assert not [x for x in w if 'no valid date' in str(x.message)], [str(x.message) for x in w]
    assert run.info['n_pairs'] == 16 * 16 - 1                             # every pixel but the nodata one
    assert run.config.epochs == 1 and np.isfinite(run.final_loss)
    assert run.rp_encoder.meta['indices'] == ['NDVI', 'EVI', 'SAVI']


def test_scale_needs_band_names_and_a_positive_value(tmp_path, capsys):
    from pimc.cli import pretrain_main
    stack = write_int16_stack(tmp_path / 'my_stack', S2_4)
    for argv, says in ((['--scale', '10000'], '--scale needs --sensor'), (['--sensor', *S2_4, '--scale', '0'], '> 0'),
                       (['--sensor', *S2_4, '--scale', 'x'], '> 0')):
        with pytest.raises(SystemExit) as e: pretrain_main(['--data', str(stack), *argv, *TINY])
        assert e.value.code == 2
        assert says in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- item 12: one line
def test_pretrain_bad_arguments_one_line_in_a_fresh_process(tmp_path):
    _one_line_error(_pimc('pretrain', '--epochs', '-1'),
                    'pimc pretrain: error: --epochs must be an integer >= 1 (got -1)')


@pytest.mark.parametrize('argv, says', [
    (['--device', 'tpu'], "--device must be one of"),
    (['--data', '/no/such/folder'], "unknown source '/no/such/folder'"),
    (['--data', ''], "--data is empty"),
    (['--data', '  '], "--data is empty"),
    (['--num-workers', '-3'], "--num-workers must be an integer >= 0 (got -3)"),
    (['--hilbert-step', '0'], "argument --hilbert-step: must be an integer >= 1 (got '0')"),
    (['--config', '/no/such/config.json'], "/no/such/config.json"),
    (['--data', 'synthetic', '--sensor', 'B04', 'B08'], "--sensor applies to"),
])
def test_pretrain_bad_arguments_one_line_exit_2(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e: cli.main(['pretrain', *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('pimc pretrain: error: ') and says in err[0], err
    assert not (tmp_path / '_runs').exists()


def test_pretrain_cuda_without_cuda_is_one_line_before_reading_data(capsys, tmp_path):
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has CUDA')
    with pytest.raises(SystemExit) as e:
        cli.main(['pretrain', '--data', 'toy', '--device', 'cuda', '--out-dir', str(tmp_path / 'run')])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "--device cuda: device 'cuda' was asked for" in err[0], err
    assert not (tmp_path / 'run').exists()


def test_sweep_workers_must_be_positive(capsys, tmp_path):
    g = tmp_path / 'g.yaml'; g.write_text('lr: [0.1]\n')
    with pytest.raises(SystemExit) as e:
        cli.main(['sweep', str(SMOKE), '--grid', str(g), '--workers', '-3', '--out-root', str(tmp_path)])
    assert e.value.code == 2 and "--workers: must be an integer >= 1 (got '-3')" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r'workers must be an integer >= 1 \(got -3\)'):
        ex.sweep(SMOKE, {'lr': [0.1]}, workers=-3, out_root=tmp_path)


# ----------------------------------------------------------------------------------------------- item 14: layout
def _band_files(folder, names):
    import rasterio
    from rasterio.transform import from_origin
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        with rasterio.open(folder / n, 'w', driver='GTiff', height=4, width=4, count=1, dtype='int16',
                           crs='EPSG:32723', transform=from_origin(0, 0, 64, 64)) as f:
            f.write(np.full((1, 4, 4), 1000, 'int16'))
    return folder


def test_cbers_layout_names_its_reader(tmp_path):
    from pimc.sources import open_geotiff_stack, open_source
    d = _band_files(tmp_path / 'awfi', [f'CBERS-4_AWFI_{b}_{t}.tif' for t in ('2018-01-01', '2018-01-17')
                                        for b in ('B13', 'B14', 'B15', 'B16', 'CMASK')])
    for f in (lambda: open_geotiff_stack(d), lambda: open_source(d)):
        with pytest.raises(ReadError, match='one GeoTIFF per band and date.*pimc.readers.read_cbers_awfi'):
            f()


def test_band_per_file_layout_says_how_to_stack(tmp_path):
    from pimc.sources import open_source
    d = _band_files(tmp_path / 'tiles', [f'T31UFQ_{t}_{b}.tif' for t in ('20210301', '20210401') for b in S2_4])
    with pytest.raises(ReadError, match=r'5 files|4 files') as e: open_source(d)
    msg = str(e.value)
    assert 'one GeoTIFF per band and date' in msg and 'B02' in msg and 'one multi-band GeoTIFF per date' in msg, msg


def test_real_cbers_folder_through_the_cli(samples, capsys):
    d = samples('sits_samples/cbers4_awfi')
    with pytest.raises(SystemExit) as e: cli.main(['pretrain', '--data', str(d)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert 'one GeoTIFF per band and date' in err and 'read_cbers_awfi' in err and "--data cbers4" in err, err


# ----------------------------------------------------------------------------------------------- item 11: executor
def _closed_port() -> int:
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    return port


def test_dask_address_without_a_scheduler_fails_fast():
    port = _closed_port()
    t0 = time.time()
    with pytest.raises(ConnectionError, match=f'no Dask scheduler at 127.0.0.1:{port}'):
        with ex.dask_executor(f'dask://127.0.0.1:{port}'): pass
    assert time.time() - t0 < 10


@pytest.mark.parametrize('address, says', [
    ('dask://host:abc', "port 'abc' is not a number"),
    ('dask://host', 'no port'),
    ('dask://:8786', 'no host'),
    ('dask://host:70000', 'port 70000 is out of range'),
    ('spark://host:7077', "executor must be 'dask'"),
])
def test_dask_address_is_validated(address, says):
    with pytest.raises(ValueError, match=re.escape(says)) as e: ex.check_executor(address)
    assert 'dask://HOST:PORT' in str(e.value)


def test_sweep_with_an_unreachable_scheduler_and_a_packaged_grid_from_elsewhere(tmp_path):
    "Item 19 too: `--grid grid.example.yaml` resolves to the packaged grid from any folder."
    port = _closed_port()
    t0 = time.time()
    r = _pimc('sweep', 'smoke', '--grid', 'grid.example.yaml', '--executor', f'dask://127.0.0.1:{port}', cwd=tmp_path)
    _one_line_error(r, 'pimc sweep: error:', f'no Dask scheduler at 127.0.0.1:{port}')
    assert time.time() - t0 < 60
    assert not (tmp_path / '_runs').exists()
    _one_line_error(_pimc('sweep', 'smoke', '--grid', 'grid.example.yaml', '--executor', 'dask://host:abc',
                          cwd=tmp_path), "port 'abc' is not a number")


# ----------------------------------------------------------------------------------------------- item 19: grids
def test_packaged_grid_by_name_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    want = ex.notebooks_dir() / 'grid.example.yaml'
    assert ex.find_grid('grid.example.yaml') == want and ex.find_grid('grid.example') == want
    runs, swept, fixed = ex.load_grid('grid.example.yaml')
    assert swept == ['lr', 'seed'] and len(runs) == 8 and fixed == {'n_steps': 40}
    (tmp_path / 'grid.example.yaml').write_text('lr: [1.0]\n')             # a file here comes first
    assert ex.find_grid('grid.example.yaml') == Path('grid.example.yaml')
    with pytest.raises(FileNotFoundError, match='grid file not found: nope.yaml.*packaged grids: grid.example.yaml'):
        ex.load_grid('nope.yaml')


# ----------------------------------------------------------------------------------------------- item 20: help
def test_version(capsys):
    import pimc
    with pytest.raises(SystemExit) as e: cli.main(['--version'])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f'pimc {pimc.__version__}'


def test_bench_help_describes_each_benchmark():
    r = _pimc('speed', '--help', timeout=60)
    assert r.returncode == 0
    for name, words in (('rp', 'recurrence plots'), ('pairs', 'pairs'), ('pretrain', 'pretraining'), ('maps', 'tile')):
        line = next((l for l in r.stdout.splitlines() if l.strip().startswith(name + ' ')), '')
        assert words in line, (name, r.stdout)
    assert 'pimc speed maps' in _pimc('speed', 'maps', '--help', timeout=60).stdout


def test_demo_says_what_it_does_before_it_starts(tmp_path):
    "The demo prints its steps at once and shows a bar over the notebook's cells while it runs."
    p = subprocess.Popen([sys.executable, '-m', 'pimc.cli', 'demo', '--notebook', str(SMOKE), '--out',
                          str(tmp_path / 'demo'), '-p', 'n_steps', '5'], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=_env(), cwd=tmp_path)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    assert re.search(r'\[1/3\].*parameters', out) and re.search(r'\[2/3\].*executing', out), out
    assert re.search(r'smoke.ipynb: cells.*\d+/\d+', out), out                        # the bar over the cells
    assert '[3/3]' in out and 'figures:' in out, out


def test_progress_bars_tick_during_a_long_cell():
    "While a cell runs (the training one takes a minute) the cell bar is redrawn, so its elapsed time goes up."
    import io
    from tqdm.std import tqdm
    out = io.StringIO()
    bar = tqdm(total=3, file=out, desc='pretrain.ipynb: cells')
    with ex._ticking(0.05): time.sleep(0.6)
    bar.close()
    assert out.getvalue().count('pretrain.ipynb: cells') >= 5, out.getvalue()
