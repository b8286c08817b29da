"""LARS: SGD whose step is scaled, tensor by tensor, to the size of the weights it moves.

You, Gitman and Ginsburg, "Large Batch Training of Convolutional Networks" (2017). For every
weight matrix or kernel `w` with gradient `g` (weight decay `wd` included):

    trust = trust_coefficient * ||w|| / (||g + wd w||)
    d = trust * (g + wd w);   buf = momentum * buf + d;   w -= lr * buf

so each layer moves by about `lr * trust_coefficient` of its own norm per step, whatever the
size of its gradient. In a deep BatchNorm net the gradient grows layer by layer towards the
input (docs/depth.md); with plain SGD one learning rate is too large for the bottom layers or
too small for the top ones, with LARS the growth no longer reaches the step. Vectors (biases,
BatchNorm's scale and shift) take the plain SGD step, as in the paper's implementations.
"""

import torch


class LARS(torch.optim.Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
        nesterov: bool = False,
    ):
        if lr <= 0 or trust_coefficient <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError("LARS needs lr > 0, trust_coefficient > 0, 0 <= momentum < 1")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                if p.dim() > 1:
                    w_norm, d_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(d)
                    # A zero weight or gradient has no scale to match: take the plain step.
                    ok = (w_norm > 0) & (d_norm > 0)
                    trust = torch.where(
                        ok, group["trust_coefficient"] * w_norm / d_norm, torch.ones_like(w_norm)
                    )
                    d = d * trust
                if group["momentum"]:
                    buf = self.state[p].get("momentum_buffer")
                    if buf is None:
                        buf = self.state[p]["momentum_buffer"] = d.clone()
                    else:
                        buf.mul_(group["momentum"]).add_(d)
                    d = d.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                p.add_(d, alpha=-group["lr"])
        return loss
