"""The trainer: a `Config` (or your own model and data) into a run folder, through the engine.

`train` builds what the config names (`plainnet.app.build`), wires the run's side effects as
callbacks (`plainnet.app.callbacks`: calibration, checkpoints, metrics, probe, TensorBoard,
console) and hands the loop to `plainnet.engine.fit`. SGD/Adam/AdamW with a per-step
learning-rate schedule, the max-norm projection (eq. 2) after every optimizer step.

Splits: with a validation split (`data.val_fraction > 0`, the default) every per-epoch choice
(the best epoch, `checkpoints/best.pt`) is made on it, and the test split is read once, at the
end, for the final and the best-epoch model. With `data.val_fraction = 0` the test split is
evaluated every epoch instead and the best epoch is selected on it (an optimistic number,
labelled so in the summary).
"""

import contextlib
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from rich.console import Console
from torch import nn

from plainnet.app import tables, tensorboard
from plainnet.app.build import (
    builder_args,
    calibration_samples,
    check_head,
    config_of,
    device_data,
    eval_batch_size,
    given_model_name,
    init_model,
    make_callbacks,
    make_data,
    make_optimizer,
    model_name,
    resolve_device,
    with_numbers,
)
from plainnet.app.callbacks import (
    Best,
    ConsoleLine,
    LastCheckpoint,
    Metrics,
    ProbeLog,
    ProgressBar,
    ProgressLines,
    TensorBoard,
)
from plainnet.app.config import (
    RULES,
    Config,
    ConfigError,
    apply_overrides,
    check_recorded_module,
    file_digest,
    parse_override,
    validate,
)
from plainnet.app.memory import check_memory
from plainnet.app.runs import (
    RESUMABLE,
    RunDir,
    RunError,
    check_same_config,
    needs_model,
    provenance,
)
from plainnet.data.datasets import ArrayDataset
from plainnet.data.tensors import DeviceData
from plainnet.engine import distributed
from plainnet.engine.callbacks import Calibration, Callback, RunningStatsCheck, stateful
from plainnet.engine.distributed import World
from plainnet.engine.loop import Evaluation, Steps, evaluate, fit
from plainnet.engine.schedule import lr_factor
from plainnet.errors import TrainingDiverged
from plainnet.nn import speed
from plainnet.nn.constraints import unit_norms
from plainnet.nn.models import CONV_MODELS, count_parameters, hidden_weights


@dataclass
class Result:
    run_dir: RunDir
    summary: dict
    model: nn.Module  # the trained network (unwrapped from DDP)


def train(
    cfg: Config,
    run: RunDir | None = None,
    resume: bool = False,
    console=None,
    model: nn.Module | None = None,
    data: DeviceData | ArrayDataset | None = None,
    callbacks: Sequence[Callback] = (),
    read_test: bool = True,
) -> Result:
    """Train `cfg` into `run` (a new folder if None); with `resume`, continue `run`'s checkpoint.

    `model` and `data` replace what the config's `model` and `data` sections name: any
    `nn.Module` (with `head` as its classifier for `max_norm.layers = "hidden"`) and an
    `ArrayDataset` (`plainnet.data.load_dataset`, or your arrays) or `DeviceData`. A model
    that a registered builder made (`plainnet.plain_mlp(...)`, ...) is written into the run's
    config as what it is, so every command reopens the run; any other model is recorded by
    its class, and `load_run(folder, model=...)` / `resume(folder, model=...)` take it back.
    `callbacks` (`plainnet.engine.Callback`, e.g. `EarlyStopping`) run after the run's own
    and before its checkpoint, which keeps the state of those with `state_dict()` for a
    resume (`load_state_dict()`). `read_test=False`: the test split is never read (a search's
    trials, chosen on validation only; the summary has no test error).

    `model.beta = "auto"` is resolved to its number first (printed, and written into the
    run's config.toml). Under torchrun every process calls this; only the main one writes and
    prints. Raises `TrainingDiverged` if the loss or the weights stop being finite.
    """
    world = distributed.setup(resolve_device(cfg.train.device))
    try:
        with speed.flush_denormals():
            return _train(cfg, run, resume, console, world, model, data, callbacks, read_test)
    finally:
        distributed.cleanup(world)


def resume(
    run_dir,
    overrides: list[str] | tuple[str, ...] = (),
    extend: bool = False,
    console=None,
    model: nn.Module | None = None,
) -> Result:
    """Continue the run in `run_dir` from its last checkpoint, bit for bit as the unbroken run.

    `overrides` (`section.key=value`) may change only `RESUMABLE` fields; `config.toml` must
    still agree with the config stored in the checkpoint (a hand edit is refused, naming each
    field), and is rewritten only once the checkpoint has loaded and been checked.

    More epochs than the run was configured with need `extend=True`: the learning-rate
    schedule is then recomputed for the new length and continues from the current step (a
    cosine picks up at its value for that step of the longer run), which is not the same as an
    unbroken run of the new length. `model`: the model of a run trained with one that its
    config cannot describe (`train(model=...)`), built again by you.
    """
    changed = sorted({".".join(parse_override(o)[:2]) for o in overrides} - RESUMABLE)
    if changed:
        raise ConfigError(f"cannot change {changed} when resuming; only {sorted(RESUMABLE)}")
    run = RunDir.open(run_dir)
    saved = run.config()
    if saved.model.module and run.checkpoint_path.is_file():  # as load_run: never a stray file
        check_recorded_module(saved.model.module, run.load_checkpoint("cpu", optimizer=False))
    cfg = validate(apply_overrides(saved.model_dump(), overrides), str(run.config_path))
    if cfg.train.epochs > saved.train.epochs and not extend:
        raise ConfigError(
            f"train.epochs={cfg.train.epochs} extends a run configured for "
            f"{saved.train.epochs}; pass --extend (extend=True) to continue with the "
            "learning-rate schedule stretched to the new length"
        )
    return train(cfg, run, resume=True, console=console, model=model)


def _train(cfg: Config, run, resume: bool, console, world: World, model, data, callbacks,
           read_test=True):  # fmt: skip
    # first: bad data or a model too large leaves no empty run folder behind
    if data is None:
        data = make_data(cfg, world.device)
    elif isinstance(data, ArrayDataset):
        data = device_data(cfg, data, world.device)
    if len(data.y_train) < data.num_classes:
        raise ConfigError(
            f"the training split holds {len(data.y_train)} samples for {data.num_classes} "
            "classes (data.train_subset?); a classifier needs at least one per class"
        )
    if not read_test and not data.has_val:
        raise ConfigError("without a validation split (data.val_fraction = 0) nothing is left "
                          "to choose on but the test split")  # fmt: skip
    if cfg.model.norm != "none" and min(cfg.train.batch_size, len(data.y_train)) < 2 * world.size:
        raise ConfigError(
            f"train.batch_size = {cfg.train.batch_size} gives a process fewer than 2 samples "
            f"({world.size} processes, {len(data.y_train)} training samples); BatchNorm needs "
            "two: use a larger batch or model.norm = 'none'"
        )
    if model is not None:
        _check_outputs(model, data)
        check_head(cfg, model)
    described = config_of(cfg, model, data) if model is not None else None
    cfg = with_numbers(described or cfg)
    given = given_model_name(model) if model is not None and described is None else None
    callbacks = [*make_callbacks(cfg.train.callbacks), *callbacks]  # before any folder exists
    if model is None:
        check_memory(cfg, data, world.device)
    if world.main:
        name = f"{type(model).__name__.lower()}-{data.name}" if given else None
        run = run or RunDir.create(cfg, name)
    else:
        run = RunDir(run.path if run else "", writable=False)
    with run.lock():
        return _train_locked(cfg, run, resume, console, world, data, model, callbacks, given,
                             read_test)  # fmt: skip


def _check_outputs(model: nn.Module, data: DeviceData) -> None:
    """A model given from Python must map two training inputs to one logit per class."""
    x = data.x_train[:2]
    x = x.to(next((p.device for p in model.parameters()), x.device))
    was = model.training
    try:
        with torch.no_grad():
            out = model.eval()(x)
    except Exception as e:  # the user's model may raise anything for inputs it cannot take
        raise ConfigError(f"your model cannot take inputs {tuple(x.shape[1:])}: {e}") from None
    finally:
        model.train(was)
    if out.shape != (len(x), data.num_classes):
        raise ConfigError(
            f"your model maps inputs {tuple(x.shape[1:])} to {tuple(out.shape[1:])}; the data "
            f"has {data.num_classes} classes, so it must give ({data.num_classes},) logits"
        )


def _train_locked(cfg: Config, run: RunDir, resume, console, world, data, model, callbacks, given,
                  read_test=True):  # fmt: skip
    console = console or Console(highlight=False, soft_wrap=True, quiet=not world.main)
    net, project = init_model(cfg, data, world.device, model)
    opt = make_optimizer(cfg.optim, net.parameters())
    about = _about(cfg, data, world, given)  # what every checkpoint carries besides its weights
    # the test split is read every epoch only without a validation split, to select on it
    best = Best(run, "val" if data.has_val else "test", about, cfg.run.select)
    if resume:
        start = _restore(run, cfg, net, opt, best, callbacks, given)
    else:  # a folder made beforehand (a grid's) holds the config with its "auto"s
        run.write_config(cfg)
        start = Start()
    run.truncate_metrics(start.epoch)
    _announce(console, cfg, data, run, net, project is not None, world, about)
    tb = tensorboard.open_run(cfg, run)
    measure = Measure(net, data, eval_batch_size(cfg, world.device), world)
    progress = ProgressBar(console)
    every = _callbacks(cfg, run, data, measure, best, tb, console, progress, callbacks)
    if start.epoch >= cfg.train.epochs or start.stopped:
        console.print(f"nothing to do: the run already finished {start.epoch} epochs")
    per_epoch = data.steps_per_epoch(cfg.train.batch_size, world.size)
    with progress.bar, _named_on_failure(run, cfg):
        state = fit(
            net,
            opt,
            _batches(cfg, data, world),
            start.epoch if start.stopped else cfg.train.epochs,
            _steps(cfg, per_epoch, net, project, world),
            evaluate_on=partial(measure.batches, best.split) if _per_epoch(cfg, data) else None,
            eval_split=best.split,
            callbacks=every,
            start_epoch=start.epoch,
            elapsed=start.elapsed,
            steps_per_epoch=per_epoch,
        )
    if start.stopped:
        state.stop, state.stopped_by = True, start.stopped
    if state.stopped_by:
        console.print(f"stopped after epoch {state.epoch}: {state.stopped_by}")
    if state.epoch == start.epoch:  # nothing left to train: the last trained epoch's row
        state.metrics = start.last_row or (run.read_metrics() or [{}])[-1]
    summary = _summarize(cfg, data, net, best, state, world, about, measure, read_test)
    tensorboard.close(tb, cfg, summary)
    run.write_summary(summary)
    console.print(tables.summary(summary))
    return Result(run, summary, net)


@dataclass
class Measure:
    """The training network evaluated on one of the run's splits (`plainnet.engine.evaluate`)."""

    net: nn.Module
    data: DeviceData
    batch_size: int
    world: World

    def batches(self, split: str):
        return self.data.eval_batches(split, self.batch_size, self.world)

    def __call__(self, split: str) -> Evaluation:
        return evaluate(self.net, self.batches(split), self.world)


@dataclass
class Start:
    """Where training starts: after `epoch` epochs that took `elapsed` seconds (a resume)."""

    epoch: int = 0
    elapsed: float = 0.0
    last_row: dict = field(default_factory=dict)  # the last trained epoch's metrics
    stopped: str = ""  # why a callback ended the run early: it stays ended


def _callbacks(cfg, run, data, measure, best, tb, console, progress, theirs) -> list[Callback]:
    """Every callback of the run in the order they run: the run's own, the user's (`theirs`),
    and last the checkpoint, so that it saves every callback's state of the epoch."""
    calibration = []
    # Batch Renormalization trains on its running statistics, so they are left to it.
    samples = calibration_samples(cfg)
    if samples and cfg.model.norm == "batch":
        # the check reads the validation split only: the test split is read once, at the end
        check = cfg.train.check_running_stats and data.has_val
        sample = data.sample(samples, cfg.train.seed)
        calibration = [*[RunningStatsCheck(["val"], measure)] * check,
                       Calibration(sample, measure.batch_size)]  # fmt: skip
    return [
        *calibration,  # the check first: it measures what the calibration replaces
        *([best] if cfg.run.select != "final" else []),
        Metrics(run),
        *([_probe_log(run, data, cfg, tb)] if cfg.run.probe_every else []),
        *([TensorBoard(tb)] if tb else []),
        ConsoleLine(console, best.split if _per_epoch(cfg, data) else None),
        progress if not progress.bar.disable else ProgressLines(console),
        *theirs,
        LastCheckpoint(run, cfg.run.checkpoint_every, best, theirs),
    ]


def _per_epoch(cfg: Config, data: DeviceData) -> bool:
    """Whether a split is evaluated after every epoch: validation, or without it the test
    split when the run selects an epoch on it; else the test split is read once, at the end."""
    return data.has_val or cfg.run.select != "final"


def _batches(cfg: Config, data: DeviceData, world: World):
    conv = cfg.model.arch in CONV_MODELS
    channels_last = speed.uses_channels_last(cfg.train.channels_last, conv)
    return data.epochs(cfg.train.batch_size, cfg.train.seed, world, channels_last)


def _steps(cfg: Config, per_epoch: int, net: nn.Module, project, world: World) -> Steps:
    """How each step is taken: the learning rate (`optim.lr` times the schedule's factor),
    the max-norm projection, clipping, autocast, and the model the optimizer steps."""
    s = cfg.schedule
    total, warmup = per_epoch * cfg.train.epochs, round(s.warmup_epochs * per_epoch)

    def lr(step: int) -> float:
        return cfg.optim.lr * lr_factor(step, total, warmup, s.name, s.milestones, s.gamma)

    clip = cfg.optim.clip_grad_norm or None
    if cfg.train.amp == "bf16" and speed.bf16_is_slow(next(net.parameters()).device):
        warnings.warn(
            "train.amp = 'bf16' on a CPU without bf16 instructions (AVX-512 BF16 or AMX): "
            "each step takes several times as long as in fp32 (5-16x measured on AVX2); "
            "train.amp = 'off' trains in fp32",
            stacklevel=2,
        )
    return Steps(lr, project, clip, cfg.train.amp, _training_model(net, cfg, world), world)


@contextlib.contextmanager
def _named_on_failure(run: RunDir, cfg: Config):
    """An interrupted or diverged run's error names its folder, what was kept and what to try
    (only what this run did not have)."""
    try:
        yield
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM from the command line: name the folder
        raise KeyboardInterrupt(str(run.path)) from None
    except TrainingDiverged as e:
        raise TrainingDiverged(
            f"{e}; stopped{' without saving it' if str(e).startswith('after') else ''}. "
            f"{_kept(run)} Try a lower optim.lr"
            + (" or enable max_norm." if not cfg.max_norm.enabled else ".")
        ) from None


def _probe_log(run: RunDir, data: DeviceData, cfg: Config, tb) -> ProbeLog:
    from plainnet.app.probe import probe_data

    batches = probe_data(data, "train", cfg.run.probe_samples, cfg.train.seed)
    return ProbeLog(run, batches, cfg.run.probe_every, tb)


def _restore(run: RunDir, cfg: Config, net, opt, best: Best, callbacks, given) -> Start:
    """The checkpoint's weights, optimizer and callbacks' state (`state_dict`); the run's
    config.toml is rewritten once the checkpoint has loaded and been checked. `given`: the
    class of a model given from Python, which a run trained with one needs back."""
    if not run.checkpoint_path.exists():
        # Killed before its first last.pt was whole (a best.pt may be written just before
        # it): training is deterministic, so starting again from epoch 0 rewrites exactly
        # what it had.
        run.write_config(cfg)
        return Start()
    state = run.load_checkpoint(next(net.parameters()).device)
    if state.get("model_given") and not given:
        raise RunError(needs_model(run.path, state["model_given"], "resume"))
    if "config" in state:
        check_same_config(run, state["config"], cfg.model_dump())
    if cfg.train.epochs < state["epoch"]:
        raise ConfigError(
            f"the run has trained {state['epoch']} epochs; train.epochs={cfg.train.epochs} "
            "would end it before that"
        )
    try:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError):
        raise RunError(f"{run.checkpoint_path} does not fit the model of this config") from None
    best.load_state_dict(state)
    for c, saved in zip(stateful(callbacks), state.get("callbacks", []), strict=False):
        c.load_state_dict(saved)
    run.write_config(cfg)
    return Start(
        state["epoch"], state["elapsed_s"], state.get("last_row", {}), state.get("stopped", "")
    )


def _about(cfg: Config, data: DeviceData, world: World, given: str | None) -> dict:
    """What every checkpoint carries besides weights, so it can be used on its own; `given`:
    the class of a model from Python that the config does not describe."""
    name = f"{given.rpartition('.')[2]} (your model)" if given else model_name(cfg)
    about = dict(config=cfg.model_dump(), data=data.info(), provenance=provenance(world.device))
    module = sys.modules.get(cfg.model.module) if cfg.model.module else None
    where = getattr(module, "__file__", None)  # said when the run is reopened elsewhere
    digest = file_digest(where)  # a file replaced in place is not imported on reopening
    return about | dict(model_name=name, model_given=given, module_file=where, module_sha256=digest)


def _training_model(net: nn.Module, cfg: Config, world: World) -> nn.Module:
    """The model the optimizer steps: `net`, checkpointed, DDP-wrapped, compiled as configured."""
    model = net
    if cfg.train.checkpoint_segments:
        model = speed.Checkpointed(net, cfg.train.checkpoint_segments)
    model = distributed.wrap(model, world, cfg.train.sync_bn)
    if cfg.train.compile:
        model = speed.CompiledOrEager(model)
    return model


def _announce(console, cfg: Config, data, run, net, max_norm_on, world: World, about) -> None:
    console.print(f"run folder: {run.path}")
    console.print(data.describe())
    if world.size > 1:
        console.print(f"processes: {world.size} ({torch.distributed.get_backend()}), global batch")
    m = cfg.model
    takes = set() if about["model_given"] else builder_args(cfg)  # what describes this model
    act = m.act + (f" (beta {m.beta:g})" if m.act == "leaky_relu" and "beta" in takes else "")
    said = dict(norm=m.norm, act=act, init=m.init)
    parts = "".join(f"{k}={v}, " for k, v in said.items() if k in takes)
    max_norm = f"c={cfg.max_norm.c:g} ({cfg.max_norm.layers})" if max_norm_on else "off"
    name = about["model_name"]
    params = count_parameters(net)
    console.print(f"model: {name}, {params:,} parameters, {parts}max-norm={max_norm}")


def _kept(run: RunDir) -> str:
    if run.checkpoint_path.exists():
        return f"Last finite checkpoint: {run.checkpoint_path}."
    return "No checkpoint was written yet."


def _summarize(cfg, data, net, best: Best, state, world, about, measure, read_test=True) -> dict:
    """Final numbers. The running train error mixes many weight states (and train-mode BN): the
    final model is also measured on the whole train split in eval mode, as a paper's "train
    error" is; the gap between the two is the train-mode / eval-mode gap of deep BN nets."""

    s = dict(dataset=data.name, model=about["model_name"], parameters=count_parameters(net))
    s.update(epochs=cfg.train.epochs, beta=cfg.model.beta)
    row, elapsed = state.metrics, state.elapsed
    if state.stop:
        s.update(epochs=state.epoch, stopped=state.stopped_by)
    train_ev = measure("train")
    s["final_train_loss"], s["final_train_err"] = train_ev.loss, train_ev.error
    s["final_running_train_err"] = row.get("train_err")
    for key in sorted(k for k in row if k.endswith("_err_running_stats")):
        s[f"final_{key}"] = row[key]
    if data.has_val and "val_err" in row:  # the last epoch measured it, with the same weights
        s["final_val_loss"], s["final_val_err"] = row["val_loss"], row["val_err"]
    elif data.has_val:
        val = measure("val")
        s["final_val_loss"], s["final_val_err"] = val.loss, val.error
    if read_test:
        test = measure("test")  # read once, here
        s["final_test_loss"], s["final_test_err"] = test.loss, test.error
    if cfg.run.select == "final":
        s["selected_on"] = "final (no per-epoch choice)"
    else:
        s.update(_best(data, net, best, measure if read_test else None))
    if cfg.run.refit_of:  # whatever the run selects, what it refits is said
        s["refit_of"] = cfg.run.refit_of
    s.update(train_time_s=round(elapsed, 2), device=str(world.device), processes=world.size)
    # every part of every epoch: steps, evaluation and each callback (checkpoints, metrics, ...)
    s["seconds_by_part"] = {k: round(v, 2) for k, v in sorted(state.totals.items())}
    s["seeds"] = dict(train=cfg.train.seed, split=cfg.data.split_seed)
    s["provenance"] = about["provenance"]
    # At max_norm.c when the constraint was binding (eq. 2); free nets show their drift.
    s["hidden_unit_norm_max"] = max(unit_norms(w).max().item() for w in hidden_weights(net))
    return s


def _best(data, net, best: Best, measure) -> dict:
    """The best epoch's numbers; with a validation split its test error is read here, once."""
    if not data.has_val:
        return dict(selected_on="test (no validation split: optimistic)", best_epoch=best.epoch,
                    best_test_err=best.err)  # fmt: skip
    s = dict(selected_on=f"val ({RULES[best.rule]})", best_epoch=best.epoch, best_val_err=best.err)
    if best.state is not None and measure is not None:  # None: the test split is not read
        final = {k: v.clone() for k, v in net.state_dict().items()}
        net.load_state_dict(best.state)
        test = measure("test")
        s["best_test_loss"], s["best_test_err"] = test.loss, test.error
        net.load_state_dict(final)
    return s
