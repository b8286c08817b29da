"""The max-norm constraint (eq. 2), as a projection applied after every optimizer step."""

from collections import defaultdict
from collections.abc import Iterable

import torch
from torch import nn

from plainnet.init import WEIGHT_LAYERS


def layer_weights(module: nn.Module) -> list[torch.Tensor]:
    """The weight of every Linear/Conv layer inside `module` (biases are never constrained)."""
    return [m.weight for m in module.modules() if isinstance(m, WEIGHT_LAYERS)]


class MaxNorm:
    """Eq. 2 of the paper: keep every unit's incoming weight vector inside ||w_j||_2 <= c.

    A unit's incoming vector is one row of a Linear weight (`in_features` values) or one output
    channel of a Conv weight (`C_in * k_h * k_w` values). Calling the object projects every
    vector whose norm exceeds `c` back onto the sphere of radius `c`; vectors already inside
    are multiplied by exactly 1.0, so they are left bit-for-bit untouched.

    Build it once and call it after each `optimizer.step()`. The weights are grouped by shape
    when the object is made, so each call costs a handful of tensor ops per group of equally
    shaped layers (a 100-layer MLP has three groups) instead of a Python loop over layers.

    `target` is a module (all its Linear/Conv weights are constrained) or an iterable of weight
    tensors (e.g. `plainnet.models.hidden_weights(model)` to leave the classifier free).
    """

    def __init__(self, target: nn.Module | Iterable[torch.Tensor], c: float):
        if not c > 0:
            raise ValueError(f"max-norm c must be > 0, got {c}")
        self.c = float(c)
        weights = layer_weights(target) if isinstance(target, nn.Module) else list(target)
        groups: dict[tuple, list[torch.Tensor]] = defaultdict(list)
        for w in weights:
            groups[(tuple(w.shape), w.dtype, w.device)].append(w)
        self.groups = list(groups.values())

    @torch.no_grad()
    def __call__(self) -> None:
        for ws in self.groups:
            out = ws[0].shape[0]
            rows = torch.stack([w.detach().reshape(out, -1) for w in ws])  # (layers, units, fan_in)
            norms = torch.linalg.vector_norm(rows, dim=2)
            # c / norm >= 1 for every vector inside the ball (and inf for a zero vector): clamped
            # to exactly 1.0, which leaves it unchanged.
            scale = (self.c / norms).clamp_(max=1.0)
            scale = scale.view(len(ws), out, *([1] * (ws[0].dim() - 1)))
            torch._foreach_mul_([w.detach() for w in ws], list(scale.unbind(0)))

    def max_norm(self) -> float:
        """The largest incoming-vector norm over all constrained units (for checks and logs)."""
        return max(unit_norms(w).max().item() for ws in self.groups for w in ws)


def unit_norms(weight: torch.Tensor) -> torch.Tensor:
    """L2 norm of each unit's incoming weight vector: one value per row / output channel."""
    return torch.linalg.vector_norm(weight.detach().reshape(weight.shape[0], -1), dim=1)


def max_norm_(target: nn.Module | Iterable[torch.Tensor], c: float) -> None:
    """Project in place so that every unit's ||w_j||_2 <= c (eq. 2). See `MaxNorm`.

    Convenient in any training loop::

        loss.backward(); opt.step(); max_norm_(model, c=2.0)

    For a hot loop, build `MaxNorm(model, c)` once and call it, which skips regrouping.
    """
    MaxNorm(target, c)()
