"""A user's own grid (`plainnet sweep`): rows x seeds as a table and learning curves."""

from pathlib import Path

from plainnet.app.grid import Row, grid_table, learning_curves
from plainnet.app.recipes.plan import Plan


def sweep(plan: Plan, rows: list[Row]) -> Path:
    """A user's own grid: `rows` x seeds on top of the user's settings, as a table + figure."""
    name = plan.claim("sweep")
    results = plan.grid(rows, [], name)
    plot = learning_curves(results, plan.out / f"{name}.png", f"sweep: {plan.settings([])}")
    body = (
        f"Settings shared by every row: `{plan.settings([]) or 'defaults'}`; seeds "
        f"{plan.seeds}. Cells: mean ± std over seeds (final model, eval mode); diverged runs "
        "are counted, not averaged.\n\n" + grid_table(results) + f"\n![curves]({plot.name})\n"
    )
    return plan.report(name, "Sweep", body)
