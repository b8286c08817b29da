"""LARS: SGD whose step is scaled, tensor by tensor, to the size of the weights it moves.

You, Gitman and Ginsburg, "Large Batch Training of Convolutional Networks" (2017). For every
weight matrix or kernel `w` with gradient `g` (weight decay `wd` included):

    trust = trust_coefficient * ||w|| / ||g + wd w||
    d = trust * (g + wd w);   buf = momentum * buf + d;   w -= lr * buf

so each layer moves by about `lr * trust_coefficient` of its own norm per step, whatever the
size of its gradient. In a deep BatchNorm net the gradient grows layer by layer towards the
input (docs/depth.md); with plain SGD one learning rate is too large for the bottom layers or
too small for the top ones, with LARS the growth no longer reaches the step. Vectors (biases,
BatchNorm's scale and shift) take the plain SGD step, as in the paper's implementations.
"""

import torch


class LARS(torch.optim.SGD):
    """`torch.optim.SGD` (its momentum, Nesterov and state) on gradients rescaled by the
    trust ratio; the gradients are rescaled in place before the step."""

    def __init__(
        self,
        params,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
        nesterov: bool = False,
    ):
        if trust_coefficient <= 0 or weight_decay < 0:
            raise ValueError("LARS needs trust_coefficient > 0 and weight_decay >= 0")
        # SGD's own weight decay stays 0: LARS adds it before the trust ratio, not after
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov)
        extra = dict(trust_coefficient=trust_coefficient, lars_weight_decay=weight_decay)
        self.defaults.update(extra)
        for group in self.param_groups:
            for key, value in extra.items():
                group.setdefault(key, value)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            wd, eta = group["lars_weight_decay"], group["trust_coefficient"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if wd:
                    p.grad.add_(p, alpha=wd)
                if p.dim() > 1:
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(p.grad)
                    # A zero weight or gradient has no scale to match: take the plain step.
                    trust = torch.where((w_norm > 0) & (g_norm > 0), eta * w_norm / g_norm, 1.0)
                    p.grad.mul_(trust)
        super().step()
        return loss
