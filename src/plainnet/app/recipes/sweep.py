"""A user's own grid (`plainnet sweep`): rows x seeds as a table and learning curves, and with
`refit` the standard last step of model selection."""

from pathlib import Path

from plainnet.app.grid import Row, RowResult, diverged_list, grid_table, ranked, winner
from plainnet.app.recipes.plan import Plan, refit_overrides


def sweep(plan: Plan, rows: list[Row], refit: bool = False) -> Path:
    """A user's own grid: `rows` x seeds on top of the user's settings, as a table + figure.

    `refit`: the row of lowest mean validation error (among rows none of whose runs
    diverged) is trained again, same seeds, on the training and validation splits together
    (`data.val_fraction = 0`), with no per-epoch choice (`run.select = "final"`), so the test
    split is read once per refit run, at its end. Each refit run's config names the selection
    (`run.refit_of`).
    """
    from plainnet.app.plots import learning_curves

    name = plan.claim("sweep")
    results = plan.grid(rows, [], "runs")
    plot = learning_curves(results, plan.out / f"{name}.png", _title(plan, rows))
    body = (
        f"Settings shared by every row: `{plan.settings([]) or 'defaults'}`; seeds "
        f"{plan.seeds}. Cells: mean ± std over seeds (final model, eval mode); diverged runs "
        "are counted, not averaged.\n\n"
        + winner(results)
        + "\n"
        + grid_table(results)
        + f"\n![curves]({plot.name})\n"
        + diverged_list(results)
    )
    if refit:
        body += _refit(plan, results, plan.out / f"{name}.md")
    return plan.report(name, "Sweep", body)


def _title(plan: Plan, rows: list[Row]) -> str:
    """The figure's title: the shared settings, less those a row changes, which it names
    as varying (a title saying `train.epochs=60` over rows of 20 and 120 epochs misleads)."""
    varied = {o.split("=", 1)[0] for r in rows for o in r.overrides}
    mine = [f"-c {plan.config_file}"] if plan.config_file else []
    shared = [*mine, *(o for o in plan.overrides if o.split("=", 1)[0] not in varied)]
    vary = f"; varied by row: {', '.join(sorted(varied))}" if varied else ""
    return f"sweep: {' '.join(shared) or 'defaults'}{vary}"


def _refit(plan: Plan, results: list[RowResult], report: Path) -> str:
    order = ranked(results)
    if not order:
        return "\nRefit: no row finished every seed with a validation error; nothing refit.\n"
    chosen = order[0]
    row = chosen.row
    selection = f"{report}: {row.label}"
    again = Row(
        f"{row.label}, refit on train + validation",
        row.preset,
        [*row.overrides, *refit_overrides(selection)],
        seeds=row.seeds,
    )
    (refit,) = plan.grid([again], [], "refit")
    return (
        f"\n## Refit\n\nChosen on validation: **{row.label}** (validation error "
        f"{chosen.cell('final_val_err')} %). Trained again on the training and validation "
        "splits together, same seeds, no per-epoch choice; the test split is read once per "
        "run, at its end.\n\n"
        "| row | runs | train error % (final, eval mode) | test error % (final) |\n"
        "|---|---|---|---|\n"
        f"| {again.label} | {len(refit.runs)} | {refit.cell('final_train_err')} | "
        f"{refit.cell('final_test_err')} |\n"
    )
