"""Where each component matters: Leaky ReLU slope x max-norm bound at 100 layers."""

from pathlib import Path

import numpy as np

from plainnet.app.grid import Row, diverged_list
from plainnet.app.recipes.plan import Plan, matrix
from plainnet.nn.correlation import resolve_beta

# The (beta x c) map of BN + Leaky ReLU at 100 layers; None: no max-norm.
COMPONENT_BETAS = ["0.01", "0.1", "0.2", "0.3", "0.5", "auto"]
COMPONENT_CS = [1.0, 2.0, 4.0, None]


def components(plan: Plan) -> Path:
    """Where each component matters: BN + Leaky ReLU at 100 layers on USPS over slope beta x
    max-norm bound c (eq. 2, or none), as a heatmap of validation error with the failed cells
    marked, beside each slope's gradient-norm ratio (first / last hidden layer) at init."""
    from plainnet.app.plots import figure, save
    from plainnet.app.probe import probe_config

    depth_, epochs = (5, 1) if plan.quick else (100, 20)
    base = ["data.dataset=usps", f"model.depth={depth_}", f"train.epochs={epochs}"]
    if plan.quick:
        base.append("data.train_subset=300")
    name = plan.claim("components")
    rows = [
        Row(
            f"beta {b}, " + (f"c {c:g}" if c else "no max-norm"),
            "proposed" if c else "bn_lrelu",
            [f"model.beta={b}", *([f"max_norm.c={c}"] if c else [])],
            tags=dict(beta=b, c=c),
        )
        for b in COMPONENT_BETAS
        for c in COMPONENT_CS
    ]
    results = plan.grid(rows, base, name)
    by = {(r.row.tags["beta"], r.row.tags["c"]): r for r in results}
    auto = resolve_beta("auto", depth_)
    beta_names = [f"auto ({auto:.4f})" if b == "auto" else b for b in COMPONENT_BETAS]
    c_names = [f"c = {c:g}" if c else "no max-norm" for c in COMPONENT_CS]

    ratios = []  # gradient norm, first / last hidden layer, at init (c plays no part there)
    for b in COMPONENT_BETAS:
        layers = probe_config(by[b, None].runs[0].config(), max_samples=500).layers
        ratios.append(layers[0].grad_norm / layers[-1].grad_norm)

    def table(key: str, caption: str, grad: bool) -> str:
        cols = [*COMPONENT_CS, *(["ratio"] if grad else [])]

        def cell(b, c):
            return f"{ratios[COMPONENT_BETAS.index(b)]:.3g}" if c == "ratio" else by[b, c].cell(key)

        heads = [*c_names, *(["gradient ratio at init"] if grad else [])]
        return matrix(caption, "beta", COMPONENT_BETAS, cols, cell, beta_names, heads)

    mean = np.full((len(COMPONENT_BETAS), len(COMPONENT_CS)), np.nan)
    fig, (ax, ax2) = figure(1, 2, figsize=(13, 5.2), width_ratios=[1.4, 1])
    for i, b in enumerate(COMPONENT_BETAS):
        for j, c in enumerate(COMPONENT_CS):
            r = by[b, c]
            if r.values("final_val_err"):
                mean[i, j] = r.stat("final_val_err")[0]
            failed = f"\n{r.diverged}/{len(r.runs)} diverged" if r.diverged else ""
            text = "all\ndiverged" if np.isnan(mean[i, j]) else f"{mean[i, j]:.1f}{failed}"
            dark = np.isnan(mean[i, j]) or mean[i, j] > 50
            ax.text(
                j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black"
            )
    img = ax.imshow(mean, cmap="viridis_r", vmin=0, vmax=100, aspect="auto")
    ax.set_facecolor("0.25")  # an all-diverged cell has no mean: drawn dark grey
    ax.set_xticks(range(len(c_names)), c_names)
    ax.set_yticks(range(len(beta_names)), beta_names)
    ax.set_xlabel("max-norm bound (eq. 2)")
    ax.set_ylabel("Leaky ReLU slope beta (eq. 1)")
    fig.colorbar(img, ax=ax, label=f"validation error % (mean of {len(plan.seeds)} seeds)")
    ax2.bar(range(len(beta_names)), ratios, color="C0")
    ax2.set_yscale("log")
    ax2.set_xticks(range(len(beta_names)), beta_names, rotation=30)
    ax2.set_xlabel("Leaky ReLU slope beta")
    ax2.set_ylabel("gradient norm, first / last hidden layer")
    ax2.set_title("at init (probe, 500 training samples)")
    short = " (quick smoke variant)" if plan.quick else ""
    fig.suptitle(f"USPS, {depth_} layers, BN + Leaky ReLU (+ max-norm), trained {epochs} epochs"
                 f"{short}; numbers: validation error %")  # fmt: skip
    plot = save(fig, plan.out / f"{name}.png")
    body = (
        f"Settings: {plan.settings(base)}, seeds {plan.seeds}; defaults otherwise (width 128, "
        "SGD lr 0.02 cosine, batch 128, He-uniform init, calibrated eval mode). Columns "
        "with a bound use the `proposed` preset (BN + Leaky ReLU + max-norm), the last column "
        "`bn_lrelu` (no max-norm). Cells: mean ± std over seeds of the final model; a "
        "diverged run (NaN/inf) is counted in its cell, not averaged. Gradient ratio: "
        "||dL/dW|| of the first hidden layer over the last one's at init, seed "
        f"{plan.seeds[0]}, one batch of 500 training samples.\n\n"
        + table("final_val_err", "**Validation error %** (final model, eval mode)", True)
        + "\n"
        + table("final_train_err", "**Train error %** (final model, eval mode)", False)
        + f"\n![beta x c]({plot.name})\n\n"
        + diverged_list(results)
    )
    return plan.report(name, "Where each component matters: beta x max-norm, 100 layers", body)
