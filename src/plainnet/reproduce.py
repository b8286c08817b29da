"""The paper's experiments as one-command reproductions, written as Markdown + PNG.

Every recipe is a grid of configs (rows) x seeds trained with `plainnet.train`; the results
go to `<out>/<name>.md` with the exact command, machine, date and wall time, beside the
paper's numbers where it gives them. Sizes the paper does not give (width, beta, c, optimizer,
epochs) are plainnet's defaults (docs/defaults.md) unless a recipe says otherwise.
"""

import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from plainnet.config import ConfigError, resolve
from plainnet.correlation import resolve_beta
from plainnet.grid import Row, RowResult, diverged_list, grid_table, learning_curves, run_grid

RUNS = Path("runs/reproduce")  # run folders (checkpoints) stay out of the results folder
QUICK = " (quick smoke variant, not a result)"

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


# The 100-layer USPS protocol, chosen on the validation split (docs/defaults.md): 60 epochs,
# SGD lr 0.05 (momentum 0.9, cosine), batch 128; everything else the defaults.
USPS100_PROTOCOL = ["data.dataset=usps", "model.depth=100", "train.epochs=60", "optim.lr=0.05"]


@dataclass
class Plan:
    """How a recipe runs: where its report goes, the seeds, runs trained at once, and the
    user's own settings (`-c FILE`, `section.key=value`), applied on top of the recipe's base
    settings and under each row's own (see `plainnet.grid.run_grid`)."""

    out: Path
    quick: bool = False
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    jobs: int = 1
    config_file: str | None = None
    overrides: list[str] = field(default_factory=list)
    overwrite: bool = False
    log: Callable[[str], None] = print
    runs: Path = RUNS  # where the grid's run folders go
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        if self.quick:  # a smoke test of the pipeline: one seed is enough
            self.seeds = self.seeds[:1]

    def claim(self, name: str) -> str:
        """`name` (with "-quick" for the smoke variant), refusing to replace a report that
        exists unless asked, before any training starts."""
        name = f"{name}-quick" if self.quick else name
        if (self.out / f"{name}.md").exists() and not self.overwrite:
            raise ConfigError(f"{self.out / name}.md exists; pass --overwrite or another --out")
        return name

    def grid(self, rows: list[Row], base: list[str], folder: str) -> list[RowResult]:
        return run_grid(
            rows,
            self.seeds,
            base,
            str(self.runs / folder),
            self.log,
            self.jobs,
            self.config_file,
            self.overrides,
        )

    def settings(self, base: list[str]) -> str:
        """The settings every run shares, as the report states them."""
        mine = [f"-c {self.config_file}"] if self.config_file else []
        return " ".join([*base, *mine, *self.overrides])

    def report(self, name: str, title: str, body: str) -> Path:
        """`<out>/<name>.md`: the title, the exact command, machine, date, wall time, body."""
        gpu = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
        text = (
            f"# {title}{QUICK * self.quick}\n\n"
            f"Command: `{shlex.join(['plainnet', *sys.argv[1:]])}`\n\n"
            f"Machine: {platform.machine()}, {torch.get_num_threads()} CPU threads, {gpu}; "
            f"torch {torch.__version__}. Date: {time.strftime('%Y-%m-%d')}. "
            f"Wall time: {(time.perf_counter() - self.started) / 60:.1f} min.\n\n{body}"
        )
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{name}.md"
        path.write_text(text)
        return path


# ---------------------------------------------------------------- recipes


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


def table1(plan: Plan) -> Path:
    """The paper's ablation: 100-layer MLP on USPS, every subset of BN / LReLU / max-norm."""
    base = USPS100_PROTOCOL
    if plan.quick:
        base = ["data.dataset=usps", "model.depth=10", "train.epochs=2", "data.train_subset=1000"]
    rows = [Row(p, p, [], cost=2 if "bn" in p or p == "proposed" else 1) for p in PAPER_TABLE1]
    name = plan.claim("table1")
    results = plan.grid(rows, base, name)
    lines = [
        "| row | paper train % | paper test % | ours train % (eval mode) | ours val % "
        "| ours test % | ours test % (best val epoch) | max unit norm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        paper = PAPER_TABLE1[r.row.label]
        p_tr, p_te = (f"{paper[0]:.2f}", f"{paper[1]:.2f}") if paper else ("—", "—")
        lines.append(
            f"| {r.row.label} | {p_tr} | {p_te} | {r.cell('final_train_err')} | "
            f"{r.cell('final_val_err')} | {r.cell('final_test_err')} | "
            f"{r.cell('best_test_err')} | {r.max_unit_norm()} |"
        )
    plot = learning_curves(
        results, plan.out / f"{name}.png", f"Table 1 ablation, trained: {plan.settings(base)}"
    )
    body = (
        f"Settings: {plan.settings(base)}, seeds {plan.seeds}; everything else is the default "
        "config (`plainnet config show`). Ours: mean ± std over seeds of the final model "
        "(eval mode). "
        "Max unit norm: the largest hidden-unit ||w_j|| after training over all seeds; the "
        f"max-norm rows use c = {resolve().max_norm.c:g}, so a value at c means it was binding.\n\n"
        + "\n".join(lines)
        + f"\n\n![learning curves]({plot.name})\n"
    )
    return plan.report(name, "Table 1: ablation on USPS", body)


# The (beta x c) map of BN + Leaky ReLU at 100 layers; None: no max-norm.
COMPONENT_BETAS = ["0.01", "0.1", "0.2", "0.3", "0.5", "auto"]
COMPONENT_CS = [1.0, 2.0, 4.0, None]


def components(plan: Plan) -> Path:
    """Where each component matters: BN + Leaky ReLU at 100 layers on USPS over slope beta x
    max-norm bound c (eq. 2, or none), as a heatmap of validation error with the failed cells
    marked, beside each slope's gradient-norm ratio (first / last hidden layer) at init."""
    from plainnet.plots import plt, save
    from plainnet.probe import probe_config

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
        head = "| beta | " + " | ".join(c_names) + (" | gradient ratio at init |" if grad else " |")
        lines = [caption, "", head, "|---" * (len(c_names) + 1 + grad) + "|"]
        for b, bn, ratio in zip(COMPONENT_BETAS, beta_names, ratios, strict=True):
            cells = [by[b, c].cell(key) for c in COMPONENT_CS]
            lines.append(f"| {bn} | " + " | ".join(cells) + (f" | {ratio:.3g} |" if grad else " |"))
        return "\n".join(lines) + "\n"

    mean = np.full((len(COMPONENT_BETAS), len(COMPONENT_CS)), np.nan)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), width_ratios=[1.4, 1])
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


ABLATION3 = ("naive", "bn", "proposed")


def activations(plan: Plan) -> Path:
    """The paper's investigation figures: naive vs BN vs proposed, 100 layers, at init and
    after training, on COIL-20, USPS (and digits): normalized mean activation over depth,
    layer-50 / layer-99 heatmaps over the whole training set, condition number over depth."""
    from plainnet.probe import probe_config, save_probes

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


DEPTH_NETS = {  # label -> (preset, overrides)
    "naive": ("naive", []),
    "bn": ("bn", []),
    "proposed (beta 0.5)": ("proposed", ["model.beta=0.5"]),
    "proposed (beta auto)": ("proposed", ["model.beta=auto"]),
}


def depth(plan: Plan) -> Path:
    """Error versus depth on USPS, 10 to 1,000 layers: naive, BN-only, the proposed net with
    the fixed default slope and with the depth-aware slope (`model.beta = "auto"`).

    Depths above 200 train with the first seed only (a 1,000-layer epoch costs 10x a 100-layer
    one). Diverged runs are shown in the tables and figure, never dropped.
    """
    from plainnet.plots import plt, save

    quick, seeds = plan.quick, plan.seeds
    depths = [3, 5] if quick else [10, 50, 100, 200, 500, 1000]
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
        for net, (preset, extra) in DEPTH_NETS.items()
        for d in depths
    ]
    results = plan.grid(rows, base, name)
    by = {(r.row.tags["net"], r.row.tags["depth"]): r for r in results}

    def table(key: str, caption: str) -> str:
        head = "| net | " + " | ".join(f"depth {d}" for d in depths) + " |"
        lines = [f"{caption}\n", head, "|---|" + "---|" * len(depths)]
        for net in DEPTH_NETS:
            lines.append(f"| {net} | " + " | ".join(by[net, d].cell(key) for d in depths) + " |")
        return "\n".join(lines) + "\n"

    betas = " | ".join(f"{resolve_beta('auto', d):.4f}" for d in depths)
    beta_table = (
        "| depth | "
        + " | ".join(str(d) for d in depths)
        + " |\n"
        + "|---|"
        + "---|" * len(depths)
        + f"\n| beta (auto, eta 0.9) | {betas} |\n"
    )
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    panels = [
        ("final_test_err", "test error % (final model, eval mode)"),
        ("final_train_err", "train error % (final model, eval mode)"),
        ("final_running_train_err", "train error % (last epoch, train-mode BN)"),
    ]
    for k, net in enumerate(DEPTH_NETS):
        for ax, (key, _) in zip(axes, panels, strict=True):
            pts = [(d, by[net, d].stat(key)[0]) for d in depths if by[net, d].values(key)]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", color=f"C{k}", label=net)
            failed = [d for d in depths if by[net, d].diverged]
            ax.plot(failed, [100] * len(failed), "x", color=f"C{k}", ms=10, mew=2)
    for ax, (_, title) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_ylim(0, 102)
        ax.set_xlabel("depth (weight layers)")
        ax.set_ylabel(title)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"USPS, trained {epochs} epochs{' (quick smoke variant)' if quick else ''}; "
        "x at 100%: a run that diverged (NaN/inf)"
    )
    plot = save(fig, plan.out / f"{name}.png")
    body = (
        f"Settings: {plan.settings(base)}; seeds {seeds} up to depth 200, {seeds[:1]} above; "
        "defaults otherwise (width 128, SGD lr 0.02 cosine, c 4, batch 128; validation split "
        "10% of the training split). Cells: mean ± std over seeds, final model; a diverged run "
        "(NaN/inf loss) is counted in its cell, not averaged.\n\n"
        'The slopes `model.beta = "auto"` chose:\n\n'
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


# Table 2 of the paper (CIFAR-10 test error %), the rows we train.
PAPER_TABLE2 = {
    "PlainNet-50 (proposed)": 6.65,
    "PlainNet-BN-56": 15.00,
    "ResNet-56": 6.97,
    "ResNet-110": 6.43,
}
# He et al.'s CIFAR protocol: crop + flip, SGD momentum 0.9, wd 1e-4, batch 128, lr 0.1 divided
# by 10 at 50% and 75% of ~164 epochs.
CIFAR_PROTOCOL = [
    "data.dataset=cifar10",
    "data.augment=true",
    "optim.name=sgd",
    "optim.lr=0.1",
    "optim.momentum=0.9",
    "optim.weight_decay=1e-4",
    "train.batch_size=128",
    "schedule.name=multistep",
    "schedule.milestones=[0.5, 0.75]",
]


def table2(plan: Plan, epochs: int = 164, train_subset: int = 0) -> Path:
    """CIFAR-10: the 50-layer PlainNet against PlainNet-BN-56 and ResNet-56/110.

    The full protocol is a GPU job (bf16 autocast and channels_last switch on by themselves on
    CUDA); on CPU, `epochs` and `train_subset` give a clearly labelled shortened run.
    """
    rows = [
        Row("PlainNet-50 (proposed)", "proposed", ["model.arch=cnn", "model.depth=50"]),
        Row("PlainNet-BN-56", "bn", ["model.arch=cnn", "model.depth=56"]),
        Row("ResNet-56", "bn", ["model.arch=resnet", "model.depth=56"]),
        Row("ResNet-110", "bn", ["model.arch=resnet", "model.depth=110"]),
    ]
    if plan.quick:
        epochs, train_subset = 1, 256
        rows = [replace_depth(r) for r in rows]
    base = [*CIFAR_PROTOCOL, f"train.epochs={epochs}"]
    if train_subset:
        base.append(f"data.train_subset={train_subset}")
    short = plan.quick or epochs < 164 or train_subset
    name = plan.claim("table2-short" if short and not plan.quick else "table2")
    results = plan.grid(rows, base, name)
    lines = [
        "| model | parameters | paper test % | ours test % | ours best test % | ours train % |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        params = f"{r.summaries[0]['parameters'] / 1e6:.2f}M" if r.summaries else "—"
        lines.append(
            f"| {r.row.label} | {params} | {PAPER_TABLE2[r.row.label]:.2f} | "
            f"{r.cell('final_test_err')} | {r.cell('best_test_err')} | "
            f"{r.cell('final_train_err')} |"
        )
    title = "CIFAR-10" + (" (SHORTENED run)" if short else "")
    plot = learning_curves(results, plan.out / f"{name}.png", title)
    label = ""
    if short:
        label = (
            f" — SHORTENED RUN ({epochs} epochs"
            + (f", {train_subset} training images" if train_subset else "")
            + "): shows the pipeline and the relative order only, not the paper's protocol"
        )
    body = (
        f"Protocol: {plan.settings(base)}; seeds {plan.seeds}. PlainNet rows use their presets "
        "(proposed: BN + Leaky ReLU beta 0.5 + max-norm c 4 + He-uniform; BN: BN + ReLU). "
        "**Data: the `cifar10.npz` used here is decoded from lossy JPEG copies (quality "
        "75); expect errors 2-3 points above the official CIFAR-10's.**\n\n"
        + "\n".join(lines)
        + f"\n\n![learning curves]({plot.name})\n"
    )
    return plan.report(name, f"Table 2: CIFAR-10{label}", body)


def replace_depth(row: Row) -> Row:
    """The quick variant's shallow stand-ins (the smallest depths of each family)."""
    arch = row.overrides[0]
    depth = "model.depth=8" if arch.endswith("resnet") else "model.depth=5"
    return Row(row.label, row.preset, [arch, depth])


def evalgap(plan: Plan) -> Path:
    """Eval mode against training for deep BatchNorm nets, and the remedies side by side.

    The proposed net with the depth-aware slope is trained with plain BatchNorm (no
    calibration) and, separately, with Batch Renormalization. The BatchNorm runs' final
    weights are then evaluated in eval mode with PyTorch's running averages, with "precise
    BN" (train-mode batch statistics averaged over the training split), and with the
    layer-by-layer calibration `train.calibrate_bn` does; and, as a reference that is no
    remedy (a prediction would depend on the other inputs), with each batch's own statistics.
    """
    from plainnet.build import init_model, make_data
    from plainnet.norms import precise_bn_, recalibrate_
    from plainnet.train import evaluate

    depths = [3, 5] if plan.quick else [100, 200, 500]
    base = ["data.dataset=usps", "model.beta=auto", "train.calibrate_bn=0"]
    base.append("train.epochs=1" if plan.quick else "train.epochs=20")
    if plan.quick:
        base.append("data.train_subset=300")
    name = plan.claim("evalgap")
    norms = {"BatchNorm": "batch", "Batch Renorm": "batch_renorm"}
    rows = [
        Row(f"{label} d={d}", "proposed", [f"model.norm={n}", f"model.depth={d}"],
            tags=dict(norm=label, depth=d), cost=d, seeds=plan.seeds[:1])
        for label, n in norms.items()
        for d in depths
    ]  # fmt: skip
    results = plan.grid(rows, base, name)

    def errors(net, data) -> str:
        return " / ".join(
            f"{100 * evaluate(net, data.eval_batches(s))[1]:.2f}" for s in ("train", "test")
        )

    @torch.no_grad()
    def batch_stats(net, data) -> str:  # train-mode BN on batches of 1,000 in stored order
        saved = {k: v.clone() for k, v in net.state_dict().items()}
        net.train()
        out = []
        for split in ("train", "test"):
            wrong = sum((net(x).argmax(1) != y).sum().item() for x, y in data.eval_batches(split))
            out.append(f"{100 * wrong / len(data.split(split)[1]):.2f}")
        net.load_state_dict(saved)
        net.eval()
        return " / ".join(out)

    lines = [
        "| net | depth | running train error % (train-mode BN) | running averages | precise BN "
        "| layer-wise calibration | batch statistics (reference, no remedy) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = ["diverged"] * 4
        if r.summaries:
            cfg = r.runs[0].config()
            data = make_data(cfg)
            net, _ = init_model(cfg, data)
            net.load_state_dict(r.runs[0].load_checkpoint()["model"])
            net.eval()
            cells = [errors(net, data)]
            if r.row.tags["norm"] == "BatchNorm":
                ref = batch_stats(net, data)
                cells.append(errors(precise_bn_(net, data.x_train), data))
                cells.append(errors(recalibrate_(net, data.x_train[:2048]), data))
                cells.append(ref)
            else:
                cells += ["—", "—", "—"]
        running = r.cell("final_running_train_err")
        lines.append(f"| {r.row.tags['norm']} | {r.row.tags['depth']} | {running} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    body = (
        f"Settings: {plan.settings(base)}, seed {plan.seeds[0]}; defaults otherwise. Cells: "
        "train / test error % of the same final weights, in eval mode with each way of setting "
        "BatchNorm's population statistics (Batch Renorm: its own running statistics). "
        "Layer-wise calibration uses the first 2,048 training samples.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    return plan.report(name, "Eval mode against training in deep BatchNorm nets", body)
