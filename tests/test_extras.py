"""Optional extras (issue 18, item 18): a missing optional dependency names the pimc extra that installs it.

Each test makes one import fail (`sys.modules[name] = None`, what Python does for a module that is not installed)."""
import pickle
import sys

import numpy as np
import pytest

from pimc.errors import MissingExtraError, PimcError, requires


def test_requires_returns_the_modules():
    import json, os
    assert requires('maps', 'json') is json
    assert requires('maps', 'json', 'os') == (json, os)
    assert requires('maps', 'os.path') is os.path


def test_requires_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'xarray', None)
    with pytest.raises(MissingExtraError, match=r"Cube.to_xarray needs the optional extra \[maps\]: "
                                                r"pip install 'pimc\[maps\]'") as e:
        requires('maps', 'json', 'xarray', what='Cube.to_xarray')
    assert isinstance(e.value, ImportError) and isinstance(e.value, ModuleNotFoundError)
    assert isinstance(e.value, PimcError) and e.value.name == 'xarray' and e.value.extra == 'maps'
    assert "xarray" in str(e.value)
    with pytest.raises(MissingExtraError, match=r"^importing xarray needs the optional extra \[maps\]"):
        requires('maps', 'xarray')
    again = pickle.loads(pickle.dumps(e.value))
    assert str(again) == str(e.value) and again.name == 'xarray'


def _cube():
    from pimc.cube import Cube
    return Cube(np.ones((2, 4, 3, 3), np.int16), ['2020-01-01', '2020-01-05'], 'cbers4_awfi')


@pytest.mark.parametrize("module", ["xarray", "rioxarray"])
def test_xarray_conversions_name_the_maps_extra(monkeypatch, module):
    pytest.importorskip('xarray'); pytest.importorskip('rioxarray')
    from pimc.cube import Cube
    da = _cube().to_xarray()
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r"Cube.to_xarray needs the optional extra \[maps\]: "
                                                r"pip install 'pimc\[maps\]'"):
        _cube().to_xarray()
    with pytest.raises(MissingExtraError, match=r"Cube.from_xarray needs the optional extra \[maps\]"):
        Cube.from_xarray(da)


@pytest.mark.parametrize("module", ["param", "holoviews", "holoviews.plotting.bokeh"])
def test_explore_names_the_explore_extra(monkeypatch, module):
    pytest.importorskip('holoviews')
    from pimc.explorer import explore
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r"explore needs the optional extra \[explore\]: "
                                                r"pip install 'pimc\[explore\]'"):
        explore(_cube())


@pytest.mark.parametrize("module", ["panel", "bokeh.protocol", "ipywidgets"])
def test_explorer_widgets_name_the_explore_extra(monkeypatch, module):
    pytest.importorskip('holoviews'); pytest.importorskip('panel')
    from pimc.explorer import explore
    ex = explore(_cube())
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r"needs the optional extra \[explore\]"):
        if module == 'bokeh.protocol':
            from pimc.explorer import Outlet
            o = Outlet.__new__(Outlet); o.queue = [object()]; o.flush()
        elif module == 'panel': ex.panel()
        else: ex.controls()


def test_import_pimc_stays_light():
    "The helper adds no import to `import pimc.errors` / `pimc.cube` beyond the standard library."
    import subprocess
    code = ("import sys, pimc.cube, pimc.explorer; print(sorted(m for m in "
            "('xarray', 'rioxarray', 'holoviews', 'param', 'panel', 'bokeh') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == '[]'


@pytest.mark.parametrize("module", ["dask", "dask.array"])
def test_maps_name_the_maps_extra(monkeypatch, module, tmp_path):
    pytest.importorskip('dask'); pytest.importorskip('xarray')
    from pimc.maps import tile_map, write_map
    da = _cube().to_xarray()
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r"tile_map \(embed_map, predict_map\) needs the optional extra \[maps\]"):
        tile_map(da, lambda c, m: np.zeros((3, 3, 1), np.float32), bands=["b"])
    monkeypatch.setitem(sys.modules, 'rioxarray', None)
    with pytest.raises(MissingExtraError, match=r"write_map needs the optional extra \[maps\]"):
        write_map(da.isel(time=0), tmp_path / "x.tif")


def test_experiments_name_the_experiments_extra(monkeypatch, tmp_path):
    pytest.importorskip('papermill')
    from pimc.experiments import notebook_params
    nb = tmp_path / 'x.ipynb'
    nb.write_text('{"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "a = 1", '
                  '"outputs": [], "execution_count": null}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    monkeypatch.setitem(sys.modules, 'papermill', None)
    with pytest.raises(MissingExtraError, match=r"needs the optional extra \[experiments\]: pip install 'pimc\[experiments\]'"):
        notebook_params(nb)
