"""Hostile inputs that once gave silently wrong results, lost work or unclear errors (issue 13), one test per case.

Every file is made small in `tmp_path`; the numbers in the test names follow the issue's cases."""
import json, os, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pimc.errors import PimcError


def _jpg(path, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), 99, np.uint8)).save(path)


# ---------------------------------------------------------------- 1. EuroSAT labels never shift
def test_01_eurosat_stray_folders_keep_the_label_ids(tmp_path):
    from pimc.eurosat import EuroSAT, EUROSAT_CLASSES
    root = tmp_path / "2750"
    for c in ("Forest", "River", "AA_old", "__MACOSX"): _jpg(root / c / f"{c}_1.jpg")
    _jpg(root / "Forest" / "._Forest_1.jpg")                  # a macOS resource fork beside a chip: not a chip
    with pytest.warns(UserWarning, match=r"ignoring 2 folder\(s\) that are not EuroSAT classes: AA_old, __MACOSX"):
        ds = EuroSAT(tmp_path)
    assert ds.classes == EUROSAT_CLASSES and len(ds) == 2
    assert ds.targets.tolist() == [EUROSAT_CLASSES.index("Forest"), EUROSAT_CLASSES.index("River")] == [1, 8]


def test_01_eurosat_only_unknown_folders_is_refused(tmp_path):
    from pimc.errors import DatasetNotFoundError
    from pimc.eurosat import EuroSAT
    for c in ("cats", "dogs"): _jpg(tmp_path / c / f"{c}_1.jpg")
    with pytest.raises(DatasetNotFoundError, match=r"are not EuroSAT classes; expected class folders named AnnualCrop"):
        EuroSAT(tmp_path)
