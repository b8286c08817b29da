"""Data: the registered datasets (official sources, checksums, caches, splits) and the
tensors training reads on the device. It imports no other layer of plainnet (only its errors
and file writing): not the library, the engine or the application."""

from plainnet import lazy_exports

# Imported on first use, so that reading a config (which checks dataset names) needs no torch.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "datasets": "ArrayDataset load_dataset",
        "tensors": "DeviceData Standardize random_crop_flip to_nchw",
    },
)
