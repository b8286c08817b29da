"""The paper's activation figures: naive vs BN vs proposed at init and trained."""

from pathlib import Path

from plainnet.app.grid import Row
from plainnet.app.recipes.plan import Plan

ABLATION3 = ("naive", "bn", "proposed")


def activations(plan: Plan) -> Path:
    """The paper's investigation figures: naive vs BN vs proposed, 100 layers, at init and
    after training, on COIL-20, USPS (and digits): normalized mean activation over depth,
    layer-50 / layer-99 heatmaps over the whole training set, condition number over depth."""
    from plainnet.app.probe import probe_config, save_probes

    name = plan.claim("activations")
    epochs = {"coil20": 30, "usps": 20, "digits": 40}
    lines = [
        "| data | net | state | test error % | NMA at last layer | cond. number at last layer "
        "| effective rank at last layer | dead units at last layer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sections = []
    for ds in ("coil20", "usps", "digits"):
        base = [f"data.dataset={ds}", "model.depth=100", f"train.epochs={epochs[ds]}"]
        if plan.quick:
            base = [
                f"data.dataset={ds}",
                "model.depth=10",
                "train.epochs=1",
                "data.train_subset=300",
            ]
        rows = [Row(p, p, [], seeds=plan.seeds[:1]) for p in ABLATION3]
        trained = plan.grid(rows, base, f"{name}/{ds}")
        for state in ("init", "trained"):
            results, errs = {}, {}
            for row, res in zip(rows, trained, strict=True):
                trained_run = res.runs[0] if state == "trained" else None
                if trained_run is not None and not res.summaries:  # diverged: nothing to probe
                    continue
                results[row.label] = probe_config(res.runs[0].config(), trained_run)
                errs[row.label] = res.summaries[0]["final_test_err"] if trained_run else None
            folder = plan.out / name / f"{ds}-{state}"
            kept = sorted({k for r in results.values() for k in r.kept})
            save_probes(results, folder, kept, f"{ds}, {base[1].split('=')[1]} layers, {state}")
            (folder / "probe.json").unlink()  # layers.csv holds every number but the spectra
            for label, r in results.items():
                last = r.layers[-1]
                err = "—" if errs[label] is None else f"{100 * errs[label]:.2f}"
                lines.append(
                    f"| {ds} | {label} | {state} | {err} | {last.normalized_mean_activation:.3g} "
                    f"| {last.condition_number:.3g} | {last.effective_rank:.3g} "
                    f"| {last.dead_fraction:.0%} |"
                )
            rel = f"{name}/{ds}-{state}"
            sections.append(
                f"### {ds}, {state}\n\n"
                f"![NMA]({rel}/normalized_mean_activation.png)\n"
                f"![singularity]({rel}/singularity.png)\n"
                f"![gradients]({rel}/gradient_norms.png)\n\n"
                + " ".join(
                    f"![{p.stem}]({rel}/{p.name})" for p in sorted(folder.glob("heatmap_*.png"))
                )
                + "\n"
            )
    body = (
        f"Networks: {', '.join(ABLATION3)} presets, seed {plan.seeds[0]}, "
        f"`{plan.settings(base[1:2])}`, epochs per "
        f"data set {epochs}, defaults otherwise (e.g. width 128). Naive nets whose training "
        "diverged have no trained probe. Probe: batch statistics, the whole training split "
        "(COIL-20: the 1,152 training images of the default split); definitions in "
        "docs/probe.md.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(sections)
    )
    return plan.report(name, "The paper's activation figures", body)
