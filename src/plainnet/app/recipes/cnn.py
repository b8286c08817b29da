"""Error versus depth for plain CNNs on USPS images: the paper's Fig. 2 question for
convolutions, at a budget a CPU can pay."""

import statistics
from pathlib import Path
from typing import Annotated

from plainnet.app.grid import diverged_list
from plainnet.app.recipes.plan import (
    Plan,
    net_depth_rows,
    net_depth_table,
    pick,
    seeds_by_depth,
)

# label -> (preset, overrides): the paper's plain BatchNorm net, its proposed net, the deep
# recipe and He et al.'s ResNet (always BatchNorm + ReLU), all in the CIFAR layout.
CNN_NETS = {
    "bn": ("bn", ["model.arch=cnn"]),
    "proposed": ("proposed", ["model.arch=cnn"]),
    "deep": ("deep", ["model.arch=cnn"]),
    "resnet": (None, ["model.arch=resnet"]),
}
CNN_DEPTHS = [20, 56, 110, 218]  # 6n + 2: a ResNet of every depth


def cnn(
    plan: Plan,
    depths: Annotated[list[int] | None, "Comma-separated depths (6n+2), not 20,...,218."] = None,
    nets: Annotated[list[str] | None, "Comma-separated nets: bn, proposed, deep, resnet."] = None,
    train_subset: Annotated[int, "Training images (a seeded subset; 0: all)."] = 4000,
    epochs: Annotated[int, "Epochs."] = 10,
    one_seed_above: Annotated[int, "Depths above this train the first seed only."] = 110,
) -> Path:
    """Plain CNNs against depth on USPS images (1x16x16): the plain BatchNorm net (BN +
    ReLU), the proposed net (BN + Leaky ReLU + max-norm, slope auto), the deep recipe (no
    BatchNorm, delta-orthogonal, TAT's slope, lr by depth, max-norm) and a ResNet of the
    same depth, on one budget (training images, epochs, schedule, seeds).

    Depths above 110 (`one_seed_above`) train with the first seed only, the costliest runs.
    Diverged runs are shown, never dropped.
    """
    from plainnet.app.plots import error_vs_depth

    name = plan.claim("cnn")
    rows, base = cnn_rows(plan, depths, nets, train_subset, epochs, one_seed_above)
    results = plan.grid(rows, base, name)
    by = {(r.row.tags["net"], r.row.tags["depth"]): r for r in results}
    cfg = plan.resolved(base)
    images = f"{cfg.data.train_subset:,} training images" if cfg.data.train_subset else "all"
    title = (
        f"Plain CNNs on USPS (1x16x16), {images}, {cfg.train.epochs} epochs"
        f"{' (quick smoke variant)' * plan.quick}; x at 100%: a run that diverged"
    )
    plot = error_vs_depth(by, plan.out / f"{name}.png", title)
    body = _report(plan, base, by) + f"\n![error versus depth]({plot.name})\n\n"
    title = f"Plain CNNs against depth on USPS, {images}, {cfg.train.epochs} epochs"
    return plan.report(name, title, body + diverged_list(results))


def cnn_rows(plan: Plan, depths, nets, train_subset: int, epochs: int, one_seed_above: int):
    """Each chosen net at each depth (the first seed only above `one_seed_above`), and the
    budget."""
    depths = [8, 14] if plan.quick else sorted(depths or CNN_DEPTHS)
    chosen = {k: CNN_NETS[k] for k in pick(nets, list(CNN_NETS), "--nets")}
    if plan.quick:
        train_subset, epochs = 300, 1
    base = ["data.dataset=usps", f"data.train_subset={train_subset}", f"train.epochs={epochs}"]
    rows = net_depth_rows(chosen, depths, plan.seeds, one_seed_above)
    return rows, base


def _report(plan: Plan, base: list[str], by: dict) -> str:
    """The budget, the error tables, parameters and seconds per epoch per net and depth."""

    def table(caption: str, cell) -> str:
        return net_depth_table(by, caption, cell)

    def epoch_s(n, d):  # the median epoch of each run (a paused or busy epoch is an outlier)
        runs = [r for r in by[n, d].runs if r.summary_path.exists()]
        times = [statistics.median(m["epoch_time_s"] for m in r.read_metrics()) for r in runs]
        return f"{statistics.mean(times):.0f}" if times else "—"

    def params(n, d):
        s = by[n, d].summaries
        return f"{s[0]['parameters'] / 1e6:.2f}M" if s else "—"

    threads = sorted({x["provenance"]["cpu_threads"] for r in by.values() for x in r.summaries})
    return (
        f"Budget: {plan.settings(base)}; {seeds_by_depth(by)}; "
        f"otherwise {plan.values(base, SHARED)} (the deep recipe: its own lr and slope). "
        "Cells: mean ± std over seeds of the final model in eval mode; a diverged run "
        "(NaN/inf) is counted in its cell, not averaged. The validation split (730 images) "
        "chose nothing here but is reported; the 2,007 test images are read once per run.\n\n"
        + table("**Test error %** (final model)", lambda n, d: by[n, d].cell("final_test_err"))
        + "\n"
        + table("**Validation error %** (final)", lambda n, d: by[n, d].cell("final_val_err"))
        + "\n"
        + table("**Train error %** (eval mode)", lambda n, d: by[n, d].cell("final_train_err"))
        + "\n"
        + table("**Parameters**", params)
        + "\n"
        + table(
            f"**Seconds per epoch** (median epoch, mean over seeds; CPU threads per run: "
            f"{threads})",
            epoch_s,
        )  # fmt: skip
    )


# What the report states of the settings every run shares, read from the resolved config.
SHARED = ["model.channels", "optim.name", "optim.lr", "optim.momentum", "schedule.name",
          "train.batch_size", "data.augment", "max_norm.c"]  # fmt: skip
