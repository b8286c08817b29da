"""The training loop: `train`, readable top to bottom.

SGD/Adam/AdamW with a per-step learning-rate schedule, the max-norm projection (eq. 2) after
every optimizer step, evaluation on the validation split every epoch, and a run folder holding
the config, metrics and checkpoints (see `plainnet.runs`).

Splits: with a validation split (`data.val_fraction > 0`, the default) every per-epoch choice
(the best epoch, `checkpoints/best.pt`) is made on it, and the test split is read once, at the
end, for the final and the best-epoch model. With `data.val_fraction = 0` the test split is
evaluated every epoch instead and the best epoch is selected on it (an optimistic number,
labelled so in the summary).
"""

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from torch import nn

from plainnet import distributed, speed, tensorboard
from plainnet.build import (
    check_memory,
    init_model,
    make_data,
    make_optimizer,
    model_name,
    resolve_device,
    with_numbers,
)
from plainnet.config import (
    Config,
    ConfigError,
    ScheduleConfig,
    apply_overrides,
    parse_override,
    validate,
)
from plainnet.constraints import unit_norms
from plainnet.data import DeviceData
from plainnet.distributed import SINGLE, World
from plainnet.errors import TrainingDiverged
from plainnet.models import count_parameters, hidden_weights
from plainnet.norms import recalibrate_
from plainnet.runs import RunDir, RunError, provenance


def lr_factor(step: int, total: int, warmup: int, cfg: ScheduleConfig) -> float:
    """Multiplier of the base lr at optimizer step `step` of `total` (`warmup` steps linear)."""
    if step < warmup:
        return (step + 1) / warmup
    if cfg.name == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if cfg.name == "multistep":
        return cfg.gamma ** sum(step >= m * total for m in cfg.milestones)
    return 1.0


@torch.no_grad()
def evaluate(model: nn.Module, batches, world: World = SINGLE) -> tuple[float, float]:
    """Mean cross-entropy and error rate over `batches` (summed over processes), in eval mode."""
    was_training = model.training
    model.eval()
    loss = err = 0.0
    n = 0
    for x, y in batches:
        out = model(x)
        loss = loss + F.cross_entropy(out, y, reduction="sum")
        err = err + (out.argmax(1) != y).sum()
        n += len(y)
    model.train(was_training)
    loss, err, n = world.sum(loss, err, n)  # one device sync for the whole split
    return loss / n, err / n


@dataclass
class Result:
    run_dir: RunDir
    summary: dict
    model: nn.Module  # the trained network (unwrapped from DDP)


@dataclass
class Best:
    """The best epoch so far, on the selection split (validation, else test)."""

    epoch: int = 0
    err: float = math.inf
    state: dict | None = None  # the model's weights then (only with a validation split)


def train(cfg: Config, run: RunDir | None = None, resume: bool = False, console=None) -> Result:
    """Train `cfg` into `run` (a new folder if None); with `resume`, continue `run`'s checkpoint.

    `model.beta = "auto"` is resolved to its number first (printed, and written into the
    run's config.toml). Under torchrun every process calls this; only the main one writes and
    prints. Raises `TrainingDiverged` if the loss or the weights stop being finite.
    """
    cfg = with_numbers(cfg)
    world = distributed.setup(resolve_device(cfg.train.device))
    try:
        with speed.flush_denormals():
            return _train(cfg, run, resume, console, world)
    finally:
        distributed.cleanup(world)


# What may change when a run is resumed: nothing that changes the model, its data or its path.
RESUMABLE = {"train.epochs", "train.device", "run.checkpoint_every"}


def resume(
    run_dir, overrides: list[str] | tuple[str, ...] = (), extend: bool = False, console=None
) -> Result:
    """Continue the run in `run_dir` from its last checkpoint, bit for bit as the unbroken run.

    `overrides` (`section.key=value`) may change only `RESUMABLE` fields; `config.toml` must
    still agree with the config stored in the checkpoint (a hand edit is refused, naming each
    field), and is rewritten only once the checkpoint has loaded and been checked.

    More epochs than the run was configured with need `extend=True`: the learning-rate
    schedule is then recomputed for the new length and continues from the current step (a
    cosine picks up at its value for that step of the longer run), which is not the same as an
    unbroken run of the new length.
    """
    changed = sorted({".".join(parse_override(o)[:2]) for o in overrides} - RESUMABLE)
    if changed:
        raise ConfigError(f"cannot change {changed} when resuming; only {sorted(RESUMABLE)}")
    run = RunDir.open(run_dir)
    saved = run.config()
    cfg = validate(apply_overrides(saved.model_dump(), overrides), str(run.config_path))
    if cfg.train.epochs > saved.train.epochs and not extend:
        raise ConfigError(
            f"train.epochs={cfg.train.epochs} extends a run configured for "
            f"{saved.train.epochs}; pass --extend (extend=True) to continue with the "
            "learning-rate schedule stretched to the new length"
        )
    return train(cfg, run, resume=True, console=console)


def _train(cfg: Config, run: RunDir | None, resume: bool, console, world: World) -> Result:
    # first: bad data or a model too large leaves no empty run folder behind
    data = make_data(cfg, world.device)
    check_memory(cfg, data, world.device)
    if world.main:
        run = run or RunDir.create(cfg)
    else:
        run = RunDir(run.path if run else "", writable=False)
    with run.lock():
        return _train_locked(cfg, run, resume, console, world, data)


def _train_locked(cfg: Config, run: RunDir, resume, console, world: World, data) -> Result:
    device = world.device
    console = console or Console(highlight=False, soft_wrap=True, quiet=not world.main)
    net, project = init_model(cfg, data, device)
    opt = make_optimizer(cfg.optim, net.parameters())
    start_epoch, elapsed, best = 0, 0.0, Best()
    if resume:
        start_epoch, elapsed, best = _restore(run, cfg, net, opt, device, data.has_val)
        run.write_config(cfg)
    run.truncate_metrics(start_epoch)
    model = _training_model(net, cfg, world)
    _announce(console, cfg, data, run, net, project is not None, world)
    if start_epoch >= cfg.train.epochs:
        console.print(f"nothing to do: the run already finished {start_epoch} epochs")

    tb = tensorboard.open_writer(cfg.run.tensorboard, run.path / "tb") if run.writable else None
    if tb:
        tensorboard.log_config(tb, cfg)
    select = "val" if data.has_val else "test"
    calibration = _calibration_sample(cfg, data)
    about = _about(cfg, data, world)  # what every checkpoint carries besides its weights
    uncalibrated: dict = {}

    def measure(split: str) -> tuple[float, float]:
        return evaluate(net, data.eval_batches(split, cfg.train.eval_batch_size, world), world)

    progress = _progress_bar(console)
    row: dict = {}
    with progress:
        for epoch in range(start_epoch + 1, cfg.train.epochs + 1):
            t0 = time.perf_counter()
            lr, train_loss, train_err = train_epoch(
                model, opt, project, data, cfg, epoch, world, progress, run
            )
            row = dict(epoch=epoch, step=epoch * data.steps_per_epoch(cfg.train.batch_size))
            row.update(lr=lr, train_loss=train_loss, train_err=train_err)
            if calibration is not None:
                if epoch == cfg.train.epochs:  # what PyTorch's running averages would give
                    splits = [s for s in data.SPLITS if len(data.split(s)[1])]
                    uncalibrated = {s: measure(s)[1] for s in splits}
                recalibrate_(net, calibration)
            # the test split is read every epoch only when there is no validation split
            row[f"{select}_loss"], row[f"{select}_err"] = measure(select)
            _check_finite(net, row[f"{select}_loss"], epoch, run)
            epoch_time = time.perf_counter() - t0
            elapsed += epoch_time
            row.update(epoch_time_s=round(epoch_time, 3), elapsed_s=round(elapsed, 3))
            if row[f"{select}_err"] < best.err:
                best = Best(epoch, row[f"{select}_err"])
                if data.has_val:
                    best.state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    run.save_checkpoint(
                        dict(model=best.state, epoch=epoch, **about),
                        run.best_path,
                    )
            run.append_metrics(row)
            if cfg.run.probe_every and epoch % cfg.run.probe_every == 0:
                layers = _probe_into(run, net, data, cfg, epoch)
                if tb:
                    tensorboard.log_probe(tb, layers, epoch)
            if tb:
                tensorboard.log_epoch(tb, row)
            if epoch % cfg.run.checkpoint_every == 0 or epoch == cfg.train.epochs:
                run.save_checkpoint(
                    dict(
                        model=net.state_dict(),
                        optimizer=opt.state_dict(),
                        epoch=epoch,
                        elapsed_s=elapsed,
                        best_epoch=best.epoch,
                        best_err=best.err,
                        **about,
                    )
                )
            console.print(_epoch_line(row, select))
    summary = _summarize(cfg, data, net, best, row, elapsed, world, about, measure)
    for split, err in uncalibrated.items():
        summary[f"final_{split}_err_running_stats"] = err
    if tb:
        tensorboard.log_hparams(tb, cfg, summary)
        tb.close()
    run.write_summary(summary)
    console.print(_summary_table(summary))
    return Result(run, summary, net)


def train_epoch(
    model: nn.Module, opt, project, data: DeviceData, cfg: Config, epoch: int, world, progress, run
) -> tuple[float, float, float]:
    """One epoch of optimizer steps; returns the last lr and the running train loss and error
    (over the epoch's batches, train-mode BatchNorm)."""
    device = world.device
    bs = cfg.train.batch_size
    bounds = data.batch_bounds(bs)
    steps = len(bounds) - 1
    total = steps * cfg.train.epochs
    warmup = round(cfg.schedule.warmup_epochs * steps)
    channels_last = speed.uses_channels_last(cfg.train.channels_last, cfg.model.arch)
    model.train()
    # A generator per epoch makes a resumed run shuffle exactly as an unbroken one.
    gen = torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + epoch)
    loss_sum = torch.zeros((), device=device)
    err_sum = torch.zeros((), device=device)
    seen = 0
    task = progress.add_task(f"epoch {epoch}/{cfg.train.epochs}", total=steps, status="")
    for i, (x, y) in enumerate(data.train_batches(bs, gen, world)):
        step = (epoch - 1) * steps + i
        lr = cfg.optim.lr * lr_factor(step, total, warmup, cfg.schedule)
        for g in opt.param_groups:
            g["lr"] = lr
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with speed.autocast(device, cfg.train.amp):
            out = model(x)
            ce = F.cross_entropy(out.float(), y, reduction="sum")
        # Mean over the global batch: DDP averages the processes' gradients, so each
        # scales its sum by (processes / global batch), whatever its share's size.
        n_global = bounds[i + 1] - bounds[i]
        opt.zero_grad(set_to_none=True)
        (ce * (world.size / n_global)).backward()
        opt.step()
        if project:
            project()  # the same projection on every process keeps the weights equal
        loss_sum += ce.detach()
        err_sum += (out.detach().argmax(1) != y).sum()
        seen += len(y)
        if i % 10 == 0 or i == steps - 1:
            # Summed over processes, so that all of them stop together on a NaN.
            tl, te, n = world.sum(loss_sum, err_sum, seen)
            if not math.isfinite(tl):
                raise TrainingDiverged(
                    f"loss became {tl} in epoch {epoch} (step {i + 1}); stopped. "
                    f"{_kept(run)} Try a lower optim.lr or enable max_norm."
                )
            progress.update(task, completed=i + 1, status=f"loss {tl / n:.4f} err {te / n:.2%}")
    progress.remove_task(task)
    return lr, tl / n, te / n


def _calibration_sample(cfg: Config, data: DeviceData) -> torch.Tensor | None:
    """The fixed, seeded training samples BatchNorm is calibrated on (None: no calibration).
    Batch Renormalization trains on its running statistics, so they are left to it."""
    if not cfg.train.calibrate_bn or cfg.model.norm != "batch":
        return None
    gen = torch.Generator().manual_seed(cfg.train.seed)
    idx = torch.randperm(len(data.y_train), generator=gen)[: cfg.train.calibrate_bn]
    return data.x_train[idx.sort().values.to(data.x_train.device)]


def _restore(run: RunDir, cfg: Config, net, opt, device, has_val) -> tuple[int, float, Best]:
    state = run.load_checkpoint(device)
    if "config" in state:
        _check_same_config(run, state["config"], cfg.model_dump())
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
    # Checkpoints written before the validation split kept only the best test error.
    best = Best(state.get("best_epoch", 0), state.get("best_err", state.get("best_test_err")))
    if has_val and best.epoch:
        best.state = run.load_checkpoint(device, run.best_path, optimizer=False)["model"]
    return state["epoch"], state["elapsed_s"], best


def _about(cfg: Config, data: DeviceData, world: World) -> dict:
    """What every checkpoint carries besides weights, so it can be used on its own."""
    return dict(config=cfg.model_dump(), data=data.info(), provenance=provenance(world.device))


def _check_same_config(run: RunDir, saved: dict, now: dict) -> None:
    """Refuse a resume whose config differs from the checkpoint's beyond `RESUMABLE`."""
    diffs = [
        f"{section}.{key} ({saved[section][key]!r} in the checkpoint, {value!r} now)"
        for section, fields in now.items()
        for key, value in fields.items()
        if f"{section}.{key}" not in RESUMABLE and saved.get(section, {}).get(key, value) != value
    ]
    if diffs:
        raise RunError(
            f"{run.config_path} differs from its checkpoint: {', '.join(diffs)}; "
            "start a new run to change them"
        )


def _training_model(net: nn.Module, cfg: Config, world: World) -> nn.Module:
    """The model the optimizer steps: `net`, checkpointed, DDP-wrapped, compiled as configured."""
    model = net
    if cfg.train.checkpoint_segments:
        model = speed.Checkpointed(net, cfg.train.checkpoint_segments)
    model = distributed.wrap(model, world, cfg.train.sync_bn)
    if cfg.train.compile:
        model = speed.CompiledOrEager(model)
    return model


def _announce(console, cfg: Config, data, run, net, max_norm_on: bool, world: World) -> None:
    console.print(f"run folder: {run.path}")
    console.print(data.describe())
    if world.size > 1:
        console.print(f"processes: {world.size} ({torch.distributed.get_backend()}), global batch")
    m = cfg.model
    act = m.act
    if m.act == "leaky_relu":
        act += f" (beta {m.beta:g})"
    max_norm = f"c={cfg.max_norm.c:g} ({cfg.max_norm.layers})" if max_norm_on else "off"
    console.print(
        f"model: {model_name(cfg)}, {count_parameters(net):,} parameters, norm={m.norm}, "
        f"act={act}, init={m.init}, max-norm={max_norm}"
    )


def _progress_bar(console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal or console.quiet,
    )


def _probe_into(run: RunDir, net, data, cfg: Config, epoch: int) -> list[dict]:
    from plainnet.probe import probe, probe_data

    batches = probe_data(data, "train", cfg.run.probe_samples, cfg.train.seed)
    layers = probe(net, batches, grad_batch=batches[0]).to_dict(finite=True)["layers"]
    run.append_probe(epoch, layers)
    return layers


def first_nonfinite(model: nn.Module) -> str | None:
    """The name of the first parameter or buffer (e.g. a BatchNorm running variance) holding a
    NaN or inf, or None."""
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            return name
    return None


def _kept(run: RunDir) -> str:
    if run.checkpoint_path.exists():
        return f"Last finite checkpoint: {run.checkpoint_path}."
    return "No checkpoint was written yet."


def _check_finite(net: nn.Module, eval_loss: float, epoch: int, run: RunDir) -> None:
    """Before an epoch's checkpoint: the weights, BatchNorm buffers and eval loss are finite."""
    bad = first_nonfinite(net)
    if bad or not math.isfinite(eval_loss):
        what = f"{bad} holds NaN/inf" if bad else f"the evaluation loss is {eval_loss}"
        raise TrainingDiverged(
            f"after epoch {epoch} {what}; stopped without saving it. {_kept(run)} "
            "Try a lower optim.lr or enable max_norm."
        )


def _epoch_line(row: dict, select: str) -> str:
    return (
        f"epoch {row['epoch']:>4}  train loss {row['train_loss']:.4f} err {row['train_err']:7.2%}"
        f"  {select} loss {row[f'{select}_loss']:.4f} err {row[f'{select}_err']:7.2%}"
        f"  lr {row['lr']:.4g}  {row['epoch_time_s']:.1f}s"
    )


def _summarize(
    cfg, data, net, best: Best, row: dict, elapsed: float, world, about, measure
) -> dict:
    """Final numbers. The running train error mixes many weight states (and train-mode BN): the
    final model is also measured on the whole train split in eval mode, as a paper's "train
    error" is; the gap between the two is the train-mode / eval-mode gap of deep BN nets."""

    s = dict(dataset=data.name, model=model_name(cfg), parameters=count_parameters(net))
    s.update(epochs=cfg.train.epochs, beta=cfg.model.beta)
    s["final_train_loss"], s["final_train_err"] = measure("train")
    s["final_running_train_err"] = row.get("train_err")  # None when resuming a finished run
    if data.has_val:  # the last epoch measured it already, with the same weights
        has_row = "val_err" in row
        s["final_val_loss"], s["final_val_err"] = (
            (row["val_loss"], row["val_err"]) if has_row else measure("val")
        )
    s["final_test_loss"], s["final_test_err"] = measure("test")  # read once, here
    s["selected_on"] = "val" if data.has_val else "test (no validation split: optimistic)"
    s["best_epoch"] = best.epoch
    if data.has_val:
        s["best_val_err"] = best.err
        if best.state is not None:
            final = {k: v.clone() for k, v in net.state_dict().items()}
            net.load_state_dict(best.state)
            s["best_test_loss"], s["best_test_err"] = measure("test")
            net.load_state_dict(final)
    else:
        s["best_test_err"] = best.err
    s.update(train_time_s=round(elapsed, 2), device=str(world.device), processes=world.size)
    s["seeds"] = dict(train=cfg.train.seed, split=cfg.data.split_seed)
    s["provenance"] = about["provenance"]
    # At max_norm.c when the constraint was binding (eq. 2); free nets show their drift.
    s["hidden_unit_norm_max"] = max(unit_norms(w).max().item() for w in hidden_weights(net))
    return s


def _summary_table(s: dict) -> Table:
    t = Table(title=f"{s['model']} on {s['dataset']}: {s['parameters']:,} parameters")
    t.add_column("split")
    t.add_column("loss", justify="right")
    t.add_column("error", justify="right")
    t.add_row(
        "train (final, eval mode)", f"{s['final_train_loss']:.4f}", f"{s['final_train_err']:.2%}"
    )
    if s.get("final_running_train_err") is not None:
        t.add_row("train (last epoch, running)", "", f"{s['final_running_train_err']:.2%}")
    if "final_val_err" in s:
        t.add_row("validation (final)", f"{s['final_val_loss']:.4f}", f"{s['final_val_err']:.2%}")
    t.add_row("test (final)", f"{s['final_test_loss']:.4f}", f"{s['final_test_err']:.2%}")
    if "best_test_err" in s:
        t.add_row(
            f"test (epoch {s['best_epoch']}, best on {s['selected_on'].split()[0]})",
            "",
            f"{s['best_test_err']:.2%}",
        )
    t.caption = f"{s['epochs']} epochs, {s['train_time_s']:.1f} s training on {s['device']}"
    return t
