"""Data: the registered datasets (official sources, checksums, caches, splits) and the
tensors training reads on the device. It imports no other layer of plainnet (only its errors
and file writing): not the library, the engine or the application."""

from plainnet import lazy_exports

# Imported on first use, so that reading a config (which checks dataset names) needs no torch.
_WHERE = {
    "ArrayDataset": "datasets",
    "DeviceData": "tensors",
    "Standardize": "tensors",
    "load_dataset": "datasets",
    "random_crop_flip": "tensors",
    "to_nchw": "tensors",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
