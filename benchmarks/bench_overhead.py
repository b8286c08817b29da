"""Time outside the optimizer steps, as a share of the steps' time, side by side in one run.

    python benchmarks/bench_overhead.py            # CIFAR-10 CNN-50 on 2,000 images + digits
    python benchmarks/bench_overhead.py --rounds 1

Per epoch a run spends time on its steps and, besides, on evaluating the validation split
(`evaluation_s`), BatchNorm calibration (`calibration_s`) and, when asked for, in the last
epoch the check of PyTorch's running averages (`running_stats_check_s`), all read from the
run's metrics.csv. The second row sets what the defaults were before (the check then read
every split, train and test too, so it cost more than it does here).
Each setting trains `--epochs` epochs, the settings interleaved for `--rounds` rounds;
the table gives the median share over rounds (absolute times on a shared machine are not
comparable across runs: read the shares). Needs the CIFAR-10 cache (PLAINNET_DATA).
"""

import argparse
import tempfile
from statistics import median

from rich.console import Console

from plainnet.app.config import resolve
from plainnet.app.trainer import train

CIFAR = ["data.dataset=cifar10", "model.arch=cnn", "model.depth=50", "data.train_subset=2000"]
SETTINGS = {
    "CIFAR-10 CNN-50, 2,000 images: defaults": CIFAR,
    "  as before: 5,000 validation images, calibration on 2,048, batches of 1,000, check": [
        *CIFAR, "data.val_subset=0", "train.calibrate_bn=2048", "train.eval_batch_size=1000",
        "train.check_running_stats=true"],
    "digits MLP-100: defaults": ["data.dataset=digits"],
}  # fmt: skip
OUTSIDE = ["evaluation_s", "calibration_s", "running_stats_check_s"]


def shares(overrides: list[str], epochs: int) -> dict[str, float]:
    """Each part's time over the run as a share of the steps' time."""
    with tempfile.TemporaryDirectory() as out:
        cfg = resolve(overrides=[*overrides, f"train.epochs={epochs}", f"run.out_dir={out}",
                                 "run.tensorboard=false"])  # fmt: skip
        rows = train(cfg, console=Console(quiet=True)).run_dir.read_metrics()
    steps = sum(r["steps_s"] for r in rows)
    return {k: sum(r[k] or 0 for r in rows) / steps for k in OUTSIDE} | {"steps_s": steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    got: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, overrides in SETTINGS.items():
            got[name].append(shares(overrides, args.epochs))
    print(
        f"| setting ({args.epochs} epochs, median of {args.rounds} rounds) | steps (s) | "
        + " | ".join(k.removesuffix("_s") for k in OUTSIDE)
        + " | all outside the steps |"
    )
    print("|---|---|" + "---|" * (len(OUTSIDE) + 1))
    for name, runs in got.items():
        cells = [f"{median(r[k] for r in runs):.0%}" for k in OUTSIDE]
        total = median(sum(r[k] for k in OUTSIDE) for r in runs)
        steps = median(r["steps_s"] for r in runs)
        print(f"| {name} | {steps:.0f} | " + " | ".join(cells) + f" | **{total:.0%}** |")


if __name__ == "__main__":
    main()
