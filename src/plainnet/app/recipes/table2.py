"""Table 2 of the paper: CIFAR-10, PlainNet-50 against PlainNet-BN-56 and ResNet-56/110."""

from pathlib import Path

from plainnet.app.grid import Row, learning_curves
from plainnet.app.recipes.plan import Plan

# Table 2 of the paper (CIFAR-10 test error %), the rows we train.
PAPER_TABLE2 = {
    "PlainNet-50 (proposed)": 6.65,
    "PlainNet-BN-56": 15.00,
    "ResNet-56": 6.97,
    "ResNet-110": 6.43,
}

# He et al.'s CIFAR protocol (the cifar10 preset) under every row's component preset
ROWS = [
    Row("PlainNet-50 (proposed)", ["proposed", "cifar10"], ["model.arch=cnn", "model.depth=50"]),
    Row("PlainNet-BN-56", ["bn", "cifar10"], ["model.arch=cnn", "model.depth=56"]),
    Row("ResNet-56", ["bn", "cifar10"], ["model.arch=resnet", "model.depth=56"]),
    Row("ResNet-110", ["bn", "cifar10"], ["model.arch=resnet", "model.depth=110"]),
]


def table2(plan: Plan, epochs: int = 164, train_subset: int = 0) -> Path:
    """CIFAR-10: the 50-layer PlainNet against PlainNet-BN-56 and ResNet-56/110.

    The full protocol is a GPU job (bf16 autocast and channels_last switch on by themselves on
    CUDA); on CPU, `epochs` and `train_subset` give a clearly labelled shortened run.
    """
    rows = ROWS
    if plan.quick:
        epochs, train_subset = 1, 256
        rows = [replace_depth(r) for r in rows]
    base = [f"train.epochs={epochs}"]
    if train_subset:
        base.append(f"data.train_subset={train_subset}")
    short = plan.quick or epochs < 164 or train_subset
    name = plan.claim("table2-short" if short and not plan.quick else "table2")
    results = plan.grid(rows, base, name)
    lines = [
        "| model | parameters | paper test % | ours test % | ours best test % | ours train % |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        params = f"{r.summaries[0]['parameters'] / 1e6:.2f}M" if r.summaries else "—"
        lines.append(
            f"| {r.row.label} | {params} | {PAPER_TABLE2[r.row.label]:.2f} | "
            f"{r.cell('final_test_err')} | {r.cell('best_test_err')} | "
            f"{r.cell('final_train_err')} |"
        )
    images = f", {train_subset} training images" if train_subset else ""
    title = "CIFAR-10" + (f", SHORTENED run: {epochs} epochs{images}" if short else "")
    plot = learning_curves(results, plan.out / f"{name}.png", title)
    label = ""
    if short:
        label = (
            f" — SHORTENED RUN ({epochs} epochs{images}): shows the pipeline and the relative "
            "order only, not the paper's protocol"
        )
    body = (
        "Protocol: the `cifar10` preset (crop + flip, SGD lr 0.1 momentum 0.9, weight decay "
        "1e-4, batch 128, lr / 10 at 50% and 75% of the epochs) with "
        f"{plan.settings(base)}; seeds {plan.seeds}. PlainNet rows use their presets "
        "(proposed: BN + Leaky ReLU, beta auto, max-norm c 4, He-uniform; BN: BN + ReLU). "
        "**Data: the `cifar10.npz` used here is decoded from lossy JPEG copies (quality "
        "75); expect errors 2-3 points above the official CIFAR-10's.**\n\n"
        + "\n".join(lines)
        + f"\n\n![learning curves]({plot.name})\n"
    )
    return plan.report(name, f"Table 2: CIFAR-10{label}", body)


def replace_depth(row: Row) -> Row:
    """The quick variant's shallow stand-ins (the smallest depths of each family)."""
    arch = row.overrides[0]
    depth = "model.depth=8" if arch.endswith("resnet") else "model.depth=5"
    return Row(row.label, row.preset, [arch, depth])
