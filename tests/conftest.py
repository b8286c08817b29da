import io

import pytest
from rich.console import Console

from plainnet.app.config import resolve


@pytest.fixture(autouse=True)
def outside_the_checkout(tmp_path, monkeypatch):
    """Every test runs in its own temporary folder, so that whatever it writes to a relative
    path (runs/, reports) lands there and never in the checkout."""
    monkeypatch.chdir(tmp_path)


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
