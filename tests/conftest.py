"""Shared pytest setup: a headless matplotlib backend, and the `samples` fixture for tests that need the real data.

    def test_something(samples):
        folder = samples('eolearn_test_eopatch')   # a Path, or the test is skipped naming the missing folder

The folder is `$PIMC_SAMPLES/<name>`, else `<repo>/../shared/data/<name>` (see `pimc.readers.samples_dir`).
"""
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports pyplot: no display on CI

import pytest


@pytest.fixture
def samples():
    "A function `samples(name=None) -> Path` of a real-sample folder that skips the test when the folder is absent."
    from pimc.readers import samples_dir

    def get(name=None):
        try:
            return samples_dir(name)
        except FileNotFoundError as e:
            pytest.skip(f"real sample data not available: {e}")

    return get
