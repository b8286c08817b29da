"""plainnet: train very deep neural networks without skip connections.

Implements Oyedotun et al., "Going deeper with neural networks without skip connections"
(ICIP 2020): BatchNorm + Leaky ReLU (eq. 1), a max-norm constraint on every unit's incoming
weights (eq. 2) and He-uniform init (eq. 3), in plain PyTorch.
"""

from plainnet.build import load_run
from plainnet.constraints import MaxNorm, max_norm_, unit_norms
from plainnet.init import he_uniform_, init_weights_
from plainnet.models import PlainBlock, PlainNet, build_model, hidden_weights, plain_cnn, plain_mlp

__all__ = [
    "MaxNorm",
    "PlainBlock",
    "PlainNet",
    "build_model",
    "he_uniform_",
    "hidden_weights",
    "init_weights_",
    "load_run",
    "max_norm_",
    "plain_cnn",
    "plain_mlp",
    "unit_norms",
]
