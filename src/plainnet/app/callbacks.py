"""The trainer's callbacks (`plainnet.engine.Callback`): everything a run does around the loop.

The best-epoch checkpoint, metrics.csv, the probe log, TensorBoard, the last checkpoint, the
console line and the progress bar, each in its own class (BatchNorm calibration and the
running-statistics check are the engine's: `plainnet.engine.callbacks`). The trainer
(`plainnet.app.trainer`) passes them to `plainnet.engine.fit` in this order, followed by the
user's own callbacks.
"""

import math
import time
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from plainnet.app import tensorboard
from plainnet.app.runs import RunDir
from plainnet.engine.callbacks import Callback, stateful


@dataclass
class Best(Callback):
    """The best epoch so far on the selection split (validation, else test); with a
    validation split its weights are kept and written to `checkpoints/best.pt`."""

    run: RunDir | None = None
    split: str = "val"
    about: dict | None = None  # what every checkpoint carries besides its weights
    rule: str = "best"  # "best": lowest error, ties broken by loss; "val_loss": lowest loss
    epoch: int = 0
    err: float = math.inf
    loss: float = math.inf
    state: dict | None = None  # the model's weights then (only with a validation split)
    unsaved: bool = False  # `state` is newer than best.pt

    def key(self, err: float, loss: float) -> tuple[float, ...]:
        # Equal errors are common on a small split (144 digits: steps of 0.7%); the lower
        # loss is the more confident model, so it wins a tie instead of the earlier epoch.
        return (loss,) if self.rule == "val_loss" else (err, loss)

    def state_dict(self) -> dict:
        return dict(best_epoch=self.epoch, best_err=self.err, best_loss=self.loss)

    def load_state_dict(self, saved: dict) -> None:
        """From a checkpoint (its weights from best.pt). Checkpoints written before the
        validation split kept only the best test error."""
        self.epoch = saved.get("best_epoch", 0)
        self.err = saved.get("best_err", saved.get("best_test_err"))
        self.loss = saved.get("best_loss", math.inf)
        if self.split == "val" and self.epoch:
            self.state = self.run.load_checkpoint("cpu", self.run.best_path, optimizer=False)
            self.state = self.state["model"]

    def on_epoch_end(self, state) -> None:
        err, loss = state.metrics[f"{self.split}_err"], state.metrics[f"{self.split}_loss"]
        if self.key(err, loss) < self.key(self.err, self.loss):
            self.epoch, self.err, self.loss = state.epoch, err, loss
            if self.split == "val":
                self.state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
                self.unsaved = True

    def save(self) -> None:
        """Write `checkpoints/best.pt` if the best epoch changed since it was last written
        (`LastCheckpoint` calls this just before `last.pt`, which names the best epoch)."""
        if self.unsaved:
            about = dict(model=self.state, epoch=self.epoch, **self.about)
            self.run.save_checkpoint(about, self.run.best_path)
            self.unsaved = False


class Metrics(Callback):
    """One row of metrics.csv per epoch, written whole and flushed."""

    def __init__(self, run: RunDir):
        self.run = run

    def on_epoch_end(self, state) -> None:
        t = state.timings
        parts = dict(steps_s=t.get("steps"), evaluation_s=t.get("evaluation"))
        parts["calibration_s"] = t.get("Calibration")
        parts["running_stats_check_s"] = t.get("RunningStatsCheck")
        row = state.metrics | {k: round(v, 3) for k, v in parts.items() if v is not None}
        self.run.append_metrics(row)


class ProbeLog(Callback):
    """At init (epoch 0) and every `every` epochs, the depth diagnostics of the training
    network into the run's probe.jsonl (and TensorBoard)."""

    def __init__(self, run: RunDir, batches, every: int, tb=None):
        self.run, self.batches, self.every, self.tb = run, batches, every, tb

    def on_train_start(self, state) -> None:
        if state.epoch == 0:  # a new run, not a resumed one
            self.on_epoch_end(state)

    def on_epoch_end(self, state) -> None:
        if state.epoch % self.every:
            return
        from plainnet.nn.diagnostics import probe

        result = probe(state.model, self.batches, grad_batch=self.batches[0])
        layers = result.to_dict(finite=True)["layers"]
        self.run.append_probe(state.epoch, layers)
        if self.tb:
            tensorboard.log_probe(self.tb, layers, state.epoch)


class TensorBoard(Callback):
    """Every metrics column per epoch into `<run>/tb`; the writer is closed by the trainer,
    after the final numbers are logged beside the config."""

    def __init__(self, writer):
        self.writer = writer

    def on_epoch_end(self, state) -> None:
        tensorboard.log_epoch(self.writer, state.metrics)


class LastCheckpoint(Callback):
    """`checkpoints/last.pt` (model, optimizer, epoch, best so far), with best.pt beside it:
    every `every` epochs, or with "auto" after the first epoch that ends `AUTO_SECONDS` or
    more after the last save; and always after the last epoch. What a resume continues from.

    Why "auto": a 1,000-layer net's checkpoint is 130 MB (weights and momentum), 3% of its
    run when written every epoch, and a short run's epochs take less time than their writes;
    a minute is what a killed run can lose."""

    AUTO_SECONDS = 60.0

    def __init__(self, run: RunDir, every: int | str, best: Best, others=()):
        self.run, self.every, self.best = run, every, best
        self.others = stateful(others)  # saved in order as "callbacks"
        self.saved_at, self.saved_epoch = 0.0, 0  # set when training starts

    def on_train_start(self, state) -> None:
        self.saved_at, self.saved_epoch = time.perf_counter(), state.epoch

    def on_epoch_end(self, state) -> None:
        if self.every == "auto":
            due = time.perf_counter() - self.saved_at >= self.AUTO_SECONDS
        else:
            due = state.epoch % self.every == 0
        if due or state.epoch == state.epochs:
            self.save(state)

    def on_train_end(self, state) -> None:  # e.g. stopped early between two saves
        if state.epoch != self.saved_epoch:
            self.save(state)

    def save(self, state) -> None:
        self.best.save()
        self.run.save_checkpoint(
            dict(
                model=state.model.state_dict(),
                optimizer=state.optimizer.state_dict(),
                epoch=state.epoch,
                elapsed_s=state.elapsed,
                **self.best.state_dict(),
                last_row=dict(state.metrics),  # what a resume with no epoch left reports
                stopped=state.stopped_by if state.stop else "",  # a stopped run stays stopped
                **({"callbacks": [c.state_dict() for c in self.others]} if self.others else {}),
                **self.best.about,
            )
        )
        self.saved_at, self.saved_epoch = time.perf_counter(), state.epoch


class ConsoleLine(Callback):
    """One line per epoch: running train loss and error, the selection split's, lr, time."""

    def __init__(self, console, split: str | None):
        self.console, self.split = console, split  # None: no split is evaluated per epoch

    def on_epoch_end(self, state) -> None:
        row, s = state.metrics, self.split
        evaluated = f"  {s} loss {row[f'{s}_loss']:.4f} err {row[f'{s}_err']:7.2%}" if s else ""
        self.console.print(
            f"epoch {row['epoch']:>4}  train loss {row['train_loss']:.4f} "
            f"err {row['train_err']:7.2%}{evaluated}  lr {row['lr']:.4g}  "
            f"{row['epoch_time_s']:.1f}s"
        )


def steps_this_epoch(state) -> int:
    return state.step - (state.epoch - 1) * (state.steps_per_epoch or 0)


class ProgressLines(Callback):
    """Off a terminal (a log file, a pipe), where the bar is not drawn: a line at most every
    `every` seconds within an epoch, so that a log shows a long epoch moving."""

    def __init__(self, console, every: float = 60.0):
        self.console, self.every = console, every
        self.started = self.said = 0.0

    def on_epoch_start(self, state) -> None:
        self.started = self.said = time.perf_counter()

    def on_step_end(self, state) -> None:
        now = time.perf_counter()
        if now - self.said < self.every:
            return
        self.said = now
        loss, err, n = state.running
        done = steps_this_epoch(state)
        self.console.print(
            f"  epoch {state.epoch}/{state.epochs}: step {done}/{state.steps_per_epoch}, "
            f"loss {float(loss) / n:.4f} err {float(err) / n:.2%}, {now - self.started:.0f} s"
        )


class ProgressBar(Callback):
    """A transient bar per epoch, on a terminal only (`bar.disable` otherwise: then leave it
    out of the callbacks), with the running loss and error; used as a context manager around
    training (`with bar.bar:`) so a crash clears it."""

    def __init__(self, console):
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal or console.quiet,
        )
        self.task = None

    def on_epoch_start(self, state) -> None:
        self.task = self.bar.add_task(
            f"epoch {state.epoch}/{state.epochs}", total=state.steps_per_epoch, status=""
        )

    def on_step_end(self, state) -> None:
        loss, err, n = state.running
        done = steps_this_epoch(state)
        if (done - 1) % 10:
            return
        status = f"loss {float(loss) / n:.4f} err {float(err) / n:.2%}"
        self.bar.update(self.task, completed=done, status=status)

    def on_train_epoch_end(self, state) -> None:
        self.bar.remove_task(self.task)
