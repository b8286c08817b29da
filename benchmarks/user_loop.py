"""The step a careful PyTorch user writes, the reference every benchmark here measures against.

Only torch is imported, so that a benchmark timing whole processes charges the reference for
nothing it would not import itself.
"""

import torch
import torch.nn.functional as F


def user_step(model, opt, hidden, x, y, c) -> None:
    """One step: autograd, torch's SGD, then a `torch.renorm` loop over the hidden weights
    (max-norm c)."""
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        for w in hidden:
            w.copy_(torch.renorm(w, 2, 0, c))
