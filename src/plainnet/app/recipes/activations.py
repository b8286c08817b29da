"""The paper's activation figures: naive vs BN vs proposed at init and trained."""

from pathlib import Path

from plainnet.app.grid import Row
from plainnet.app.recipes.plan import Plan

ABLATION3 = ("naive", "bn", "proposed")


def activations(plan: Plan) -> Path:
    """The paper's investigation figures: naive vs BN vs proposed, 100 layers, at init and
    after training, on COIL-20, USPS (and digits): normalized mean activation over depth,
    layer-50 / layer-99 heatmaps over the whole training set, condition number over depth."""
    name = plan.claim("activations")
    lines = [
        "| data | net | state | test error % | NMA at last layer | cond. number at last layer "
        "| effective rank at last layer | dead units at last layer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sections = []
    for ds in EPOCHS:
        base = activation_base(plan, ds)
        rows = [Row(p, p, [], seeds=plan.seeds[:1]) for p in ABLATION3]
        trained = plan.grid(rows, base, f"{name}/{ds}")
        depth = plan.resolved(base).model.depth
        for state in ("init", "trained"):
            folder = plan.out / name / f"{ds}-{state}"
            rel = f"{name}/{ds}-{state}"
            lines += _probe(trained, state, folder, f"{ds}, {depth} layers, {state}", ds)
            sections.append(_section(f"{ds}, {state}", folder, rel))
    epochs = {ds: plan.resolved(activation_base(plan, ds)).train.epochs for ds in EPOCHS}
    body = (
        f"Networks: {', '.join(ABLATION3)} presets, seed {plan.seeds[0]}, epochs per data set "
        f"{epochs}; otherwise {plan.values(activation_base(plan, 'usps'), SHARED)}. Naive "
        "nets whose training diverged have no trained probe. Probe: batch statistics, the "
        "whole training split (COIL-20: the 1,152 training images of the default split); "
        "definitions in docs/probe.md.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(sections)
    )
    return plan.report(name, "The paper's activation figures", body)


EPOCHS = {"coil20": 30, "usps": 20, "digits": 40}
# What the report states of the settings every run shares, read from the resolved config.
SHARED = ["model.depth", "model.width", "optim.lr", "train.batch_size"]


def activation_base(plan: Plan, ds: str) -> list[str]:
    if plan.quick:
        return [f"data.dataset={ds}", "model.depth=10", "train.epochs=1", "data.train_subset=300"]
    return [f"data.dataset={ds}", "model.depth=100", f"train.epochs={EPOCHS[ds]}"]


def _probe(trained, state: str, folder: Path, context: str, ds: str) -> list[str]:
    """Probe each net at init or trained into `folder`; its table lines."""
    from plainnet.app.probe import probe_config, save_probes

    results, errs = {}, {}
    for res in trained:
        trained_run = res.runs[0] if state == "trained" else None
        if trained_run is not None and not res.summaries:  # diverged: nothing to probe
            continue
        results[res.row.label] = probe_config(res.runs[0].config(), trained_run)
        errs[res.row.label] = res.summaries[0]["final_test_err"] if trained_run else None
    kept = sorted({k for r in results.values() for k in r.kept})
    save_probes(results, folder, kept, context)
    (folder / "probe.json").unlink()  # layers.csv holds every number but the spectra
    lines = []
    for label, r in results.items():
        last = r.layers[-1]
        err = "—" if errs[label] is None else f"{100 * errs[label]:.2f}"
        lines.append(
            f"| {ds} | {label} | {state} | {err} "
            f"| {last.normalized_mean_activation:.3g} | {last.condition_number:.3g} "
            f"| {last.effective_rank:.3g} | {last.dead_fraction:.0%} |"
        )
    return lines


def _section(title: str, folder: Path, rel: str) -> str:
    heatmaps = " ".join(
        f"![{p.stem}]({rel}/{p.name})" for p in sorted(folder.glob("heatmap_*.png"))
    )
    return (
        f"### {title}\n\n"
        f"![NMA]({rel}/normalized_mean_activation.png)\n"
        f"![singularity]({rel}/singularity.png)\n"
        f"![gradients]({rel}/gradient_norms.png)\n\n{heatmaps}\n"
    )
