"""The numbers the README and docs quote are those of the run records committed beside them.

Each check names a quoted text, the records it comes from (a glob under docs/results/runs)
and how it is formed from their final test errors; a record redrawn or a text edited
without the other fails here. Numbers without committed records (older grids kept only as
reports) are not checked.
"""

import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs/results/runs"


def errors(pattern: str, n: int, key: str = "final_test_err") -> list[float]:
    """Final test errors (or another error `key`, in %) of the runs under docs/results/runs
    matching `pattern`."""
    files = sorted(RUNS.glob(f"{pattern}/summary.json"))
    assert len(files) == n, f"{pattern}: {len(files)} records, expected {n}"
    return [100 * json.loads(f.read_text())[key] for f in files]


def mean_std(pattern: str, n: int, places: int = 2, key: str = "final_test_err") -> str:
    v = errors(pattern, n, key)
    return f"{statistics.mean(v):.{places}f} ± {statistics.stdev(v):.{places}f}"


def mean(pattern: str, n: int) -> str:
    return f"{statistics.mean(errors(pattern, n)):.2f}"


def one(pattern: str, places: int = 2, key: str = "final_test_err") -> str:
    return f"{errors(pattern, 1, key)[0]:.{places}f}"


def splits(pattern: str, n: int, which: tuple[str, ...] = ("train", "val", "test")) -> str:
    """Training, validation and test error (or those `which` names) of the records, table
    cells: one run's numbers, or the runs' mean ± std."""
    if n == 1:
        return " | ".join(one(pattern, 2, f"final_{s}_err") for s in which)
    return " | ".join(mean_std(pattern, n, 2, f"final_{s}_err") for s in which)


VAL_TEST = ("val", "test")


def cnn_row(label: str, net: str) -> str:
    cells = [mean_std(f"cnn/*-{net}_model.depth={d}-s*", 3) for d in (20, 56, 110)]
    return f"| {label} | " + " | ".join(cells) + " |"


def table2(pattern: str) -> str:
    """A Table 2 row's cells: test mean ± std, the seeds' test errors, validation, training."""
    return f"{mean_std(pattern, 3)} | {each(pattern, 3)} | {splits(pattern, 3, ('val', 'train'))}"


def table2_net(row: str) -> str:
    return table2(f"table2-5k/*-{row}-s*")


def table2_10k(pattern: str, n: int) -> str:
    """A row of the 10,000-image Table 2: seeds, test (mean ± std and each seed's, or one
    run's), validation, training."""
    test = f"{mean_std(pattern, n)} ({each(pattern, n)})" if n > 1 else one(pattern)
    return f"| {n} | {test} | {splits(pattern, n, ('val', 'train'))} |"


DEEP_1000 = "cnn-1000/*deep-cnn1000-s*"
WIDE = "cnn-1000-widen/*"
B32 = "cnn-1000-b32/*"
SHIFT_1000 = "cnn-1000-b32-shift/*"
RESNET_1000 = "cnn-1000-resnet-b32-shift/*"
ZERO_1000 = RESNET_1000 + "zero-init_residual-s*"
PROPOSED_1000 = "cnn-1000-bn-b32-shift/*lr_0.0002-s*"
BF16 = "cnn56-bf16/*random_shifts"
GAP56 = "cnn56-gap/*-"
PARTS = [  # the deep recipe's parts at 56 layers: (docs/cnn.md's label, grid, row's folder)
    ("nothing changed", "cnn56-init-lr", "delta"),
    ("no max-norm", "cnn56-deep-parts", "no_max-norm"),
    ("`model.eta=0.3` (slope 0.81, more linear)", "cnn56-deep-parts", "eta_0.3_(more_linear)"),
    ("`model.eta=0.7` (slope 0.63, less linear)", "cnn56-deep-parts", "eta_0.7_(less_linear)"),
    ("lr x 0.5 (0.1 / depth)", "cnn56-deep-parts", "lr_x0.5"),
    ("lr x 2 (0.4 / depth)", "cnn56-deep-parts", "lr_x2"),
    (
        "widening convs orthogonal over the whole kernel (`model.init=delta_orthogonal_widen`)",
        "cnn56-init-lr",
        "widen",
    ),
]


GAP = [  # more steps and shifts at 56 layers: (docs/cnn.md's label, the proposed and the
    # deep CNN's records); the unchanged nets are the grid's
    ("nothing changed (batch 128, no augmentation)", "cnn/*-proposed_model.depth=56-s*",
     "cnn/*-deep_model.depth=56-s*"),
    *(
        (label, f"{GAP56}proposed,_{change}-s*", f"{GAP56}deep_recipe,_{change}-s*")
        for label, change in (
            ("random shifts of up to 2 pixels (`data.augment=shift`)", "random_shifts"),
            ("batch 32 (`train.batch_size=32`, lr unchanged)", "batch_32"),
            ("batch 32 and random shifts", "batch_32,_random_shifts"),
        )
    ),
]  # fmt: skip


def gap_row(label: str, *nets: str) -> str:
    """Validation and test error of the proposed and the deep CNN at 56 layers with a change."""
    return f"| {label} | " + " | ".join(splits(runs, 3, VAL_TEST) for runs in nets) + " |"


COIL = [  # COIL-20 at 20 and 56 layers, 3 seeds each: (docs/cnn.md's label, row's folder)
    ("plain, BatchNorm + ReLU (`-p bn`)", "bn"),
    ("proposed: BatchNorm + Leaky ReLU + max-norm (default)", "proposed"),
    ("ResNet (He et al., with shortcuts)", "resnet"),
]


def coil_row(label: str, net: str) -> str:
    d20, d56 = (f"coil20-cnn/*-{net}_model.depth={d}-s*" for d in (20, 56))
    return f"| {label} | 3 | {splits(d20, 3, VAL_TEST)} | 3 | {splits(d56, 3, VAL_TEST)} |"


NETS = ("bn", "proposed", "deep", "resnet")  # the CNN grid's nets, in its tables' order


def each(pattern: str, n: int) -> str:
    return ", ".join(f"{v:.2f}" for v in sorted(errors(pattern, n)))


def tuned(lr: str) -> str:
    return splits(f"tune-deep1000-check/*-optim.lr={lr}-s*", 3, VAL_TEST)


CHECKS = {
    "docs/cnn.md": lambda: [
        cnn_row("plain, BatchNorm + ReLU (`-p bn`)", "bn"),
        cnn_row("proposed: BatchNorm + Leaky ReLU + max-norm (default)", "proposed"),
        cnn_row("deep recipe (`-p deep`)", "deep"),
        cnn_row("ResNet (He et al., with shortcuts)", "resnet"),
        f"| deep recipe | 1,000 | 3 | {splits(DEEP_1000, 3)} ({each(DEEP_1000, 3)}) |",
        f"| deep recipe, widening convs over the whole kernel | 1,000 | 2 | {splits(WIDE, 2)} "
        f"({each(WIDE, 2)}) |",
        f"{mean_std(WIDE, 2)}% ({each(WIDE, 2)}; two seeds) against {mean_std(DEEP_1000, 3)}% "
        "(three seeds) at 1,000 layers",
        f"| deep recipe, batch 32 | 1,000 | 2 | {splits(B32, 2)} ({each(B32, 2)}) |",
        f"| proposed, batch 32, for reference | 56 | 3 | "
        f"{splits(GAP56 + 'proposed,_batch_32-s*', 3)} |",
        f"| deep recipe, batch 32, for reference | 56 | 3 | "
        f"{splits(GAP56 + 'deep_recipe,_batch_32-s*', 3)} |",
        "| deep recipe, batch 32, random shifts | 1,000 | 3 | "
        f"{splits(SHIFT_1000, 3)} ({each(SHIFT_1000, 3)}) |",
        f"1,000-layer deep CNN has {mean_std(SHIFT_1000, 3)}% test error ({each(SHIFT_1000, 3)};",
        "| deep recipe, batch 32, random shifts, for reference (the lowest 56-layer test error) "
        f"| 56 | 3 | {splits(GAP[-1][2], 3)} |",
        "| ResNet, batch 32, random shifts, 1 epoch of warm-up | 998 | 1 | "
        f"{splits(RESNET_1000 + 'warm-up-s0', 1)} |",
        "| ResNet, batch 32, random shifts, 1 epoch of warm-up, each block's last BatchNorm at "
        f"zero | 998 | 3 | {splits(ZERO_1000, 3)} ({each(ZERO_1000, 3)}) |",
        f"it has {mean_std(ZERO_1000, 3)}% test, {mean_std(ZERO_1000, 3, 2, 'final_val_err')}% "
        "validation",
        f"1,000-layer plain CNN ({mean_std(SHIFT_1000, 3)}%, validation "
        f"{mean_std(SHIFT_1000, 3, 2, 'final_val_err')}%) is",
        f"| ResNet (lr 0.02, as in the grid) | 998 | 1 | {splits('cnn-1000/*resnet998-s0', 1)} |",
        "| proposed: BatchNorm + Leaky ReLU + max-norm (lr 0.02, as in the grid) | 1,000 | 1 | "
        f"{splits('cnn-1000-bn/*proposed_d=1000-s0', 1)} |",
        f"to 57.7% after the tenth ({one('cnn-1000-bn/*proposed_d=1000-s0')}% test;",
        *(
            f"| {label} | {splits(f'{grid}/*-{row}-s*', 3, VAL_TEST)} |"
            for label, grid, row in PARTS
        ),
        *(gap_row(*row) for row in GAP),
        f"| fp32 (the default on CPU) | 120-124 | {splits(BF16 + '-s*', 3)} |",
        f"| bf16 autocast (`train.amp=bf16`) | 61-76 | {splits(BF16 + ',_bf16_autocast-s*', 3)} |",
        *(coil_row(*row) for row in COIL),
        "| deep recipe (`-p deep`, lr 0.2 / depth) | 3 | diverged (3/3) | | 3 | "
        f"{splits('coil20-cnn/*-deep_model.depth=56-s*', 3, VAL_TEST)} |",
        *(
            f"| deep recipe, lr {lr} ({part} the rule) | 3 | "
            f"{splits(f'coil20-cnn/*-deep,_lr_{lr}_model.depth=20-s*', 3, VAL_TEST)} |"
            for lr, part in (("0.005", "half"), ("0.0025", "a quarter of"))
        ),
        *(
            f"{label} has {mean_std(f'cnn-218/*-{net}_d=218-s*', 3)}% test error "
            f"({each(f'cnn-218/*-{net}_d=218-s*', 3)}%"
            for label, net in (
                ("deep recipe", "deep"),
                ("proposed CNN", "proposed"),
                ("ResNet", "resnet"),
            )
        ),
        *(
            f"| {net} | "
            + " | ".join(
                f"{one(f'cnn-lr218/{net.lower()}/*lr={lr}-s0', 2, 'final_val_err')} "
                f"({one(f'cnn-lr218/{net.lower()}/*lr={lr}-s0')})"
                if lr
                else ""  # a net not run at that lr: an empty cell
                for lr in lrs
            )
            + " |"
            for net, lrs in (
                ("proposed", ("0.0025", "0.005", "0.01")),
                ("ResNet", (None, "0.005", "0.01")),
            )
        ),
        "| deep recipe | "
        + " | ".join(  # half the rule, the rule (the grid's run), twice the rule
            f"{one(run, 2, 'final_val_err')} ({one(run)})"
            for run in (
                "cnn-lr218/deep/*lr=0.0004587-s0",
                "cnn-218/*-deep_d=218-s0",
                "cnn-lr218/deep/*lr=0.0018349-s0",
            )
        )
        + " |",
        *(
            f"| {net} | {lr} | {splits(runs, 3)} ({each(runs, 3)}) |"
            for net, lr, runs in (
                ("deep recipe", "0.2 / 218 (its rule)", "cnn-218/*-deep_d=218-s*"),
                ("proposed", "0.005", "cnn-lr218/proposed/*lr=0.005-s*"),
                ("ResNet", "0.01", "cnn-lr218/resnet/*lr=0.01-s*"),
            )
        ),
        f"| deep recipe, 50 layers | 3 | {splits('cnn-10k/*-deep-cnn50-s*', 3)} |",
        f"| proposed (BatchNorm), 50 layers | 3 | {splits('cnn-10k/*-proposed-cnn50-s*', 3)} |",
        f"| deep recipe, 10,000 layers | 1 | {splits('cnn-10k/*-deep-cnn10000-s0', 1)} |",
        f"| 6.65 | {table2_net('PlainNet-50_(proposed)')} |",
        f"| 15.00 | {table2_net('PlainNet-BN-56')} |",
        f"| 6.97 | {table2_net('ResNet-56')} |",
        f"| 6.43 | {table2_net('ResNet-110')} |",
        f"| — | {table2_net('CNN-50,_deep_recipe')} |",
        f"| — | {table2_net('CNN-110,_deep_recipe')} |",
        f"| — | {table2('table2-5k-warmup3/*')} |",
        *(
            table2_10k(f"table2-10k/*-{row}-s*", n)
            for row, n in (
                ("PlainNet-50_(proposed)", 3),
                ("PlainNet-BN-56", 3),
                ("ResNet-56", 3),
                ("ResNet-110", 3),
                ("CNN-50,_deep_recipe", 3),
                ("CNN-110,_deep_recipe", 3),
            )
        ),
        table2_10k("table2-10k-warmup/*ResNet-56_with*", 3),
        table2_10k("table2-10k-warmup/*ResNet-110_with*", 1),
        table2_10k("table2-10k-warmup/*PlainNet-50*", 3),
        *(
            f"lr {lr}{note} | 1,000 | 1 | {splits(f'cnn-1000-bn-b32-shift/*{run}-s0', 1)} |"
            for lr, note, run in (
                ("0.02", ", as in the grid)", "warm-up"),
                ("0.002", "", "lr_0.002"),
                ("0.00005", "", "lr_0.00005"),
            )
        ),
        "lr 0.0002 (the deep recipe's) | 1,000 | 2 | "
        f"{splits(PROPOSED_1000, 2, ('train', 'val'))} | {mean_std(PROPOSED_1000, 2)} "
        f"({each(PROPOSED_1000, 2)}) |",
        f"{mean_std('cnn-lr110/proposed/*0.01-s*', 3)}% test and "
        f"{mean_std('cnn-lr110/proposed/*0.01-s*', 3, key='final_val_err')}% validation",
    ],
    "docs/cluster.md": lambda: [
        f"| 0.0002 (the rule, 0.2 / depth) | {tuned('0.0002')} |",
        f"| 0.0003088 (the search's, 0.31 / depth) | {tuned('0.0003088')} |",
    ],
    "docs/depth.md": lambda: [
        f"(digits) | the paper's components | {mean_std('defaults-depth/*-mlp50-digits', 3)} |",
        f"(digits) | the deep recipe | {mean_std('defaults-depth/*-mlp1000-digits', 3)} |",
        f"300 --seed S` | the deep recipe | {mean_std('defaults-depth/*-mlp300-usps', 3)} |",
    ],
    "README.md": lambda: [
        f"{mean_std('cnn-lr218/proposed/*lr=0.005-s*', 3)}%, the ResNet "
        f"{mean_std('cnn-lr218/resnet/*lr=0.01-s*', 3)}%, the deep recipe "
        f"{mean_std('cnn-218/*-deep_d=218-s*', 3)}%",
        f"({mean('cnn/*-proposed_model.depth=56-s*', 3)}% against "
        f"{mean('cnn/*-resnet_model.depth=56-s*', 3)}% at 56)",
        *(
            f"| {d} | " + " | ".join(mean_std(f"cnn/*-{net}_model.depth={d}-s*", 3) for net in NETS)
            for d in (20, 56, 110)
        ),
        "| 218 | | "
        + " | ".join(mean_std(f"cnn-218/*-{net}_d=218-s*", 3) for net in NETS[1:])
        + " |",
        f"| 56 | | {mean_std(GAP[-1][1], 3)} | {mean_std(GAP[-1][2], 3)} | |",
        f"| {mean_std(PROPOSED_1000, 2)} (2 seeds; lr 0.0002, the best of four on validation) | "
        f"{mean_std(SHIFT_1000, 3)} (no warm-up) | "
        f"{mean_std(ZERO_1000, 3)} (each block's last BatchNorm at zero) |",
        f"| 10,000 | | | {one('cnn-10k/*-deep-cnn10000-s0')} (1 seed; "
        f"{mean_std('cnn-10k/*-deep-cnn50-s*', 3)} at 50 layers) | |",
        "| 50 / 56 | "
        + " | ".join(
            mean_std(f"table2-10k/*-{row}-s*", 3)
            for row in ("PlainNet-BN-56", "PlainNet-50_(proposed)", "CNN-50,_deep_recipe")
        )
        + f" | {mean_std('table2-10k/*-ResNet-56-s*', 3)} "
        f"({mean_std('table2-10k-warmup/*ResNet-56_with*', 3)} with 1 epoch of warm-up) |",
    ],
}


@pytest.mark.parametrize("doc", sorted(CHECKS))
def test_quoted_numbers_are_those_of_the_committed_records(doc):
    text = " ".join((ROOT / doc).read_text().replace("**", "").split())  # one line, no bold
    for quote in CHECKS[doc]():
        quote = " ".join(quote.replace("**", "").split())
        assert quote in text, f"{doc} does not quote {quote!r}"
