"""Builders: from a resolved `Config` to the objects a run needs.

The device, the data on it, the model (seeded and initialized), its max-norm projection and
the optimizer. The trainer, the probe, the recipes and the CLI all build through here, so
they build the same things the same way.
"""

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from plainnet import speed
from plainnet.config import Config, ConfigError, OptimConfig, validate
from plainnet.constraints import MaxNorm
from plainnet.correlation import resolve_beta
from plainnet.data import DeviceData, Standardize
from plainnet.datasets import ArrayDataset, is_user_dataset, load_dataset, spec
from plainnet.models import ACTIVATION_TYPES, build_model, count_parameters, hidden_weights
from plainnet.runs import RunDir, RunError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: unknown device {name!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"train.device: plainnet trains on cpu or cuda, not {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} asked for, but this PyTorch sees no CUDA GPU")
    return device


def with_numbers(cfg: Config) -> Config:
    """`cfg` with every "auto" that depends on the model replaced by its value (`model.beta`).

    A run writes this into its `config.toml`, so the folder says which slope was trained.
    """
    beta = resolve_beta(cfg.model.beta, cfg.model.depth, cfg.model.eta, cfg.model.norm)
    if beta == cfg.model.beta:
        return cfg
    return cfg.model_copy(update=dict(model=cfg.model.model_copy(update=dict(beta=beta))))


def make_data(cfg: Config, device: torch.device | str = "cpu") -> DeviceData:
    d = cfg.data
    augment = spec(d.dataset).augment if d.augment == "auto" else d.augment
    return DeviceData(load_arrays(cfg), device, augment)


def load_arrays(cfg: Config) -> ArrayDataset:
    """The raw train/validation/test arrays of `cfg`'s data, split as training splits them."""
    d = cfg.data
    return load_dataset(
        d.dataset,
        d.data_dir or None,
        test_fraction=d.test_fraction,
        val_fraction=d.val_fraction,
        split=d.split,
        split_seed=d.split_seed,
        image_size=d.image_size,
        train_subset=d.train_subset,
        download=d.download,
    )


def data_shape(cfg: Config) -> SimpleNamespace:
    """`in_shape` and `num_classes` of `cfg`'s data from the dataset registry, without reading
    or downloading data; a user's data set, or one stored at any image size (COIL-20), is read."""
    d = cfg.data
    s = None if is_user_dataset(d.dataset) else spec(d.dataset)
    if s is not None and (s.size or d.image_size):
        h, w = (d.image_size, d.image_size) if d.image_size else s.size
        return SimpleNamespace(in_shape=(s.channels, h, w), num_classes=s.num_classes)
    data = make_data(cfg)
    return SimpleNamespace(in_shape=data.in_shape, num_classes=data.num_classes)


def make_model(cfg: Config, data) -> nn.Module:
    """The model of `cfg` for `data` (anything with `in_shape` and `num_classes`)."""
    try:
        return build_model(
            **cfg.model.model_dump(), in_shape=data.in_shape, num_classes=data.num_classes
        )
    except ValueError as e:  # a combination the builder rejects, e.g. a ResNet depth
        raise ConfigError(f"model: {e}") from None


def model_name(cfg: Config) -> str:
    kind = "ResNet (skip connections)" if cfg.model.arch == "resnet" else f"plain {cfg.model.arch}"
    return f"{kind}-{cfg.model.depth}"


def memory_estimate(cfg: Config, data) -> dict[str, int]:
    """Bytes a training step of `cfg` needs, worked out on PyTorch's meta device before
    anything is allocated: the parameters, their gradients, the optimizer's state (SGD
    momentum: one copy, Adam: two) and the activations one batch keeps for the backward pass
    (every layer's output), all float32.

    Creating a layer costs about a millisecond even on the meta device, so nets deeper than
    `EXACT_DEPTH` are counted at two smaller depths and extrapolated linearly in depth (exact
    for an MLP, close for a CNN whose stages grow with depth).
    """

    def count(depth: int) -> tuple[int, int]:
        c = cfg.model_copy(update=dict(model=cfg.model.model_copy(update=dict(depth=depth))))
        with torch.device("meta"):
            model = make_model(c, data)
        return count_parameters(model), _activations(model, tuple(data.in_shape))[1]

    d = cfg.model.depth
    if d <= EXACT_DEPTH:
        params, acts = count(d)
    else:
        (p1, a1), (p2, a2) = count(EXACT_DEPTH // 2), count(EXACT_DEPTH)
        scale = (d - EXACT_DEPTH) / (EXACT_DEPTH - EXACT_DEPTH // 2)
        params, acts = round(p2 + (p2 - p1) * scale), round(a2 + (a2 - a1) * scale)
    o = cfg.optim
    states = 2 if o.name != "sgd" else int(o.momentum > 0)
    return dict(
        parameters=4 * params,
        gradients=4 * params,
        optimizer=4 * params * states,
        activations=4 * acts * cfg.train.batch_size,
    )


EXACT_DEPTH = 2000


def _activations(m: nn.Module, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(output shape, values kept for backward) of `m` for one sample of `shape`. Worked out
    from the layers' sizes where they say it (a meta-device forward pass costs milliseconds
    per layer, minutes for very deep nets); any other module runs once on the meta device."""
    if isinstance(m, nn.Sequential):
        kept = 0
        for child in m:
            shape, k = _activations(child, shape)
            kept += k
        return shape, kept
    if isinstance(m, nn.Linear):
        shape = (*shape[:-1], m.out_features)
    elif isinstance(m, nn.Conv2d) and isinstance(m.padding, tuple):
        hw = [
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, p, d, k, s in zip(
                shape[1:], m.padding, m.dilation, m.kernel_size, m.stride, strict=True
            )
        ]
        shape = (m.out_channels, *hw)
    elif isinstance(m, nn.Flatten):
        shape = (math.prod(shape),)
    elif isinstance(m, nn.AdaptiveAvgPool2d):
        shape = (shape[0], *nn.modules.utils._pair(m.output_size))
    elif not isinstance(m, _SHAPE_KEEPING):
        sizes: list[int] = []
        leaves = [x for x in m.modules() if not any(x.children())]
        hooks = [x.register_forward_hook(lambda _m, _i, o: sizes.append(o.numel())) for x in leaves]
        try:
            shape = tuple(m(torch.zeros(2, *shape, device="meta")).shape[1:])
        finally:
            for h in hooks:
                h.remove()
        return shape, sum(sizes) // 2
    return shape, math.prod(shape)


# Modules whose output has their input's shape.
_SHAPE_KEEPING = (nn.modules.batchnorm._NormBase, nn.Identity, nn.Dropout, *ACTIVATION_TYPES)


def free_memory(device: torch.device) -> int:
    """Bytes free on `device`: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(cfg: Config, data, device: torch.device) -> None:
    """Refuse, with the numbers, a run whose estimated memory exceeds what `device` has free."""
    need = memory_estimate(cfg, data)
    total, free = sum(need.values()), free_memory(device)
    if total > free:
        parts = ", ".join(f"{k} {_gib(v)}" for k, v in need.items())
        raise ConfigError(
            f"this model needs about {_gib(total)} to train ({parts}; batch "
            f"{cfg.train.batch_size}) but {device.type} has {_gib(free)} free; reduce "
            "model.depth, model.width/channels or train.batch_size"
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


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


def make_optimizer(cfg: OptimConfig, params) -> torch.optim.Optimizer:
    # fused: one kernel, one pass over memory for all parameters (CPU and CUDA); torch's own
    # CPU default is a Python loop over them (docs/performance.md).
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


@dataclass
class LoadedRun:
    model: nn.Module  # in eval mode, on the requested device
    preprocess: Standardize  # raw inputs (e.g. uint8 images) -> the model's inputs
    config: Config
    classes: int
    class_names: list[str]
    in_shape: tuple[int, ...]  # C, H, W of the model's inputs
    epoch: int  # of the checkpoint


def load_run(
    run_dir: str | Path, checkpoint: str = "best", device: torch.device | str = "cpu"
) -> LoadedRun:
    """A trained model from a run folder, with the input preprocessing it was trained with.

    `checkpoint`: "best" (the best validation epoch) or "last". Needs no dataset and no
    network; the checkpoint is read with `torch.load(weights_only=True)`.
    """
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    run = RunDir.open(run_dir)
    path = run.best_path if checkpoint == "best" else run.checkpoint_path
    if checkpoint == "best" and not path.exists():
        raise RunError(f"{path} not found (a run without a validation split); use 'last'")
    state = run.load_checkpoint(device, path, optimizer=False)
    if "data" not in state:
        raise RunError(
            f"{path} was written by an older plainnet and lacks the input normalization; "
            "retrain, or rebuild it with plainnet.build.make_data"
        )
    info = state["data"]
    cfg = validate(state["config"], str(path))
    shape = SimpleNamespace(in_shape=tuple(info["in_shape"]), num_classes=info["num_classes"])
    model = make_model(cfg, shape)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    prep = Standardize.from_state(info)
    names = info.get("class_names") or [str(c) for c in range(info["num_classes"])]
    return LoadedRun(model, prep, cfg, info["num_classes"], names, shape.in_shape, state["epoch"])
