"""A run folder: resolved config, per-epoch metrics, checkpoints, summary, TensorBoard events.

runs/20261129-141500-proposed/
    config.toml          the resolved config (a valid config file)
    metrics.csv          one row per epoch
    checkpoints/last.pt  model + optimizer + epoch, written atomically
    checkpoints/best.pt  the model at the epoch of lowest validation error
    summary.json         final numbers, written when the run ends
    failed.txt           why it stopped, when a grid run diverged or could not train
    remote.json          where its checkpoints are, when a Ray task trained it elsewhere
    tb/                  TensorBoard events (`run.tensorboard`, plainnet.app.tensorboard)
"""

import contextlib
import csv
import fcntl
import io
import json
import math
import os
import time
import warnings
from pathlib import Path

import torch

from plainnet.app.config import Config, ConfigError, read_toml, validate
from plainnet.errors import PlainnetError
from plainnet.files import append, no_link, write_atomic
from plainnet.nn import speed


class RunError(PlainnetError, RuntimeError):
    """A run folder or checkpoint that cannot be used; its message is one line."""


METRICS = [
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_err",
    "val_loss",
    "val_err",
    "test_loss",
    "test_err",
    "epoch_time_s",
    "elapsed_s",
    # where the epoch's time went (before the row is written; the rest is in summary.json)
    "steps_s",
    "evaluation_s",
    "calibration_s",
    "running_stats_check_s",
]
# The columns that measure time: they differ between two runs that compute the same numbers.
TIMING = tuple(c for c in METRICS if c.endswith("_s"))


class RunInUse(RunError):
    """A run folder another process is training in: not a failure of the run."""


@contextlib.contextmanager
def hold(path: Path, what: str):
    """An exclusive lock on the file `path` for this process while the block runs; a second
    holder gets `RunInUse` naming the first (`what` is in use by process N)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise RunError(f"cannot lock {what}: {e.strerror or e}") from None
    with os.fdopen(fd, "r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = f.read().strip() or "another process"
            raise RunInUse(f"{what} is in use by {holder}") from None
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class RunDir:
    """A run folder. With `writable=False` (the other processes of a multi-process run) it
    can be read (config, checkpoint) and every write is skipped."""

    def __init__(self, path: str | Path, writable: bool = True):
        self.path = Path(path)
        self.writable = writable
        self.config_path = self.path / "config.toml"
        self.metrics_path = self.path / "metrics.csv"
        self.checkpoint_path = self.path / "checkpoints" / "last.pt"
        self.best_path = self.path / "checkpoints" / "best.pt"
        self.summary_path = self.path / "summary.json"
        self.failure_path = self.path / "failed.txt"
        self.remote_path = self.path / "remote.json"  # where a Ray task trained it
        self.probe_path = self.path / "probe.jsonl"
        self.tb_path = self.path / "tb"

    @property
    def written(self) -> tuple[Path, ...]:
        """What training writes in the folder (the checkpoints' folder for the checkpoints)."""
        return (
            self.config_path,
            self.metrics_path,
            self.checkpoint_path.parent,
            self.summary_path,
            self.failure_path,
            self.probe_path,
            self.tb_path,
            self.lock_path,
        )

    @property
    def records(self) -> tuple[Path, ...]:
        """What a run is read back by, without its checkpoints: what a Ray task sends home."""
        return (self.config_path, self.metrics_path, self.summary_path, self.failure_path,
                self.probe_path)  # fmt: skip

    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    @classmethod
    def create(cls, cfg: Config, name: str | None = None) -> "RunDir":
        """A new folder `<out_dir>/<timestamp>-<name>` (`name`, else `run_name`); an existing
        folder is never reused."""
        if any(sep in cfg.run.name for sep in ("/", "\\", "..")):
            raise RunError(f"run.name {cfg.run.name!r} must not hold path separators or '..'")
        stem = time.strftime("%Y%m%d-%H%M%S") + f"-{cfg.run.name or name or run_name(cfg)}"
        base = Path(cfg.run.out_dir)
        for i in range(1, 1000):
            path = base / (stem if i == 1 else f"{stem}-{i}")
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                continue
            except OSError as e:
                raise RunError(f"cannot create run folder {path}: {e.strerror or e}") from None
        else:  # never reuse a folder
            raise RunError(f"999 run folders named {stem} exist in {base}; wait a second")
        run = cls(path)
        run.checkpoint_path.parent.mkdir()
        run.write_config(cfg)
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not run.config_path.is_file():
            stale = list(run.path.glob(".config.toml.*.tmp"))
            if stale:  # killed while writing its first file: nothing was trained
                with run.lock():
                    pass  # the lock removes the stale temp files
                raise RunError(
                    f"{run.path} was stopped while being created, before any training; "
                    "start a new run (its temp files are removed)"
                )
            raise RunError(f"{run.path} is not a plainnet run folder (no config.toml)")
        return run

    def config(self) -> Config:
        try:
            return validate(read_toml(self.config_path), str(self.config_path))
        except ConfigError as e:
            raise RunError(str(e)) from None

    def write_config(self, cfg: Config) -> None:
        if self.writable:
            write_atomic(self.config_path, cfg.to_toml().encode())

    def append_metrics(self, row: dict) -> None:
        """Append one row as a single write, flushed to disk: a crash leaves whole rows."""
        if not self.writable:
            return
        new = not self.metrics_path.exists() or not self.metrics_path.stat().st_size
        fields = METRICS
        if not new:  # a folder written by an older plainnet keeps its own columns
            with self.metrics_path.open(newline="") as f:
                fields = next(csv.reader(f), METRICS)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in fields})  # blank: not measured
        append(self.metrics_path, buf.getvalue())

    def read_metrics(self) -> list[dict]:
        """Rows of metrics.csv as numbers; a blank cell (a split not read that epoch) is None."""
        if not self.metrics_path.exists():
            return []
        with self.metrics_path.open(newline="") as f:
            try:
                return [
                    {k: float(v) if v != "" else None for k, v in row.items()}
                    for row in csv.DictReader(f)
                ]
            except (ValueError, TypeError):
                raise RunError(f"{self.metrics_path} is damaged: a cell is not a number") from None

    def truncate_metrics(self, last_epoch: int) -> None:
        """Keep the rows up to `last_epoch` (later ones were written after the last checkpoint,
        then interrupted) and drop a half-written last row, by writing a new file and
        renaming it over the old one; warn when rows of those epochs are missing."""
        if not self.writable or not self.metrics_path.exists():
            return
        if last_epoch == 0:  # starting over: whatever a killed first epoch left goes
            self.metrics_path.unlink()
            return
        header, *rows = self.metrics_path.read_text().splitlines(keepends=True) or [""]
        if not header and not rows:
            return  # empty (killed before its first row): the next row writes the header
        names = header.strip().split(",")
        if names[0] != "epoch" or not set(names) <= set(METRICS):
            raise RunError(f"{self.metrics_path} is damaged: its first line is not a header")
        width = header.count(",")
        whole = [r for r in rows if r.endswith("\n") and r.count(",") == width]
        if len(whole) < len(rows):
            warnings.warn(f"{self.metrics_path}: dropped a half-written row", stacklevel=2)
        try:
            kept = [r for r in whole if int(float(r.split(",", 1)[0])) <= last_epoch]
        except ValueError:
            raise RunError(
                f"{self.metrics_path} is damaged: a row's epoch is not a number"
            ) from None
        if len(kept) < len(rows):
            write_atomic(self.metrics_path, (header + "".join(kept)).encode())
        if len(kept) < last_epoch:  # cut short by hand or by a copy: said, not hidden
            warnings.warn(
                f"{self.metrics_path} holds {len(kept)} of the {last_epoch} epochs trained so "
                "far (cut short?); the missing rows cannot be recovered",
                stacklevel=2,
            )

    def save_checkpoint(self, state: dict, path: Path | None = None) -> None:
        """Write `state` to `path` (default: last.pt) atomically."""
        if not self.writable:
            return
        # streamed into the file: no copy of a deep net's weights is held in memory
        write_atomic(path or self.checkpoint_path, lambda f: torch.save(state, f))

    @contextlib.contextmanager
    def lock(self):
        """Hold the run folder for this process: a second process training in it (e.g. two
        `--resume` at once) gets one line naming the holder instead of a broken folder."""
        if not self.writable:
            yield
            return
        with hold(self.lock_path, str(self.path)):
            for p in self.written:  # appended or written into: a link there is refused
                no_link(p)
            for stale in self.path.rglob(".*.tmp"):  # left by a killed writer; we hold the lock
                stale.unlink(missing_ok=True)
            yield

    def load_checkpoint(
        self,
        map_location: str | torch.device = "cpu",
        path: Path | None = None,
        optimizer: bool = True,
    ) -> dict:
        """A checkpoint's state (default: last.pt); `optimizer=False` for model-only files."""
        path = path or self.checkpoint_path
        if not path.is_file():
            raise RunError(f"{path} not found: the run has no checkpoint{self._elsewhere()}")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # torch raises many types for a truncated or foreign file
            raise RunError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
        needed = {"model", "optimizer", "epoch"} if optimizer else {"model", "epoch"}
        if not isinstance(state, dict) or not needed <= state.keys():
            raise RunError(f"{path} is not a plainnet checkpoint (missing {'/'.join(needed)})")
        return state

    def _elsewhere(self) -> str:
        """Where the checkpoints of a run trained by a Ray task are (`remote.json`)."""
        try:
            where = json.loads(self.remote_path.read_text())
            return f" here; it trained on {where.get('host', 'a Ray worker')}: {where['folder']}"
        except (OSError, ValueError, KeyError, AttributeError):
            return " to resume from"

    def append_probe(self, epoch: int, layers: list[dict]) -> None:
        """One line per probe: the epoch and the per-layer statistics (`plainnet.app.probe`)."""
        if not self.writable:
            return
        line = json.dumps({"epoch": epoch, "layers": layers}, allow_nan=False, default=str)
        append(self.probe_path, line + "\n")

    def read_probes(self) -> list[dict]:
        """The `probe.jsonl` entries in order; a last line cut short by a crash is left out."""
        if not self.probe_path.exists():
            raise RunError(f"{self.probe_path} does not exist: train with run.probe_every=N")
        entries = []
        lines = self.probe_path.read_text().splitlines()
        for i, line in enumerate(lines):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                if i < len(lines) - 1:
                    raise RunError(f"{self.probe_path}: line {i + 1} is not JSON") from None
        if not entries:
            raise RunError(f"{self.probe_path} holds no probe yet")
        return entries

    def write_summary(self, summary: dict) -> None:
        if self.writable:
            write_atomic(self.summary_path, (json.dumps(summary, indent=2) + "\n").encode())

    def read_summary(self) -> dict:
        """summary.json, checked before any of its numbers enters a report: the final errors
        are numbers in [0, 1], and its epochs and last running training error are those of
        metrics.csv (a hand-edited, truncated or foreign file is one line)."""
        try:
            s = json.loads(self.summary_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RunError(f"{self.summary_path} is not readable ({type(e).__name__})") from None
        damaged = f"{self.summary_path} is damaged"
        if not isinstance(s, dict):
            raise RunError(f"{damaged}: not a summary")
        for key in ("final_train_err", "final_test_err"):
            v = s.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                raise RunError(f"{damaged}: {key} is {v!r}, not an error rate")
        rows = self.read_metrics()
        if s.get("epochs") != len(rows):
            raise RunError(f"{damaged}: {s.get('epochs')!r} epochs, metrics.csv has {len(rows)}")
        running, last = s.get("final_running_train_err"), rows[-1]["train_err"] if rows else None
        if None not in (running, last) and not math.isclose(running, last, rel_tol=1e-6):
            raise RunError(f"{damaged}: its training error differs from metrics.csv's last row")
        return s

    def write_failure(self, reason: str) -> None:
        """Why the run stopped for good (diverged, could not train), for a grid's resume."""
        if self.writable:
            write_atomic(self.failure_path, (reason + "\n").encode())


def not_a_run_file(path: str | Path) -> Path:
    """`path`, unless it names a file of a run folder (its config, metrics, summary,
    checkpoints...), which an output of predict, eval or export must never replace."""
    path = Path(path)
    for folder in (path.parent, path.parent.parent):
        run = RunDir(folder)
        if run.config_path.is_file() and any(
            path.resolve() == p.resolve() or path.parent.resolve() == p.resolve()
            for p in run.written
        ):
            raise RunError(f"{path} is a file of the run folder {folder}; choose another --out")
    return path


# What may change when a run is resumed: nothing that changes the model or its data.
RESUMABLE = {"train.epochs", "train.device", "run.checkpoint_every"}
# Where a run folder lies is not what it trains: a moved or copied run (or grid) resumes.
WHERE = {"run.out_dir", "run.name"}
# Neither what a run trains nor its final numbers: how it evaluates (batch size), which
# checkpoints it keeps besides last.pt, and an extra diagnostic. A grid reads back a run
# that differs from its row only in these (e.g. one made when their defaults were others).
NEUTRAL = {"train.eval_batch_size", "train.check_running_stats", "run.select"}


def check_same_config(run: RunDir, saved: dict, now: dict) -> None:
    """Refuse a config.toml that differs from its checkpoint's config beyond `RESUMABLE` (a
    hand edit, or a checkpoint from another run)."""
    diffs = [
        f"{section}.{key} ({saved[section][key]!r} in the checkpoint, {value!r} now)"
        for section, fields in now.items()
        for key, value in fields.items()
        if f"{section}.{key}" not in RESUMABLE | WHERE
        and saved.get(section, {}).get(key, value) != value
    ]
    if diffs:
        raise RunError(
            f"{run.config_path} differs from its checkpoint: {', '.join(diffs)}; "
            "start a new run to change them"
        )


def needs_model(folder, given: str, verb: str) -> str:
    """Why a run trained with a model given from Python cannot be reopened without it."""
    call = "plainnet.load_run" if verb == "load" else "plainnet.app.trainer.resume"
    return (
        f"{folder} was trained with a model given from Python ({given}), which its config "
        f"cannot rebuild; {verb} it from Python with that model: {call}(folder, model=...), "
        "or register its builder (@plainnet.register_model) and train it by name"
    )


def run_name(cfg: Config) -> str:
    """`run.name`, else what the run trains: `<arch><depth>-<data set>` (e.g. `mlp100-digits`);
    the one naming rule for runs started from Python and from the command line."""
    from plainnet.app.build import builder_args  # a model of the user's: imported to know

    depth = cfg.model.depth if "depth" in builder_args(cfg) else ""
    return cfg.run.name or f"{cfg.model.arch}{depth}-{Path(cfg.data.dataset).stem}"


def provenance(device: torch.device) -> dict:
    """Where a run came from: versions, the git commit of a checkout, the command line, the
    machine, written into every summary and checkpoint."""
    import platform
    import subprocess
    import sys
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("plainnet")
    except PackageNotFoundError:
        mine = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return dict(
        plainnet=mine,
        torch=str(torch.__version__),
        python=platform.python_version(),
        git_commit=commit or None,
        command=" ".join(sys.argv),
        device=str(device),
        cpu=cpu,
        cpu_instructions=speed.cpu_instructions(),
        cpu_threads=torch.get_num_threads(),
        gpu=gpu,
    )


def trained_on(summary: dict) -> str:
    """Where a run trained, read off its summary's provenance: the CPU (its vector
    instructions, where the record has them) or the GPU. A read-back report's runs may come
    from other machines than the report's own, and their floats differ."""
    p = summary.get("provenance", {})
    if p.get("gpu"):
        return f"GPU {p['gpu']}"
    cpu = p.get("cpu") or "an unnamed CPU"
    return f"{cpu} ({p['cpu_instructions']})" if p.get("cpu_instructions") else cpu
