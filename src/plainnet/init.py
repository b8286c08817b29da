"""Weight initialization schemes, applied to every Linear and Conv layer of a model."""

import math
from collections.abc import Callable

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


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


INITS: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
    "he_uniform": he_uniform_,
    "glorot": nn.init.xavier_uniform_,
    "orthogonal": nn.init.orthogonal_,  # gain 1; conv kernels are flattened to (C_out, C_in*k*k)
    "torch": None,  # keep PyTorch's own default: kaiming_uniform(a=sqrt(5)), U[+-1/sqrt(n_in)]
}


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
    for m in model.modules():
        if isinstance(m, WEIGHT_LAYERS):
            fn(m.weight)
            if m.bias is not None:
                m.bias.zero_()
    return model
