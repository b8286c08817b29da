"""Learning-rate schedules as functions of the optimizer step."""

import math
from collections.abc import Sequence


def lr_factor(
    step: int,
    total: int,
    warmup: int = 0,
    name: str = "cosine",
    milestones: Sequence[float] = (0.5, 0.75),
    gamma: float = 0.1,
) -> float:
    """Multiplier of the base lr at optimizer step `step` of `total`: `warmup` steps rising
    linearly, then "cosine" (to 0 at `total`), "multistep" (times `gamma` at each milestone,
    a fraction of `total`) or "constant"."""
    if step < warmup:
        return (step + 1) / warmup
    if name == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if name == "multistep":
        return gamma ** sum(step >= m * total for m in milestones)
    return 1.0
