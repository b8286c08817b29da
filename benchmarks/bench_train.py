"""plainnet's trainer against the eager loop a competent PyTorch user writes, side by side.

    python benchmarks/bench_train.py            # CPU, about 15 minutes on 2 cores
    python benchmarks/bench_train.py --quick    # a smoke run, under a minute
    python benchmarks/bench_train.py --quick --rounds 2 --only cnn --cnn-recipe deep \
        --cnn-depth 1000 --cnn-image 16x16x1   # the deep recipe's CNN on USPS-sized images
    python benchmarks/bench_train.py --quick --rounds 2 --only cnn --cnn-depth 1000 \
        --cnn-image 16x16x1                    # the proposed (BatchNorm) CNN there
    python benchmarks/bench_train.py --device cuda   # the same table on a GPU (< 3 minutes)
    make keras                                  # once: .venv-keras (Keras 3 + TensorFlow CPU)

Every number is measured in this one run, so read the ratios: absolute times on a shared
machine are not comparable across runs. Every training loop runs `--rounds` times (default
3), in a rotated order each round, and the table gives medians: the median samples/s and the
median of the per-round ratios to that round's reference, with their range. Per model:
  * the reference: `nn.Sequential`, a DataLoader over a TensorDataset, SGD with momentum, and
    after each step a Python loop over layers calling `torch.renorm` (max-norm);
  * plainnet's `train()` on the same model, data, batch size, optimizer and number of steps:
    its defaults, `train.compile=true` (MLP), NCHW instead of channels_last (CNN);
  * the MLP in Keras 3 (TensorFlow), eager graph and XLA `jit_compile`, when a Python with
    Keras is given (`--keras-python`; default .venv-keras if built);
  * the max-norm projection's cost as a share of a training step, and the renorm loop's;
  * inference throughput; FLOPs per training sample and the fraction of the machine's
    measured peak (float32 matmul / 3x3 conv) that each loop reaches;
  * a profile of the eager step: time inside compute kernels versus everything else.
Training throughput is taken over the epochs after the first (warm-up and compilation).
"""

import argparse
import functools
import io
import json
import math
import subprocess
import time
from pathlib import Path
from statistics import median

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode
from user_loop import user_step

from plainnet.app.build import DEPTH_LR
from plainnet.app.config import resolve
from plainnet.app.trainer import train
from plainnet.data import datasets
from plainnet.data.datasets import Spec
from plainnet.data.tensors import DeviceData
from plainnet.nn.constraints import MaxNorm
from plainnet.nn.models import hidden_weights, plain_cnn, plain_mlp


def synthetic(name: str, shape: tuple[int, ...], n_train: int, n_test: int) -> None:
    """Register random uint8 images as dataset `name` (embedded: no file, no download)."""

    def convert(_):
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (n_train + n_test, *shape), dtype=np.uint8)
        y = np.arange(n_train + n_test) % 10
        return dict(
            x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:]
        )

    channels = shape[2] if len(shape) == 3 else 1
    datasets.SPECS[name] = Spec(
        name, "benchmark data", 10, channels, shape[:2], True, convert=convert
    )


def timed(fn, repeat: int) -> float:
    """Median seconds of `fn()` over `repeat` calls, after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak(device: torch.device) -> dict:
    """Best float32 throughput of a large matmul, and of 3x3 convs at the CNN's stage shapes
    (16 ch at 32x32, 32 at 16x16, 64 at 8x8; batch 128), forward only."""
    n = 2048 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    mm = 2 * n**3 / timed(lambda: a @ b, 5)
    conv = 0.0
    for c, hw in ((16, 32), (32, 16), (64, 8)):
        x = torch.randn(128, c, hw, hw, device=device).contiguous(memory_format=torch.channels_last)
        layer = nn.Conv2d(c, c, 3, padding=1, bias=False).to(
            device, memory_format=torch.channels_last
        )
        with torch.no_grad():
            conv = max(conv, 2 * 128 * c * c * 9 * hw * hw / timed(functools.partial(layer, x), 5))
    return dict(matmul=mm, conv=conv)


def flops_per_sample(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / len(x)


def reference(build, x, y, x_test, y_test, bs, epochs, lr, c, device) -> float:
    """The eager loop; returns training samples/s over epochs 2.. (epoch 1 is warm-up)."""
    torch.manual_seed(0)
    model = build().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)
    hidden = hidden_weights(model)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        for xb, yb in loader:
            user_step(model, opt, hidden, xb.to(device), yb.to(device), c)
        model.eval()
        with torch.no_grad():
            model(x_test.to(device)).argmax(1)
        sync()
        times.append(time.perf_counter() - t0)
    return len(x) * (epochs - 1) / sum(times[1:])


def trainer_config(preset: str, overrides: list[str]):
    """The config of plainnet's loop. The preset is named, never left to the depth: without
    one a net deeper than `plainnet.app.config.DEEP_BEYOND` resolves to the deep recipe,
    which is not the BatchNorm model the reference trains."""
    overrides = [*overrides, "run.out_dir=runs/bench", "run.checkpoint_every=1000"]
    return resolve(preset, overrides=overrides)


def plainnet_trainer(preset: str, overrides: list[str], n_train: int) -> float:
    """plainnet's `train()`; samples/s from its per-epoch times, epochs 2.."""
    result = train(trainer_config(preset, overrides), console=Console(file=io.StringIO()))
    rows = result.run_dir.read_metrics()
    return n_train * (len(rows) - 1) / sum(r["epoch_time_s"] for r in rows[1:])


def keras_reference(python: str, **kw) -> float:
    """Keras 3 on the same MLP, in its own environment (benchmarks/keras_reference.py)."""
    script = Path(__file__).with_name("keras_reference.py")
    out = subprocess.run(
        [python, str(script), json.dumps(kw)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


def interleaved(variants: dict, rounds: int) -> dict[str, list[float]]:
    """Samples/s of every variant, `rounds` times, in a rotated order each round, so that a
    machine that speeds up or slows down during the run weighs on every variant alike."""
    names = list(variants)
    speeds: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            speeds[k].append(variants[k]())
    return speeds


def bench_model(
    name, arch, build, shape, steps, epochs, device, peaks, args, table, preset="proposed", lr=0.02
):
    """`preset`: the recipe of the model `build` makes, for plainnet's loop."""
    bs, c = 128, 4.0
    n_train, n_test = bs * steps, 256
    ds = f"bench_{name}"
    synthetic(ds, shape, n_train, n_test)
    arrays = datasets.load_dataset(ds)
    dd = DeviceData(arrays, "cpu")
    x, y, xt, yt = dd.x_train, dd.y_train, dd.x_test, dd.y_test
    depth = int(name.split("-")[1])
    base = [
        f"data.dataset={ds}",
        f"model.arch={arch}",
        f"model.depth={depth}",
        f"train.epochs={epochs}",
        f"train.device={device.type}",
        f"optim.lr={lr}",
        "data.augment=false",
    ]

    def trainer(*extra: str):
        return functools.partial(plainnet_trainer, preset, [*base, *extra], n_train)

    variants = {
        "eager reference": lambda: reference(build, x, y, xt, yt, bs, epochs, lr, c, device),
        "plainnet (default)": trainer(),
    }
    # Compiling the CNN's backward takes about a minute on 2 cores: on request only.
    compiled = args.cnn_compile if arch == "cnn" else not args.quick
    if compiled:
        variants["plainnet (train.compile=true)"] = trainer("train.compile=true")
    if arch == "cnn":  # channels_last is the default for CNNs; NCHW for comparison
        variants["plainnet (channels_last=false)"] = trainer("train.channels_last=false")
    keras = arch == "mlp" and device.type == "cpu" and args.keras_python
    if keras:
        kw = dict(depth=depth, width=128, in_features=math.prod(shape), batch=bs, steps=steps)
        kw |= dict(epochs=epochs, lr=lr, c=c, beta=0.5, n_test=n_test)
        for jit, label in ((False, "keras 3 (tensorflow)"), (True, "keras 3 + XLA jit_compile")):
            variants[label] = functools.partial(keras_reference, args.keras_python, **kw, jit=jit)
    speeds = interleaved(variants, args.rounds)

    # Max-norm cost: the projection alone versus a whole eager step of the same model.
    torch.manual_seed(0)
    model = build().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, fused=True)
    project = MaxNorm(hidden_weights(model), c)
    xb, yb = x[:bs].to(device), y[:bs].to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        project()

    hidden = hidden_weights(model)

    def renorm_loop():
        with torch.no_grad():
            for w in hidden:
                w.copy_(torch.renorm(w, 2, 0, c))

    t_step = timed(step, 10)
    t_bf16 = None  # a CPU without native bf16 emulates it, 10-20x slower: not worth timing
    if device.type == "cuda" or torch.ops.mkldnn._is_mkldnn_bf16_supported():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            t_bf16 = timed(step, 3)
    t_proj = timed(project, 30)
    t_renorm = timed(renorm_loop, 30)
    # Batching: a DataLoader over a TensorDataset against plainnet's whole-dataset indexing.
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)
    t_loader = timed(lambda: [b[0].to(device) for b in loader], 3) / steps
    on_device = DeviceData(arrays, device)
    gen = torch.Generator().manual_seed(0)
    t_device = timed(lambda: list(on_device.train_batches(bs, gen)), 3) / steps

    model.eval()
    xi = xt.to(device)
    with torch.no_grad():
        t_inf = timed(lambda: model(xi), 5)
    model.train()
    flops = flops_per_sample(model, xb, yb)
    kind = "matmul" if arch == "mlp" else "conv"

    # Profile of the eager step: compute kernels versus the rest.
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(3):
            step()
        sync()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    parts = {part: 0.0 for part in (*PROFILE_PARTS, "everything else")}
    for e in events:
        part = next((k for k, ops in PROFILE_PARTS.items() if e.key in ops), "everything else")
        parts[part] += e.self_cpu_time_total
    compute = parts["matmuls and convolutions"]

    table.append(
        f"\n## {name}: {count(model):,} parameters, batch {bs}, {steps} steps/epoch, "
        f"{epochs} epochs, {device}; median of {args.rounds} interleaved rounds"
    )
    table.append(
        f"{'loop':<32}{'samples/s':>10}{'x eager ref':>13}{'(min-max)':>12}{'% of peak':>11}"
    )
    ref = speeds["eager reference"]
    for k, v in speeds.items():
        ratios = [a / b for a, b in zip(v, ref, strict=True)]
        table.append(
            f"{k:<32}{median(v):>10.0f}{median(ratios):>13.2f}"
            f"{f'({min(ratios):.2f}-{max(ratios):.2f})':>12}"
            f"{100 * median(v) * flops / peaks[kind]:>10.1f}%"
        )
    if not keras and arch == "mlp":
        table.append("keras: not measured (no --keras-python; `make keras` builds .venv-keras)")
    table.append(
        f"max-norm projection: {1e3 * t_proj:.2f} ms = {100 * t_proj / t_step:.1f}% of a "
        f"{1e3 * t_step:.1f} ms step (renorm loop: {1e3 * t_renorm:.2f} ms = "
        f"{100 * t_renorm / t_step:.1f}%)"
    )
    table.append(f"inference (eval, batch {len(xi)}): {len(xi) / t_inf:.0f} samples/s")
    bf16 = (
        f"bf16 autocast step: {1e3 * t_bf16:.1f} ms = {t_bf16 / t_step:.2f}x the fp32 step"
        if t_bf16
        else "bf16 autocast: not timed (no native bf16 on this CPU)"
    )
    table.append(
        f"{bf16}; a batch from DataLoader(TensorDataset): {1e3 * t_loader:.2f} ms, from plainnet's "
        f"on-device data: {1e3 * t_device:.2f} ms"
    )
    table.append(
        f"training FLOPs per sample: {flops / 1e6:.1f} MFLOP; peak {kind}: "
        f"{peaks[kind] / 1e9:.0f} GFLOP/s"
    )
    table.append(
        f"eager step profile: {100 * compute / total:.0f}% of CPU-side time in compute "
        "kernels; by part (self time): "
        + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in parts.items())
    )


# The eager step's operators by part, for the profile's breakdown (self CPU time).
PROFILE_PARTS = {
    "matmuls and convolutions": {"aten::mm", "aten::addmm", "aten::bmm", "aten::convolution",
                                 "aten::_convolution", "aten::mkldnn_convolution",
                                 "aten::convolution_backward", "aten::thnn_conv2d"},
    "BatchNorm": {"aten::native_batch_norm", "aten::native_batch_norm_backward",
                  "aten::_native_batch_norm_legit", "aten::_batch_norm_impl_index",
                  "aten::batch_norm"},
    "activations": {"aten::leaky_relu", "aten::leaky_relu_backward", "aten::relu",
                    "aten::threshold_backward"},
    "layout conversions and copies": {"aten::copy_", "aten::contiguous", "aten::_to_copy",
                                      "aten::to", "aten::clone", "aten::empty_strided"},
    "optimizer and max-norm": {"aten::_foreach_mul_", "aten::_foreach_add_",
                               "aten::_fused_sgd_", "aten::_foreach_norm", "aten::norm",
                               "aten::linalg_vector_norm", "aten::_foreach_mul",
                               "aten::clamp_max", "aten::clamp_max_", "aten::div_"},
}  # fmt: skip


def count(model):
    return sum(p.numel() for p in model.parameters())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["mlp", "cnn"], help="benchmark one model only")
    p.add_argument("--cnn-compile", action="store_true", help="also time the CNN compiled")
    p.add_argument("--cnn-depth", type=int, help="the CNN's depth (default 50; --quick: 8)")
    p.add_argument(
        "--cnn-recipe",
        choices=["proposed", "deep"],
        default="proposed",
        help="proposed: BatchNorm + Leaky ReLU (the default); deep: the deep preset's CNN",
    )
    p.add_argument(
        "--cnn-image", default="32x32x3", help="the CNN's images, HxWxC (e.g. 16x16x1: USPS)"
    )
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; --quick: 1)")
    keras = Path(__file__).parent.parent / ".venv-keras" / "bin" / "python"
    p.add_argument(
        "--keras-python",
        default=str(keras) if keras.exists() else None,
        help="a Python with Keras 3 + TensorFlow (default: .venv-keras, if built)",
    )
    args = p.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    device = torch.device(args.device)
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    peaks = peak(device)
    table = [
        f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}",
        f"measured peak: float32 matmul {peaks['matmul'] / 1e9:.0f} GFLOP/s, "
        f"3x3 conv (best of the CNN's stage shapes) {peaks['conv'] / 1e9:.0f} GFLOP/s",
    ]
    gpu = device.type == "cuda"
    mlp_depth, cnn_depth = (10, 8) if args.quick else (100, 50)
    cnn_depth = args.cnn_depth or cnn_depth
    h, w, c = (int(v) for v in args.cnn_image.split("x"))
    deep = args.cnn_recipe == "deep"
    if args.only != "cnn":
        bench_model(
            f"mlp-{mlp_depth}",
            "mlp",
            lambda: plain_mlp((1, 16, 16), 10, depth=mlp_depth),
            (16, 16),
            8 if args.quick else 30,
            2 if args.quick else 4,
            device,
            peaks,
            args,
            table,
        )
    if args.only != "mlp":
        recipe = dict(norm="none", init="delta_orthogonal", eta=0.5) if deep else {}
        bench_model(
            f"cnn-{cnn_depth}" + "-deep" * deep,
            "cnn",
            lambda: plain_cnn((c, h, w), 10, depth=cnn_depth, **recipe),
            (h, w, c) if c > 1 else (h, w),
            40 if gpu else (3 if args.quick else 8),
            2 if args.quick else 3,
            device,
            peaks,
            args,
            table,
            args.cnn_recipe,
            DEPTH_LR / cnn_depth if deep else 0.02,  # the deep preset's lr ("auto")
        )
    table.append(f"\nwall time {time.perf_counter() - t0:.0f} s")
    print("\n".join(table))


if __name__ == "__main__":
    main()
