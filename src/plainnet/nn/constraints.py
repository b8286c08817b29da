"""The max-norm constraint (eq. 2), as a projection applied after every optimizer step."""

from collections import defaultdict
from collections.abc import Iterable

import torch
from torch import nn

from plainnet.nn.init import layer_weights


class MaxNorm:
    """Eq. 2 of the paper: keep every unit's incoming weight vector inside ||w_j||_2 <= c.

    A unit's incoming vector is one row of a Linear weight (`in_features` values) or one output
    channel of a Conv weight (`C_in * k_h * k_w` values). Calling the object projects every
    vector whose norm exceeds `c` back onto the sphere of radius `c`; vectors already inside
    are multiplied by exactly 1.0, so they are left bit-for-bit untouched.

    Build it once and call it after each `optimizer.step()`. It packs each group of equally
    shaped weights (a 100-layer MLP has three groups) into one contiguous buffer and makes the
    parameters views of it (same `Parameter` objects, values, gradients and `state_dict`), so a
    call is three tensor ops per group, with no copy and no Python loop over layers. If the
    parameters are moved or replaced later (`model.to(...)`, `p.data = ...`), the next call
    notices and packs them again.

    `target` is a module (all its Linear/Conv weights are constrained) or an iterable of weight
    tensors (e.g. `plainnet.nn.models.hidden_weights(model)` to leave the classifier free).
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
        self.buffers = [self._pack(ws) for ws in self.groups]

    @staticmethod
    @torch.no_grad()
    def _pack(ws: list[torch.Tensor]) -> torch.Tensor:
        """One (layers, units, fan_in) buffer whose slices are the weights' storage.

        A channels_last conv weight keeps its layout: its fan-in is stored as (k_h, k_w, C_in),
        which changes no norm.
        """
        nhwc = (
            ws[0].dim() == 4
            and not ws[0].is_contiguous()
            and ws[0].is_contiguous(memory_format=torch.channels_last)
        )
        order = (0, 2, 3, 1) if nhwc else tuple(range(ws[0].dim()))
        buf = torch.stack([w.detach().permute(order).reshape(w.shape[0], -1) for w in ws])
        inverse = sorted(range(len(order)), key=order.__getitem__)
        for i, w in enumerate(ws):
            w.data = buf[i].view([w.shape[d] for d in order]).permute(inverse)
        return buf

    def _packed(self, i: int) -> torch.Tensor:
        buf, ws = self.buffers[i], self.groups[i]
        step = buf[0].numel() * buf.element_size()
        if any(w.data_ptr() != buf.data_ptr() + j * step for j, w in enumerate(ws)):
            self.buffers[i] = buf = self._pack(ws)
        return buf

    @torch.no_grad()
    def __call__(self) -> None:
        for i in range(len(self.groups)):
            buf = self._packed(i)
            norms = torch.linalg.vector_norm(buf, dim=2, keepdim=True)
            # c / norm >= 1 for every vector inside the ball (and inf for a zero vector): clamped
            # to exactly 1.0, which leaves it unchanged.
            buf.mul_((self.c / norms).clamp_(max=1.0))

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
