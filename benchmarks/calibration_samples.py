"""How many training samples BatchNorm calibration needs: validation error of trained runs,
recalibrated (`plainnet.nn.norms.recalibrate_`) from n samples, 3 draws of the sample each.

    python benchmarks/calibration_samples.py RUN_FOLDER [RUN_FOLDER ...]

Each run's last.pt was calibrated from its `train.calibrate_bn` samples when it was saved;
here the same weights get their statistics again from 256 to 4,096 samples (at most the
training split), and the validation split is evaluated in eval mode. Forward passes only: the
weights never change, so the spread over draws is what the sample size alone costs.
"""

import argparse
from statistics import mean, stdev

import torch

from plainnet.app.build import make_data
from plainnet.app.inference import load_run
from plainnet.engine.loop import evaluate
from plainnet.nn.norms import recalibrate_

SIZES = (256, 512, 1024, 2048, 4096)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--draws", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    print("| run | depth | " + " | ".join(f"{n} samples" for n in SIZES) + " |")
    print("|---|---|" + "---|" * len(SIZES))
    for folder in args.runs:
        loaded = load_run(folder, checkpoint="last")
        data = make_data(loaded.config)
        cells = []
        for n in SIZES:
            if n > len(data.y_train):
                cells.append("—")
                continue
            errs = []
            for draw in range(args.draws):
                recalibrate_(loaded.model, data.sample(n, 1000 + draw))
                errs.append(100 * evaluate(loaded.model, data.eval_batches("val")).error)
            cells.append(f"{mean(errs):.2f} ± {stdev(errs):.2f}")
        name = folder.rstrip("/").split("/")[-1]
        print(f"| {name} | {loaded.config.model.depth} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
