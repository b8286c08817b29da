"""Where each component matters: Leaky ReLU slope x max-norm bound at 100 layers."""

from pathlib import Path

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
    from plainnet.app.plots import component_map

    name = plan.claim("components")
    rows, base = component_rows(plan)
    results = plan.grid(rows, base, name)
    by = {(r.row.tags["beta"], r.row.tags["c"]): r for r in results}
    cfg = plan.resolved(base)
    ratios = _gradient_ratios(by)
    names = (
        _beta_names(cfg.model.depth),
        [f"c = {c:g}" if c else "no max-norm" for c in COMPONENT_CS],
    )
    title = (
        f"USPS, {cfg.model.depth} layers, BN + Leaky ReLU (+ max-norm), trained "
        f"{cfg.train.epochs} epochs{' (quick smoke variant)' * plan.quick}; numbers: validation "
        "error %"
    )
    grid = [[by[b, c] for c in COMPONENT_CS] for b in COMPONENT_BETAS]
    plot = component_map(grid, ratios, *names, len(plan.seeds), plan.out / f"{name}.png", title)
    body = _report(plan, base, by, ratios, names) + f"\n![beta x c]({plot.name})\n\n"
    title = "Where each component matters: beta x max-norm, 100 layers"
    return plan.report(name, title, body + diverged_list(results))


def component_rows(plan: Plan) -> tuple[list[Row], list[str]]:
    """Every slope x bound (the last column: no max-norm, the `bn_lrelu` preset), and the
    settings every run shares."""
    depth, epochs = (5, 1) if plan.quick else (100, 20)
    base = ["data.dataset=usps", f"model.depth={depth}", f"train.epochs={epochs}"]
    base += ["data.train_subset=300"] if plan.quick else []
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
    return rows, base


def _gradient_ratios(by: dict) -> list[float]:
    """Per slope: the gradient's norm at the first hidden layer over the last's, at init (the
    bound plays no part there: the net without max-norm is probed)."""
    from plainnet.app.probe import probe_config

    ratios = []
    for b in COMPONENT_BETAS:
        layers = probe_config(by[b, None].runs[0].config(), max_samples=500).layers
        ratios.append(layers[0].grad_norm / layers[-1].grad_norm)
    return ratios


def _beta_names(depth: int) -> list[str]:
    auto = resolve_beta("auto", depth)
    return [f"auto ({auto:.4f})" if b == "auto" else b for b in COMPONENT_BETAS]


def _report(plan: Plan, base: list[str], by: dict, ratios: list[float], names) -> str:
    """The settings and the validation and train error tables (the first with the ratios)."""
    beta_names, c_names = names

    def table(key: str, caption: str, grad: bool) -> str:
        cols = [*COMPONENT_CS, *(["ratio"] if grad else [])]

        def cell(b, c):
            return f"{ratios[COMPONENT_BETAS.index(b)]:.3g}" if c == "ratio" else by[b, c].cell(key)

        heads = [*c_names, *(["gradient ratio at init"] if grad else [])]
        return matrix(caption, "beta", COMPONENT_BETAS, cols, cell, beta_names, heads)

    shared = plan.values(base, SHARED, "proposed")
    return (
        f"Settings: {plan.settings(base)}, seeds {plan.seeds}; otherwise {shared}. Columns "
        "with a bound use the `proposed` preset (BN + Leaky ReLU + max-norm), the last column "
        "`bn_lrelu` (no max-norm). Cells: mean ± std over seeds of the final model; a "
        "diverged run (NaN/inf) is counted in its cell, not averaged. Gradient ratio: "
        "||dL/dW|| of the first hidden layer over the last one's at init, seed "
        f"{plan.seeds[0]}, one batch of 500 training samples.\n\n"
        + table("final_val_err", "**Validation error %** (final model, eval mode)", True)
        + "\n"
        + table("final_train_err", "**Train error %** (final model, eval mode)", False)
    )


# What the report states of the settings every run shares, read from the resolved config.
SHARED = ["model.width", "optim.name", "optim.lr", "schedule.name", "train.batch_size",
          "model.init", "train.calibrate_bn"]  # fmt: skip
