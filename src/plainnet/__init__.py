"""plainnet: train very deep neural networks without skip connections.

Implements Oyedotun et al., "Going deeper with neural networks without skip connections"
(ICIP 2020): BatchNorm + Leaky ReLU (eq. 1), a max-norm constraint on every unit's incoming
weights (eq. 2) and He-uniform init (eq. 3), in plain PyTorch.
"""

import importlib

# Public name -> the module that defines it. Imported on first use (PEP 562), so that
# `import plainnet` and the command line's `--help` do not wait for torch.
_WHERE = {
    "MaxNorm": "constraints",
    "PlainBlock": "models",
    "PlainNet": "models",
    "build_model": "models",
    "he_uniform_": "init",
    "hidden_weights": "models",
    "init_weights_": "init",
    "load_run": "build",
    "max_norm_": "constraints",
    "plain_cnn": "models",
    "plain_mlp": "models",
    "unit_norms": "constraints",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"plainnet.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'plainnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
