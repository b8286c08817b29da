"""Normalization layers beyond `nn.BatchNorm`: Batch Renormalization.

A deep BatchNorm net trains on each batch's statistics and is evaluated on the population's
(running) statistics. Over hundreds of layers the small differences between the two
compound, and a net that trains well can be at chance in eval mode (docs/depth.md). Batch
Renormalization (Ioffe, "Batch Renormalization: Towards Reducing Minibatch Dependence in
Batch-Normalized Models", NeurIPS 2017) trains the net on what it will see at inference:

    x_hat = (x - mu_B) / sigma_B * r + d,   r = sigma_B / sigma,   d = (mu_B - mu) / sigma

with `r` and `d` treated as constants in the backward pass and clipped to
`[1 / r_max, r_max]` and `[-d_max, d_max]`. Unclipped, `x_hat = (x - mu) / sigma`: the
running statistics' normalization, with the batch's gradient. `r_max` and `d_max` grow from
1 and 0 (plain BatchNorm) to their final values over `warmup` steps, while the running
statistics settle.
"""

import torch
from torch import nn


class _BatchRenorm:
    """Mixin over `nn.BatchNorm1d/2d`: same parameters, buffers and eval mode; only the
    training-mode forward differs. Being a BatchNorm subclass, everything that handles BN
    (the probe, max-norm scoping, state dicts) handles it too."""

    def __init__(
        self,
        num_features: int,
        r_max: float = 3.0,
        d_max: float = 5.0,
        warmup: int = 100,
        momentum: float = 0.01,
        eps: float = 1e-5,
    ):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.r_max, self.d_max, self.warmup = r_max, d_max, max(1, warmup)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        std = (var + self.eps).sqrt()
        with torch.no_grad():
            t = min(1.0, self.num_batches_tracked.item() / self.warmup)
            r_max, d_max = 1 + (self.r_max - 1) * t, self.d_max * t
            run_std = (self.running_var + self.eps).sqrt()
            r = (std / run_std).clamp(1 / r_max, r_max)
            d = ((mean - self.running_mean) / run_std).clamp(-d_max, d_max)
            n = x.numel() / x.shape[1]
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
            self.num_batches_tracked += 1
        x_hat = (x - mean.view(shape)) / std.view(shape) * r.view(shape) + d.view(shape)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


class BatchRenorm1d(_BatchRenorm, nn.BatchNorm1d):
    """Batch Renormalization over (N, C) inputs."""


class BatchRenorm2d(_BatchRenorm, nn.BatchNorm2d):
    """Batch Renormalization over (N, C, H, W) inputs, per channel."""


@torch.no_grad()
def recalibrate_(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> nn.Module:
    """Set every BatchNorm's running statistics to the exact statistics of its input over
    `x`, with all earlier layers already in eval mode on their new statistics.

    Why: in eval mode a BatchNorm layer's input is produced by the earlier layers in eval mode,
    not by train-mode layers; statistics gathered in train mode (the running averages, or
    "precise BN" recomputed with train-mode passes) describe the wrong input, and over
    hundreds of layers the mismatch compounds until eval mode is at chance (docs/depth.md).
    Calibrated layer by layer, every BatchNorm standardizes exactly in eval mode what it will
    see in eval mode. One forward pass over `x`, holding one layer's activations at a time;
    `batch_size` runs each layer on `x` in parts of that size (the same statistics: on CPU
    feature maps of a few MB stay in cache, and a CNN-50's calibration ran 2.3x faster in
    parts of 128 than whole; an MLP's is fastest whole, the default).

    Works through nested `nn.Sequential`s (plainnet's models); BatchNorms inside other
    containers (e.g. a ResNet block) keep their running statistics.
    """
    was_training = model.training
    model.eval()
    _calibrate(model, list(x.split(batch_size or len(x))))
    model.train(was_training)
    return model


def _calibrate(module: nn.Module, hs: list[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(module, nn.Sequential):
        for child in module:
            hs = _calibrate(child, hs)
        return hs
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
        mean, var = channel_mean_var(*hs)
        module.running_mean.copy_(mean)
        module.running_var.copy_(var)
    return [module(h) for h in hs]


def channel_mean_var(*hs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (dim 1) mean and unbiased variance over all of `hs` (parts of one batch),
    as BatchNorm's running statistics.

    Two passes (the mean, then the summed squared deviation from it, squared in place): as
    accurate as `Tensor.var`, whose reduction over the batch dimension is slow on CPU; a
    whole calibration ran 1.4-1.7x faster with it (benchmarks/bench_calibration.py).
    """
    dims = [0, *range(2, hs[0].dim())]
    n = sum(h.numel() for h in hs) // hs[0].shape[1]
    mean = sum(h.sum(dims, keepdim=True) for h in hs) / n
    var = sum((h - mean).square_().sum(dims) for h in hs) / max(n - 1, 1)
    return mean.flatten(), var


@torch.no_grad()
def precise_bn_(model: nn.Module, x: torch.Tensor, batch_size: int = 128) -> nn.Module:
    """The common "precise BN" (Wu & Johnson, 2021): running statistics replaced by the
    average of train-mode batch statistics over `x`, in batches of `batch_size`.

    Kept as the baseline `recalibrate_` is measured against: its statistics come from
    train-mode passes, so in a deep net they describe inputs that eval mode never produces.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    was_training = model.training
    model.train()
    for i in range(0, len(x), batch_size):
        model(x[i : i + batch_size])
    model.train(was_training)
    for m, momentum in zip(bns, saved, strict=True):
        m.momentum = momentum
    return model
