"""Callbacks: what happens around the training loop, at named points of `plainnet.engine.fit`.

Subclass `Callback` and override the points you need; each receives the loop's `State`
(model, optimizer, epoch, step, this epoch's `metrics` row) and may set `state.stop` to end
training after the current epoch. The points, in the order the loop reaches them:

    on_train_start                       once, before the first epoch
      on_epoch_start                     every epoch
        on_step_end                      after each optimizer step (and max-norm projection)
      on_train_epoch_end                 after the epoch's steps, before evaluation
      on_epoch_end                       after evaluation: `state.metrics` is complete
    on_train_end                         once, also after an early stop

Callbacks run in the order given; each one's time per epoch is added to `state.timings`.
A callback that keeps state across epochs has `state_dict()` and `load_state_dict(d)`, so
that a resumed run continues it (the trainer saves them in every checkpoint).
"""

import math
import time
from collections.abc import Callable, Sequence

import torch

from plainnet.nn.norms import recalibrate_


class Callback:
    """Base class: every point does nothing; override those you need. Each is called as
    `point(self, state)` with the loop's `plainnet.engine.State`: `model`, `optimizer`,
    `epochs`, `epoch`, `step` (optimizer steps so far), `steps_per_epoch`, `metrics` (this
    epoch's row: `epoch`, `step`, `lr`, `train_loss`, `train_err`, then `val_loss`/`val_err`
    after evaluation, and `epoch_time_s`), `running` (loss sum, errors, samples so far this
    epoch), `elapsed`, `timings`, `evaluated` (the split evaluated every epoch, or None); set
    `state.stop = True` (and `state.stopped_by`, which the trainer prints) to end after this
    epoch. Add `state_dict()` / `load_state_dict(d)` to keep state across a resume. The
    trainer takes callbacks from Python (`train(..., callbacks=[...])`) and by import path
    from the config (`train.callbacks`)."""

    def on_train_start(self, state) -> None: ...
    def on_epoch_start(self, state) -> None: ...
    def on_step_end(self, state) -> None: ...
    def on_train_epoch_end(self, state) -> None: ...
    def on_epoch_end(self, state) -> None: ...
    def on_train_end(self, state) -> None: ...


class Callbacks:
    """Calls every callback at a point, in order, timing each (`state.timings`)."""

    POINTS = (
        "on_train_start",
        "on_epoch_start",
        "on_step_end",
        "on_train_epoch_end",
        "on_epoch_end",
        "on_train_end",
    )

    def __init__(self, callbacks: Sequence[Callback]):
        self.callbacks = list(callbacks)
        # only the points a callback overrides are called: a step costs nothing otherwise
        # (a callback need not subclass Callback: any object with some of the points will do)
        self.at = {
            p: [
                getattr(c, p)
                for c in self.callbacks
                if getattr(type(c), p, getattr(Callback, p)) is not getattr(Callback, p)
            ]
            for p in self.POINTS
        }

    def __call__(self, point: str, state) -> None:
        for fn in self.at[point]:
            t0 = time.perf_counter()
            fn(state)
            name = type(fn.__self__).__name__
            state.timings[name] = state.timings.get(name, 0.0) + time.perf_counter() - t0


def stateful(callbacks: Sequence) -> list:
    """The callbacks that keep state across epochs (`state_dict` and `load_state_dict`), in
    order: what a checkpoint saves and a resume restores, position by position."""
    return [c for c in callbacks if hasattr(c, "state_dict") and hasattr(c, "load_state_dict")]


class EarlyStopping(Callback):
    """Stop when `monitor` (a metrics key, e.g. "val_err" or "val_loss") has not improved by
    more than `min_delta` for `patience` epochs. Lower is better."""

    def __init__(self, monitor: str = "val_err", patience: int = 10, min_delta: float = 0.0):
        if not patience >= 1 or patience != int(patience):  # NaN fails every comparison
            raise ValueError(f"patience must be a whole number >= 1, got {patience}")
        if not 0 <= min_delta < math.inf:
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), min_delta
        self.best, self.waited = math.inf, 0

    def on_train_start(self, state) -> None:
        """Refuse, before any epoch, a split's metric that no epoch will have."""
        split, _, kind = self.monitor.rpartition("_")
        if split in ("val", "test") and kind in ("err", "loss") and split != state.evaluated:
            has = f"only {state.evaluated} is" if state.evaluated else "no split is"
            raise ValueError(
                f"EarlyStopping: monitor {self.monitor!r}, but {has} evaluated every epoch"
            )

    def state_dict(self) -> dict:
        return dict(best=self.best, waited=self.waited)

    def load_state_dict(self, saved: dict) -> None:
        self.best, self.waited = saved["best"], saved["waited"]

    def on_epoch_end(self, state) -> None:
        value = state.metrics.get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping: no {self.monitor!r} in the epoch's metrics")
        if value < self.best - self.min_delta:
            self.best, self.waited = value, 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            state.stop = True
            state.stopped_by = (
                f"early stopping: no better {self.monitor} for {self.patience} epochs"
            )


class RunningStatsCheck(Callback):
    """Before the last epoch's BatchNorm calibration: what PyTorch's running averages give,
    as `<split>_err_running_stats` in the epoch's metrics. A callback of its own so that its
    time (one pass over each of `splits`) is not counted as calibration.

    `measure(split)`: an `Evaluation` of the model on that split (`plainnet.engine.evaluate`).
    """

    def __init__(self, splits: Sequence[str], measure: Callable):
        self.splits, self.measure = list(splits), measure

    def on_train_epoch_end(self, state) -> None:
        if state.epoch == state.epochs:
            for s in self.splits:
                state.metrics[f"{s}_err_running_stats"] = self.measure(s).error


class Calibration(Callback):
    """After every epoch's steps, set BatchNorm's population statistics layer by layer from a
    fixed sample of training inputs (`plainnet.nn.norms.recalibrate_`), so that evaluation in
    eval mode matches training at any depth. `batch_size`: the parts each layer runs on
    (`recalibrate_`; None: the whole sample at once)."""

    def __init__(self, sample: torch.Tensor, batch_size: int | None = None):
        self.sample, self.batch_size = sample, batch_size

    def on_train_epoch_end(self, state) -> None:
        recalibrate_(state.model, self.sample, self.batch_size)
