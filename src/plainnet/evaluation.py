"""Evaluating a trained model on raw inputs: loss, error, per-class errors, confusion matrix."""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plainnet.data import Standardize
from plainnet.inference import logits


@dataclass
class Evaluation:
    loss: float
    error: float
    confusion: np.ndarray  # [true class, predicted class] counts

    @property
    def per_class_error(self) -> np.ndarray:
        totals = self.confusion.sum(1)
        return 1 - np.diag(self.confusion) / np.maximum(totals, 1)


def evaluate_raw(
    model: nn.Module, preprocess: Standardize, x: np.ndarray, y: np.ndarray, classes: int
) -> Evaluation:
    """Mean cross-entropy, error rate and confusion matrix of `model` (eval mode) on raw `x`."""
    out = logits(model, preprocess, x)
    target = torch.from_numpy(y).long()
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (y, out.argmax(1).numpy()), 1)
    n = max(len(y), 1)
    loss = F.cross_entropy(out, target, reduction="sum").item() / n
    return Evaluation(loss, 1 - np.trace(confusion) / n, confusion)


def save_evaluation(ev: Evaluation, folder: Path, stem: str, title: str) -> list[Path]:
    """`<stem>.csv` (per-class errors and the confusion matrix) and `<stem>.png`."""
    from plainnet.plots import plt, save

    folder.mkdir(parents=True, exist_ok=True)
    classes = len(ev.confusion)
    table = folder / f"{stem}.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "samples", "error", *[f"predicted_{c}" for c in range(classes)]])
        for c in range(classes):
            row = ev.confusion[c]
            w.writerow([c, int(row.sum()), f"{ev.per_class_error[c]:.6f}", *row.tolist()])
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(ev.confusion, cmap="Blues")
    for (i, j), v in np.ndenumerate(ev.confusion):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.set_title(f"{title}: error {ev.error:.2%}")
    fig.colorbar(im, ax=ax, label="samples")
    return [table, save(fig, folder / f"{stem}.png")]
