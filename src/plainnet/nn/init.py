"""Weight initialization schemes, applied to every Linear and Conv layer of a model."""

import math
from collections.abc import Callable

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def layer_weights(module: nn.Module) -> list[torch.Tensor]:
    """The weight of every Linear/Conv layer inside `module` (the ones an init fills and the
    max-norm constraint constrains; biases never are)."""
    return [m.weight for m in module.modules() if isinstance(m, WEIGHT_LAYERS)]


def fan_in(weight: torch.Tensor) -> int:
    """Number of inputs feeding one unit: `in_features` for Linear, `C_in * k_h * k_w` for Conv."""
    return weight[0].numel()


@torch.no_grad()
def he_uniform_(weight: torch.Tensor) -> torch.Tensor:
    """Eq. 3 of the paper: fill `weight` from U[-sqrt(6 / n_in), +sqrt(6 / n_in)], n_in = fan-in.

    Its variance is 2 / n_in, He et al.'s value for ReLU-like units, so the scale of the
    pre-activations is kept from layer to layer at initialization.
    """
    bound = math.sqrt(6.0 / fan_in(weight))
    return weight.uniform_(-bound, bound)


@torch.no_grad()
def delta_orthogonal_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Orthogonal init that keeps the signal's size exactly (Xiao et al., "Dynamical Isometry
    and a Mean Field Theory of CNNs: How to Train 10,000-Layer Vanilla CNNs", ICML 2018).

    Linear: a random orthogonal matrix times `gain`. Conv: the same matrix at the kernel's
    centre tap and zeros elsewhere (the "delta-orthogonal" kernel), so that a conv at init
    is an orthogonal map of channels. A layer that widens (C_out > C_in) has orthonormal
    columns, not rows, and is scaled by sqrt(C_out / C_in) so that every unit's
    pre-activation still has its input's second moment. With `gain` the activation's
    (`plainnet.nn.correlation.leaky_relu_gain`) a net without BatchNorm keeps its signal's size
    over any depth, which He-uniform (eq. 3) does only for ReLU.
    """
    c_out, c_in = weight.shape[:2]
    matrix = torch.empty(c_out, c_in, dtype=weight.dtype, device=weight.device)
    nn.init.orthogonal_(matrix, gain * math.sqrt(max(1.0, c_out / c_in)))
    if weight.dim() == 2:
        return weight.copy_(matrix)
    weight.zero_()
    weight[(slice(None), slice(None), *(k // 2 for k in weight.shape[2:]))] = matrix
    return weight


@torch.no_grad()
def delta_orthogonal_widen_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """`delta_orthogonal_`, except for a conv that widens (C_out > C_in, such as a stem on a
    grey image or a stage's first conv): an orthogonal matrix over its whole flattened kernel
    (C_out x C_in*k*k), scaled like `delta_orthogonal_` by sqrt(C_out / fan-in) where that
    exceeds 1.

    Why: a centre tap of C_out x C_in has rank C_in, so a delta-orthogonal stem on a
    one-channel image makes C_out scaled copies of it and every later orthogonal layer keeps
    that rank; the whole kernel has rank min(C_out, C_in*k*k), distinct spatial filters.
    Layers that keep their width are delta-orthogonal, so the signal's size is kept as before.
    Measured on USPS CNNs of 56 to 1,000 layers, it trains no better than `delta_orthogonal_`
    (docs/cnn.md), which stays the deep recipe's init.
    """
    c_out, c_in = weight.shape[:2]
    if weight.dim() == 2 or c_out <= c_in:
        return delta_orthogonal_(weight, gain)
    return nn.init.orthogonal_(weight, gain * math.sqrt(max(1.0, c_out / fan_in(weight))))


INITS: dict[str, Callable[..., torch.Tensor] | None] = {
    "he_uniform": he_uniform_,
    "glorot": nn.init.xavier_uniform_,
    "orthogonal": nn.init.orthogonal_,  # gain 1; conv kernels are flattened to (C_out, C_in*k*k)
    # gain from the activation that follows each hidden layer: for nets without BatchNorm
    "delta_orthogonal": delta_orthogonal_,
    "delta_orthogonal_widen": delta_orthogonal_widen_,
    "torch": None,  # keep PyTorch's own default: kaiming_uniform(a=sqrt(5)), U[+-1/sqrt(n_in)]
}
# Schemes whose scale depends on the activation after the layer (`activation_gain`).
GAINED = {"delta_orthogonal", "delta_orthogonal_widen"}


def activation_gain(act: nn.Module) -> float:
    """The gain that keeps a unit's second moment through `act` for Gaussian inputs: sqrt(2)
    for ReLU, `sqrt(2 / (1 + beta^2))` for Leaky ReLU (eq. 1), 1 for anything else."""
    if isinstance(act, nn.LeakyReLU):
        return math.sqrt(2 / (1 + act.negative_slope**2))
    return math.sqrt(2) if isinstance(act, nn.ReLU) else 1.0


@torch.no_grad()
def init_weights_(model: nn.Module, scheme: str = "he_uniform") -> nn.Module:
    """Re-initialize every Linear/Conv weight of `model` with `scheme` (a key of `INITS`).

    Biases are zeroed (except for `"torch"`, which leaves the module untouched) and
    BatchNorm layers keep their identity init (weight 1, bias 0).
    """
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; choose one of {sorted(INITS)}")
    fn = INITS[scheme]
    if fn is None:
        return model
    # A hidden layer (plainnet.nn.models.PlainBlock) names its parts `weight` and `act`.
    gains = {
        id(block.weight): activation_gain(block.act)
        for block in model.modules()
        if isinstance(getattr(block, "weight", None), nn.Module) and hasattr(block, "act")
    }
    for m in model.modules():
        if isinstance(m, WEIGHT_LAYERS):
            if scheme in GAINED:
                fn(m.weight, gains.get(id(m), 1.0))
            else:
                fn(m.weight)
            if m.bias is not None:
                m.bias.zero_()
    return model
