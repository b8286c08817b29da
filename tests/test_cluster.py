"""Grids as Ray tasks (`--backend ray`) on a local Ray runtime the tests start and stop: the
same numbers, records, failures and resume as the process pool, without a shared folder."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import ray

from plainnet.app.cluster import NICENESS, RayBackend, import_ray
from plainnet.app.config import ConfigError
from plainnet.app.grid import Row, run_grid
from plainnet.app.runs import RunDir, RunError

SMALL = ["model.depth=6", "model.width=16", "train.epochs=2"]
ROWS = [Row("lr 0.01", None, ["optim.lr=0.01"]), Row("lr 0.05", None, ["optim.lr=0.05"])]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray runtime of two workers, as a user's own session: the backend uses it."""
    before = os.environ.get(NICENESS)
    os.environ[NICENESS] = "0"  # as the backend's own local runtime
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    yield
    ray.shutdown()
    if before is None:
        del os.environ[NICENESS]
    else:
        os.environ[NICENESS] = before


def _numbers(results) -> list[tuple]:
    keep = ("final_train_err", "final_val_err", "final_test_err", "final_train_loss")
    return [tuple(s[k] for k in keep) for r in results for s in r.summaries]


def test_ray_tasks_give_the_process_pools_numbers_and_send_the_records_back(tmp_path, local_ray):
    pool = run_grid(ROWS, [0, 1], SMALL, str(tmp_path / "pool"), lambda *_: None, jobs=2)
    store = tmp_path / "worker-disk"  # not the driver's folder: no shared file system
    out = tmp_path / "driver"
    backend = RayBackend(storage=str(store))
    on_ray = run_grid(ROWS, [0, 1], SMALL, str(out), lambda *_: None, backend=backend)
    assert _numbers(on_ray) == _numbers(pool) and len(_numbers(on_ray)) == 4
    for result in on_ray:
        for run in result.runs:
            assert {"config.toml", "metrics.csv", "summary.json"} <= {
                p.name for p in run.path.iterdir()
            }
            assert run.read_summary()["epochs"] == 2  # checked as any grid's record
            assert not any(run.checkpoint_path.parent.iterdir())  # checkpoints stayed there
            where = json.loads(run.remote_path.read_text())
            assert Path(where["folder"], "checkpoints", "last.pt").is_file()
            with pytest.raises(RunError, match="it trained on .*worker-disk"):
                run.load_checkpoint()  # says where the checkpoints are
    report = run_grid(ROWS, [0, 1], SMALL, str(out), lambda *_: None, resume=True,
                      backend=backend)  # fmt: skip
    assert [len(r.read_back) for r in report] == [2, 2]  # read back by config, not trained
    # no storage named: the worker's temporary folder, as the worker resolved it
    (alone,) = run_grid(ROWS[:1], [0], SMALL, str(tmp_path / "t"), lambda *_: None,
                        backend=RayBackend())  # fmt: skip
    where = json.loads(alone.runs[0].remote_path.read_text())
    assert Path(where["folder"]).is_relative_to(tempfile.gettempdir())
    assert Path(where["folder"], "checkpoints", "last.pt").is_file()


def test_a_failed_cell_and_an_interrupted_run_are_handled_as_in_the_pool(tmp_path, local_ray):
    rows = [Row("wild", None, ["optim.lr=1e6", "max_norm.enabled=false"]), ROWS[1]]
    store, out = tmp_path / "worker-disk", tmp_path / "driver"
    backend = RayBackend(storage=str(store))
    wild, fine = run_grid(rows, [0], SMALL, str(out), lambda *_: None, backend=backend)
    assert wild.diverged == 1 and wild.reasons[0].startswith("diverged")
    assert (wild.runs[0].failure_path).is_file()  # came back: a resume reads it back
    assert len(fine.summaries) == 1
    # the driver stopped while the run trained: its folder has the config and remote.json
    run = fine.runs[0]
    done = json.loads(run.summary_path.read_text())
    for name in ("summary.json", "metrics.csv"):
        (run.path / name).unlink()
    again = run_grid(rows, [0], SMALL, str(out), lambda *_: None, resume=True, backend=backend)
    assert again[0].read_back and not again[1].read_back  # the failure read back, the run not
    assert again[1].runs[0].path == run.path  # continued in its folder, from the checkpoint
    assert json.loads(run.summary_path.read_text())["train_time_s"] == done["train_time_s"]


def test_ray_missing_and_cluster_flags_without_ray_are_one_line(monkeypatch, capsys):
    from plainnet.app.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'plainnet\[ray\]'"):
        import_ray()
    for args in (["sweep", "--storage", "x"], ["reproduce", "table1", "--address", "auto"]):
        with pytest.raises(SystemExit) as e:
            main([*args, "--quick"] if "table1" in args else [*args, "--depth", "3"])
        err = capsys.readouterr().err
        assert e.value.code != 0 and err.count("\n") == 1 and "go with --backend ray" in err


def test_ctrl_c_cancels_the_clusters_tasks(tmp_path):
    """The command's own local runtime: Ctrl-C stops the running tasks (their metrics stop
    growing), the runtime is stopped, and the error is one line."""
    store = tmp_path / "worker-disk"
    line = [sys.executable, "-m", "plainnet", "sweep", "--depth", "6", "model.width=16",
            "--epochs", "500", "--seeds", "0,1", "--backend", "ray", "--storage", str(store),
            "--out", str(tmp_path / "grid")]  # fmt: skip

    # a shell's background job starts with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: the command gets Ctrl-C as from a terminal however the tests were run
    def ctrl_c_as_from_a_terminal():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(line, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_from_a_terminal)  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not _epochs(store) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert _epochs(store), "no task trained an epoch"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("plainnet: interrupted")
    assert "Traceback" not in err
    stopped = _epochs(store)
    time.sleep(5)
    assert _epochs(store) == stopped  # nothing trains on after the command
    assert _epochs(store) < 2 * 500


def _epochs(store: Path) -> int:
    """Epochs written so far by every run under `store`."""
    return sum(len(RunDir(m.parent).read_metrics()) for m in store.glob("*/*/metrics.csv"))
