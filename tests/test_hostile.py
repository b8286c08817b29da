"""Hostile inputs: planted links, damaged run folders, FIFOs, values that would fail late.

Every case ends in one clean line and a non-zero exit, or in a correct answer; nothing is
written outside the run folder or the file the user named."""

import os
import shutil

import numpy as np
import pytest
from test_cli import FAST, one_line_error, run_cli


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished short run on digits (copied per test, so each may damage its copy)."""
    from plainnet.app.cli import main

    out = tmp_path_factory.mktemp("runs")
    main(["train", *FAST, "--out", str(out), "--name", "f", "run.tensorboard=false"])
    (run,) = out.iterdir()
    return run


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


@pytest.fixture
def victim(tmp_path):
    """A user's file outside the run folder that a planted link points at."""
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    return path


def untouched(victim):
    return victim.read_text() == "my notes\n"


# ------------------------------------------------------------------ writes through links


@pytest.mark.parametrize("name", ["eval-last-test.csv", "eval-last-test.png"])
def test_eval_replaces_a_planted_link_instead_of_writing_through_it(capsys, run, victim, name):
    (run / name).symlink_to(victim)
    code, _, _ = run_cli(capsys, "eval", str(run), "--checkpoint", "last")
    assert code == 0 and untouched(victim)
    assert not (run / name).is_symlink() and (run / name).stat().st_size > 0


@pytest.mark.parametrize("fmt", ["pt2", "torchscript"])
def test_export_replaces_a_planted_link(capsys, run, victim, fmt):
    out = run / f"model-last.{'pt2' if fmt == 'pt2' else 'ts'}"
    out.symlink_to(victim)
    code, _, err = run_cli(capsys, "export", str(run), "--checkpoint", "last",
                           "--format", fmt, "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert untouched(victim) and not out.is_symlink()


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_predict_out_replaces_a_planted_link(capsys, run, victim, tmp_path, suffix):
    from plainnet.data.datasets import load_dataset

    np.save(tmp_path / "x.npy", load_dataset("digits").x_test[:5])
    out = tmp_path / f"link{suffix}"
    out.symlink_to(victim)
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "x.npy"),
                           "--checkpoint", "last", "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert untouched(victim) and not out.is_symlink()


@pytest.mark.parametrize(
    "name", ["metrics.csv", "probe.jsonl", "summary.json", "config.toml", "tb", "checkpoints"]
)
def test_resume_refuses_a_run_folder_with_a_planted_link(capsys, run, victim, tmp_path, name):
    """Appended files and folders cannot be replaced atomically: a run folder holding a link
    where plainnet writes is refused in one line, and what the link points at is untouched."""
    target = victim
    if name in ("tb", "checkpoints"):
        target = tmp_path / "elsewhere"
        shutil.copytree(run / name, target) if (run / name).exists() else target.mkdir()
        before = sorted(os.listdir(target))
    if (run / name).is_dir():
        shutil.rmtree(run / name)
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(target)
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--extend")
    err = one_line_error(code, err)
    assert "symbolic link" in err or "not valid TOML" in err  # config.toml is read first
    if target is victim:
        assert untouched(victim)
    else:
        assert sorted(os.listdir(target)) == before
