"""A run folder: resolved config, per-epoch metrics, checkpoints, summary, TensorBoard events.

runs/20261129-141500-proposed/
    config.toml          the resolved config (a valid config file)
    metrics.csv          one row per epoch
    checkpoints/last.pt  model + optimizer + epoch, written atomically
    checkpoints/best.pt  the model at the epoch of lowest validation error
    summary.json         final numbers, written when the run ends
    tb/                  TensorBoard events, when the `tensorboard` extra is installed
"""

import csv
import json
import os
import time
from pathlib import Path

import torch

from plainnet.config import Config, ConfigError, read_toml, validate


class RunError(RuntimeError):
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
]


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
        self.probe_path = self.path / "probe.jsonl"

    @classmethod
    def create(cls, cfg: Config) -> "RunDir":
        """A new folder `<out_dir>/<timestamp>-<name>`; an existing folder is never reused."""
        stem = time.strftime("%Y%m%d-%H%M%S") + (f"-{cfg.run.name}" if cfg.run.name else "")
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
        run = cls(path)
        run.checkpoint_path.parent.mkdir()
        run.config_path.write_text(cfg.to_toml())
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not run.config_path.is_file():
            raise RunError(f"{run.path} is not a plainnet run folder (no config.toml)")
        return run

    def config(self) -> Config:
        try:
            return validate(read_toml(self.config_path), str(self.config_path))
        except ConfigError as e:
            raise RunError(str(e)) from None

    def append_metrics(self, row: dict) -> None:
        if not self.writable:
            return
        new = not self.metrics_path.exists()
        fields = METRICS
        if not new:  # a folder written by an older plainnet keeps its own columns
            with self.metrics_path.open(newline="") as f:
                fields = next(csv.reader(f), METRICS)
        with self.metrics_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in fields})  # blank: not measured

    def read_metrics(self) -> list[dict]:
        """Rows of metrics.csv as numbers; a blank cell (a split not read that epoch) is None."""
        if not self.metrics_path.exists():
            return []
        with self.metrics_path.open(newline="") as f:
            return [
                {k: float(v) if v != "" else None for k, v in row.items()}
                for row in csv.DictReader(f)
            ]

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop rows after `last_epoch` (written after the last checkpoint, then interrupted)."""
        if not self.writable:
            return
        if not self.metrics_path.exists():
            return
        header, *rows = self.metrics_path.read_text().splitlines(keepends=True)
        kept = [r for r in rows if int(r.split(",", 1)[0]) <= last_epoch]
        self.metrics_path.write_text(header + "".join(kept))

    def save_checkpoint(self, state: dict, path: Path | None = None) -> None:
        """Write `state` to `path` (default: last.pt) atomically."""
        if not self.writable:
            return
        path = path or self.checkpoint_path
        # Write then rename: an interrupted save never replaces the previous good checkpoint.
        tmp = path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load_checkpoint(
        self,
        map_location: str | torch.device = "cpu",
        path: Path | None = None,
        optimizer: bool = True,
    ) -> dict:
        """A checkpoint's state (default: last.pt); `optimizer=False` for model-only files."""
        path = path or self.checkpoint_path
        if not path.is_file():
            raise RunError(f"{path} not found: the run has no checkpoint to resume from")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # torch raises many types for a truncated or foreign file
            raise RunError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
        needed = {"model", "optimizer", "epoch"} if optimizer else {"model", "epoch"}
        if not isinstance(state, dict) or not needed <= state.keys():
            raise RunError(f"{path} is not a plainnet checkpoint (missing {'/'.join(needed)})")
        return state

    def append_probe(self, epoch: int, layers: list[dict]) -> None:
        """One line per probe: the epoch and the per-layer statistics (`plainnet.probe`)."""
        if not self.writable:
            return
        line = json.dumps({"epoch": epoch, "layers": layers}, allow_nan=False, default=str)
        with self.probe_path.open("a") as f:
            f.write(line + "\n")

    def write_summary(self, summary: dict) -> None:
        if not self.writable:
            return
        self.summary_path.write_text(json.dumps(summary, indent=2) + "\n")

    def tensorboard(self):
        """A SummaryWriter into `tb/`, or None when tensorboard is not installed."""
        if not self.writable:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.path / "tb"))
