"""The training loop: one function, `train`, readable top to bottom.

SGD/Adam/AdamW with a per-step learning-rate schedule, the max-norm projection (eq. 2) after
every optimizer step, evaluation on the test split every epoch, and a run folder holding
the config, metrics and checkpoints (see `plainnet.runs`).
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

from plainnet import distributed, speed
from plainnet.config import Config, OptimConfig, ScheduleConfig
from plainnet.constraints import MaxNorm, unit_norms
from plainnet.data import DeviceData
from plainnet.datasets import load_dataset, spec
from plainnet.distributed import SINGLE, World
from plainnet.models import build_model, count_parameters, hidden_weights
from plainnet.runs import RunDir, RunError


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}") from None


def make_optimizer(cfg: OptimConfig, params) -> torch.optim.Optimizer:
    # fused: one kernel, one pass over memory for all parameters (CPU and CUDA); torch's own
    # CPU default is a Python loop over them (MLP-100: 2.3 ms against 5.8 ms, performance.md).
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
            fused=True,
        )
    opt = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    return opt(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=True)


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


def make_data(cfg: Config, device: torch.device | str = "cpu") -> DeviceData:
    d = cfg.data
    arrays = load_dataset(
        d.dataset,
        d.data_dir or None,
        test_fraction=d.test_fraction,
        split=d.split,
        split_seed=d.split_seed,
        image_size=d.image_size,
        train_subset=d.train_subset,
        download=d.download,
    )
    augment = spec(d.dataset).augment if d.augment == "auto" else d.augment
    return DeviceData(arrays, device, augment)


def make_model(cfg: Config, data: DeviceData) -> nn.Module:
    return build_model(
        **cfg.model.model_dump(), in_shape=data.in_shape, num_classes=data.num_classes
    )


def model_name(cfg: Config) -> str:
    kind = "ResNet (skip connections)" if cfg.model.arch == "resnet" else f"plain {cfg.model.arch}"
    return f"{kind}-{cfg.model.depth}"


def make_constraint(cfg: Config, model: nn.Module) -> MaxNorm | None:
    if not cfg.max_norm.enabled:
        return None
    target = model if cfg.max_norm.layers == "all" else hidden_weights(model)
    return MaxNorm(target, cfg.max_norm.c)


def init_model(cfg: Config, data: DeviceData, device="cpu") -> tuple[nn.Module, MaxNorm | None]:
    """The model at initialization (seeded by train.seed) and its max-norm projection."""
    torch.manual_seed(cfg.train.seed)
    model = make_model(cfg, data).to(device)
    if speed.uses_channels_last(cfg.train.channels_last, cfg.model.arch):
        model = model.to(memory_format=torch.channels_last)
    project = make_constraint(cfg, model)
    if project:
        project()  # start inside the constraint set, as every later step ends there
    return model, project


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


def train(cfg: Config, run: RunDir | None = None, resume: bool = False, console=None) -> Result:
    """Train `cfg` into `run` (a new folder if None); with `resume`, continue `run`'s checkpoint.

    Under torchrun every process calls this; only the main one writes and prints.
    Raises `TrainingDiverged` if the loss stops being finite.
    """
    world = distributed.setup(resolve_device(cfg.train.device))
    try:
        return _train(cfg, run, resume, console, world)
    finally:
        distributed.cleanup(world)


def _train(cfg: Config, run: RunDir | None, resume: bool, console, world: World) -> Result:
    device = world.device
    console = console or Console(highlight=False, soft_wrap=True, quiet=not world.main)
    data = make_data(cfg, device)
    net, project = init_model(cfg, data, device)
    opt = make_optimizer(cfg.optim, net.parameters())

    start_epoch, elapsed, best = 0, 0.0, math.inf
    if resume:
        state = run.load_checkpoint(device)
        try:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError):
            raise RunError(f"{run.checkpoint_path} does not fit the model of this config") from None
        start_epoch, elapsed, best = state["epoch"], state["elapsed_s"], state["best_test_err"]
    elif world.main:
        run = run or RunDir.create(cfg)
    if not world.main:
        run = RunDir(run.path if run else "", writable=False)
    run.truncate_metrics(start_epoch)
    # The model the optimizer steps: net, checkpointed, DDP-wrapped and compiled as configured.
    model = net
    if cfg.train.checkpoint_segments:
        model = speed.Checkpointed(net, cfg.train.checkpoint_segments)
    model = distributed.wrap(model, world, cfg.train.sync_bn)
    if cfg.train.compile:
        model = speed.CompiledOrEager(model)
    channels_last = speed.uses_channels_last(cfg.train.channels_last, cfg.model.arch)
    tb = run.tensorboard()

    n_train = len(data.y_train)
    steps = data.steps_per_epoch(cfg.train.batch_size)
    total = steps * cfg.train.epochs
    warmup = round(cfg.schedule.warmup_epochs * steps)
    n_params = count_parameters(net)
    console.print(f"run folder: {run.path}")
    console.print(data.describe())
    if world.size > 1:
        console.print(f"processes: {world.size} ({torch.distributed.get_backend()}), global batch")
    m = cfg.model
    max_norm = f"c={cfg.max_norm.c:g} ({cfg.max_norm.layers})" if project else "off"
    console.print(
        f"model: {model_name(cfg)}, {n_params:,} parameters, norm={m.norm}, "
        f"act={m.act}, init={m.init}, max-norm={max_norm}"
    )
    if start_epoch >= cfg.train.epochs:
        console.print(f"nothing to do: the run already finished {start_epoch} epochs")

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal or console.quiet,
    )
    eval_bs = cfg.train.eval_batch_size
    row: dict = {}
    with progress:
        task = progress.add_task("", total=steps, status="")
        for epoch in range(start_epoch + 1, cfg.train.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            # A generator per epoch makes a resumed run shuffle exactly as an unbroken one.
            gen = torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + epoch)
            loss_sum = torch.zeros((), device=device)
            err_sum = torch.zeros((), device=device)
            seen = 0
            progress.reset(task, description=f"epoch {epoch}/{cfg.train.epochs}")
            for i, (x, y) in enumerate(data.train_batches(cfg.train.batch_size, gen, world)):
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
                n_global = min(cfg.train.batch_size, n_train - i * cfg.train.batch_size)
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
                    _check_finite(tl, epoch, i, run)
                    progress.update(
                        task, completed=i + 1, status=f"loss {tl / n:.4f} err {te / n:.2%}"
                    )
            test_loss, test_err = evaluate(net, data.eval_batches("test", eval_bs, world), world)
            epoch_time = time.perf_counter() - t0
            elapsed += epoch_time
            best = min(best, test_err)
            row = dict(
                epoch=epoch,
                step=epoch * steps,
                lr=lr,
                train_loss=tl / n,
                train_err=te / n,
                test_loss=test_loss,
                test_err=test_err,
                epoch_time_s=round(epoch_time, 3),
                elapsed_s=round(elapsed, 3),
            )
            run.append_metrics(row)
            if cfg.run.probe_every and epoch % cfg.run.probe_every == 0:
                from plainnet.probe import probe, probe_data  # probe builds on this module

                batches = probe_data(data, "train", cfg.run.probe_samples, cfg.train.seed)
                result = probe(net, batches, grad_batch=batches[0])
                run.append_probe(epoch, result.to_dict(finite=True)["layers"])
            if tb:
                for k in ("lr", "train_loss", "train_err", "test_loss", "test_err"):
                    tb.add_scalar(k, row[k], epoch)
            if epoch % cfg.run.checkpoint_every == 0 or epoch == cfg.train.epochs:
                state = dict(
                    model=net.state_dict(),
                    optimizer=opt.state_dict(),
                    epoch=epoch,
                    elapsed_s=elapsed,
                    best_test_err=best,
                    config=cfg.model_dump(),
                )
                run.save_checkpoint(state)
            console.print(
                f"epoch {epoch:>4}  train loss {row['train_loss']:.4f} err {row['train_err']:7.2%}"
                f"  test loss {test_loss:.4f} err {test_err:7.2%}  lr {lr:.4g}  {epoch_time:.1f}s"
            )
    if tb:
        tb.close()

    # The running train error mixes many weight states (and train-mode BN): measure the final
    # model on the whole train split in eval mode too, as a paper's "train error" is.
    train_loss, train_err = evaluate(net, data.eval_batches("train", eval_bs, world), world)
    if not row:  # resumed a finished run: no epoch ran to measure the test split
        test_loss, test_err = evaluate(net, data.eval_batches("test", eval_bs, world), world)
    summary = dict(
        dataset=data.name,
        model=model_name(cfg),
        parameters=n_params,
        epochs=cfg.train.epochs,
        final_train_loss=train_loss,
        final_train_err=train_err,
        final_test_loss=test_loss,
        final_test_err=test_err,
        best_test_err=best,
        train_time_s=round(elapsed, 2),
        device=str(device),
        processes=world.size,
        # At max_norm.c when the constraint was binding (eq. 2); free nets show their drift.
        hidden_unit_norm_max=max(unit_norms(w).max().item() for w in hidden_weights(net)),
    )
    run.write_summary(summary)
    console.print(_summary_table(summary))
    return Result(run, summary, net)


def _check_finite(loss_sum: float, epoch: int, i: int, run: RunDir) -> None:
    if not math.isfinite(loss_sum):
        kept = run.checkpoint_path if run.checkpoint_path.exists() else "none yet"
        raise TrainingDiverged(
            f"loss became {loss_sum} in epoch {epoch} (step {i + 1}); "
            f"stopped. Last good checkpoint: {kept}. Try a lower optim.lr or enable max_norm."
        )


def _summary_table(s: dict) -> Table:
    t = Table(title=f"{s['model']} on {s['dataset']}: {s['parameters']:,} parameters")
    t.add_column("split")
    t.add_column("loss", justify="right")
    t.add_column("error", justify="right")
    t.add_row(
        "train (final, eval mode)", f"{s['final_train_loss']:.4f}", f"{s['final_train_err']:.2%}"
    )
    t.add_row("test (final)", f"{s['final_test_loss']:.4f}", f"{s['final_test_err']:.2%}")
    t.add_row("test (best epoch)", "", f"{s['best_test_err']:.2%}")
    t.caption = f"{s['epochs']} epochs, {s['train_time_s']:.1f} s training on {s['device']}"
    return t
