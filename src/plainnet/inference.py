"""Using a trained model: predictions on new inputs, and a file that runs without plainnet.

Inputs are raw, as a dataset stores them (uint8 images `N,H,W` or `N,H,W,C`), from a
`.npy`/`.npz` array, an image file or a folder of images; `plainnet.load_run` supplies the
model and the preprocessing it was trained with.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from plainnet.data import Standardize
from plainnet.errors import PlainnetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class InputError(PlainnetError, ValueError):
    """Inputs that cannot be read or do not fit the model; one line naming the file."""


def read_inputs(path: str | Path, in_shape: tuple[int, ...]) -> tuple[list[str], np.ndarray]:
    """Names and raw uint8 inputs shaped for a model whose inputs are `in_shape` (C, H, W).

    `.npy`: one array; `.npz`: its `x` (or `x_test`) array; an image or a folder of images:
    each converted to the model's channels (grayscale or RGB) and resized to H x W.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.suffix in (".npy", ".npz"):
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: not a readable array file ({e})") from None
        if isinstance(data, np.lib.npyio.NpzFile):
            key = next((k for k in ("x", "x_test") if k in data.files), None)
            if key is None:
                raise InputError(f"{path}: has no array named x or x_test ({data.files})")
            data = data[key]
        x = np.asarray(data)
        names = [str(i) for i in range(len(x))]
    else:
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        files = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise InputError(f"{path}: not a .npy/.npz array and no images ({kinds})")
        x = np.stack([_image(f, in_shape) for f in files])
        names = [f.name for f in files]
    c, h, w = in_shape
    valid = [(h, w, c)] + ([(h, w)] if c == 1 else [])
    if tuple(x.shape[1:]) not in valid:
        want = " or ".join(str(v) for v in valid)
        raise InputError(f"{path}: inputs of shape {tuple(x.shape[1:])}; the model takes {want}")
    return names, x


def _image(path: Path, in_shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    c, h, w = in_shape
    try:
        with Image.open(path) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as e:
        raise InputError(f"{path}: not a readable image ({e})") from None


@torch.no_grad()
def logits(
    model: nn.Module, preprocess: Standardize, x: np.ndarray, batch_size: int = 1000
) -> torch.Tensor:
    """The outputs (N x classes, on the CPU) of `model` in eval mode for raw inputs `x`."""
    device = next(model.parameters()).device
    model.eval()
    out = [
        model(preprocess(x[i : i + batch_size]).to(device)).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out)


def predict(model: nn.Module, preprocess: Standardize, x: np.ndarray) -> np.ndarray:
    """Class probabilities (N x classes) of `model` in eval mode for raw inputs `x`."""
    return torch.softmax(logits(model, preprocess, x), 1).numpy()


class Standalone(nn.Module):
    """The model with its input standardization folded in: float `N,C,H,W` raw pixel values
    (0..255, as the dataset stores them) in, logits out."""

    def __init__(self, model: nn.Module, preprocess: Standardize):
        super().__init__()
        self.model = model
        self.register_buffer("mean", preprocess.mean.clone())
        self.register_buffer("std", preprocess.std.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def export(model: nn.Module, preprocess: Standardize, in_shape, path: Path, fmt: str) -> Path:
    """Write a file that loads and runs with PyTorch alone (no plainnet).

    `pt2`: `torch.export` (load with `torch.export.load(path).module()`); `torchscript`:
    `torch.jit.load(path)`. Both take float `N,C,H,W` raw pixel values and return logits; the
    batch size is free.
    """
    net = Standalone(model, preprocess).eval()
    example = torch.zeros(2, *in_shape)
    if fmt == "torchscript":
        torch.jit.save(torch.jit.trace(net, example), str(path))
    elif fmt == "pt2":
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(path))
    else:
        raise InputError(f"unknown export format {fmt!r}; choose pt2 or torchscript")
    return path
