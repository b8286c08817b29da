import io

import pytest
from rich.console import Console

from plainnet import datasets
from plainnet.config import resolve


@pytest.fixture(autouse=True)
def fresh_data_notes():
    """Every test sees the once-per-process note about inexact dataset copies afresh."""
    datasets._NOTED.clear()


@pytest.fixture
def quiet():
    """A console that swallows the trainer's output."""
    return Console(file=io.StringIO())


@pytest.fixture
def small_cfg(tmp_path):
    """A short proposed-PlainNet run on digits that trains in seconds."""

    def make(*overrides):
        base = ["model.depth=10", "model.width=32", "train.epochs=3", f"run.out_dir={tmp_path}"]
        return resolve(overrides=base + list(overrides))

    return make
