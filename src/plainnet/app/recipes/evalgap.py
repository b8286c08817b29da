"""Eval mode against training in deep BatchNorm nets, and the remedies side by side."""

import copy
from pathlib import Path

from torch import nn

from plainnet.app.grid import Row
from plainnet.app.recipes.plan import Plan


def evalgap(plan: Plan) -> Path:
    """Eval mode against training for deep BatchNorm nets, and the remedies side by side.

    The proposed net with the depth-aware slope is trained with plain BatchNorm (no
    calibration) and, separately, with Batch Renormalization. The BatchNorm runs' final
    weights are then evaluated in eval mode with PyTorch's running averages, with "precise
    BN" (train-mode batch statistics averaged over the training split), and with the
    layer-by-layer calibration `train.calibrate_bn` does; and, as a reference that is no
    remedy (a prediction would depend on the other inputs), with each batch's own statistics.
    """
    name = plan.claim("evalgap")
    rows, base = evalgap_rows(plan)
    results = plan.grid(rows, base, name)
    lines = [
        "| net | depth | running train error % (train-mode BN) | running averages | precise BN "
        "| layer-wise calibration | batch statistics (reference, no remedy) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = remedies(r.runs[0], r.row.tags["norm"] == "BatchNorm") if r.summaries else None
        running = r.cell("final_running_train_err")
        lines.append(f"| {r.row.tags['norm']} | {r.row.tags['depth']} | {running} | "
                     + " | ".join(cells or ["diverged"] * 4) + " |")  # fmt: skip
    body = (
        f"Settings: {plan.settings(base)}, seed {plan.seeds[0]}; defaults otherwise. Cells: "
        "train / test error % of the same final weights, in eval mode with each way of setting "
        "BatchNorm's population statistics (Batch Renorm: its own running statistics). "
        f"Layer-wise calibration uses the first {CALIBRATION:,} training samples.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    return plan.report(name, "Eval mode against training in deep BatchNorm nets", body)


CALIBRATION = 2048  # training samples the layer-wise calibration reads


def evalgap_rows(plan: Plan) -> tuple[list[Row], list[str]]:
    """Plain BatchNorm and Batch Renorm at each depth (first seed), calibration off."""
    depths = [3, 5] if plan.quick else [100, 200, 500]
    base = ["data.dataset=usps", "model.beta=auto", "train.calibrate_bn=0"]
    base.append("train.epochs=1" if plan.quick else "train.epochs=20")
    base += ["data.train_subset=300"] if plan.quick else []
    norms = {"BatchNorm": "batch", "Batch Renorm": "batch_renorm"}
    rows = [
        Row(f"{label} d={d}", "proposed", [f"model.norm={n}", f"model.depth={d}"],
            tags=dict(norm=label, depth=d), cost=d, seeds=plan.seeds[:1])
        for label, n in norms.items()
        for d in depths
    ]  # fmt: skip
    return rows, base


def remedies(run, batchnorm: bool) -> list[str]:
    """Train / test error % of a run's final weights in eval mode: as trained, and for
    BatchNorm with precise BN, the layer-wise calibration and each batch's own statistics."""
    from plainnet.app.build import init_model, make_data
    from plainnet.engine.loop import evaluate
    from plainnet.nn.norms import precise_bn_, recalibrate_

    cfg = run.config()
    data = make_data(cfg)
    net, _ = init_model(cfg, data)
    net.load_state_dict(run.load_checkpoint()["model"])
    net.eval()

    def errors(net) -> str:
        return " / ".join(
            f"{100 * evaluate(net, data.eval_batches(s)).error:.2f}" for s in ("train", "test")
        )

    if not batchnorm:
        return [errors(net), "—", "—", "—"]
    ref = errors(with_batch_statistics(net))
    precise = errors(precise_bn_(net, data.x_train))
    return [errors(net), precise, errors(recalibrate_(net, data.x_train[:CALIBRATION])), ref]


def with_batch_statistics(net: nn.Module) -> nn.Module:
    """A copy of `net` whose BatchNorm layers normalize with each batch's own statistics in
    eval mode too (no running statistics), as a reference that is no remedy: a prediction
    would depend on the other inputs of its batch."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean = m.running_var = None
            m.track_running_stats = False
    return net
