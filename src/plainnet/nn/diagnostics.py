"""Depth diagnostics: what every hidden layer of a deep plain net does to its inputs.

The paper's investigation, as functions on any `nn.Sequential`-style network, through
forward hooks and without changing the model:

* per-layer output statistics: mean, std, max, the fraction of units that never activate,
  and the **normalized mean activation** `NMA_l = mean|h_l| / mean|h_1|`, the mean absolute
  output of hidden layer l over the split divided by that of the first hidden layer. Dividing
  by layer 1 removes the input's scale, so a flat curve at 1 means the signal keeps its size
  with depth, a curve falling by decades means it vanishes, a rising one that it explodes.
* singularity of each layer's representation matrix `H` (samples x units): singular values,
  condition number, numerical and effective rank, from a Gram matrix `H^T H` accumulated batch
  by batch in float64 (memory: units x units, whatever the number of samples);
* per-layer gradient norm of the weights for one batch, and the weights' unit norms
  `||w_j||` (eq. 2's quantity);
* the **correlation map**: the mean (and spread) of the pairwise cosine similarity of the
  hidden vectors of a fixed sample of inputs, beside the value the theory of wide random
  nets predicts for the layer's slope, `f^l(c_0)` (`plainnet.nn.correlation`). A mean rising
  towards 1 with depth means the net is collapsing its inputs onto one vector.

For a conv layer a unit is a channel, and a sample's response is the channel's spatial mean.
"""

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plainnet.nn.constraints import unit_norms
from plainnet.nn.correlation import c_map
from plainnet.nn.init import WEIGHT_LAYERS
from plainnet.nn.models import ACTIVATION_TYPES, PlainBlock

# Inputs whose pairwise cosine similarities the probe follows through the layers.
COSINE_SAMPLES = 200


@dataclass
class Layer:
    name: str
    module: nn.Module  # its output is the hidden layer's output
    weight: torch.Tensor | None  # the Linear/Conv weight feeding it

    @property
    def slope(self) -> float | None:
        """The negative slope of the layer's (Leaky) ReLU, None for other activations."""
        acts = [m for m in self.module.modules() if isinstance(m, ACTIVATION_TYPES)]
        if len(acts) != 1 or not isinstance(acts[0], nn.ReLU | nn.LeakyReLU):
            return None
        return getattr(acts[0], "negative_slope", 0.0)


def hidden_layers(model: nn.Module) -> list[Layer]:
    """The hidden layers of `model`, in forward order.

    A plainnet model's are its `PlainBlock`s. For any other network, every activation module
    is the end of a hidden layer, fed by the last Linear/Conv met before it in module order.
    """
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, PlainBlock)]
    if blocks:
        return [Layer(n, m, m.weight.weight) for n, m in blocks]
    layers, weight = [], None
    for name, m in model.named_modules():
        if isinstance(m, WEIGHT_LAYERS):
            weight = m.weight
        elif isinstance(m, ACTIVATION_TYPES):
            layers.append(Layer(name, m, weight))
    return layers


# ---------------------------------------------------------------- singular values


def singular_values_from_gram(gram: np.ndarray) -> np.ndarray:
    """Singular values of `H` from `G = H^T H` (float64), largest first."""
    eig = np.linalg.eigvalsh(gram)[::-1]
    return np.sqrt(np.clip(eig, 0, None))


def rank_tolerance(sv: np.ndarray) -> float:
    """Singular values at or below this count as zero.

    Through the Gram matrix, an eigenvalue is only known to about `d * eps * lambda_max`
    (float64), so a singular value only to `sqrt(d * eps) * sigma_max` (about 1e-7 relative
    for d = 128): below that it is indistinguishable from zero.
    """
    return float(sv[0]) * math.sqrt(len(sv) * np.finfo(np.float64).eps) if len(sv) else 0.0


def spectrum_stats(sv: np.ndarray) -> dict:
    """Condition number, numerical rank and effective rank of a matrix with singular values `sv`.

    * condition number: sigma_max / sigma_min, and `inf` when sigma_min is at or below
      `rank_tolerance` (a singular matrix: some direction is lost entirely);
    * numerical rank: how many singular values exceed `rank_tolerance`;
    * effective rank (Roy & Vetterli 2007): exp of the entropy of sigma / sum(sigma), between 1
      (one direction carries everything) and the number of units (all directions equal).
    """
    sv = np.sort(np.asarray(sv, np.float64))[::-1]
    if len(sv) == 0 or sv[0] == 0:
        return dict(condition_number=math.inf, rank=0, effective_rank=0.0)
    tol = rank_tolerance(sv)
    rank = int((sv > tol).sum())
    cond = math.inf if sv[-1] <= tol else float(sv[0] / sv[-1])
    p = sv / sv.sum()
    p = p[p > 0]
    return dict(
        condition_number=cond, rank=rank, effective_rank=float(np.exp(-(p * np.log(p)).sum()))
    )


# ---------------------------------------------------------------- the probe


@dataclass
class LayerStats:
    index: int  # 1-based hidden-layer number, as in the paper's "layer 50"
    name: str
    units: int
    mean: float
    std: float
    max: float
    mean_abs: float
    normalized_mean_activation: float
    dead_fraction: float  # units never > 0 over the whole split
    condition_number: float
    rank: int
    effective_rank: float
    singular_values: list[float] = field(repr=False)
    grad_norm: float | None = None
    weight_norm_max: float | None = None
    weight_norm_mean: float | None = None
    cosine_mean: float | None = None  # pairwise cosine similarity of hidden vectors
    cosine_std: float | None = None
    cosine_theory: float | None = None  # f^l(c_0) averaged over the same pairs


class _Accumulator:
    """Running sums for one layer's outputs; the Gram matrix is units x units (float64)."""

    def __init__(self, keep: bool):
        self.n = self.elems = 0
        self.sum = self.sum_sq = self.sum_abs = 0.0
        self.max = -math.inf
        self.gram = self.active = None
        self.kept: list[torch.Tensor] | None = [] if keep else None
        self.cosines: np.ndarray | None = None  # of the first batch's first samples

    def add(self, out: torch.Tensor) -> None:
        out = out.detach()
        self.elems += out.numel()
        self.sum += out.sum().item()
        self.sum_sq += out.double().pow(2).sum().item()
        self.sum_abs += out.abs().sum().item()
        self.max = max(self.max, out.max().item())
        rep = out.flatten(2).mean(2) if out.dim() > 2 else out  # samples x units
        active = (out.flatten(2) > 0).any(2) if out.dim() > 2 else out > 0
        active = active.any(0)
        self.active = active if self.active is None else self.active | active
        rep = rep.double()
        gram = rep.T @ rep
        self.gram = gram if self.gram is None else self.gram + gram
        self.n += len(rep)
        if self.kept is not None:
            self.kept.append(rep.float().cpu())
        if self.cosines is None:
            self.cosines = pairwise_cosines(out[:COSINE_SAMPLES])


def pairwise_cosines(x: torch.Tensor) -> np.ndarray:
    """Cosine similarities of all pairs of rows of `x` (flattened per sample), i < j."""
    v = x.detach().flatten(1).double()
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)
    i, j = torch.triu_indices(len(v), len(v), 1)
    return (v @ v.T)[i, j].clamp(-1, 1).cpu().numpy()


@torch.no_grad()
def _forward_stats(model, layers, batches, keep: set[int]):
    accs = [_Accumulator(keep=i + 1 in keep) for i in range(len(layers))]
    labels, input_cosines = [], None
    hooks = [
        layer.module.register_forward_hook(lambda _m, _i, out, acc=acc: acc.add(out))
        for layer, acc in zip(layers, accs, strict=True)
    ]
    try:
        for x, y in batches:
            if input_cosines is None:
                input_cosines = pairwise_cosines(x[:COSINE_SAMPLES])
            model(x)
            labels.append(y.cpu())
    finally:
        for h in hooks:
            h.remove()
    labels = torch.cat(labels) if labels else torch.empty(0, dtype=torch.long)
    return accs, labels, input_cosines


def gradient_norms(model: nn.Module, layers: list[Layer], x, y) -> list[float | None]:
    """||dL/dW|| of each hidden layer's weight for the batch (x, y); `.grad` is left untouched."""
    weights = [layer.weight for layer in layers if layer.weight is not None]
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y)
        grads = iter(torch.autograd.grad(loss, weights, allow_unused=True))
    return [
        (None if (g := next(grads)) is None else g.norm().item())
        if layer.weight is not None
        else None
        for layer in layers
    ]


@dataclass
class ProbeResult:
    layers: list[LayerStats]
    kept: dict[int, np.ndarray]  # hidden-layer index -> samples x units outputs
    labels: np.ndarray  # labels of the probed samples, in order

    def to_dict(self, finite: bool = False) -> dict:
        """Plain numbers; with `finite`, infinities and NaNs become None (strict JSON)."""
        layers = [asdict(s) for s in self.layers]
        if finite:
            layers = [{k: _finite(v) for k, v in d.items()} for d in layers]
        return dict(layers=layers)


def probe(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    grad_batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    keep: Iterable[int] = (),
    batch_stats: bool = True,
) -> ProbeResult:
    """Probe every hidden layer of `model` over `batches` (see the module docstring).

    `keep`: hidden-layer numbers (1-based) whose full outputs are returned, e.g. (50, 99) for
    the paper's heatmaps. `batch_stats=True` runs BatchNorm on batch statistics, as the
    optimizer sees it (and as it must at init, where running statistics mean nothing); its
    running statistics are restored afterwards. False probes inference mode.
    """
    layers = hidden_layers(model)
    if not layers:
        raise ValueError("found no hidden layers (no PlainBlock and no activation module)")
    was_training = model.training
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train(batch_stats)
    try:
        accs, labels, theory = _forward_stats(model, layers, batches, set(keep))
        grads = gradient_norms(model, layers, *grad_batch) if grad_batch else [None] * len(layers)
    finally:
        model.load_state_dict(saved)
        model.train(was_training)

    first_abs = accs[0].sum_abs / max(accs[0].elems, 1)
    stats = []
    for i, (layer, acc, grad) in enumerate(zip(layers, accs, grads, strict=True)):
        # Theory: the inputs' cosines mapped layer by layer with each layer's slope (at init).
        if theory is not None:
            theory = None if layer.slope is None else c_map(theory, layer.slope)
        stats.append(_layer_stats(i + 1, layer, acc, grad, first_abs, theory))
    kept = {i + 1: torch.cat(a.kept).numpy() for i, a in enumerate(accs) if a.kept is not None}
    return ProbeResult(stats, kept, labels.numpy())


def _layer_stats(index: int, layer: Layer, acc, grad, first_abs: float, theory) -> LayerStats:
    """One hidden layer's numbers from its accumulated outputs (`acc`), its gradient norm and
    the first layer's mean |activation| (the normalization of NMA)."""
    mean = acc.sum / acc.elems
    sv = singular_values_from_gram(acc.gram.cpu().numpy())
    wn = unit_norms(layer.weight) if layer.weight is not None else None
    cosines = acc.cosines if len(acc.cosines) else None
    return LayerStats(
        index=index,
        name=layer.name,
        units=int(acc.gram.shape[0]),
        mean=mean,
        std=math.sqrt(max(acc.sum_sq / acc.elems - mean**2, 0.0)),
        max=acc.max,
        mean_abs=acc.sum_abs / acc.elems,
        normalized_mean_activation=(acc.sum_abs / acc.elems) / first_abs if first_abs else math.nan,
        dead_fraction=1.0 - acc.active.float().mean().item(),
        singular_values=sv.tolist(),
        grad_norm=grad,
        weight_norm_max=None if wn is None else wn.max().item(),
        weight_norm_mean=None if wn is None else wn.mean().item(),
        cosine_mean=None if cosines is None else float(cosines.mean()),
        cosine_std=None if cosines is None else float(cosines.std()),
        cosine_theory=None if theory is None else float(np.mean(theory)),
        **spectrum_stats(sv),
    )


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v
