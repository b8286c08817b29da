"""The training loop on plain values: a model, an optimizer, batches, a learning-rate function.

`fit` runs epochs of optimizer steps, each followed by the max-norm projection (eq. 2), then
evaluates, and calls its callbacks at named points (`plainnet.engine.callbacks`): console,
checkpoints, BatchNorm calibration, TensorBoard and early stopping are all callbacks, so the
loop itself reads in one sitting. `evaluate` is the one evaluation path of plainnet: training,
`plainnet eval` and the recipes all measure through it.
"""

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plainnet.engine.callbacks import Callback, Callbacks
from plainnet.engine.distributed import SINGLE, World
from plainnet.errors import TrainingDiverged
from plainnet.nn.speed import autocast

# A batch is (inputs, targets), or under several processes (inputs, targets, global batch
# size), since each process holds only its share of the batch.
Batch = tuple[torch.Tensor, ...]


@dataclass
class State:
    """What the loop knows, as callbacks see it."""

    model: nn.Module  # the network (unwrapped)
    optimizer: torch.optim.Optimizer
    epochs: int
    epoch: int = 0
    step: int = 0  # optimizer steps taken
    steps_per_epoch: int | None = None
    metrics: dict = field(default_factory=dict)  # this epoch's row
    running: tuple[float, float, int] = (0.0, 0.0, 0)  # loss sum, errors, samples this epoch
    elapsed: float = 0.0  # seconds of training (steps, evaluation, calibration) so far
    timings: dict = field(default_factory=dict)  # seconds per part of this epoch
    totals: dict = field(default_factory=dict)  # seconds per part over the run so far
    stop: bool = False  # set by a callback: end after this epoch
    stopped_by: str = ""
    evaluated: str | None = None  # the split evaluated after every epoch, if any


@dataclass
class Evaluation:
    loss: float  # mean cross-entropy
    error: float
    confusion: np.ndarray | None = None  # [true class, predicted class] counts, if asked for

    @property
    def per_class_error(self) -> np.ndarray:
        totals = self.confusion.sum(1)
        return 1 - np.diag(self.confusion) / np.maximum(totals, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Iterable[Batch], world: World = SINGLE, classes: int = 0
) -> Evaluation:
    """Mean cross-entropy and error rate of `model` in eval mode over `batches` (summed over
    processes), and with `classes` the confusion matrix. The model's mode is restored."""
    was_training = model.training
    model.eval()
    loss = err = 0.0
    n = 0
    confusion = np.zeros((classes, classes), dtype=np.int64) if classes else None
    for x, y, *_ in batches:
        out = model(x)
        loss = loss + F.cross_entropy(out, y, reduction="sum")
        pred = out.argmax(1)
        err = err + (pred != y).sum()
        n += len(y)
        if confusion is not None:
            np.add.at(confusion, (y.cpu().numpy(), pred.cpu().numpy()), 1)
    model.train(was_training)
    loss, err, n = world.sum(loss, err, n)  # one device sync for the whole split
    n = max(n, 1)
    return Evaluation(loss / n, err / n, confusion)


@dataclass(frozen=True)
class Steps:
    """How `fit` takes each optimizer step.

    `lr(step)`: the learning rate at each step (None: the optimizer's own). `project`: called
    after every step, e.g. `plainnet.MaxNorm` (eq. 2). `clip`: the gradient's global norm is
    scaled down to at most this first. `amp`: bf16 autocast ("auto": on CUDA). `train_model`:
    what the optimizer steps if not the model itself (DDP, compiled, checkpointed). `world`:
    the processes training together (`plainnet.engine.distributed`).
    """

    lr: Callable[[int], float] | None = None
    project: Callable[[], object] | None = None
    clip: float | None = None
    amp: str | bool = False
    train_model: nn.Module | None = None
    world: World = SINGLE


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Callable[[int], Iterable[Batch]],
    epochs: int,
    steps: Steps = Steps(),
    evaluate_on: Callable[[], Iterable[Batch]] | None = None,
    eval_split: str = "val",
    callbacks: Sequence[Callback] = (),
    start_epoch: int = 0,
    elapsed: float = 0.0,
    steps_per_epoch: int | None = None,
) -> State:
    """Train `model` for epochs `start_epoch + 1 .. epochs`; returns the final `State`.

    `batches(epoch)`: that epoch's training batches, each stepped as `steps` says.
    `evaluate_on()`: the batches evaluated after every epoch into
    `metrics[f"{eval_split}_loss"/"_err"]`. `start_epoch`, `elapsed` (seconds) and
    `steps_per_epoch` continue a run that stopped after `start_epoch` epochs.
    Raises `TrainingDiverged` when the loss, the weights or the evaluation stop being finite.
    """
    step = start_epoch * (steps_per_epoch or 0)
    state = State(model, optimizer, epochs, start_epoch, step, steps_per_epoch, elapsed=elapsed)
    state.evaluated = eval_split if evaluate_on is not None else None
    call = Callbacks(callbacks)
    call("on_train_start", state)
    for epoch in range(start_epoch + 1, epochs + 1):
        _epoch(state, epoch, batches(epoch), steps, evaluate_on, eval_split, call)
        if state.stop:
            break
    call("on_train_end", state)
    return state


def _epoch(state: State, epoch: int, batches, steps: Steps, evaluate_on, split, call) -> None:
    """One epoch: the steps, the callbacks' points, the evaluation, the epoch's timings."""
    t0 = time.perf_counter()
    state.epoch, state.timings = epoch, {}
    call("on_epoch_start", state)
    _timed_steps(state, batches, steps, call)
    call("on_train_epoch_end", state)  # e.g. BatchNorm calibration, before evaluating
    if evaluate_on is not None:
        t_eval = time.perf_counter()
        ev = evaluate(state.model, evaluate_on(), steps.world)
        state.timings["evaluation"] = time.perf_counter() - t_eval
        state.metrics.update({f"{split}_loss": ev.loss, f"{split}_err": ev.error})
        check_finite(state.model, ev.loss, epoch)
    took = time.perf_counter() - t0
    state.elapsed += took
    state.metrics.update(epoch_time_s=round(took, 3), elapsed_s=round(state.elapsed, 3))
    call("on_epoch_end", state)
    for part, seconds in state.timings.items():
        state.totals[part] = state.totals.get(part, 0.0) + seconds


def _timed_steps(state: State, batches: Iterable[Batch], steps: Steps, call) -> None:
    """An epoch's steps into `state.metrics` (its first entries), timed apart from what the
    callbacks took meanwhile (their time is theirs)."""
    t0, in_callbacks = time.perf_counter(), sum(state.timings.values())
    last_lr, loss, err = train_epoch(state, batches, steps, call)
    during = sum(state.timings.values()) - in_callbacks
    state.timings["steps"] = time.perf_counter() - t0 - during
    state.metrics = dict(epoch=state.epoch, step=state.step, lr=last_lr)
    state.metrics.update(train_loss=loss, train_err=err)


def train_epoch(state: State, batches: Iterable[Batch], steps: Steps = Steps(), call=None):
    """One epoch of optimizer steps (the running sums go to `state.running` as it goes).
    Returns the last learning rate and the epoch's running loss and error, summed over
    processes."""
    model, world, lr = steps.train_model or state.model, steps.world, steps.lr
    model.train()
    device = next(state.model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    err_sum = torch.zeros((), device=device)
    seen = 0
    rate = state.optimizer.param_groups[0]["lr"]
    for i, (x, y, *n_global) in enumerate(batches):
        if lr is not None:
            rate = lr(state.step)
            for g in state.optimizer.param_groups:
                g["lr"] = rate
        with autocast(device, steps.amp):
            out = model(x)
            ce = F.cross_entropy(out.float(), y, reduction="sum")
        # Mean over the global batch: DDP averages the processes' gradients, so each
        # scales its sum by (processes / global batch), whatever its share's size.
        state.optimizer.zero_grad(set_to_none=True)
        (ce * (world.size / (n_global[0] if n_global else len(y)))).backward()
        if steps.clip:
            nn.utils.clip_grad_norm_(model.parameters(), steps.clip, foreach=True)
        state.optimizer.step()
        if steps.project is not None:
            steps.project()  # the same projection on every process keeps the weights equal
        state.step += 1
        loss_sum += ce.detach()
        err_sum += (out.detach().argmax(1) != y).sum()
        seen += len(y)
        state.running = (loss_sum, err_sum, seen)
        if i % 10 == 0:  # summed over processes, so that all of them stop together on a NaN
            _finite_loss(world.sum(loss_sum)[0], state.epoch, i)
        if call is not None:
            call("on_step_end", state)
    loss, err, n = world.sum(loss_sum, err_sum, seen)  # one device sync for the epoch's end
    _finite_loss(loss, state.epoch, i)
    return rate, loss / n, err / n


def _finite_loss(total: float, epoch: int, i: int) -> None:
    if not math.isfinite(total):
        raise TrainingDiverged(f"loss became {total} in epoch {epoch} (step {i + 1})")


def first_nonfinite(model: nn.Module) -> str | None:
    """The name of the first parameter or buffer (e.g. a BatchNorm running variance) holding a
    NaN or inf, or None."""
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            return name
    return None


def check_finite(model: nn.Module, eval_loss: float, epoch: int) -> None:
    """After an epoch's evaluation: the weights, BatchNorm buffers and eval loss are finite."""
    bad = first_nonfinite(model)
    if bad or not math.isfinite(eval_loss):
        what = f"{bad} holds NaN/inf" if bad else f"the evaluation loss is {eval_loss}"
        raise TrainingDiverged(f"after epoch {epoch} {what}")
