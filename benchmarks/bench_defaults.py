"""`plainnet train` with its defaults against the loop a careful PyTorch user writes.

    PLAINNET_DATA=... python benchmarks/bench_defaults.py          # ~20 min on 2 cores
    python benchmarks/bench_defaults.py --quick                     # a smoke run, ~1 min
    python benchmarks/bench_defaults.py --case usps:100:40 --variant "compiled: train.compile=true"

The reference keeps the data in memory as standardized float tensors, draws `randperm`
batches, steps `torch.optim.SGD` with momentum (torch's defaults otherwise), runs a Python
loop of `torch.renorm` over the hidden layers (max-norm), follows plainnet's cosine learning
rate, and passes over the test split after every epoch. Both train the same model
(`plainnet.nn.models.plain_mlp`) on the same training split with batch 128 and lr 0.02 for
the same number of epochs.

Every measurement is a fresh process timed from its start to its exit, as a user meets it:
Python's start, imports, loading the data, building the model, every epoch, and for plainnet
everything its run does (validation, BatchNorm calibration, checkpoints, metrics,
TensorBoard, the final evaluations, compilation when asked for; an on-disk compilation cache
is in whatever state it is). Contenders run in a rotated order in every round; the table
gives the median whole-run time and the median (min-max) of the per-round ratios
`reference time / contender time`: above 1 is faster than the reference. plainnet's own
accounting (summary.json's `seconds_by_part`) splits its time into parts, per epoch.
"""

import argparse
import functools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

CASES = ["usps:100:40", "digits:100:40", "usps:1000:3"]  # data set : depth : epochs


def reference(dataset: str, depth: int, epochs: int) -> dict:
    """The careful user's loop; returns its seconds in steps and test passes."""
    import torch
    from user_loop import user_step

    from plainnet.data import load_dataset
    from plainnet.nn.models import hidden_weights, plain_mlp

    torch.manual_seed(0)
    ds = load_dataset(dataset, val_fraction=0.1)  # plainnet's default training split
    x = torch.from_numpy(ds.x_train).float().flatten(1)
    mean, std = x.mean(), x.std()
    x = (x - mean) / std
    y = torch.from_numpy(ds.y_train).long()
    x_test = (torch.from_numpy(ds.x_test).float().flatten(1) - mean) / std
    y_test = torch.from_numpy(ds.y_test).long()
    model = plain_mlp(x.shape[1:], ds.num_classes, depth=depth)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    hidden = hidden_weights(model)
    bs = 128
    steps = math.ceil(len(y) / bs) * epochs
    step = 0
    t_steps = t_test = 0.0
    for _ in range(epochs):
        t1 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y))
        for i in range(0, len(y), bs):
            idx = perm[i : i + bs]
            for g in opt.param_groups:
                g["lr"] = 0.01 * (1 + math.cos(math.pi * step / steps))
            user_step(model, opt, hidden, x[idx], y[idx], 4.0)
            step += 1
        t2 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            err = (model(x_test).argmax(1) != y_test).float().mean().item()
        t_test += time.perf_counter() - t2
        t_steps += t2 - t1
    return dict(parts=dict(steps=t_steps, test=t_test), test_err=err)


def plainnet(dataset: str, depth: int, epochs: int, overrides: list[str], out: str) -> list[str]:
    """The command line `plainnet train --dataset D --depth N --epochs E [overrides]`."""
    return [
        *(sys.executable, "-m", "plainnet", "train", "--dataset", dataset),
        *("--depth", str(depth), "--epochs", str(epochs), f"run.out_dir={out}", *overrides),
    ]


def measure(spec: dict) -> dict:
    """Wall time of `spec` as its own process, from its start to its exit, and its parts.
    Overrides `env.NAME=VALUE` set an environment variable; `{tmp}` in one is a fresh folder
    (e.g. `env.TORCHINDUCTOR_CACHE_DIR={tmp}/cache`: compilation with a cold cache)."""
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ)
        overrides = []
        for o in spec["overrides"]:
            if o.startswith("env."):
                key, _, value = o[4:].partition("=")
                env[key] = value.replace("{tmp}", out)
            else:
                overrides.append(o)
        if spec["name"] == "reference":
            cmd = [sys.executable, __file__, "--reference", json.dumps(spec)]
        else:
            cmd = plainnet(spec["dataset"], spec["depth"], spec["epochs"], overrides, out)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        total = time.perf_counter() - t0
        if done.returncode:
            raise SystemExit(f"{spec['name']} failed:\n{done.stderr[-2000:]}")
        if spec["name"] == "reference":
            result = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            (summary,) = Path(out).glob("*/summary.json")  # the one run folder
            s = json.loads(summary.read_text())
            result = dict(parts=s["seconds_by_part"], test_err=s["final_test_err"])
    parts = result["parts"]
    parts["start, setup and the rest"] = total - sum(parts.values())
    return dict(total=total, parts=parts, test_err=result["test_err"])


def bench_case(case: str, variants: dict[str, list[str]], rounds: int) -> None:
    # imported here, not at the top: the reference's own process must not pay for it
    from bench_train import interleaved

    dataset, depth, epochs = case.split(":")
    depth, epochs = int(depth), int(epochs)
    names = ["reference", *variants]
    specs = {
        name: dict(name=name, dataset=dataset, depth=depth, epochs=epochs)
        | dict(overrides=variants.get(name, []))
        for name in names
    }
    runs = interleaved(
        {name: functools.partial(measure, spec) for name, spec in specs.items()}, rounds
    )
    print(f"\n### {dataset}, MLP-{depth}, {epochs} epochs ({rounds} rounds)\n")
    print("| loop | whole run (s), median | per epoch (s) | x reference (min-max) | test error |")
    print("|---|---|---|---|---|")
    for name in names:
        totals = [m["total"] for m in runs[name]]
        ratios = [
            a["total"] / b["total"] for a, b in zip(runs["reference"], runs[name], strict=True)
        ]
        err = median(m["test_err"] for m in runs[name])
        print(
            f"| {name} | {median(totals):.1f} | {median(totals) / epochs:.3f} | "
            f"**{median(ratios):.2f}** ({min(ratios):.2f}-{max(ratios):.2f}) | {err:.2%} |"
        )
    print("\nWhere the time goes, seconds per epoch (median over rounds):\n")
    for name in names:
        keys = runs[name][0]["parts"]
        split = ", ".join(
            f"{k} {median(m['parts'].get(k, 0.0) for m in runs[name]) / epochs:.3f}"
            for k in sorted(keys, key=lambda k: -runs[name][0]["parts"][k])
        )
        print(f"- {name}: {split}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", action="append", help="DATASET:DEPTH:EPOCHS (repeatable)")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        help='"NAME: override ..." a plainnet run besides its defaults (repeatable)',
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="digits, 10 layers, 2 epochs, 1 round")
    p.add_argument("--reference", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.reference:
        spec = json.loads(args.reference)
        print(json.dumps(reference(spec["dataset"], spec["depth"], spec["epochs"])))
        return
    import torch

    cases = args.case or (["digits:10:2"] if args.quick else CASES)
    rounds = 1 if args.quick else args.rounds
    variants = {"plainnet (default)": []}
    for v in args.variant:
        name, _, overrides = v.partition(":")
        variants[name.strip()] = overrides.split()
    print(
        f"# bench_defaults, {time.strftime('%Y-%m-%d %H:%M')}: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads; torch {torch.__version__}"
    )
    for case in cases:
        bench_case(case, variants, rounds)


if __name__ == "__main__":
    main()
