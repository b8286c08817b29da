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

import torch
from torch import nn

from plainnet.nn.models import plain_mlp
from plainnet.nn.norms import recalibrate_


@torch.no_grad()
def with_tensor_var(module: nn.Module, h: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.Sequential):
        for child in module:
            h = with_tensor_var(child, h)
        return h
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.running_mean.copy_(h.mean(0))
        module.running_var.copy_(h.var(0))
    return module(h)


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
