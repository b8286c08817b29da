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
import importlib.abc
import importlib.util
import sys
import warnings

# Public name -> the module that defines it. Imported on first use (PEP 562), so that
# `import plainnet` and the command line's `--help` do not wait for torch.
_WHERE = {
    "Callback": "engine.callbacks",
    "EarlyStopping": "engine.callbacks",
    "LARS": "nn.lars",
    "MaxNorm": "nn.constraints",
    "PlainBlock": "nn.models",
    "PlainNet": "nn.models",
    "build_model": "nn.models",
    "delta_orthogonal_": "nn.init",
    "fit": "engine.loop",
    "flush_denormals": "nn.speed",
    "he_uniform_": "nn.init",
    "hidden_weights": "nn.models",
    "init_weights_": "nn.init",
    "load_run": "app.inference",
    "max_norm_": "nn.constraints",
    "plain_cnn": "nn.models",
    "plain_mlp": "nn.models",
    "unit_norms": "nn.constraints",
}
__all__ = sorted(_WHERE)


def lazy_exports(package: str, where: dict[str, str]):
    """`__getattr__` and `__dir__` for a package whose public names (name -> module, relative
    to the package) are imported on first use (PEP 562)."""

    def getattr_(name: str):
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted([*vars(sys.modules[package]), *where])

    return getattr_, dir_


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)


# Where the modules of plainnet 0.1's flat layout live now. `import plainnet.norms` and
# `from plainnet.train import resume` keep working for one release, with a DeprecationWarning.
MOVED = {
    "build": "app.build",
    "cli": "app.cli",
    "config": "app.config",
    "constraints": "nn.constraints",
    "correlation": "nn.correlation",
    "datasets": "data.datasets",
    "distributed": "engine.distributed",
    "download": "data.download",
    "evaluation": "app.inference",
    "grid": "app.grid",
    "inference": "app.inference",
    "init": "nn.init",
    "models": "nn.models",
    "norms": "nn.norms",
    "plots": "app.plots",
    "probe": "app.probe",
    "reproduce": "app.recipes",
    "runs": "app.runs",
    "speed": "nn.speed",
    "tensorboard": "app.tensorboard",
    "train": "app.trainer",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path with the module at its new place (the same object)."""

    def find_spec(self, fullname, path=None, target=None):
        old = fullname.removeprefix("plainnet.")
        if fullname.startswith("plainnet.") and old in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = f"plainnet.{MOVED[spec.name.removeprefix('plainnet.')]}"
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return _Alias(spec.name, importlib.import_module(new))

    def exec_module(self, module):
        pass


class _Alias(type(sys)):
    """A module whose attributes are those of the module it stands for."""

    def __init__(self, name: str, target):
        super().__init__(name, target.__doc__)
        self._target = target

    def __getattr__(self, attr: str):
        return getattr(self._target, attr)


if not any(isinstance(f, _Moved) for f in sys.meta_path):
    sys.meta_path.append(_Moved())
