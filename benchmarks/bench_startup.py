"""How long the `plainnet` command takes to answer, against `import torch` measured in the
same interleaved rounds: commands that need no torch should take a fraction of it.

    .venv/bin/python benchmarks/bench_startup.py [--rounds 5]
"""

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import torch (reference)": [sys.executable, "-c", "import torch"],
    "plainnet --help": [sys.executable, "-m", "plainnet", "--help"],
    "plainnet config show": [sys.executable, "-m", "plainnet", "config", "show"],
    "plainnet data list": [sys.executable, "-m", "plainnet", "data", "list"],
    "plainnet model": [sys.executable, "-m", "plainnet", "model"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(args.rounds):  # interleaved, so that load changes hit every command alike
        for name, cmd in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    ref = statistics.median(times["import torch (reference)"])
    print(f"{'command':<26} {'median s':>9} {'/ import torch':>15}")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"{name:<26} {m:>9.2f} {m / ref:>15.2f}")


if __name__ == "__main__":
    main()
