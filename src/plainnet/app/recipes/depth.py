"""Error versus depth on USPS, 10 to 1,000 layers."""

from pathlib import Path
from typing import Annotated

from plainnet.app.build import with_numbers
from plainnet.app.config import ConfigError, resolve
from plainnet.app.grid import Row, diverged_list
from plainnet.app.recipes.plan import (
    Plan,
    matrix,
    net_depth_rows,
    net_depth_table,
    seeds_by_depth,
)
from plainnet.nn.correlation import resolve_beta

DEPTH_NETS = {  # label -> (preset, overrides)
    "naive": ("naive", []),
    "bn": ("bn", []),
    "proposed (beta 0.5)": ("proposed", ["model.beta=0.5"]),
    "proposed (beta auto)": ("proposed", ["model.beta=auto"]),
    "deep (no BN, delta-orthogonal)": ("deep", []),
}
DEPTHS = [10, 50, 100, 200, 500, 1000, 2000]


def depth(
    plan: Plan,
    depths: Annotated[
        list[int] | None, "Comma-separated depths instead of 10,...,2000 (e.g. 10000)."
    ] = None,
    nets: Annotated[
        list[str] | None, "Comma-separated nets (the start of a label: naive, bn, proposed, deep)."
    ] = None,
    one_seed_above: Annotated[int, "Depths above this train the first seed only."] = 200,
) -> Path:
    """Error versus depth on USPS, 10 to 2,000 layers: naive, BN-only, the proposed net with
    the fixed slope 0.5 and with the depth-aware slope (`model.beta = "auto"`), and the `deep`
    preset (no BatchNorm, delta-orthogonal init, TAT's slope for eta 0.5, lr 0.2 / depth).

    Depths above 200 (`one_seed_above`) train with the first seed only (a 1,000-layer epoch
    costs 10x a 100-layer one). `depths` and `nets` (labels, or the start of one) pick
    cells, e.g. the 10,000-layer one. Diverged runs are shown in the tables and figure,
    never dropped.
    """
    from plainnet.app.plots import error_vs_depth

    name = plan.claim("depth")
    rows, base = depth_rows(plan, depths, nets, one_seed_above)
    results = plan.grid(rows, base, name)
    by = {(r.row.tags["net"], r.row.tags["depth"]): r for r in results}
    epochs = plan.resolved(base).train.epochs
    title = (
        f"USPS, trained {epochs} epoch{'s' * (epochs > 1)}{' (quick smoke variant)' * plan.quick}"
        "; x at 100%: a run that diverged (NaN/inf)"
    )
    plot = error_vs_depth(by, plan.out / f"{name}.png", title)
    body = _report(plan, base, by) + f"\n![error versus depth]({plot.name})\n\n"
    return plan.report(name, "Error versus depth on USPS", body + diverged_list(results))


def depth_rows(plan: Plan, depths, nets, one_seed_above: int) -> tuple[list[Row], list[str]]:
    """The grid: each chosen net at each depth (the first seed only above `one_seed_above`
    layers), and the settings every run shares."""
    depths = [3, 5] if plan.quick else sorted(depths or DEPTHS)
    chosen = {
        label: net
        for label, net in DEPTH_NETS.items()
        if not nets or any(label.startswith(n) for n in nets)
    }
    if not chosen:
        raise ConfigError(f"--nets {nets} names none of {list(DEPTH_NETS)}")
    base = ["data.dataset=usps", f"train.epochs={1 if plan.quick else 20}"]
    base += ["data.train_subset=300"] if plan.quick else []
    rows = net_depth_rows(chosen, depths, plan.seeds, one_seed_above)
    return rows, base


def _report(plan: Plan, base: list[str], by: dict) -> str:
    """The settings, the values "auto" chose and the four error tables."""
    depths = sorted({d for _, d in by})

    def table(key: str, caption: str) -> str:
        return net_depth_table(by, caption, lambda n, d: by[n, d].cell(key))

    def deep(d: int):  # the deep preset's "auto"s as numbers at depth d
        return with_numbers(resolve("deep", overrides=[f"model.depth={d}"]))

    auto = dict(
        batch=("beta auto with BatchNorm", lambda d: f"{resolve_beta('auto', d):.4f}"),
        none=("beta auto, deep preset", lambda d: f"{deep(d).model.beta:.4f}"),
        lr=("lr auto, deep preset", lambda d: f"{deep(d).optim.lr:.3g}"),
    )
    names = [name for name, _ in auto.values()]
    return (
        f"Settings: {plan.settings(base)}; "
        f"{seeds_by_depth(by)}; "
        f"otherwise {plan.values(base, SHARED)} (the deep preset: its own lr and slope, "
        "below). Cells: mean ± std over seeds, final model; a diverged run (NaN/inf loss) is "
        "counted in its cell, not averaged.\n\n"
        'The values `"auto"` chose:\n'
        + matrix("", "depth", list(auto), depths, lambda k, d: auto[k][1](d), names)
        + "\n"
        + table("final_test_err", "**Test error %** (final model, eval mode)")
        + "\n"
        + table("final_val_err", "**Validation error %** (final model, eval mode)")
        + "\n"
        + table("final_train_err", "**Train error %, eval mode** (population statistics)")
        + "\n"
        + table(
            "final_running_train_err",
            "**Train error %, running** (last epoch's batches, train-mode BatchNorm)",
        )
    )


# What the report states of the settings every run shares, read from the resolved config.
SHARED = ["model.width", "optim.name", "optim.lr", "schedule.name", "max_norm.c",
          "train.batch_size", "data.val_fraction"]  # fmt: skip
