"""The memory a training run needs, estimated before anything is allocated, and the check
that refuses a run too large for its device with the numbers."""

import contextlib
import math
import os
from pathlib import Path

import torch
from torch import nn

from plainnet.app.build import make_model
from plainnet.app.config import Config, ConfigError
from plainnet.nn.models import ACTIVATION_TYPES, count_parameters


def memory_estimate(cfg: Config, data) -> dict[str, int]:
    """Bytes a training run of `cfg` needs, worked out on PyTorch's meta device before
    anything is allocated: the parameters, their gradients, the optimizer's state (SGD
    momentum: one copy, Adam: two), the activations one batch keeps for the backward pass
    (every layer's output; with `train.checkpoint_segments`, the segments' inputs and one
    segment's outputs) and the copy of the best epoch's weights, all float32.

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
    # a batch is never larger than the training split
    acts = 4 * acts * min(cfg.train.batch_size, getattr(data, "train_size", math.inf))
    if segments := min(cfg.train.checkpoint_segments, d):
        # checkpointed: each segment's input is kept, and one segment's activations at a time
        # while the backward pass recomputes it (a layer's input counted as all it keeps)
        acts = round(acts / segments + acts * segments / d)
    return dict(
        parameters=4 * params,
        gradients=4 * params,
        optimizer=4 * params * states,
        activations=acts,
        # the best validation epoch's weights, kept for best.pt and the final summary
        best_epoch=4 * params * (cfg.data.val_fraction > 0),
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
        recompute = ""
        if need["activations"] > total / 2 and not cfg.train.checkpoint_segments:
            segments = round(math.sqrt(cfg.model.depth))
            recompute = f", or recompute activations (train.checkpoint_segments={segments})"
        raise ConfigError(
            f"this model needs about {_gib(total)} to train ({parts}; batch "
            f"{min(cfg.train.batch_size, data.train_size)}) but {device.type} has "
            f"{_gib(free)} free; reduce "
            f"model.depth, model.width/channels or train.batch_size{recompute}"
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"
