"""Data: the registered datasets (official sources, checksums, caches, splits) and the
tensors training reads on the device. Imports `plainnet.nn` at most, never the engine or the
application."""

import importlib

_WHERE = {
    "ArrayDataset": "datasets",
    "DeviceData": "tensors",
    "Standardize": "tensors",
    "load_dataset": "datasets",
    "random_crop_flip": "tensors",
    "to_nchw": "tensors",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    # Lazy, so that reading a config (which checks dataset names) does not import torch.
    if name in _WHERE:
        return getattr(importlib.import_module(f"plainnet.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'plainnet.data' has no attribute {name!r}")
