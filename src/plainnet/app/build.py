"""Builders: from a resolved `Config` to the objects a run needs.

The device, the data on it, the model (seeded and initialized), its max-norm projection and
the optimizer. The trainer, the probe, the recipes and the CLI all build through here, so
they build the same things the same way.
"""

import inspect
import sys
from types import SimpleNamespace

import torch
from torch import nn

from plainnet.app.config import Config, ConfigError, OptimConfig, import_user_module, validate
from plainnet.data.datasets import ArrayDataset, is_user_dataset, load_dataset, spec
from plainnet.data.tensors import DeviceData
from plainnet.nn import speed
from plainnet.nn.constraints import MaxNorm
from plainnet.nn.correlation import resolve_beta
from plainnet.nn.lars import LARS
from plainnet.nn.models import (
    CONV_MODELS,
    MODELS,
    build_model,
    built_as,
    hidden_weights,
)


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
    """`cfg` with every "auto" that depends on the model replaced by its value (`model.beta`,
    `optim.lr`).

    A run writes this into its `config.toml`, so the folder says what was trained.
    """
    m = cfg.model
    beta = resolve_beta(m.beta, m.depth, m.eta, m.norm)
    if beta >= 1:  # rounds to a linear net, which every later command would refuse
        raise ConfigError(
            f"model.eta = {m.eta:g} makes the 'auto' slope 1.0 at depth {m.depth} (a linear "
            "net); use a larger model.eta (the default is 0.9)"
        )
    norm = "batch" if m.arch == "resnet" else m.norm  # a ResNet always has BatchNorm
    lr = resolve_lr(cfg.optim.lr, m.depth, norm, cfg.optim.clip_grad_norm > 0)
    return cfg.model_copy(
        update=dict(
            model=m.model_copy(update=dict(beta=beta)),
            optim=cfg.optim.model_copy(update=dict(lr=lr)),
        )
    )


# Without normalization every layer's step moves the output by about as much, so the steps
# add up over depth: SGD's learning rate must shrink as 1 / depth. The constants were chosen
# on USPS at 500 and 1,000 layers, on validation (docs/depth.md): without gradient clipping
# 0.5 / depth and more diverged in some seeds, so 0.2 / depth (the deep preset's); with the
# gradient's norm clipped (optim.clip_grad_norm = 20) no seed diverged up to 1 / depth, which
# had the lowest validation error of the clipped rules over both depths.
DEPTH_LR = 0.2
DEPTH_LR_CLIPPED = 1.0
NORMALIZED_LR = 0.02  # BatchNorm nets: the default, chosen on the digits data (docs/defaults.md)


def resolve_lr(lr: float | str, depth: int, norm: str, clipped: bool = False) -> float:
    """`lr` itself, or for `"auto"`: for a net without normalization `DEPTH_LR / depth`
    (0.2 / depth), or `DEPTH_LR_CLIPPED / depth` (1 / depth) when the gradient is `clipped`;
    the default 0.02 for a BatchNorm net (whose weights' scale does not matter to its
    output)."""
    if lr != "auto":
        return lr
    if norm != "none":
        return NORMALIZED_LR
    return (DEPTH_LR_CLIPPED if clipped else DEPTH_LR) / depth


def make_data(cfg: Config, device: torch.device | str = "cpu") -> DeviceData:
    return device_data(cfg, load_arrays(cfg), device, spec(cfg.data.dataset).augment)


def device_data(cfg: Config, ds: ArrayDataset, device, auto: bool | str = False) -> DeviceData:
    """`ds` on `device`, augmented as `data.augment` says (`auto`: what "auto" means for it:
    the registered data set's own choice, none for a user's arrays)."""
    augment = auto if cfg.data.augment == "auto" else cfg.data.augment
    return DeviceData(ds, device, augment)


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
        train_subset_by=d.train_subset_by,
        download=d.download,
        val_subset=val_subset(d),
    )


def calibration_samples(cfg: Config) -> int:
    """`train.calibrate_bn` as a number: "auto" is 1,024 for MLPs and 512 for conv nets."""
    if cfg.train.calibrate_bn != "auto":
        return cfg.train.calibrate_bn
    return 512 if cfg.model.arch in CONV_MODELS else 1024


def eval_batch_size(cfg: Config, device: torch.device) -> int:
    """`train.eval_batch_size` as a number: "auto" is the training batch for conv nets on CPU
    (feature maps in parts that stay in cache), else 1,000."""
    if cfg.train.eval_batch_size != "auto":
        return cfg.train.eval_batch_size
    conv = cfg.model.arch in CONV_MODELS and device.type == "cpu"
    return cfg.train.batch_size if conv else 1000


# validation samples a run on a training subset evaluates at most (data.val_subset = "auto")
QUICK_VAL = 1000


def val_subset(d) -> int:
    """`data.val_subset` as a number (0: the whole validation split)."""
    if d.val_subset != "auto":
        return d.val_subset
    return QUICK_VAL if d.train_subset else 0


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
    """The model of `cfg` for `data` (anything with `in_shape` and `num_classes`); the module
    `model.module` names, which registers it, is imported here, the first time it is needed."""
    try:
        if cfg.model.module:
            import_user_module(cfg.model.module)
        return build_model(
            **cfg.model.model_dump(), in_shape=data.in_shape, num_classes=data.num_classes
        )
    except ValueError as e:  # a combination the builder rejects, e.g. a ResNet depth
        raise ConfigError(f"model: {e}") from None


def model_name(cfg: Config) -> str:
    """What the config's model is: `plain mlp-100`, `ResNet (skip connections)-56`, or for a
    model that `model.module` registers its name and module (`tiny (mymodels)`, with its depth
    if its builder takes one)."""
    m = cfg.model
    if m.module:
        depth = f"-{m.depth}" if "depth" in builder_args(cfg) else ""
        return f"{m.arch}{depth} ({m.module})"
    kind = "ResNet (skip connections)" if m.arch == "resnet" else f"plain {m.arch}"
    return f"{kind}-{m.depth}"


def builder_args(cfg: Config) -> set[str]:
    """The `model` fields that the builder of `model.arch` takes (its module imported first)."""
    if cfg.model.module:
        try:
            import_user_module(cfg.model.module)
        except ValueError as e:
            raise ConfigError(f"model.module: {e}") from None
    fn = MODELS.get(cfg.model.arch)
    return set(inspect.signature(fn).parameters) if fn else set(type(cfg.model).model_fields)


def config_of(cfg: Config, model: nn.Module, data) -> Config | None:
    """`cfg` with its `model` section saying how `model` was built, or None if that cannot
    be said: a model no registered builder made, arguments the config has no field for, or a
    model changed after it was built (rebuilding it, without memory, gives other shapes)."""
    made = built_as(model)
    if made is None:
        return None
    try:
        new = validate(cfg.model_dump() | dict(model=cfg.model.model_dump() | made))
        with torch.device("meta"):
            again = make_model(new, data)
    except (ConfigError, ValueError, TypeError, RuntimeError):
        return None
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    return new if {k: v.shape for k, v in again.state_dict().items()} == shapes else None


def given_model_name(model: nn.Module) -> str:
    """The import path of a model given from Python that the config cannot describe."""
    return f"{type(model).__module__}.{type(model).__qualname__}"


def check_head(cfg: Config, model: nn.Module) -> None:
    """Max-norm on hidden layers only needs to know the classifier: the module `head`."""
    if (
        cfg.max_norm.enabled
        and cfg.max_norm.layers == "hidden"
        and not isinstance(getattr(model, "head", None), nn.Module)
    ):
        raise ConfigError(
            "max_norm.layers = 'hidden' leaves the classifier free, but the model has no "
            "module named head: name its classifier head, or set max_norm.layers = 'all'"
        )


def make_constraint(cfg: Config, model: nn.Module) -> MaxNorm | None:
    if not cfg.max_norm.enabled:
        return None
    check_head(cfg, model)
    target = model if cfg.max_norm.layers == "all" else hidden_weights(model)
    return MaxNorm(target, cfg.max_norm.c)


def init_model(
    cfg: Config, data, device="cpu", model: nn.Module | None = None
) -> tuple[nn.Module, MaxNorm | None]:
    """The model at initialization (seeded by train.seed) and its max-norm projection; with
    `model` (your own), that model, moved to `device`.

    The seed is applied inside `torch.random.fork_rng`, so the caller's global random state
    is the same afterwards as before.
    """
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train.seed)
            model = make_model(cfg, data)
    model = model.to(device)
    if speed.uses_channels_last(cfg.train.channels_last, cfg.model.arch in CONV_MODELS):
        model = model.to(memory_format=torch.channels_last)
    project = make_constraint(cfg, model)
    if project:
        project()  # start inside the constraint set, as every later step ends there
    return model, project


def make_callbacks(specs: list[dict]) -> list:
    """The callbacks `train.callbacks` names: each `class` imported (its module as
    `model.module` is) and called with the table's other keys; any failure is one line."""
    made = []
    for one in specs:
        args = {k: v for k, v in one.items() if k != "class"}
        module, _, name = one["class"].rpartition(".")
        try:
            import_user_module(module)
            made.append(getattr(sys.modules[module], name)(**args))
        except Exception as e:  # the user's class may raise anything for its arguments
            raise ConfigError(f"train.callbacks: {one['class']}({args}): {e}") from None
    return made


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
    if cfg.name == "lars":
        return LARS(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
            trust_coefficient=cfg.trust_coefficient,
        )
    opt = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    return opt(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=True)
