"""BatchNorm calibration (`plainnet.nn.norms.recalibrate_`) against the same pass with
`Tensor.var` for the statistics, side by side, at 100 and 1,000 layers.

    python benchmarks/bench_calibration.py      # ~1 minute on 2 cores

Both set every BatchNorm's running statistics from 2,048 samples, layer by layer in eval
mode (what `train.calibrate_bn` does after every epoch); they differ only in how the
per-channel variance is computed: two passes (`channel_mean_var`) or `Tensor.var`'s one-pass
reduction over the batch dimension. Median of 5 interleaved rounds, and the largest relative
difference between the two variances found in the net.
"""

import time
from statistics import median
from unittest import mock

import torch
from torch import nn

from plainnet.nn import norms
from plainnet.nn.models import plain_mlp
from plainnet.nn.norms import recalibrate_


def tensor_var(*hs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h = torch.cat(hs)
    dims = [0, *range(2, h.dim())]
    return h.mean(dims), h.var(dims)


def with_tensor_var(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """`recalibrate_` with `Tensor.var` for the statistics (what it did before)."""
    with mock.patch.object(norms, "channel_mean_var", tensor_var):
        return recalibrate_(net, x)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(2048, 256)
    print(
        f"# bench_calibration, {time.strftime('%Y-%m-%d %H:%M')}, {torch.get_num_threads()} threads"
    )
    print("| layers | two passes (s) | Tensor.var (s) | ratio | max relative difference |")
    print("|---|---|---|---|---|")
    for depth in (100, 1000):
        net = plain_mlp((256,), 10, depth=depth).eval()
        times: dict[str, list[float]] = {"two passes": [], "Tensor.var": []}
        for _ in range(5):
            for name, fn in (("two passes", recalibrate_), ("Tensor.var", with_tensor_var)):
                t0 = time.perf_counter()
                fn(net, x)
                times[name].append(time.perf_counter() - t0)
        recalibrate_(net, x)
        ours = [m.running_var.clone() for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
        with_tensor_var(net, x)
        theirs = [m.running_var for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
        diff = max(((a - b).abs() / b).max().item() for a, b in zip(ours, theirs, strict=True))
        a, b = median(times["two passes"]), median(times["Tensor.var"])
        print(f"| {depth} | {a:.3f} | {b:.3f} | {b / a:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
