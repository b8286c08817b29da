"""The dataset registry: official sources, their parsers, and the `.npz` cache format.

Each dataset is converted once from its official files into `<data_dir>/<name>.npz`
(`numpy.savez_compressed`): uint8 images `N,H,W` or `N,H,W,C`, int64 labels from 0, either
`x_train, y_train, x_test, y_test` or, for a set without an official split, `x, y` (and
`pose` for COIL-20), plus `meta`, a 0-d string holding JSON (`name`, `variant`, `lossless`,
`official`, `source`). A file found there is used as is, without any network; raw
downloads are kept under `<data_dir>/raw/<name>/`.

The data directory is `--data-dir` / `data.data_dir`, else `$PLAINNET_DATA`, else
`$XDG_CACHE_HOME/plainnet` (`~/.cache/plainnet`).
"""

import bz2
import gzip
import hashlib
import io
import json
import os
import pickle
import re
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plainnet.data.download import Source, fetch
from plainnet.errors import PlainnetError
from plainnet.files import replacing


class DataError(PlainnetError, ValueError):
    """A dataset file that cannot be used; its message is one line and names the file."""


class InexactDataWarning(UserWarning):
    """A dataset file that is not an exact copy of the official release."""


@dataclass
class ArrayDataset:
    """A dataset split into train, validation (possibly empty) and test, as uint8 images and
    int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict = field(default_factory=dict)
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self):
        if self.x_val is None:
            self.x_val = self.x_train[:0]
            self.y_val = self.y_train[:0]
        for split in ("train", "val", "test"):  # arrays from a user's code are checked here
            x, y = getattr(self, f"x_{split}"), np.asarray(getattr(self, f"y_{split}"))
            if len(x) != len(y):
                raise DataError(
                    f"{self.name}: x_{split} holds {len(x)} samples, y_{split} {len(y)}"
                )
            if len(y) and (y.dtype.kind not in "iu" or y.min() < 0):
                raise DataError(f"{self.name}: y_{split} must hold integer labels from 0")

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


@dataclass(frozen=True)
class Spec:
    name: str
    about: str
    num_classes: int
    channels: int
    size: tuple[int, int] | None  # official H, W (None: any, e.g. a resized COIL-20)
    split: bool  # has an official train/test split
    sources: tuple[Source, ...] = ()
    convert: Callable[[dict[str, Path]], dict[str, np.ndarray]] | None = None
    augment: bool = False  # crop + flip on by default (data.augment = "auto")


def default_data_dir() -> Path:
    if os.environ.get("PLAINNET_DATA"):
        return Path(os.environ["PLAINNET_DATA"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "plainnet"


# ---------------------------------------------------------------- official-format parsers


def parse_libsvm(path: Path, features: int) -> tuple[np.ndarray, np.ndarray]:
    """LIBSVM text (`label idx:value ...`, 1-based indices), bz2-compressed or plain."""
    opener = bz2.open if path.suffix == ".bz2" else open
    labels, rows = [], []
    with opener(path, "rt") as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            row = np.zeros(features, np.float32)
            for item in parts[1:]:
                i, v = item.split(":")
                row[int(i) - 1] = float(v)
            labels.append(int(float(parts[0])))
            rows.append(row)
    return np.stack(rows), np.asarray(labels, np.int64)


def parse_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST), gzip-compressed or plain: uint8 arrays of any rank."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(dims):
        raise DataError(f"{path}: IDX header says {tuple(dims)} but holds {data.size} bytes")
    return data.reshape(dims)


def parse_cifar10(path: Path) -> dict[str, np.ndarray]:
    """The CIFAR-10 python tarball: pickled batches of (N, 3072) uint8 rows, CHW order."""

    def batch(tar: tarfile.TarFile, name: str) -> tuple[np.ndarray, np.ndarray]:
        member = tar.extractfile(f"cifar-10-batches-py/{name}")
        # Pickle is the official format; the tarball's checksum was verified before this.
        d = pickle.load(member, encoding="bytes")  # noqa: S301
        x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(d[b"labels"], np.int64)

    with tarfile.open(path, "r:gz") as tar:
        train = [batch(tar, f"data_batch_{i}") for i in range(1, 6)]
        x_test, y_test = batch(tar, "test_batch")
    return dict(
        x_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test,
        y_test=y_test,
    )


COIL_NAME = re.compile(r"obj(\d+)__(\d+)\.png$")


def parse_coil20(path: Path) -> dict[str, np.ndarray]:
    """The COIL-20 processed zip: `coil-20-proc/obj{1..20}__{0..71}.png`, 128x128 grayscale."""
    from PIL import Image

    items = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            m = COIL_NAME.search(name)
            if m:
                with Image.open(io.BytesIO(z.read(name))) as im:
                    # the release is 128x128 8-bit grayscale: anything else is not COIL-20
                    if im.size != (128, 128) or im.mode != "L":
                        raise DataError(
                            f"{path}: {name} is {im.size[0]}x{im.size[1]} mode {im.mode}, "
                            "expected COIL-20's 128x128 8-bit grayscale (mode L)"
                        )
                    img = np.asarray(im, np.uint8)
                items.append((int(m[1]) - 1, int(m[2]), img))
    if len(items) != 20 * 72:
        raise DataError(f"{path}: holds {len(items)} COIL-20 images, expected 1,440 (20 x 72)")
    if len({(obj, pose) for obj, pose, _ in items}) != len(items):
        raise DataError(f"{path}: names an object's pose twice; not the COIL-20 release")
    # every photograph of the release differs from every other: copies mean a forged file
    distinct = len({hashlib.sha256(img.tobytes()).digest() for *_, img in items})
    if distinct < len(items):
        raise DataError(f"{path}: only {distinct} distinct images of 1,440; not COIL-20")
    items.sort(key=lambda t: t[:2])
    return dict(
        x=np.stack([img for *_, img in items]),
        y=np.asarray([obj for obj, *_ in items], np.int64),
        pose=np.asarray([pose for _, pose, _ in items], np.int64),
    )


def _usps(files: dict[str, Path]) -> dict[str, np.ndarray]:
    out = {}
    for split, fname in (("train", "usps.bz2"), ("test", "usps.t.bz2")):
        x, y = parse_libsvm(files[fname], 256)
        out[f"x_{split}"] = np.round((x.reshape(-1, 16, 16) + 1) / 2 * 255).astype(np.uint8)
        out[f"y_{split}"] = y - 1  # LIBSVM labels are digit + 1
    return out


def _mnist(files: dict[str, Path]) -> dict[str, np.ndarray]:
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        out[f"x_{split}"] = parse_idx(files[f"{prefix}-images-idx3-ubyte.gz"])
        out[f"y_{split}"] = parse_idx(files[f"{prefix}-labels-idx1-ubyte.gz"]).astype(np.int64)
    return out


def _digits(_: dict[str, Path]) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return dict(x=d.images.astype(np.uint8), y=d.target.astype(np.int64))


LIBSVM = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass"
MNIST = ("https://ossci-datasets.s3.amazonaws.com/mnist", "https://yann.lecun.com/exdb/mnist")


def _mnist_source(name: str, md5: str) -> Source:
    return Source(name, tuple(f"{m}/{name}" for m in MNIST), md5)


SPECS: dict[str, Spec] = {
    s.name: s
    for s in [
        Spec(
            "digits",
            "scikit-learn's bundled 8x8 digits (1,797 images, values 0..16); embedded",
            10,
            1,
            (8, 8),
            split=False,
            convert=_digits,
        ),
        Spec(
            "usps",
            "USPS handwritten digits, 16x16, standard split 7,291 / 2,007 (LIBSVM copy)",
            10,
            1,
            (16, 16),
            split=True,
            sources=(
                Source("usps.bz2", (f"{LIBSVM}/usps.bz2",), "ec16c51db3855ca6c91edd34d0e9b197"),
                Source("usps.t.bz2", (f"{LIBSVM}/usps.t.bz2",), "8ea070ee2aca1ac39742fdd1ef5ed118"),
            ),
            convert=_usps,
        ),
        Spec(
            "coil20",
            "COIL-20 processed: 20 objects x 72 poses, 128x128 grayscale; no official split",
            20,
            1,
            None,
            split=False,
            sources=(
                # Columbia publishes no checksum for this zip: its contents are checked instead
                # (1,440 PNGs, 72 poses of each of 20 objects).
                Source(
                    "coil-20-proc.zip",
                    (
                        "https://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/"
                        "coil-20/coil-20-proc.zip",
                    ),
                    None,
                ),
            ),
            convert=lambda files: parse_coil20(files["coil-20-proc.zip"]),
        ),
        Spec(
            "cifar10",
            "CIFAR-10, 32x32 RGB, 50,000 / 10,000 (python pickle tarball)",
            10,
            3,
            (32, 32),
            split=True,
            sources=(
                Source(
                    "cifar-10-python.tar.gz",
                    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                    "c58f30108f718f92721af3b95e74349a",
                ),
            ),
            convert=lambda files: parse_cifar10(files["cifar-10-python.tar.gz"]),
            augment=True,
        ),
        Spec(
            "mnist",
            "MNIST handwritten digits, 28x28, 60,000 / 10,000 (IDX gz files)",
            10,
            1,
            (28, 28),
            split=True,
            sources=(
                _mnist_source("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                _mnist_source("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                _mnist_source("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                _mnist_source("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
            ),
            convert=_mnist,
        ),
    ]
}


# More classes than any data set plainnet reads; a label or checkpoint beyond it is damaged.
MAX_CLASSES = 100_000


def is_user_dataset(name: str) -> bool:
    """A path to the user's own data: a `.npz` file or a folder of class folders."""
    return name not in SPECS and (name.endswith(".npz") or Path(name).is_dir())


def spec(name: str) -> Spec:
    if is_user_dataset(name):
        return Spec(Path(name).stem, f"your dataset at {name}", 0, 0, None, False)
    if name not in SPECS:
        raise DataError(
            f"unknown dataset {name!r}; choose one of {sorted(SPECS)}, "
            "or give a .npz file or a folder of class folders"
        )
    return SPECS[name]


def user_arrays(name: str) -> dict[str, np.ndarray]:
    """A user's dataset, checked like plainnet's own cache files.

    A `.npz` with `x_train, y_train, x_test, y_test` or `x, y` (images `N,H,W`, channels
    last `N,H,W,C` or channels first `N,C,H,W`: `user_images`; integer labels from 0), or a
    folder with one subfolder of images per class (class = subfolder, in sorted order; split
    later by `data.test_fraction`).
    """
    path = Path(name)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        a = read_image_folder(path)
    else:
        try:
            with np.load(path, allow_pickle=False) as f:
                a = {k: f[k] for k in f.files}
        except Exception as e:  # numpy/zipfile raise many types for a foreign file
            raise DataError(f"{path}: not a readable .npz file ({type(e).__name__})") from None
        a |= {k: user_images(a[k], f"{path}: {k}") for k in ("x", "x_train", "x_test") if k in a}
    split = "x_train" in a
    xs = [a[k] for k in (("x_train", "x_test") if split else ("x",)) if k in a]
    if not xs or xs[0].ndim not in (3, 4):
        raise DataError(f"{path}: needs x_train/y_train/x_test/y_test or x/y image arrays")
    channels = 1 if xs[0].ndim == 3 else xs[0].shape[3]
    ys = [a.get(k) for k in (("y_train", "y_test") if split else ("y",))]
    labels = np.concatenate([y for y in ys if y is not None and y.dtype.kind in "iu"] or [[0]])
    if not len(xs[0]) or 0 in xs[0].shape[1:]:
        raise DataError(f"{path}: holds no images (an array of shape {xs[0].shape})")
    if labels.max() >= MAX_CLASSES:
        raise DataError(f"{path}: a label of {int(labels.max())}; labels are 0..K-1 classes")
    classes = int(labels.max()) + 1
    if classes < 2:
        raise DataError(f"{path}: one class only; a classifier needs at least two")
    s = Spec(path.stem, str(path), classes, channels, xs[0].shape[1:3], split)
    _check(s, path, a, hint=False)
    y_train = a["y_train" if split else "y"]
    empty = sorted(set(range(classes)) - set(np.unique(y_train).tolist()))
    if empty:
        raise DataError(
            f"{path}: classes {empty} have no training samples (labels 0..{classes - 1})"
        )
    return a


def user_images(x: np.ndarray, origin: str) -> np.ndarray:
    """A user's image array as the cache stores images: uint8 (or float32, for floats) `N,H,W`
    for one channel, else `N,H,W,C`.

    Channels first (`N,C,H,W`, PyTorch's layout) is told from channels last by the channel
    axis being the short one (at most 4) or the odd one out beside a square image; a shape
    that fits both, e.g. (N, 8, 8, 8), is refused naming the fix. Integers in 0..255 become
    uint8, other numbers float32 (NaN and inf refused)."""
    if x.dtype.kind not in "uif" or x.ndim not in (3, 4):
        return x  # the checks that follow name what is wrong
    if x.dtype.kind == "f" or x.size and (x.min() < 0 or x.max() > 255):
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise DataError(f"{origin} holds NaN or inf")
        x = x.astype(np.float32)
    elif x.dtype != np.uint8:
        x = x.astype(np.uint8)
    if x.ndim == 4:
        _, a, b, c = x.shape
        first = (a <= 4 < c) or (b == c != a and not c <= 4 < a)
        last = (c <= 4 < a) or (a == b != c and not a <= 4 < c)
        if first == last:
            raise DataError(
                f"{origin} has shape {x.shape}: channels first (N,C,H,W) or last (N,H,W,C)? "
                "save it channels last (np.moveaxis(x, 1, -1) turns N,C,H,W into N,H,W,C)"
            )
        x = np.moveaxis(x, 1, -1) if first else x
        x = x[..., 0] if x.shape[3] == 1 else x
    return np.ascontiguousarray(x)


def read_image_folder(path: Path) -> dict[str, np.ndarray]:
    """`path/<class>/<image>` -> uint8 `x` (N,H,W or N,H,W,3) and labels `y` by sorted class."""
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p for p in path.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{path}: no class subfolders (expected {path}/<class>/<images>)")
    xs, ys, mode, size = [], [], None, None
    for label, folder in enumerate(classes):
        files = sorted(folder.iterdir())
        if not files:
            raise DataError(f"{folder}: an empty class folder; remove it or add its images")
        for f in files:
            if not f.is_file():  # a FIFO would wait forever for a writer
                raise DataError(f"{f}: not a regular file")
            try:
                with Image.open(f) as im:
                    mode = mode or ("L" if im.mode in GRAY_MODES else "RGB")
                    pixels = eight_bit(im, mode)
                    size = size or im.size
                    if im.size != size:
                        raise DataError(
                            f"{f}: {im.size[0]}x{im.size[1]} pixels, the first image has "
                            f"{size[0]}x{size[1]}; resize them to one size"
                        )
                    xs.append(pixels)
                    ys.append(label)
            except DataError:
                raise
            except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
                raise DataError(f"{f}: not a readable image") from None
    return dict(x=np.stack(xs), y=np.array(ys, dtype=np.int64))


GRAY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")


def eight_bit(im, mode: str) -> np.ndarray:
    """An image as uint8 pixels in `mode`. 16-bit and 32-bit grayscale are scaled down to
    0..255 (PIL's own conversion clips them to 255: a 16-bit image would come out white)."""
    if im.mode.startswith("I") or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        top = 65535 if im.mode.startswith("I;16") or a.max() > 255 else 255
        gray = np.clip(np.rint(a * 255 / top), 0, 255).astype(np.uint8)
        return gray if mode == "L" else np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(im.convert(mode), dtype=np.uint8)


# ---------------------------------------------------------------- the cache file


def cache_path(name: str, data_dir: str | Path | None = None) -> Path:
    return Path(data_dir or default_data_dir()) / f"{name}.npz"


def read_cache(name: str, data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Load and check `<data_dir>/<name>.npz`; any problem is a one-line `DataError`.

    The last file read is kept, read-only, while it is unchanged on disk: a grid or a recipe
    training several runs in one process decompresses CIFAR-10 (1-2 s) once."""
    s, path = spec(name), cache_path(name, data_dir)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if _LAST_READ.get("key") != key:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
            for a in arrays.values():
                a.flags.writeable = False  # shared by every caller: never changed in place
            _LAST_READ.clear()
            _LAST_READ.update(key=key, arrays=arrays)
    except Exception as e:  # numpy/zipfile raise many types for a truncated or foreign file
        _LAST_READ.clear()
        raise DataError(f"{path}: not a readable dataset file ({type(e).__name__}: {e})") from None
    arrays = dict(_LAST_READ["arrays"])
    _check(s, path, arrays)
    return arrays


_LAST_READ: dict = {}  # read_cache's last file: its key (path, size, mtime) and arrays


def _check(s: Spec, path: Path, a: dict[str, np.ndarray], hint: bool = True) -> None:
    def bad(why: str) -> DataError:
        fix = f"; delete it and run `plainnet data download {s.name}`" if hint else ""
        return DataError(f"{path}: {why}{fix}")

    pairs = [("x_train", "y_train"), ("x_test", "y_test")] if s.split else [("x", "y")]
    for xk, yk in pairs:
        if xk not in a or yk not in a:
            raise bad(f"missing array {xk!r} or {yk!r}")
        x, y = a[xk], a[yk]
        want_dims = 3 if s.channels == 1 else 4
        dtypes = (np.uint8,) if hint else (np.uint8, np.float32)  # a user's floats are kept
        if (
            x.dtype not in dtypes
            or x.ndim != want_dims
            or (x.ndim == 4 and x.shape[3] != s.channels)
        ):
            raise bad(
                f"{xk} is {x.dtype} {x.shape}, expected uint8 images with {s.channels} channel(s)"
            )
        if s.size is not None and x.shape[1:3] != s.size:
            raise bad(f"{xk} images are {x.shape[1:3]}, expected {s.size}")
        if y.dtype.kind not in "iu" or y.shape != (len(x),):
            raise bad(f"{yk} is {y.dtype} {y.shape}, expected {len(x)} integer labels")
        if len(y) and (y.min() < 0 or y.max() >= s.num_classes):
            raise bad(f"{yk} has labels outside 0..{s.num_classes - 1}")


def meta_of(arrays: dict[str, np.ndarray]) -> dict:
    try:
        return json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    except json.JSONDecodeError:
        return {}


def write_cache(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write atomically (`plainnet.files.replacing`): no half-written or hijacked file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as (f, _):
        np.savez_compressed(f, **arrays, meta=np.array(json.dumps(meta)))


def prepare(name: str, data_dir: str | Path | None = None, download: bool = True) -> Path:
    """Make sure `<data_dir>/<name>.npz` exists: fetch the official files and convert them."""
    s, path = spec(name), cache_path(name, data_dir)
    if path.exists():
        return path
    if not s.sources:
        raise DataError(f"{name} is embedded in plainnet: it has no file to prepare")
    raw = path.parent / "raw" / name
    files = {src.filename: fetch(src, raw, download) for src in s.sources}
    try:
        arrays = s.convert(files)
    except DataError:
        raise
    except Exception as e:
        names = ", ".join(str(p) for p in files.values())
        raise DataError(f"{names}: cannot be parsed ({type(e).__name__}: {e})") from None
    meta = dict(
        name=name,
        variant=s.about,
        lossless=True,
        official=True,
        source=", ".join(src.urls[0] for src in s.sources),
    )
    _check(s, path, arrays)
    try:
        write_cache(path, arrays, meta)
    except OSError as e:
        raise DataError(f"cannot write {path}: {e.strerror or e}") from None
    return path


# ---------------------------------------------------------------- splits and loading


def split_indices(
    y: np.ndarray,
    test_fraction: float | int,
    seed: int,
    by: str = "stratified",
    pose: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test indices for a set without an official split (`test_fraction`:
    the test part's share, or as an int its size).

    `stratified`: a seeded shuffle that keeps every class's share in both parts
    (scikit-learn's `train_test_split(stratify=y)`). `pose` (COIL-20): the same evenly spaced
    poses of every object go to test, e.g. every 5th of the 72 views for 0.2, so test views
    lie between training views and no object's pose is seen in both parts.
    """
    idx = np.arange(len(y))
    if by == "stratified":
        from sklearn.model_selection import train_test_split

        try:
            tr, te = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
        except ValueError as e:  # e.g. a part that would be empty, or smaller than the classes
            raise DataError(
                f"cannot hold out {test_fraction:g} of {len(y)} samples in {len(np.unique(y))} "
                f"classes, stratified: {str(e).split('. ')[0]}"
            ) from None
        return np.sort(tr), np.sort(te)
    if by == "pose":
        if pose is None:
            raise DataError("split 'pose' needs a dataset with poses (coil20)")
        poses = int(pose.max()) + 1
        n_test = max(1, round(poses * test_fraction))
        test_poses = np.unique(np.floor(np.arange(n_test) * poses / n_test).astype(int))
        is_test = np.isin(pose, test_poses)
        return idx[~is_test], idx[is_test]
    raise DataError(f"unknown split {by!r}; choose 'stratified' or 'pose'")


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 images to `size` x `size` with area averaging (antialiased for downsizing)."""
    import torch

    t = torch.tensor(x, dtype=torch.float32)
    t = t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)
    mode = "area" if size <= min(t.shape[2:]) else "bilinear"
    t = torch.nn.functional.interpolate(t, size=(size, size), mode=mode)
    if x.dtype == np.uint8:
        t = t.round().clamp(0, 255).to(torch.uint8)
    return (t.squeeze(1) if x.ndim == 3 else t.permute(0, 2, 3, 1)).numpy()


def arrays(
    name: str, data_dir: str | Path | None = None, download: bool = True
) -> tuple[dict[str, np.ndarray], dict]:
    """The checked arrays of `name` as stored (split or not) and their `meta`.

    Warns (`InexactDataWarning`) when the file is not the official release.
    """
    if is_user_dataset(name):
        meta = dict(name=Path(name).stem, variant=f"your data at {name}")
        if Path(name).is_dir():  # the class folders' names
            meta["classes"] = sorted(p.name for p in Path(name).iterdir() if p.is_dir())
        return user_arrays(name), meta
    s = spec(name)
    if not s.sources:  # embedded: nothing to fetch or cache
        return s.convert({}), dict(name=name, variant=s.about, lossless=True, official=True)
    path = prepare(name, data_dir, download)
    a = read_cache(name, data_dir)
    meta = meta_of(a)
    if not meta.get("official", False):  # the command line shows each note once
        warnings.warn(
            f"{path} is not the official release: {meta.get('variant', 'no description')}",
            InexactDataWarning,
            stacklevel=2,
        )
    return a, meta


def describe(name: str, data_dir: str | Path | None = None) -> list[str]:
    """Lines on `name`'s data as stored: where, each array's shape, dtype, value range and
    class counts, and its provenance (`meta`)."""
    a, meta = arrays(name, data_dir, download=False)
    lines = [f"{name}: {cache_path(name, data_dir) if spec(name).sources else 'embedded'}"]
    for key in sorted(k for k in a if k.startswith("x")):
        x, y = a[key], a["y" + key[1:]]
        counts = np.bincount(y, minlength=SPECS[name].num_classes)
        lines.append(
            f"  {key:<8} {x.dtype} {tuple(x.shape)}  values {x.min()}..{x.max()} "
            f"(mean {x.mean():.2f})  per class {counts.min()}..{counts.max()}: {counts.tolist()}"
        )
    return lines + [f"  {k}: {v}" for k, v in meta.items()]


def stratified_sample(y: np.ndarray, n: int, seed: int, split: str) -> np.ndarray:
    """Sorted indices of `n` of the labels `y`, every class in its share (`split_indices`)."""
    if n < (classes := len(np.unique(y))):
        raise DataError(
            f"a stratified {split} sample of {n} cannot hold one of each of the {classes} classes"
        )
    return split_indices(y, n, seed)[1]


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    test_fraction: float = 0.2,
    val_fraction: float = 0.0,
    split: str = "stratified",
    split_seed: int = 0,
    image_size: int = 0,
    train_subset: int = 0,
    download: bool = True,
    val_subset: int = 0,
    train_subset_by: str = "random",
) -> ArrayDataset:
    """The dataset `name` as train/validation/test arrays, prepared on first use.

    Sets without an official split (`digits`, `coil20`) are split by `split_indices`; the
    defaults (20% test, stratified, seed 0) give digits 1,437 / 360. `val_fraction` > 0 then
    holds out that share of the training split as a validation split (stratified, seeded by
    `split_seed`), e.g. USPS 7,291 -> 6,561 train / 730 validation. `image_size` > 0 resizes;
    `train_subset` > 0 keeps that many training samples (seeded by `split_seed`), for quick runs:
    a random sample, or with `train_subset_by="stratified"` one that keeps every class's share;
    `val_subset` > 0 keeps a stratified sample of that many validation samples.
    """
    a, meta = arrays(name, data_dir, download)
    if "x" in a:
        tr, te = split_indices(a["y"], test_fraction, split_seed, split, a.get("pose"))
        a = dict(x_train=a["x"][tr], y_train=a["y"][tr], x_test=a["x"][te], y_test=a["y"][te])
    a = dict(a, x_val=a["x_train"][:0], y_val=a["y_train"][:0])
    if val_fraction > 0:
        tr, va = split_indices(a["y_train"], val_fraction, split_seed)
        x, y = a["x_train"], a["y_train"]
        a = dict(a, x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va])
    if 0 < val_subset < len(a["y_val"]):
        keep = stratified_sample(a["y_val"], val_subset, split_seed, "validation")
        a = dict(a, x_val=a["x_val"][keep], y_val=a["y_val"][keep])
    if 0 < train_subset < len(a["y_train"]):
        if train_subset_by == "stratified":
            keep = stratified_sample(a["y_train"], train_subset, split_seed, "training")
        else:
            rng = np.random.default_rng(split_seed)
            keep = np.sort(rng.permutation(len(a["y_train"]))[:train_subset])
        a = dict(a, x_train=a["x_train"][keep], y_train=a["y_train"][keep])
    xs = {
        k: resize(a[k], image_size) if image_size else a[k] for k in ("x_train", "x_val", "x_test")
    }
    ys = {k: a[k].astype(np.int64) for k in ("y_train", "y_val", "y_test")}
    for split in ("train", "test"):
        if not len(ys[f"y_{split}"]):
            raise DataError(f"{name}: the {split} split holds no samples")
    return ArrayDataset(
        name,
        xs["x_train"],
        ys["y_train"],
        xs["x_test"],
        ys["y_test"],
        meta,
        xs["x_val"],
        ys["y_val"],
    )
