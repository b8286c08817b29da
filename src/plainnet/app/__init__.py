"""The application: configs, run folders, the trainer that wires them to the engine,
inference, grids, recipes and the command line."""

from plainnet import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, {"trainer": "train resume", "config": "Config resolve", "inference": "load_run"}
)
