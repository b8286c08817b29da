"""Run a small grid of configs over several seeds and print a Markdown table of final errors.

    python scripts/sweep.py --seeds 0 1 2 --base train.epochs=40 \
        "beta=0.1: model.beta=0.1" "beta=0.5: model.beta=0.5"

Each row is `LABEL: override override ...` on top of `--preset`/`--base`. Runs go under
`--out` (default runs/sweep); the table (mean +- std over seeds) is printed and, with
`--table FILE`, written there.
"""

import argparse
import io
import statistics
import time

from rich.console import Console

from plainnet.config import resolve
from plainnet.train import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("rows", nargs="+", help="LABEL: section.key=value ...")
    p.add_argument("--preset", default=None)
    p.add_argument("--base", nargs="*", default=[], help="overrides shared by every row")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", default="runs/sweep")
    p.add_argument("--table", help="also write the Markdown table to this file")
    args = p.parse_args()

    lines = [
        "| row | seeds | train error (eval mode) | test error | best-epoch test error | s/run |",
        "|---|---|---|---|---|---|",
    ]
    for row in args.rows:
        label, _, spec = row.partition(":")
        results = []
        for seed in args.seeds:
            overrides = [*args.base, *spec.split(), f"train.seed={seed}", f"run.out_dir={args.out}"]
            cfg = resolve(args.preset, None, overrides)
            t0 = time.perf_counter()
            s = train(cfg, console=Console(file=io.StringIO())).summary
            results.append((s, time.perf_counter() - t0))
            print(
                f"{label} seed {seed}: train {s['final_train_err']:.2%} "
                f"test {s['final_test_err']:.2%}",
                flush=True,
            )
        lines.append(
            f"| {label.strip()} | {len(args.seeds)} | {_stat(results, 'final_train_err')} | "
            f"{_stat(results, 'final_test_err')} | {_stat(results, 'best_test_err')} | "
            f"{statistics.mean(t for _, t in results):.0f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table)


def _stat(results, key: str) -> str:
    v = [100 * s[key] for s, _ in results]
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.2f} ± {sd:.2f}%"


if __name__ == "__main__":
    main()
