"""Plain (skip-free) networks: a stack of hidden layers and a classifier, in one registry.

A hidden layer is `weight -> [BatchNorm] -> activation` (`PlainBlock`); a model is an
`nn.Sequential` whose children are named `layer1 ... layerN` (the hidden layers, numbered as
in the paper) followed by the classifier `head`. Depth counts weight layers including the
classifier, as the paper does: a 100-layer net has 99 hidden layers and one head.
"""

import functools
import inspect
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from plainnet.nn.correlation import resolve_beta
from plainnet.nn.init import init_weights_, layer_weights
from plainnet.nn.norms import BatchRenorm1d, BatchRenorm2d

ACTIVATIONS: dict[str, Callable[[float], nn.Module]] = {
    "relu": lambda beta: nn.ReLU(),
    "leaky_relu": lambda beta: nn.LeakyReLU(beta),  # eq. 1: H = Z if Z > 0 else beta * Z
    "elu": lambda beta: nn.ELU(),
    "selu": lambda beta: nn.SELU(),
    "gelu": lambda beta: nn.GELU(),
    "silu": lambda beta: nn.SiLU(),
    "tanh": lambda beta: nn.Tanh(),
}
# Elementwise activation modules (what the probe hooks as a layer's output).
ACTIVATION_TYPES = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.PReLU,
)
# norm name -> (layer for Linear outputs, layer for conv outputs); "none": no normalization.
NORMS: dict[str, tuple[Callable[[int], nn.Module], Callable[[int], nn.Module]] | None] = {
    "batch": (nn.BatchNorm1d, nn.BatchNorm2d),
    "batch_renorm": (BatchRenorm1d, BatchRenorm2d),  # trains on what eval mode sees
    "none": None,
}


def activation(name: str, beta: float = 0.5) -> nn.Module:
    """The activation `name`; `beta` is the negative slope of `leaky_relu` (eq. 1)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](beta)


class PlainBlock(nn.Sequential):
    """One hidden layer: `weight` (Linear or Conv) -> optional `norm` -> `act`. No skip."""

    def __init__(self, weight: nn.Module, norm: nn.Module | None, act: nn.Module):
        layers = OrderedDict(weight=weight)
        if norm is not None:
            layers["norm"] = norm
        layers["act"] = act
        super().__init__(layers)


class PlainNet(nn.Sequential):
    """Hidden `PlainBlock`s named `layer1..layerN`, then the classifier `head`."""

    @property
    def blocks(self) -> list[PlainBlock]:
        return [m for m in self if isinstance(m, PlainBlock)]

    @property
    def depth(self) -> int:
        return len(self.blocks) + 1


def hidden_weights(model: nn.Module) -> list[torch.Tensor]:
    """Weights of the hidden layers (every Linear/Conv except the classifier `head`)."""
    head = getattr(model, "head", None)
    skip = {id(p) for p in head.parameters()} if head is not None else set()
    return [w for w in layer_weights(model) if id(w) not in skip]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_table(model: nn.Module, in_shape: Sequence[int]) -> list[dict]:
    """One row per child of `model` (stem, `layer1..N`, head...): name, what it is, its output
    shape for one sample, its parameters and forward FLOPs per sample (PyTorch's
    `FlopCounterMode`: matrix products and convolutions, 2 per multiply-add).

    Build the model under `torch.device("meta")` and nothing is allocated or computed, so any
    size can be described; the model is put in eval mode.
    """
    device = next(model.parameters()).device
    model.eval()
    measured = _measure_children(model, (1, *in_shape), device)
    rows = []
    for name, child in model.named_children():
        parts = [type(m).__name__ for m in child.children()] or [type(child).__name__]
        if isinstance(child, PlainBlock) and isinstance(child.act, nn.LeakyReLU):
            parts[-1] = f"LeakyReLU({child.act.negative_slope:g})"
        rows.append(
            dict(
                name=name,
                type=" > ".join(parts),
                output=measured.get(name, ((), 0))[0],
                parameters=count_parameters(child),
                flops=measured.get(name, ((), 0))[1],
            )
        )
    return rows


def layer_groups(rows: list[dict]) -> list[list[dict]]:
    """`layer_table`'s rows, consecutive identical layers (type, output, parameters) grouped:
    a 1,000-layer net reads as a few lines."""
    groups: list[list[dict]] = []
    for r in rows:
        same = groups and all(groups[-1][0][k] == r[k] for k in ("type", "output", "parameters"))
        if same:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def _measure_children(model: nn.Module, shape: tuple[int, ...], device) -> dict:
    """Child name -> (output shape of one sample, forward FLOPs per sample). A sequential
    model runs its children in order, so each distinct layer is measured once (a 10,000-layer
    net holds three kinds); any other model is measured in one forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    if isinstance(model, nn.Sequential):
        seen, measured = {}, {}
        for name, child in model.named_children():
            key = (repr(child), shape)
            if key not in seen:
                with FlopCounterMode(display=False) as counter:
                    out = child(torch.zeros(shape, device=device))
                seen[key] = (tuple(out.shape), counter.get_total_flops())
            shape, flops = seen[key]
            measured[name] = (shape[1:], flops)
        return measured
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        child.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name, child in model.named_children()
    ]
    try:
        with FlopCounterMode(display=False, depth=None) as counter:
            model(torch.zeros(shape, device=device))
    finally:
        for h in hooks:
            h.remove()
    flops, top = counter.get_flop_counts(), type(model).__name__
    return {n: (shapes.get(n, ()), sum(flops.get(f"{top}.{n}", {}).values())) for n in shapes}


def _block(weight: nn.Module, features: int, norm: str, act: str, beta: float, conv: bool):
    bn = NORMS[norm][conv](features) if NORMS[norm] else None
    return PlainBlock(weight, bn, activation(act, beta))


# The one list of architectures: config validation, the CLI and the speed switches read it.
MODELS: dict[str, Callable[..., nn.Module]] = {}
CONV_MODELS: set[str] = set()  # those that take images (N, C, H, W) and convolve them


def register_model(fn=None, *, conv: bool = False):
    """Register a model builder under its name without `plain_` (`@register_model` or
    `@register_model(conv=True)`).

    Every model the builder returns records how it was built (`built_as`), so that a model
    built in Python and given to the trainer is written into its run's config as what it is,
    and every later command can build it again."""

    def add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__.removeprefix("plain_")

        @functools.wraps(fn)
        def build(*args, **kwargs) -> nn.Module:
            model = fn(*args, **kwargs)
            bound = inspect.signature(fn).bind(*args, **kwargs)
            bound.apply_defaults()
            made = {k: v for k, v in bound.arguments.items() if k not in BUILD_INPUTS}
            module = "" if fn.__module__.startswith("plainnet.") else fn.__module__
            model.built_as = dict(arch=name, module=module) | made
            return model

        taken = MODELS.get(name)
        if taken is not None and taken.__module__ != fn.__module__:  # never replaced silently
            raise ValueError(
                f"a model named {name!r} is registered already (by {taken.__module__}); "
                "register yours under another name"
            )
        MODELS[name] = build
        if conv:
            CONV_MODELS.add(name)
        return build

    return add(fn) if fn is not None else add


# What a builder takes from the data rather than from the model's config section.
BUILD_INPUTS = ("in_shape", "num_classes")


def built_as(model: nn.Module) -> dict | None:
    """How a registered builder built `model` (its name, module and arguments besides the
    data's shapes), or None for a model from elsewhere."""
    return getattr(model, "built_as", None)


def build_model(arch: str, **kwargs) -> nn.Module:
    """Build a registered model by name (`mlp`, `cnn`, ...) from a superset of its arguments.

    A whole `model` config section can be passed: fields the builder does not take (e.g.
    `width` for a CNN) are left out, while the builders themselves reject unknown arguments.
    """
    if arch not in MODELS:
        raise ValueError(f"unknown model {arch!r}; choose one of {sorted(MODELS)}")
    fn = MODELS[arch]
    takes = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in kwargs.items() if k in takes})


def _check(depth: int, norm: str) -> None:
    if depth < 2:
        raise ValueError(f"depth must be >= 2 (hidden layers + classifier), got {depth}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {sorted(NORMS)}")


@register_model
def plain_mlp(
    in_shape: Sequence[int],
    num_classes: int,
    depth: int = 100,
    width: int = 128,
    norm: str = "batch",
    act: str = "leaky_relu",
    beta: float | str = "auto",
    init: str = "he_uniform",
    eta: float = 0.9,
) -> PlainNet:
    """Plain MLP on flattened inputs: `depth - 1` hidden layers of `width` units, then a head.

    Defaults are the paper's proposed PlainNet: BN + Leaky ReLU (eq. 1) + He-uniform (eq. 3);
    the max-norm constraint (eq. 2) is applied by the training loop (`plainnet.MaxNorm`).
    `beta="auto"` picks the Leaky ReLU slope from the depth (`plainnet.nn.correlation`, TAT's
    rule with target `eta`, and with BatchNorm at least `bn_gradient_beta`).
    """
    _check(depth, norm)
    beta = resolve_beta(beta, depth, eta, norm)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    features = math.prod(in_shape)
    for i in range(1, depth):
        # A bias before BatchNorm is cancelled by its mean subtraction.
        linear = nn.Linear(features, width, bias=norm == "none")
        layers[f"layer{i}"] = _block(linear, width, norm, act, beta, conv=False)
        features = width
    layers["head"] = nn.Linear(features, num_classes)
    return init_weights_(PlainNet(layers), init)


def stage_sizes(convs: int, stages: int) -> list[int]:
    """Spread `convs` 3x3 convs over `stages` stages as evenly as possible, extras first.

    With depth 6n+2 (stem + 3 stages of 2n + head) this gives He et al.'s CIFAR sizes.
    """
    base, extra = divmod(convs, stages)
    return [base + (i < extra) for i in range(stages)]


@register_model(conv=True)
def plain_cnn(
    in_shape: Sequence[int],
    num_classes: int,
    depth: int = 50,
    channels: Sequence[int] = (16, 32, 64),
    norm: str = "batch",
    act: str = "leaky_relu",
    beta: float | str = "auto",
    init: str = "he_uniform",
    eta: float = 0.9,
) -> PlainNet:
    """Plain CNN in He et al.'s CIFAR layout, without the shortcuts.

    A 3x3 stem conv to `channels[0]`, then one stage per entry of `channels` holding the
    remaining `depth - 2` 3x3 convs (`stage_sizes`); the first conv of every stage after the
    first has stride 2. Global average pooling and a linear head close it. Depth 50 with
    16/32/64 channels has about 0.75M parameters (the paper's 50-layer PlainNet: 0.72M).
    `beta="auto"` as for `plain_mlp`.
    """
    _check(depth, norm)
    beta = resolve_beta(beta, depth, eta, norm)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    c_in, c_out = in_shape[0], channels[0]

    def add(stride: int) -> None:
        conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=norm == "none")
        layers[f"layer{len(layers) + 1}"] = _block(conv, c_out, norm, act, beta, conv=True)

    add(stride=1)  # stem
    c_in = c_out
    for s, (n, c_out) in enumerate(
        zip(stage_sizes(depth - 2, len(channels)), channels, strict=True)
    ):
        for j in range(n):
            add(stride=2 if s > 0 and j == 0 else 1)
            c_in = c_out
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(c_in, num_classes)
    return init_weights_(PlainNet(layers), init)


class BasicBlock(nn.Module):
    """He et al.'s CIFAR residual block: two 3x3 conv-BN, ReLU, identity shortcut (option A:
    stride-2 subsampling and zero-padded channels, no parameters)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()
        self.stride, self.pad = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            skip = nn.functional.pad(skip, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return self.act(out + skip)


@register_model(conv=True)
def resnet(
    in_shape: Sequence[int],
    num_classes: int,
    depth: int = 56,
    channels: Sequence[int] = (16, 32, 64),
    init: str = "he_uniform",
    zero_init_residual: bool = False,
) -> nn.Sequential:
    """He et al.'s CIFAR ResNet (depth 6n+2: 20, 32, 44, 56, 110), for comparison only.

    The one model here with skip connections; it ignores norm/act/beta (always BN + ReLU).
    `zero_init_residual=True` starts every block's last BatchNorm at weight 0, so that each
    block begins as its shortcut (Goyal et al. 2017; torchvision's option of that name): at
    hundreds of blocks the summed branches otherwise make the outputs, and the first loss,
    grow with depth.
    """
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"resnet depth must be 6n+2 (20, 32, 44, 56, 110 ...), got {depth}")
    n = (depth - 2) // 6
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        stem=nn.Conv2d(in_shape[0], channels[0], 3, 1, 1, bias=False),
        stem_bn=nn.BatchNorm2d(channels[0]),
        stem_act=nn.ReLU(),
    )
    c_in = channels[0]
    for s, c_out in enumerate(channels):
        for j in range(n):
            layers[f"stage{s + 1}_{j + 1}"] = BasicBlock(c_in, c_out, 2 if s > 0 and j == 0 else 1)
            c_in = c_out
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(c_in, num_classes)
    net = init_weights_(nn.Sequential(layers), init)
    if zero_init_residual:
        for block in net.modules():
            if isinstance(block, BasicBlock):
                nn.init.zeros_(block.bn2.weight)
    return net
