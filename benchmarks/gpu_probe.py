"""Training steps per second of Table 2's models (and a deep plain CNN) at batch 128, per speed
option, with the trainer's own step (`plainnet.engine.loop.train_epoch`) on random data.

    python benchmarks/gpu_probe.py --out probe.md                 # on a GPU, about a minute
    python benchmarks/gpu_probe.py --device cpu --batch 8 --steps 2 --depth 20   # smoke test

Options: eager float32 NCHW; bf16 autocast + channels_last (what `plainnet train` does on CUDA);
the same compiled (`train.compile`; its compile time is printed apart). Prints a Markdown
table and, with --epochs-per-minute, each model's epochs of 45,000 images per minute at the bf16
rate (what benchmarks/gpu_table2.sh sizes its schedule by).
"""

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from plainnet.app.build import init_model, make_optimizer, with_numbers
from plainnet.app.config import resolve
from plainnet.app.recipes.table2 import ROWS
from plainnet.engine.distributed import World
from plainnet.engine.loop import State, Steps, train_epoch
from plainnet.nn.speed import CompiledOrEager

OPTIONS = {  # config overrides
    "eager fp32": ["train.amp=off", "train.channels_last=false"],
    "bf16 + channels_last": ["train.amp=bf16", "train.channels_last=true"],
    "bf16 + channels_last, compiled": [
        "train.amp=bf16",
        "train.channels_last=true",
        "train.compile=true",
    ],
}
TRAIN_IMAGES = 45_000  # CIFAR-10's training split less the 10% validation split


def models(deep: int) -> dict[str, tuple[list[str], list[str]]]:
    """Label -> (presets, overrides): Table 2's rows and a `deep`-layer plain CNN."""
    deep_cnn = (["proposed", "cifar10"], ["model.arch=cnn", f"model.depth={deep}"])
    return {**{r.label: (r.preset, r.overrides) for r in ROWS}, f"plain CNN-{deep}": deep_cnn}


def probe(presets, overrides, device, batch, steps, warmup=3) -> tuple[float, float]:
    """(steps per second, seconds before the first timed step: build, warm-up, compile)."""
    t0 = time.perf_counter()
    cfg = with_numbers(resolve(presets, overrides=overrides))
    net, project = init_model(cfg, SimpleNamespace(in_shape=(3, 32, 32), num_classes=10), device)
    model = CompiledOrEager(net) if cfg.train.compile else net
    opt = make_optimizer(cfg.optim, net.parameters())
    x = torch.randn(batch, 3, 32, 32, device=device)
    if cfg.train.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    state = State(net, opt, epochs=1)
    how = Steps(project=project, amp=cfg.train.amp, train_model=model, world=World(device=device))

    def run(n):
        train_epoch(state, [(x, y)] * n, how)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(warmup)  # cuDNN autotuning, compilation
    ready = time.perf_counter() - t0
    t1 = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t1), ready


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=30, help="timed steps per model and option")
    p.add_argument("--depth", type=int, default=1000, help="the deep plain CNN's depth")
    p.add_argument("--no-compile", action="store_true", help="skip the compiled option")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN, compile)")
    p.add_argument(
        "--compile-first",
        type=int,
        default=4,
        metavar="N",
        help="compile only the first N models (compiling each takes a minute)",
    )
    p.add_argument(
        "--epochs-per-minute",
        action="store_true",
        help="then print 'model<TAB>epochs of 45,000 images per minute' lines",
    )
    p.add_argument("--out", type=Path, help="also write the table here")
    args = p.parse_args()
    device = torch.device(args.device)
    options = {k: v for k, v in OPTIONS.items() if not (args.no_compile and "compiled" in k)}
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    lines = [
        f"Steps/s at batch {args.batch}, {name}, torch {torch.__version__} "
        f"({args.steps} timed steps after {args.warmup} warm-up steps; in brackets: seconds to "
        "build, warm up and compile)",
        "",
        "| model | " + " | ".join(options) + " |",
        "|---|" + "---|" * len(options),
    ]
    rates = {}
    for i, (label, (presets, overrides)) in enumerate(models(args.depth).items()):
        cells = []
        for key, option in options.items():
            if "compiled" in key and i >= min(args.compile_first, len(ROWS)):
                cells.append("not measured")  # the deep CNN's compilation alone would outlast it
                continue
            rate, ready = probe(
                presets, overrides + option, device, args.batch, args.steps, args.warmup
            )
            rates[label, key] = rate
            cells.append(f"{rate:.1f} ({ready:.0f} s)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(table)
    print(table)
    if args.epochs_per_minute:
        for label in models(args.depth):
            steps = rates[label, "bf16 + channels_last"] * 60
            print(f"{label}\t{steps * args.batch / TRAIN_IMAGES:.4f}")


if __name__ == "__main__":
    main()
