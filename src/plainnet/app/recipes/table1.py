"""Table 1 of the paper: every subset of BN / Leaky ReLU / max-norm, 100 layers, USPS."""

from pathlib import Path

from plainnet.app.grid import Row
from plainnet.app.recipes.plan import QUICK as QUICK_TITLE
from plainnet.app.recipes.plan import Plan

# Table 1 of the paper (100-layer MLP on USPS): preset -> (train error %, test error %).
PAPER_TABLE1 = {
    "naive": None,  # not in the paper's table
    "bn": (84.56, 83.21),
    "lrelu": (92.37, 92.03),
    "maxnorm": (86.22, 86.85),
    "bn_lrelu": (78.38, 79.52),
    "bn_maxnorm": (82.90, 81.86),
    "lrelu_maxnorm": (83.62, 82.11),
    "proposed": (0.11, 5.48),
}

# The quick variant: 2 epochs on 1,000 images, at a depth where the components already matter
# (30 layers: ReLU without BatchNorm fails there) and the auto slope is the paper's 0.5, with
# max-norm's c at 1.5: He-uniform rows start near norm 1.41 and grow only to ~1.6 in 16 steps,
# so at the paper's c = 4 the max-norm rows would train exactly as the rows without it.
QUICK = [
    "data.dataset=usps",
    "model.depth=30",
    "train.epochs=2",
    "data.train_subset=1000",
    "max_norm.c=1.5",
]


def table1(plan: Plan) -> Path:
    """The paper's ablation: 100-layer MLP on USPS, every subset of BN / LReLU / max-norm."""
    from plainnet.app.plots import learning_curves

    # the protocol chosen on validation: the usps100 preset under each row's component preset
    protocol, base = ("usps100", []) if not plan.quick else (None, QUICK)
    rows = [
        Row(p, [p, protocol] if protocol else p, [], cost=2 if "bn" in p or p == "proposed" else 1)
        for p in PAPER_TABLE1
    ]
    name = plan.claim("table1")
    results = plan.grid(rows, base, name)
    chosen = f"the usps100 preset ({plan.values(base, PROTOCOL, protocol)})" if protocol else ""
    settings = ", ".join(s for s in (chosen, plan.settings(base)) if s)
    title = f"Table 1 ablation{QUICK_TITLE * plan.quick}: {settings}"
    plot = learning_curves(results, plan.out / f"{name}.png", title)
    c = plan.resolved(base).max_norm.c
    body = (
        f"Settings: {settings}, seeds {plan.seeds}; everything else is the default "
        "config (`plainnet config show`). Ours: mean ± std over seeds of the final model "
        "(eval mode). "
        "Max unit norm: the largest hidden-unit ||w_j|| after training over all seeds; the "
        f"max-norm rows use c = {c:g}, so a value at c means it was binding.\n\n"
        + _table(results)
        + f"\n\n![learning curves]({plot.name})\n"
    )
    return plan.report(name, "Table 1: ablation on USPS", body)


# What the report states of the protocol, read from the resolved usps100 preset.
PROTOCOL = ["data.dataset", "model.depth", "train.epochs", "optim.name", "optim.lr"]


def _table(results) -> str:
    """Each row beside the paper's numbers."""
    best = any(r.has("best_test_err") for r in results)  # runs that kept a best epoch
    cols = ["row", "paper train %", "paper test %", "ours train % (eval mode)", "ours val %",
            "ours test % (final model)", *["ours test % (best val epoch)"] * best,
            "max unit norm"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    for r in results:
        paper = PAPER_TABLE1[r.row.label]
        p_tr, p_te = (f"{paper[0]:.2f}", f"{paper[1]:.2f}") if paper else ("—", "—")
        cells = [r.row.label, p_tr, p_te, r.cell("final_train_err"), r.cell("final_val_err"),
                 r.cell("final_test_err"), *[r.cell("best_test_err")] * best,
                 r.max_unit_norm()]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
