"""Grids on a Ray cluster: every run of a grid (`plainnet.app.grid`) as a Ray task.

`RayBackend` takes the place of the grid's process pool (`run_grid(..., backend=...)`), so
the report, `--resume`, `--refit` and failed runs are the grid's own. No shared file system is
assumed: a task trains in a folder on its worker (`storage`, default the worker's temporary
folder) and sends the run's records (config, metrics, summary, or why it failed) back to the
driver, which writes them into the grid's run folder; the checkpoints stay where the task
trained, and the run folder's `remote.json` says where. With a `storage` every worker can
reach (a shared mount), an interrupted run continues from its checkpoint on `--resume`;
without one it trains again.

Ray is an optional extra (`pip install plainnet[ray]`).
"""

import hashlib
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from plainnet.app.config import Config, ConfigError, user_modules
from plainnet.app.grid import Job, train_one, worker_setup
from plainnet.app.runs import RunDir, RunError
from plainnet.files import write_atomic


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'plainnet[ray]'") from None
    return ray


@dataclass
class RayBackend:
    """Trains a grid's runs as Ray tasks, each asking for `cpus` CPUs (its torch threads)
    and `gpus` GPUs. `address`: an existing cluster ("auto", "ray://host:10001", ...); None
    starts a local Ray runtime for the command and stops it after. `storage`: where tasks
    train (their checkpoints), on the worker; None: the worker's temporary folder."""

    address: str | None = None
    storage: str | None = None
    cpus: int = 1
    gpus: float = 0.0

    def __post_init__(self):
        # a relative path is the driver's: the same folder on a shared mount
        self.storage = os.path.abspath(self.storage) if self.storage else None

    def __call__(self, work: list[Job], todo: list[int], jobs: int | None, done) -> None:
        """Train the runs `todo` (positions in `work`), at most `jobs` at once (None: as many
        as the cluster's resources fit); `done(i, outcome)` as each one ends."""
        if not todo:
            return
        ray = import_ray()
        started = self._connect(ray)
        try:
            self._run(ray, work, todo, jobs, done)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        """Connect to the cluster (True when this call started a local runtime)."""
        if ray.is_initialized():  # a caller's own session (a notebook, a test): used as is
            return False
        quiet = dict(include_dashboard=False, log_to_driver=False, logging_level="error")
        if self.address is None:
            # Ray starts its workers at niceness 15, as background work; a local runtime's
            # runs are this command's work, and at 15 they starve beside any busy process
            # (importing torch took 43 s instead of 3 s on a loaded 2-core machine)
            os.environ.setdefault(NICENESS, "0")
        try:
            ray.init(address=self.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or "a local Ray runtime"
            raise ConfigError(f"cannot start or reach {where}: {str(e).splitlines()[0]}") from None
        return True

    def _run(self, ray, work: list[Job], todo: list[int], jobs: int | None, done) -> None:
        task = ray.remote(train_remote).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0
        )
        modules = user_modules()
        order = sorted(todo, key=lambda i: -work[i].result.row.cost)  # costliest first
        running: dict = {}
        try:
            while order or running:
                while order and (jobs is None or len(running) < jobs):
                    i = order.pop(0)
                    folder = self._folder(work[i].run)
                    # before it trains: a grid stopped now resumes it as an interrupted run
                    write_atomic(work[i].run.remote_path, json.dumps(dict(folder=folder)) + "\n")
                    ref = task.remote(work[i].cfg, folder, work[i].resumed, self.cpus, modules)
                    running[ref] = i
                (ref,), _ = ray.wait(list(running), num_returns=1)
                i = running.pop(ref)
                try:
                    outcome, records, where = ray.get(ref)
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.OutOfMemoryError) as e:  # fmt: skip
                    raise RunError(
                        f"the Ray worker training {work[i].run.path} died "
                        f"({type(e).__name__}); --resume continues the grid's runs"
                    ) from None
                except ray.exceptions.RayTaskError as e:  # a bug: its own traceback
                    raise e.as_instanceof_cause() from None
                _write_back(work[i].run, records, where)
                done(i, outcome)
        except BaseException:  # Ctrl-C, SIGTERM, a failure: the cluster's tasks stop too
            for ref in running:
                ray.cancel(ref, force=True)
            raise

    def _folder(self, run: RunDir) -> str:
        """Where a run trains on its worker: under the storage (or the worker's temporary
        folder, which only the worker knows), a folder for the grid (its name and a digest
        of its path here: two grids' runs never share one) and the run's own."""
        root = self.storage or f"{TMP}/plainnet-ray"
        grid = run.path.parent.absolute()
        digest = hashlib.sha256(str(grid).encode()).hexdigest()[:8]
        return f"{root}/{grid.name}-{digest}/{run.path.name}"


NICENESS = "RAY_worker_niceness"  # Ray's own spelling
TMP = "{tmp}"  # the worker's temporary folder, resolved on the worker


def train_remote(cfg: Config, folder: str, resume: bool, threads: int, modules: list[str]):
    """A Ray task: train one grid run in `folder` on this worker (continuing its checkpoint
    there, if `resume` and one exists); returns its outcome, its records and where it
    trained (host, folder)."""
    worker_setup(threads, modules)
    path = Path(folder.replace(TMP, tempfile.gettempdir()))
    run = RunDir(path)
    run.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    continued = resume and run.checkpoint_path.is_file()
    if not continued:
        for f in run.records:  # a run trained again: nothing of an earlier attempt is sent back
            f.unlink(missing_ok=True)
        run.write_config(cfg)
    outcome = train_one(cfg, run, continued)
    records = {f.name: f.read_bytes() for f in run.records if f.is_file()}
    return outcome, records, dict(host=socket.gethostname(), folder=str(path))


def _write_back(run: RunDir, records: dict[str, bytes], where: dict) -> None:
    """A task's records into the driver's run folder, and where its checkpoints are (the
    folder as the worker resolved it: its temporary folder is known only there)."""
    for name, data in records.items():
        write_atomic(run.path / name, data)
    write_atomic(run.remote_path, json.dumps(where) + "\n")
