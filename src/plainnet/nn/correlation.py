"""The correlation map of deep Leaky ReLU nets, and the depth-aware slope it implies.

Two inputs enter a deep plain net with cosine similarity `c`. In a wide random layer with
Leaky ReLU (eq. 1, negative slope beta) whose output size is kept (BatchNorm, or an init gain
of `sqrt(2 / (1 + beta^2))`), the similarity of their hidden vectors becomes

    f(c) = c + (1 - beta)^2 / (pi * (1 + beta^2)) * (sqrt(1 - c^2) - c * arccos(c))

the "C-map" of Deep Kernel Shaping (Martens et al., 2021) and of Tailored Activation
Transformation (TAT: Zhang et al., "Deep Learning without Shortcuts: Shaping the Kernel with
Tailored Rectifiers", ICLR 2022). It follows from writing Leaky ReLU as
`(1 + beta)/2 * z + (1 - beta)/2 * |z|` and the arc-cosine kernel of `|z|` (Cho & Saul, 2009).
`f(1) = 1`, `f` is increasing and `f(c) >= c`: every layer pulls inputs together. Composed
over L layers, `f^L(0) -> 1` means all inputs end at nearly the same hidden vector, the
near-singular deep representation the paper describes. beta = 1 is the identity map (a
linear net), beta = 0 is ReLU's normalized arc-cosine kernel.

TAT's rule picks the slope per depth so that `f^L(0) = eta` (they use eta = 0.9): deeper nets
get a more linear activation, and two orthogonal inputs stay distinguishable at the top. Below
about 100 layers it asks for less than the paper's 0.5 (ReLU below 13 layers); `"auto"` keeps
0.5 there: "auto" never makes a net more nonlinear than the paper does.

BatchNorm adds a second failure the C-map does not see: its gradients grow towards the input
layer by layer (Yang et al., "A Mean Field Theory of Batch Normalization", ICLR 2019), less
so the more linear the activation. For BatchNorm nets `"auto"` therefore takes the larger of
TAT's slope and the slope that keeps that growth bounded (`bn_gradient_beta`); the second
binds from about 240 layers on (docs/depth.md).
"""

import functools
import math

import numpy as np


def c_map(c, beta: float):
    """One layer's map of cosine similarity `c` (scalar or array in [-1, 1]) for slope `beta`.

    A scalar is mapped in plain floats (10x faster than numpy scalars: `tat_beta` composes
    the map up to depth x 35 bisection steps times)."""
    k = (1 - beta) ** 2 / (math.pi * (1 + beta**2))
    if np.ndim(c) == 0:
        c = min(max(float(c), -1.0), 1.0)
        return min(c + k * (math.sqrt(max(1 - c * c, 0.0)) - c * math.acos(c)), 1.0)
    c = np.clip(np.asarray(c, dtype=np.float64), -1.0, 1.0)
    return c + k * (np.sqrt(1 - c**2) - c * np.arccos(c))


def c_map_depth(c0: float, beta: float, layers: int) -> np.ndarray:
    """`[c0, f(c0), f(f(c0)), ...]`: the predicted similarity after 0..`layers` layers."""
    out = np.empty(layers + 1)
    out[0] = c = c0
    for i in range(1, layers + 1):
        c = c_map(c, beta)
        out[i] = c
    return out


@functools.lru_cache(maxsize=256)
def tat_beta(layers: int, eta: float = 0.9, tol: float = 1e-10) -> float:
    """The Leaky ReLU slope for which `layers` nonlinear layers map c = 0 to `eta` (TAT).

    `layers` counts the nonlinear (hidden) layers: a plainnet model of depth D has D - 1.
    `f^L(0)` falls monotonically from its ReLU value (beta = 0) to 0 (beta = 1), so the slope
    is found by bisection; if even ReLU keeps `f^L(0) <= eta` (shallow nets), it is 0.
    """
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    if not 0 < eta < 1:
        raise ValueError(f"eta must be in (0, 1), got {eta}")

    def top(beta: float) -> float:
        c = 0.0
        for _ in range(layers):
            c = c_map(c, beta)
        return c

    if top(0.0) <= eta:
        return 0.0
    lo, hi = 0.0, 1.0  # top(lo) > eta >= top(hi)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if top(mid) > eta else (lo, mid)
    return (lo + hi) / 2


# Per hidden layer, log(||dL/dW_1|| / ||dL/dW_L||) at init grows by about BN_GROWTH * (1 - beta)
# in BatchNorm + Leaky ReLU nets (He-uniform init, width 128, batch 500; USPS, 2 seeds each):
# 0.056-0.078 measured for slopes 0.6-0.93 at 200-1,000 layers, larger at smaller slopes.
BN_GROWTH = 0.065


def bn_gradient_beta(layers: int, ratio: float = 100.0) -> float:
    """The slope at which a BatchNorm net's gradient norm at init is about `ratio` times
    larger at its first hidden layer than at its last: `1 - ln(ratio) / (BN_GROWTH * layers)`,
    from the measured growth `ratio ~ exp(BN_GROWTH * (1 - beta) * layers)`; 0 for nets
    shallow enough that even ReLU stays under `ratio`.
    """
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    if ratio <= 1:
        raise ValueError(f"ratio must be > 1, got {ratio}")
    return max(0.0, 1 - math.log(ratio) / (BN_GROWTH * layers))


def leaky_relu_gain(beta: float) -> float:
    """The init gain that keeps a Leaky ReLU layer's output size: `sqrt(2 / (1 + beta^2))`.

    He-uniform (eq. 3) has ReLU's gain sqrt(2); for beta > 0 it makes the signal grow by
    `(1 + beta^2)` in second moment per layer, which BatchNorm hides and a net without it
    does not.
    """
    return math.sqrt(2 / (1 + beta**2))


# The paper's slope, the floor of "auto": the depth rules only ever make a net more linear
# than this (below ~100 layers they would ask for less, down to ReLU, and measured worse).
PAPER_BETA = 0.5


def resolve_beta(beta: float | str, depth: int, eta: float = 0.9, norm: str = "batch") -> float:
    """`beta` itself, or for `"auto"` the depth-aware slope of a depth-`depth` plainnet model:
    the largest of the paper's 0.5 (`PAPER_BETA`), TAT's slope (`tat_beta`) and, with
    BatchNorm (`norm` "batch" or "batch_renorm"), `bn_gradient_beta`.

    A model of depth D (weight layers, classifier included) has D - 1 Leaky ReLU layers. The
    slope is rounded to 4 decimals, so that the value written into a run's config rebuilds
    exactly the model that was trained.
    """
    if beta == "auto":
        slope = max(PAPER_BETA, tat_beta(depth - 1, eta))
        if norm in ("batch", "batch_renorm"):
            slope = max(slope, bn_gradient_beta(depth - 1))
        return round(slope, 4)
    if isinstance(beta, str):
        raise ValueError(f"beta must be a number or 'auto', got {beta!r}")
    return float(beta)
