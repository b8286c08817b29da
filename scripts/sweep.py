"""Run a small grid of configs over several seeds and print a Markdown table of final errors.

    python scripts/sweep.py --seeds 0 1 2 --base train.epochs=40 \\
        "beta=0.1: model.beta=0.1" "beta=0.5: model.beta=0.5"

Each row is `LABEL: override override ...` on top of `--preset`/`--base`. Runs go under
`--out` (default runs/sweep); the table (mean +- std over seeds) is printed and, with
`--table FILE`, written there.
"""

import argparse

from plainnet.grid import Row, grid_table, run_grid


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("rows", nargs="+", help="LABEL: section.key=value ...")
    p.add_argument("--preset", default=None)
    p.add_argument("--base", nargs="*", default=[], help="overrides shared by every row")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", default="runs/sweep")
    p.add_argument("--table", help="also write the Markdown table to this file")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    args = p.parse_args()
    rows = []
    for spec in args.rows:
        label, _, overrides = spec.partition(":")
        rows.append(Row(label.strip(), args.preset, overrides.split()))
    table = grid_table(run_grid(rows, args.seeds, args.base, args.out, jobs=args.jobs))
    print(table)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
