"""Using a trained model: loading a run, evaluating and predicting on raw inputs, and a file
that runs without plainnet.

Inputs are raw, as a dataset stores them (uint8 images `N,H,W` or `N,H,W,C`), from a
`.npy`/`.npz` array, an image file or a folder of images; `plainnet.load_run` supplies the
model and the preprocessing it was trained with.
"""

import io
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from plainnet.app.build import make_model
from plainnet.app.config import (
    CHECKPOINTS,
    RULES,
    Config,
    ConfigError,
    check_recorded_module,
    validate,
)
from plainnet.app.runs import RunDir, RunError, check_same_config, needs_model
from plainnet.data.datasets import MAX_CLASSES, eight_bit
from plainnet.data.tensors import Standardize, outside_range
from plainnet.engine.loop import Evaluation, evaluate, first_nonfinite
from plainnet.errors import FileError, PlainnetError
from plainnet.files import regular_file, write_atomic, write_csv

MAX_INPUT_VALUES = 1 << 24  # per sample: 16M values, a 2,048 x 2,048 RGB image and more
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class InputNote(UserWarning):
    """Something done to the inputs that the user did not ask for in so many words (resizing)."""


class InputError(PlainnetError, ValueError):
    """Inputs that cannot be read or do not fit the model; one line naming the file."""


def read_inputs(
    path: str | Path, in_shape: tuple[int, ...], raw: dict | None = None, rescale: bool = False
) -> tuple[list[str], np.ndarray]:
    """Names and raw inputs shaped for a model whose inputs are `in_shape` (C, H, W).

    `.npy`: one array; `.npz`: its `x` (or `x_test`) array (channels first or last, or flat:
    `stored_layout`); an image or a folder of images:
    each converted to the model's channels (grayscale or RGB) and resized to H x W (with a
    note saying so). `raw`: what the model was trained on (`LoadedRun.raw`: dtype, value
    range); inputs outside that range are refused, or with `rescale` mapped onto it from 0..255
    (from 0..1 for floats no larger than 1).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not path.is_dir():
        try:
            regular_file(path, "input")
        except FileError as e:
            raise InputError(str(e)) from None
    if path.suffix in (".npy", ".npz"):
        x = _array(path)
        if x.ndim == 0:
            raise InputError(f"{path}: holds no inputs (a single number)")
        names = [str(i) for i in range(len(x))]
    else:
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        # is_file: a FIFO or a device named like an image would hang or fail the reader
        files = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
        if not files:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise InputError(f"{path}: not a .npy/.npz array and no images ({kinds})")
        resized: set[tuple[int, int]] = set()
        x = np.stack([_image(f, in_shape, resized) for f in files])
        names = [f.name for f in files]
        if resized:
            sizes = ", ".join(f"{w}x{h}" for w, h in sorted(resized))
            to = f"{in_shape[2]}x{in_shape[1]}"
            warnings.warn(f"{path}: images of {sizes} resized to {to}", InputNote, stacklevel=2)
    x = stored_layout(x, in_shape, str(path))
    raw = raw or DEFAULT_RAW
    if rescale:
        x = _rescaled(x, raw)
    check_raw(x, str(path), raw)
    return names, x


# What a checkpoint without a record of its training inputs is assumed to take: 8-bit pixels.
DEFAULT_RAW = dict(dtype="uint8", min=0.0, max=255.0)


def _rescaled(x: np.ndarray, raw: dict) -> np.ndarray:
    """`x` mapped linearly from 0..255 (0..1 for floats no larger than 1) onto the training
    inputs' range `raw["min"]..raw["max"]`."""
    top = 1.0 if x.dtype.kind == "f" and x.size and x.max() <= 1 else 255.0
    scaled = raw["min"] + x.astype(np.float64) * (raw["max"] - raw["min"]) / top
    return scaled.astype(np.float32)


def stored_layout(x: np.ndarray, in_shape: tuple[int, ...], origin: str) -> np.ndarray:
    """Inputs `x` in any layout PyTorch users have, as the data sets store images: (N, H, W)
    or (N, H, W, C) from those, from channels-first (N, C, H, W), or for one channel from flat
    (N, H*W). Flat inputs of several channels are refused: their order is not known."""
    c, h, w = in_shape
    got, n = tuple(x.shape[1:]), len(x) if x.ndim else 0
    if got == (h, w, c) or (c == 1 and got == (h, w)):
        return x
    if got == (c, h, w):
        return np.moveaxis(x, 1, -1)
    if c == 1 and got == (h * w,):
        return x.reshape(n, h, w)
    takes = f"(N, {c}, {h}, {w}) or (N, {h}, {w}, {c})"
    takes += f", (N, {h}, {w}) or flat (N, {h * w})" if c == 1 else ""
    flat = "; flat inputs of several channels have no known order" if got == (c * h * w,) else ""
    raise InputError(f"{origin}: inputs of shape {got}; the model takes {takes}{flat}")


def check_fits(loaded: "LoadedRun", x: np.ndarray, y: np.ndarray, origin: str) -> None:
    """A labelled split for `plainnet eval`: inputs the model takes, labels it can predict
    (a data file changed since training is refused, not evaluated)."""
    stored_layout(x, loaded.in_shape, origin)
    check_raw(x, origin, loaded.raw)
    if len(y) and (y.min() < 0 or y.max() >= loaded.classes):
        raise InputError(
            f"{origin}: labels up to {int(y.max())}, the model predicts {loaded.classes} "
            "classes; the data changed since training"
        )


def _array(path: Path) -> np.ndarray:
    """The inputs of a .npy file, or the `x` (else `x_test`) array of a .npz file."""
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            return np.asarray(data)
        with data:
            key = next((k for k in ("x", "x_test") if k in data.files), None)
            if key is None:
                raise InputError(f"{path}: has no array named x or x_test ({data.files})")
            return np.asarray(data[key])
    except InputError:
        raise
    except Exception as e:  # numpy and zipfile raise many types for damaged or foreign files
        raise InputError(f"{path}: not a readable array file ({type(e).__name__}: {e})") from None


def check_raw(x: np.ndarray, origin: str, raw: dict | None = None) -> None:
    """Refuse inputs that would give an answer without meaning: none at all, not numbers,
    NaN or inf, values outside the range of the training inputs (`raw`, recorded in every
    checkpoint, else 0..255; `outside_range`), or floats that look scaled to [0, 1] for a
    model trained on larger values."""
    raw = raw or DEFAULT_RAW
    if x.ndim == 0 or not len(x):
        raise InputError(f"{origin}: holds no inputs")
    if x.dtype.kind not in "uif":
        raise InputError(f"{origin}: inputs of type {x.dtype}; numbers (raw pixel values) needed")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise InputError(f"{origin}: {int((~np.isfinite(x)).sum())} values are NaN or inf")
    lo, hi = float(x.min()), float(x.max())
    trained = f"the model was trained on {raw['dtype']} values {raw['min']:g}..{raw['max']:g}"
    if outside_range(lo, hi, raw):
        raise InputError(
            f"{origin}: values from {lo:g} to {hi:g}; {trained}; pass --rescale to map "
            "0..255 (or 0..1) onto that range"
        )
    if raw["max"] > 1 and x.dtype.kind == "f" and hi <= 1 and np.any((x > 0) & (x < 1)):
        raise InputError(
            f"{origin}: values from {lo:g} to {hi:g} look scaled to [0, 1]; {trained}; pass "
            "--rescale to map them onto that range"
        )


def _image(path: Path, in_shape: tuple[int, ...], resized: set) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    c, h, w = in_shape
    try:
        with Image.open(path) as im:
            if im.size != (w, h):
                resized.add(im.size)
            pixels = eight_bit(im, "L" if c == 1 else "RGB")  # 16-bit scaled as training reads it
            if im.size == (w, h):
                return pixels
            return np.asarray(Image.fromarray(pixels).resize((w, h), Image.Resampling.BILINEAR))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
        # a decompression bomb (PIL's pixel limit) or an oversized text chunk land here too
        raise InputError(f"{path}: not a readable image ({str(e)[:200]})") from None


def raw_batches(preprocess: Standardize, x: np.ndarray, y=None, device="cpu", size: int = 1000):
    """Raw inputs `x` (and labels `y`) as the model's input batches on `device`."""
    for i in range(0, len(x), size):
        inputs = preprocess(x[i : i + size]).to(device)
        yield (
            inputs,
            (None if y is None else torch.tensor(y[i : i + size], dtype=torch.long, device=device)),
        )


def evaluate_raw(
    model: nn.Module, preprocess: Standardize, x: np.ndarray, y: np.ndarray, classes: int
) -> Evaluation:
    """Mean cross-entropy, error rate and confusion matrix of `model` (eval mode) on raw `x`,
    measured as training measures (`plainnet.engine.evaluate`)."""
    device = next(model.parameters()).device
    return evaluate(model, raw_batches(preprocess, x, y, device), classes=classes)


@torch.no_grad()
def logits(model: nn.Module, preprocess: Standardize, x: np.ndarray) -> torch.Tensor:
    """The outputs (N x classes, on the CPU) of `model` in eval mode for raw inputs `x`."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat(
        [model(inputs).cpu() for inputs, _ in raw_batches(preprocess, x, None, device)]
    )


def predict(model: nn.Module, preprocess: Standardize, x: np.ndarray) -> np.ndarray:
    """Class probabilities (N x classes) of `model` in eval mode for raw inputs `x`."""
    return torch.softmax(logits(model, preprocess, x), 1).numpy()


# How an exported model's input is laid out: its shape for a model of inputs (C, H, W).
LAYOUTS = {
    "nchw": lambda c, h, w: (c, h, w),
    "nhwc": lambda c, h, w: (h, w, c),
    "nhw": lambda c, h, w: (h, w),  # one channel only
    "flat": lambda c, h, w: (c * h * w,),  # channels-first order, as torch.flatten gives
}


class Standalone(nn.Module):
    """The model with its input layout and standardization folded in: raw pixel values (as
    the dataset stores them: 0..255 for 8-bit images) laid out as `layout` (`LAYOUTS`) in,
    logits out."""

    def __init__(self, model: nn.Module, preprocess: Standardize, in_shape, layout="nchw"):
        super().__init__()
        if layout not in LAYOUTS:
            raise InputError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
        if layout == "nhw" and in_shape[0] != 1:
            raise InputError(
                f"layout nhw has no channel axis and the model takes {in_shape[0]} channels; "
                "choose nchw, nhwc or flat"
            )
        self.model, self.in_shape, self.layout = model, tuple(in_shape), layout
        self.register_buffer("mean", preprocess.mean.clone())
        self.register_buffer("std", preprocess.std.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "nhwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout != "nchw":
            x = x.reshape(x.shape[0], *self.in_shape)
        return self.model((x.float() - self.mean) / self.std)


def export(
    model: nn.Module, preprocess: Standardize, in_shape, path: Path, fmt: str, layout="nchw"
) -> Path:
    """Write a file that loads and runs with PyTorch alone (no plainnet).

    `pt2`: `torch.export` (load with `torch.export.load(path).module()`); `torchscript`:
    `torch.jit.load(path)`. Both take raw pixel values laid out as `layout` (`LAYOUTS`: a
    compiled program's input has one rank, so the layout is chosen here) and return logits;
    the batch size is free. A `pt2` program takes float32 (it fixes its input's dtype); the
    TorchScript file any numeric dtype.
    """
    net = Standalone(model, preprocess, in_shape, layout).eval()
    example = torch.zeros(2, *LAYOUTS[layout](*in_shape))
    if fmt == "torchscript":
        traced = torch.jit.trace(net, example)
        return write_atomic(path, lambda f: torch.jit.save(traced, f))
    if fmt == "pt2":
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
        # into memory first: torch.export's zip writer aborts the process (SIGABRT) when a
        # write into the file fails (a full disk); a failed write of bytes is one line
        buf = io.BytesIO()
        torch.export.save(program, buf)
        return write_atomic(path, buf.getvalue())
    raise InputError(f"unknown export format {fmt!r}; choose pt2 or torchscript")


def evaluate_run(
    run_dir: str | Path, split: str = "test", checkpoint: str = "selected", device="cpu"
) -> tuple["LoadedRun", Evaluation, list[Path]]:
    """Evaluate a run's model (`load_run`) on its data's `split`, with the confusion matrix;
    writes `eval-<checkpoint>-<split>.csv` and `.png` into the run folder."""
    from plainnet.app.build import load_arrays

    loaded = load_run(run_dir, checkpoint, device)
    arrays = load_arrays(loaded.config)
    x, y = getattr(arrays, f"x_{split}"), getattr(arrays, f"y_{split}")
    if not len(y):
        raise ConfigError(f"the run has no {split} split (data.val_fraction = 0)")
    check_fits(loaded, x, y, f"{loaded.config.data.dataset} ({split} split)")
    ev = evaluate_raw(loaded.model, loaded.preprocess, x, y, loaded.classes)
    stem = f"eval-{loaded.checkpoint}-{split}"
    files = save_evaluation(ev, Path(run_dir), stem, f"{Path(run_dir).name}, {split}")
    return loaded, ev, files


def write_predictions(out: Path, names: list[str], probs: np.ndarray, labels: list[str]) -> Path:
    """One row per input (name, predicted class, probabilities) as `.csv`, or arrays in `.npz`."""
    if out.suffix == ".npz":
        arrays = dict(names=np.array(names), predicted=probs.argmax(1), probabilities=probs)
        return write_atomic(out, lambda f: np.savez(f, **arrays))
    rows = [["input", "predicted", "class", *[f"p_{c}" for c in labels]]]
    for name, p in zip(names, probs, strict=True):
        rows.append([name, int(p.argmax()), labels[p.argmax()], *[f"{v:.6f}" for v in p]])
    return write_csv(out, rows)


def save_evaluation(ev: Evaluation, folder: Path, stem: str, title: str) -> list[Path]:
    """`<stem>.csv` (per-class errors and the confusion matrix) and `<stem>.png`."""
    from plainnet.app.plots import figure, save

    folder.mkdir(parents=True, exist_ok=True)
    classes = len(ev.confusion)
    rows = [["class", "samples", "error", *[f"predicted_{c}" for c in range(classes)]]]
    for c in range(classes):
        row = ev.confusion[c]
        rows.append([c, int(row.sum()), f"{ev.per_class_error[c]:.6f}", *row.tolist()])
    table = write_csv(folder / f"{stem}.csv", rows)
    fig, ax = figure(figsize=(6, 5))
    im = ax.imshow(ev.confusion, cmap="Blues")
    dark = ev.confusion.max() / 2  # the colour map's darker half takes white numbers
    for (i, j), v in np.ndenumerate(ev.confusion):
        if v:
            colour = "white" if v > dark else "black"
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.set_title(f"{title}: error {ev.error:.2%}")
    fig.colorbar(im, ax=ax, label="samples")
    return [table, save(fig, folder / f"{stem}.png")]


@dataclass
class LoadedRun:
    model: nn.Module  # in eval mode, on the requested device
    preprocess: Standardize  # raw inputs (e.g. uint8 images) -> the model's inputs
    config: Config
    classes: int
    class_names: list[str]
    in_shape: tuple[int, ...]  # C, H, W of the model's inputs
    epoch: int  # of the checkpoint
    checkpoint: str = "best"  # which file: "best" (best.pt) or "last" (last.pt)
    raw: dict | None = None  # the training inputs' dtype, shape and value range
    module_from: str = ""  # the file model.module was imported from, if any

    def describe(self) -> str:
        """Which model this is, in one line: the file, its epoch and why it was kept."""
        of = f"epoch {self.epoch} of {self.config.train.epochs}"
        module = self.config.model.module
        where = f"; model.module {module} from {self.module_from}" if self.module_from else ""
        if self.checkpoint == "last":
            return f"last.pt ({of}: the final model{where})"
        rule = RULES.get(self.config.run.select, self.config.run.select)
        return f"best.pt ({of}: {rule} on validation{where})"


def _rebuilt(cfg: Config, shape, about: dict) -> nn.Module:
    """The run's model built again; a model module that cannot be imported from here is one
    line saying where it was when the run trained (it is never imported from there unasked),
    and one found elsewhere than that is not imported (`check_recorded_module`)."""
    if cfg.model.module:
        check_recorded_module(cfg.model.module, about)
    try:
        return make_model(cfg, shape)
    except ConfigError as e:
        file = about.get("module_file")
        where = f"; it was {file} when the run trained" if file else ""
        raise RunError(
            f"{e}{where}: run from the folder that holds it, or put that folder on PYTHONPATH"
        ) from None


def load_run(
    run_dir: str | Path,
    checkpoint: str = "selected",
    device: torch.device | str = "cpu",
    model: nn.Module | None = None,
) -> LoadedRun:
    """A trained model from a run folder, with the input preprocessing it was trained with.

    `checkpoint`: "selected" (what `run.select` chose: best.pt, else last.pt), "best" or
    "last"; `LoadedRun.describe()` says which model it is. Needs no dataset and no
    network; the checkpoint is read with `torch.load(weights_only=True)`. `model`: for a run
    trained with a model its config cannot describe (given to `train` from Python), an
    instance of the same architecture, which receives the weights.
    """
    if checkpoint not in CHECKPOINTS:
        raise ConfigError(f"checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}")
    run = RunDir.open(run_dir)
    if checkpoint == "selected":
        checkpoint = "best" if run.best_path.exists() else "last"
    path = run.best_path if checkpoint == "best" else run.checkpoint_path
    if checkpoint == "best" and not path.exists():
        raise RunError(f"{path} not found (a run without a validation split); use 'last'")
    state = run.load_checkpoint(device, path, optimizer=False)
    if "data" not in state:
        raise RunError(
            f"{path} was written by an older plainnet and lacks the input normalization; "
            "retrain, or rebuild it with plainnet.app.build.make_data"
        )
    if state.get("model_given") and model is None:
        raise RunError(needs_model(run.path, state["model_given"], "load"))
    if "config" in state:  # a checkpoint copied in from another run is not this run's model
        check_same_config(run, state["config"], run.config().model_dump())
    info = state["data"]
    cfg = validate(state["config"], str(path))
    try:
        classes, in_shape = int(info["num_classes"]), tuple(int(v) for v in info["in_shape"])
        # sizes no data set has are a damaged file: refused before a model of them is built
        if not 2 <= classes <= MAX_CLASSES or len(in_shape) != 3 or min(in_shape) < 1:
            raise ValueError
        if math.prod(in_shape) > MAX_INPUT_VALUES:
            raise ValueError
        shape = SimpleNamespace(in_shape=in_shape, num_classes=classes)
        model = model or _rebuilt(cfg, shape, state)
        model.load_state_dict(state["model"])
        prep = Standardize.from_state(info)
    except PlainnetError:  # already one line (e.g. a model module that is not the run's)
        raise
    except (KeyError, TypeError, ValueError, RuntimeError):
        raise RunError(f"{path}: its weights, config and data description do not fit") from None
    bad = first_nonfinite(model)
    if bad:
        raise RunError(f"{path}: {bad} holds NaN or inf; this model cannot predict")
    model.to(device).eval()
    names = info.get("class_names") or [str(c) for c in range(classes)]
    raw = info.get("raw")  # absent from checkpoints of older versions
    module = sys.modules.get(cfg.model.module) if cfg.model.module else None
    return LoadedRun(
        model, prep, cfg, classes, names, shape.in_shape, state["epoch"], checkpoint, raw,
        getattr(module, "__file__", None) or "",
    )  # fmt: skip
