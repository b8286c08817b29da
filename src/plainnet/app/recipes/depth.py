"""Error versus depth on USPS, 10 to 1,000 layers."""

from pathlib import Path

from plainnet.app.build import with_numbers
from plainnet.app.config import ConfigError, resolve
from plainnet.app.grid import Row, diverged_list
from plainnet.app.recipes.plan import Plan, matrix
from plainnet.nn.correlation import resolve_beta

DEPTH_NETS = {  # label -> (preset, overrides)
    "naive": ("naive", []),
    "bn": ("bn", []),
    "proposed (beta 0.5)": ("proposed", ["model.beta=0.5"]),
    "proposed (beta auto)": ("proposed", ["model.beta=auto"]),
    "deep (no BN, delta-orthogonal)": ("deep", []),
}
DEPTHS = [10, 50, 100, 200, 500, 1000, 2000]


def depth(plan: Plan, depths: list[int] | None = None, nets: list[str] | None = None) -> Path:
    """Error versus depth on USPS, 10 to 2,000 layers: naive, BN-only, the proposed net with
    the fixed slope 0.5 and with the depth-aware slope (`model.beta = "auto"`), and the `deep`
    preset (no BatchNorm, delta-orthogonal init, TAT's slope for eta 0.5, lr 0.2 / depth).

    Depths above 200 train with the first seed only (a 1,000-layer epoch costs 10x a 100-layer
    one). `depths` and `nets` (labels, or the start of one) pick cells, e.g. the 10,000-layer
    one. Diverged runs are shown in the tables and figure, never dropped.
    """
    from plainnet.app.plots import colours, drawn_before, figure, log_if_wide, save

    quick, seeds = plan.quick, plan.seeds
    depths = [3, 5] if quick else sorted(depths or DEPTHS)
    chosen = {
        label: net
        for label, net in DEPTH_NETS.items()
        if not nets or any(label.startswith(n) for n in nets)
    }
    if not chosen:
        raise ConfigError(f"--nets {nets} names none of {list(DEPTH_NETS)}")
    epochs = 1 if quick else 20
    base = ["data.dataset=usps", f"train.epochs={epochs}"]
    if quick:
        base.append("data.train_subset=300")
    name = plan.claim("depth")
    rows = [
        Row(
            f"{net} d={d}",
            preset,
            [*extra, f"model.depth={d}"],
            tags=dict(net=net, depth=d),
            cost=d,
            seeds=seeds if d <= 200 else seeds[:1],
        )
        for net, (preset, extra) in chosen.items()
        for d in depths
    ]
    results = plan.grid(rows, base, name)
    by = {(r.row.tags["net"], r.row.tags["depth"]): r for r in results}

    def table(key: str, caption: str) -> str:
        heads = [f"depth {d}" for d in depths]
        cells = lambda n, d: by[n, d].cell(key)  # noqa: E731
        return matrix(caption, "net", list(chosen), depths, cells, heads=heads)

    def deep(d: int):  # the deep preset's "auto"s as numbers at depth d
        return with_numbers(resolve("deep", overrides=[f"model.depth={d}"]))

    auto = dict(
        batch=("beta auto with BatchNorm", lambda d: f"{resolve_beta('auto', d):.4f}"),
        none=("beta auto, deep preset", lambda d: f"{deep(d).model.beta:.4f}"),
        lr=("lr auto, deep preset", lambda d: f"{deep(d).optim.lr:.3g}"),
    )
    beta_table = matrix("", "depth", list(auto), depths, lambda k, d: auto[k][1](d),
                        [name for name, _ in auto.values()])  # fmt: skip
    fig, axes = figure(1, 3, figsize=(18, 4.8))
    panels = [
        ("final_test_err", "test error % (final model, eval mode)"),
        ("final_train_err", "train error % (final model, eval mode)"),
        ("final_running_train_err", "train error % (last epoch, train-mode BN)"),
    ]
    drawn: dict[tuple, str] = {}  # a curve's points -> the first net drawn with them
    for k, (net, colour) in enumerate(zip(chosen, colours(list(chosen)), strict=True)):
        nudge = 1.06 ** (k - (len(chosen) - 1) / 2)  # side by side, not on top of each other
        for ax, (key, _) in zip(axes, panels, strict=True):
            pts = [(d, by[net, d].stat(key)[0]) for d in depths if by[net, d].values(key)]
            if pts:
                style = dict(label=net)
                if twin := drawn_before(drawn, (key, *pts), net):  # drawn over it: dashed
                    style = dict(label=f"{net} (identical to {twin})", ls="--", mfc="none")
                ax.plot(*zip(*pts, strict=True), marker="o", color=colour, **style)
            failed = [d for d in depths if by[net, d].diverged]
            ax.plot(
                [d * nudge for d in failed], [100] * len(failed), "x", color=colour, ms=9, mew=2
            )
    for ax, (_, title) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_xticks(depths, [f"{d:,}" for d in depths], minor=False)
        ax.minorticks_off()
        ax.set_xlabel("depth (weight layers)")
        ax.set_ylabel(title + log_if_wide(ax))
        ax.grid(True, alpha=0.3, which="both")
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # off the curves
    fig.suptitle(
        f"USPS, trained {epochs} epoch{'s' * (epochs > 1)}{' (quick smoke variant)' * quick}; "
        "x at 100%: a run that diverged (NaN/inf)"
    )
    plot = save(fig, plan.out / f"{name}.png")
    body = (
        f"Settings: {plan.settings(base)}; seeds {seeds} up to depth 200, {seeds[:1]} above; "
        "defaults otherwise (width 128, SGD lr 0.02 cosine (the deep preset: 0.2 / depth, "
        "eta 0.5), "
        "c 4, batch 128; validation split 10% of the training split). Cells: mean ± std over "
        "seeds, final model; a diverged run (NaN/inf loss) is counted in its cell, not "
        "averaged.\n\n"
        'The values `"auto"` chose:\n'
        + beta_table
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
        + f"\n![error versus depth]({plot.name})\n\n"
        + diverged_list(results)
    )
    return plan.report(name, "Error versus depth on USPS", body)
