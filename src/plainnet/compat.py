"""The module paths of plainnet 0.1's flat layout (`plainnet.norms`, `plainnet.train`, ...),
answered with the modules at their new places and a DeprecationWarning.

`REMOVED_IN` is the release that deletes this module and the finder it installs; until then
`import plainnet` appends one `MovedModules` finder to `sys.meta_path` (once per process). It
only answers the old names below, so every other import is untouched.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

REMOVED_IN = "0.2"

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


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path with the module at its new place (the same object)."""

    def find_spec(self, fullname, path=None, target=None):
        old = fullname.removeprefix("plainnet.")
        if fullname.startswith("plainnet.") and old in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = f"plainnet.{MOVED[spec.name.removeprefix('plainnet.')]}"
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in plainnet {REMOVED_IN}",
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


def install() -> None:
    """Put the finder on `sys.meta_path`, once per process."""
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.append(MovedModules())
