"""The training engine on plain values: `fit` (epochs of steps, the max-norm projection,
evaluation), `evaluate`, and the callbacks around the loop. It imports the library and nothing
above it (no configs, no run folders)."""

from plainnet import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "loop": "fit Steps evaluate Evaluation State",
        "callbacks": "Callback EarlyStopping Calibration RunningStatsCheck",
    },
)
