"""Time per training step and peak memory versus depth, with and without activation checkpointing.

    python benchmarks/bench_depth.py [--device cuda] [--plot docs/performance_depth.png]

MLPs of depth 100, 300, 1000 (width 128, batch 128, 256 inputs) and CNNs of depth 50 and 200
(16/32/64 channels, batch 32, 32x32x3). Each configuration runs in its own process, so that its
peak memory is its own: peak resident memory (CPU) or peak allocated memory (CUDA) above the
process's level before the first step. Checkpointing uses sqrt(depth) segments.
"""

import argparse
import json
import math
import resource
import subprocess
import sys
import time

CONFIGS = [("mlp", 100), ("mlp", 300), ("mlp", 1000), ("cnn", 50), ("cnn", 200)]


def one(arch: str, depth: int, segments: int, device: str) -> dict:
    import torch
    import torch.nn.functional as F

    from plainnet import MaxNorm, hidden_weights, plain_cnn, plain_mlp
    from plainnet.nn.speed import Checkpointed

    torch.manual_seed(0)
    dev = torch.device(device)
    if arch == "mlp":
        net, x = plain_mlp((256,), 10, depth=depth), torch.randn(128, 256)
    else:
        net, x = plain_cnn((3, 32, 32), 10, depth=depth), torch.randn(32, 3, 32, 32)
    net, x = net.to(dev), x.to(dev)
    y = torch.randint(0, 10, (len(x),), device=dev)
    model = Checkpointed(net, segments) if segments else net
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, fused=True)
    project = MaxNorm(hidden_weights(net), 4.0)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        project()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    times = []
    for _ in range(4):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    if dev.type == "cuda":
        peak_mb = (torch.cuda.max_memory_allocated() - base_cuda) / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return dict(
        arch=arch, depth=depth, segments=segments, step_ms=1e3 * min(times[1:]), peak_mb=peak_mb
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--plot", help="write a PNG of time and memory versus depth")
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # arch depth segments (child)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), int(args.one[2]), args.device)))
        return
    rows = []
    for arch, depth in CONFIGS:
        for segments in (0, round(math.sqrt(depth))):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--device",
                    args.device,
                    "--one",
                    arch,
                    str(depth),
                    str(segments),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            r = rows[-1]
            print(
                f"{arch}-{depth:<5} checkpoint segments {segments:>2}: "
                f"{r['step_ms']:8.1f} ms/step, peak memory +{r['peak_mb']:7.1f} MiB",
                flush=True,
            )
    for arch in ("mlp", "cnn"):
        plain = [r for r in rows if r["arch"] == arch and r["segments"] == 0]
        per_layer = [r["step_ms"] / r["depth"] for r in plain]
        print(
            f"{arch}: ms per step per layer {', '.join(f'{v:.2f}' for v in per_layer)} "
            f"(depths {', '.join(str(r['depth']) for r in plain)}; constant = linear in depth)"
        )
    for r in rows:
        if r["segments"]:
            base = next(
                b
                for b in rows
                if b["arch"] == r["arch"] and b["depth"] == r["depth"] and not b["segments"]
            )
            print(
                f"{r['arch']}-{r['depth']}: checkpointing costs "
                f"{r['step_ms'] / base['step_ms']:.2f}x time, "
                f"uses {r['peak_mb'] / max(base['peak_mb'], 1e-9):.2f}x memory"
            )
    if args.plot:
        plot(rows, args.plot, args.device)


def plot(rows, path, device: str):
    import platform

    import torch

    from plainnet.app.plots import figure, save

    fig, (a, b) = figure(1, 2, figsize=(11, 4.5))
    for arch in ("mlp", "cnn"):
        for ck in (False, True):
            pts = [r for r in rows if r["arch"] == arch and bool(r["segments"]) == ck]
            label = f"{arch}{' + checkpointing' if ck else ''}"
            a.plot([r["depth"] for r in pts], [r["step_ms"] for r in pts], marker="o", label=label)
            b.plot([r["depth"] for r in pts], [r["peak_mb"] for r in pts], marker="o", label=label)
    for ax, yl in ((a, "ms per training step"), (b, "peak memory above baseline (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("depth (weight layers)")
        ax.set_ylabel(yl)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    machine = (
        torch.cuda.get_device_name()
        if device == "cuda"
        else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    save(
        fig,
        path,
        "Time per training step (best of 3 after a warm-up) and peak memory vs depth\n"
        "MLP width 128, batch 128; CNN 16/32/64 channels, batch 32; checkpointing: sqrt(depth) "
        f"segments\n{machine}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}",
    )


if __name__ == "__main__":
    main()
