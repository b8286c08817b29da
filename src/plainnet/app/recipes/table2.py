"""Table 2 of the paper: CIFAR-10, PlainNet-50 against PlainNet-BN-56 and ResNet-56/110."""

from pathlib import Path
from typing import Annotated

from plainnet.app.grid import Row
from plainnet.app.recipes.plan import Plan, pick

# Table 2 of the paper (CIFAR-10 test error %), the rows we train (None: not in the paper).
PAPER_TABLE2 = {
    "PlainNet-50 (proposed)": 6.65,
    "PlainNet-BN-56": 15.00,
    "ResNet-56": 6.97,
    "ResNet-110": 6.43,
    "CNN-50, deep recipe": None,
    "CNN-110, deep recipe": None,
}


def _row(key: str, label: str, presets: list[str], arch: str, depth: int) -> Row:
    """A Table 2 row; `key` names it for --rows."""
    return Row(label, presets, [f"model.arch={arch}", f"model.depth={depth}"], {"key": key})


# He et al.'s CIFAR protocol (the cifar10 preset) under every row's component preset
ROWS = [
    _row("proposed-50", "PlainNet-50 (proposed)", ["proposed", "cifar10"], "cnn", 50),
    _row("bn-56", "PlainNet-BN-56", ["bn", "cifar10"], "cnn", 56),
    _row("resnet-56", "ResNet-56", ["bn", "cifar10"], "resnet", 56),
    _row("resnet-110", "ResNet-110", ["bn", "cifar10"], "resnet", 110),
    # the deep recipe keeps its own lr (0.2 / depth) under the protocol's schedule
    _row("deep-50", "CNN-50, deep recipe", ["cifar10", "deep"], "cnn", 50),
    _row("deep-110", "CNN-110, deep recipe", ["cifar10", "deep"], "cnn", 110),
]
ROW_KEYS = [r.tags["key"] for r in ROWS]


def table2(
    plan: Plan,
    epochs: Annotated[int, "Epochs (the paper's protocol: 164)."] = 164,
    train_subset: Annotated[int, "Train on N images (CPU runs)."] = 0,
    rows: Annotated[
        list[str] | None, f"Comma-separated rows (default: all): {', '.join(ROW_KEYS)}."
    ] = None,
) -> Path:
    """CIFAR-10: the 50-layer PlainNet against PlainNet-BN-56 and ResNet-56/110.

    The full protocol is a GPU job (bf16 autocast and channels_last switch on by themselves on
    CUDA); on CPU, `epochs` and `train_subset` give a clearly labelled shortened run. `rows`
    trains and reports only those rows (e.g. the ones a second machine's seeds cover).
    """
    from plainnet.app.plots import learning_curves

    if plan.quick:  # shallow stand-ins on 16x16 images: the pipeline, in seconds
        epochs, train_subset = 1, 256
    keys = pick(rows, ROW_KEYS, "--rows")
    chosen = [r for r in ROWS if r.tags["key"] in keys]
    chosen = [replace_depth(r) for r in chosen] if plan.quick else chosen
    base = [f"train.epochs={epochs}", *(["data.image_size=16"] if plan.quick else [])]
    base += [f"data.train_subset={train_subset}"] if train_subset else []
    short = plan.quick or epochs < 164 or bool(train_subset)
    name = plan.claim("table2-short" if short and not plan.quick else "table2")
    results = plan.grid(chosen, base, name)
    images = f", {train_subset} training images" if train_subset else ""
    title = "CIFAR-10" + (f", SHORTENED run: {epochs} epochs{images}" if short else "")
    plot = learning_curves(results, plan.out / f"{name}.png", title)
    label = (
        f" — SHORTENED RUN ({epochs} epochs{images}): shows the pipeline and the relative "
        "order only, not the paper's protocol"
    )
    body = _report(plan, base, results) + f"\n\n![learning curves]({plot.name})\n"
    return plan.report(name, f"Table 2: CIFAR-10{label * short}", body)


def _report(plan: Plan, base: list[str], results) -> str:
    """The protocol and the table beside the paper's numbers."""
    best = any(r.has("best_test_err") for r in results)  # runs that kept a best epoch
    cols = ["model", "parameters", "paper test %", "ours test % (final model)",
            *["ours test % (best val epoch)"] * best, "ours val %", "ours train %"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    for r in results:
        params = f"{r.summaries[0]['parameters'] / 1e6:.2f}M" if r.summaries else "—"
        paper = PAPER_TABLE2[r.row.label]
        cells = [r.row.label, params, "—" if paper is None else f"{paper:.2f}",
                 r.cell("final_test_err"), *[r.cell("best_test_err")] * best,
                 r.cell("final_val_err"), r.cell("final_train_err")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    protocol = plan.values(base, PROTOCOL, "cifar10")
    nets = {r.preset[-1] if r.preset[0] == "cifar10" else r.preset[0]: r for r in ROWS}
    nets = {p: plan.values(base, NET, r.preset) for p, r in nets.items()}
    return (
        f"Protocol: the `cifar10` preset ({protocol}) with {plan.settings(base)}; seeds "
        f"{plan.seeds}. PlainNet rows use their presets (proposed: {nets['proposed']}; BN: "
        f"{nets['bn']}; deep recipe: {nets['deep']}, "
        f"{plan.values(base, ['optim.lr'], ['cifar10', 'deep'])}); the ResNets are always "
        "BatchNorm + ReLU. "
        "**Data: the `cifar10.npz` used here is decoded from lossy JPEG copies (quality "
        "75); expect errors 2-3 points above the official CIFAR-10's.**\n\n" + "\n".join(lines)
    )


# What the report states of the protocol and the plain nets, read from the resolved configs.
PROTOCOL = ["data.augment", "optim.name", "optim.lr", "optim.momentum", "optim.weight_decay",
            "train.batch_size", "schedule.name", "schedule.milestones"]  # fmt: skip
NET = ["model.norm", "model.act", "model.beta", "max_norm.enabled", "max_norm.c", "model.init"]


def replace_depth(row: Row) -> Row:
    """The quick variant's shallow stand-ins (the smallest depths of each family)."""
    arch = row.overrides[0]
    depth = "model.depth=8" if arch.endswith("resnet") else "model.depth=5"
    return Row(row.label, row.preset, [arch, depth], row.tags)
