"""plainnet: train very deep neural networks without skip connections.

Implements Oyedotun et al., "Going deeper with neural networks without skip connections"
(ICIP 2020): BatchNorm + Leaky ReLU (eq. 1), a max-norm constraint on every unit's incoming
weights (eq. 2) and He-uniform init (eq. 3), in plain PyTorch.

Four layers, each importing only the ones above it in this list:

* `plainnet.nn`: the library, torch and numpy only: models, inits, the max-norm constraint,
  BatchNorm tools, the correlation map and the depth diagnostics;
* `plainnet.data`: datasets (download, checksums, caches) and tensors on the device;
* `plainnet.engine`: the training loop on plain values, its callbacks, evaluation;
* `plainnet.app`: configs, run folders, the trainer that wires them to the engine, inference,
  grids, recipes and the command line.
"""

import importlib
import sys

from plainnet import compat


def lazy_exports(package: str, modules: dict[str, str]):
    """`__getattr__`, `__dir__` and `__all__` for a package whose public names are imported
    on first use (PEP 562); `modules`: module (relative to the package) -> its names."""
    where = {name: module for module, names in modules.items() for name in names.split()}

    def getattr_(name: str):
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted([*vars(sys.modules[package]), *where])

    return getattr_, dir_, sorted(where)


# Imported on first use, so that `import plainnet` and `plainnet --help` do not wait for torch.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "nn.models": "PlainBlock PlainNet build_model hidden_weights plain_cnn plain_mlp "
        "register_model",
        "nn.init": "he_uniform_ delta_orthogonal_ delta_orthogonal_widen_ init_weights_",
        "nn.constraints": "MaxNorm max_norm_ unit_norms",
        "nn.lars": "LARS",
        "nn.speed": "flush_denormals",
        "engine.loop": "fit Steps evaluate",
        "engine.callbacks": "Callback EarlyStopping Calibration RunningStatsCheck",
        "app.inference": "load_run",
    },
)

compat.install()  # the old flat layout's module paths, until compat.REMOVED_IN
