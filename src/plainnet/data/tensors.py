"""Training data on the device: whole-dataset tensors, seeded batches, tensor augmentation.

`DeviceData` turns an `ArrayDataset` (see `plainnet.data.datasets`) into normalized float tensors
that live on the training device and serves seeded batches by indexing them, with no
DataLoader or worker processes (as airbench does: these datasets fit in memory many times).
"""

import warnings
from collections.abc import Iterator

import numpy as np
import torch

from plainnet.data.datasets import ArrayDataset


def to_nchw(x: np.ndarray) -> torch.Tensor:
    """uint8 `N,H,W` or `N,H,W,C` images to a float32 `N,C,H,W` tensor."""
    t = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: cached arrays are read-only
    return t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2).contiguous()


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator, pad: int = 4, flip: bool = True
) -> torch.Tensor:
    """Random crop with `pad` pixels of zero padding and (with `flip`) random horizontal flip,
    batched: a random shift of up to `pad` pixels each way.

    Works on a whole `N,C,H,W` batch on its device with a handful of tensor ops: every image
    gets its own offset and flip, drawn from `generator` (so a seed fixes them).
    """
    n, _, h, w = x.shape
    dev = x.device
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=generator).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=generator).to(dev)
    rows = (torch.arange(h, device=dev).view(1, h, 1) + dy).expand(n, h, w)
    cols = torch.arange(w, device=dev).view(1, 1, w).expand(n, h, w)
    if flip:
        flipped = torch.rand(n, generator=generator).to(dev) < 0.5
        cols = torch.where(flipped.view(n, 1, 1), w - 1 - cols, cols)
    cols = cols + dx
    idx = (rows * (w + 2 * pad) + cols).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


class InputRangeWarning(UserWarning):
    """Inputs outside the value range of the data a model was trained on."""


def outside_range(lo: float, hi: float, raw: dict) -> bool:
    """Whether values from `lo` to `hi` leave the training inputs' range `raw` (min, max) by
    more than a tenth of its span: the training split need not reach every legal value (a
    split whose brightest pixel is 250 still takes 255), but 0..255 against 0..16 is another
    scale."""
    margin = 0.1 * (raw["max"] - raw["min"])
    return lo < raw["min"] - margin or hi > raw["max"] + margin


class Standardize:
    """Raw inputs (uint8 images `N,H,W` / `N,H,W,C`, as the dataset stores them) to the
    model's inputs: float `N,C,H,W`, standardized per channel with the training split's mean
    and std. Saved in every checkpoint, so a trained model needs no dataset to be used."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, raw: dict | None = None):
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        self.raw = raw  # the training inputs' value range: inputs outside it are warned about

    @classmethod
    def fit(cls, x_train: torch.Tensor) -> "Standardize":
        """From training inputs already in `N,C,H,W` float form."""
        std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6)
        return cls(x_train.mean(dim=(0, 2, 3)), std)

    def __call__(self, x) -> torch.Tensor:
        t = to_nchw(x) if isinstance(x, np.ndarray) else x.float()
        if self.raw and len(t):
            lo, hi = t.min().item(), t.max().item()
            if outside_range(lo, hi, self.raw):
                warnings.warn(
                    f"inputs from {lo:g} to {hi:g}, outside the {self.raw['min']:g}.."
                    f"{self.raw['max']:g} the model was trained on: its answers mean little",
                    InputRangeWarning,
                    stacklevel=2,
                )
        return (t - self.mean.to(t.device)) / self.std.to(t.device)

    def state(self) -> dict:
        return dict(mean=self.mean.flatten().tolist(), std=self.std.flatten().tolist())

    @classmethod
    def from_state(cls, state: dict) -> "Standardize":
        return cls(torch.tensor(state["mean"]), torch.tensor(state["std"]), state.get("raw"))


class DeviceData:
    """A dataset as normalized float tensors on `device`, with seeded batching.

    Inputs are standardized per channel with the mean and std of the training split only
    (never the validation or test split).
    """

    SPLITS = ("train", "val", "test")
    # `augment` names: crop + flip for natural images; "shift" (no flip, which would turn a
    # digit into another symbol) for digits and objects.
    AUGMENTS = {True: dict(pad=4, flip=True), "shift": dict(pad=2, flip=False)}

    def __init__(
        self, ds: ArrayDataset, device: torch.device | str = "cpu", augment: bool | str = False
    ):
        self.name = ds.name
        self.num_classes = ds.num_classes
        names = ds.meta.get("classes")
        self.class_names = list(names) if names else [str(c) for c in range(self.num_classes)]
        self.augment = augment
        # what the model was trained on, kept in every checkpoint to check later inputs by
        self.raw = dict(
            dtype=str(ds.x_train.dtype),
            shape=list(ds.x_train.shape[1:]),
            min=float(ds.x_train.min()) if ds.x_train.size else 0.0,
            max=float(ds.x_train.max()) if ds.x_train.size else 0.0,
        )
        self.standardize = Standardize.fit(to_nchw(ds.x_train))
        for split in self.SPLITS:
            x = self.standardize(getattr(ds, f"x_{split}"))
            setattr(self, f"x_{split}", x.to(device))
            setattr(
                self,
                f"y_{split}",
                torch.tensor(getattr(ds, f"y_{split}"), dtype=torch.long, device=device),
            )

    @property
    def train_size(self) -> int:
        return len(self.y_train)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def batch_bounds(self, batch_size: int, processes: int = 1) -> list[int]:
        """Where an epoch's batches start and end. A last batch that would give some process
        fewer than two samples, which BatchNorm cannot normalize, is merged into the one
        before it."""
        n = len(self.y_train)
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] < 2 * processes:
            starts.pop()
        return [*starts, n]

    def steps_per_epoch(self, batch_size: int, processes: int = 1) -> int:
        return len(self.batch_bounds(batch_size, processes)) - 1

    def train_batches(
        self, batch_size: int, generator: torch.Generator, world=None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of shuffled batches (`batch_bounds`: the last one may differ in size).

        `batch_size` is the global batch: with several processes (`world`, a
        `plainnet.engine.distributed.World`) each takes its contiguous share of every batch,
        after augmentation, so the random draws and the union of the shares are exactly those
        of one process.
        """
        perm = torch.randperm(len(self.y_train), generator=generator).to(self.y_train.device)
        bounds = self.batch_bounds(batch_size, world.size if world else 1)
        for start, end in zip(bounds, bounds[1:], strict=False):
            idx = perm[start:end]
            x = self.x_train[idx]
            if self.augment:
                x = random_crop_flip(x, generator, **self.AUGMENTS[self.augment])
            part = world.shard(len(idx)) if world else slice(None)
            yield x[part], self.y_train[idx[part]]

    def epochs(self, batch_size: int, seed: int, world=None, channels_last: bool = False):
        """Epoch -> that epoch's training batches (`train_batches`), each as (inputs, targets,
        global batch size): several processes each hold only their share of a batch."""
        bounds = self.batch_bounds(batch_size, world.size if world else 1)

        def epoch_batches(epoch: int):
            # A generator per epoch makes a resumed run shuffle exactly as an unbroken one.
            gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            for i, (x, y) in enumerate(self.train_batches(batch_size, gen, world)):
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                yield x, y, bounds[i + 1] - bounds[i]

        return epoch_batches

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """`n` training inputs drawn without replacement (seeded), in their stored order: a
        fixed sample, e.g. for BatchNorm calibration."""
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.y_train), generator=gen)[:n]
        return self.x_train[idx.sort().values.to(self.x_train.device)]

    def eval_batches(
        self, split: str = "test", batch_size: int = 1000, world=None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This process's share of `split` ("train", "val" or "test") in order, unaugmented."""
        x, y = self.split(split)
        part = world.shard(len(y)) if world else slice(None)
        x, y = x[part], y[part]
        for i in range(0, len(y), batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {list(self.SPLITS)}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    @property
    def augment_name(self) -> str:
        a = self.AUGMENTS.get(self.augment, {})
        return "crop + flip" if a.get("flip") else f"random shifts of up to {a.get('pad')} pixels"

    @property
    def has_val(self) -> bool:
        return len(self.y_val) > 0

    def info(self) -> dict:
        """What a checkpoint keeps of the data: enough to rebuild and feed the model."""
        shape = dict(name=self.name, in_shape=list(self.in_shape), num_classes=self.num_classes)
        extra = dict(class_names=self.class_names, raw=self.raw)
        return shape | extra | self.standardize.state()

    def describe(self) -> str:
        val = f"{len(self.y_val)} validation / " if self.has_val else ""
        return (
            f"{self.name}: {len(self.y_train)} train / {val}{len(self.y_test)} test, "
            f"input {self.in_shape}, {self.num_classes} classes"
            + (f", augmented ({self.augment_name})" if self.augment else "")
        )
