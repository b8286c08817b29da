import io
import os
import subprocess
import sys
from pathlib import Path

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


TABLE1_QUICK = "plainnet reproduce table1 --quick"


def run_line(line: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command line run by bash in `cwd`, as a user types it, this Python's `plainnet`
    first on the PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="session")
def table1_quick(tmp_path_factory):
    """`plainnet reproduce table1 --quick` as the README shows it, run once for the tests that
    read it (the README's line and the table's contents): its process and report folder."""
    where = tmp_path_factory.mktemp("table1-quick")
    done = run_line(TABLE1_QUICK, where)
    reports = sorted(where.glob("runs/reports/*/table1-quick.md"))
    return done, reports[0].parent if reports else None
