"""The paper's experiments as one-command reproductions, written as Markdown + PNG.

Every recipe is a grid of configs (rows) x seeds trained with `plainnet.train`; the results
go to `<out>/<name>.md` with the exact command, machine, date and wall time, beside the
paper's numbers where it gives them. Sizes the paper does not give (width, beta, c, optimizer,
epochs) are plainnet's defaults (docs/defaults.md) unless a recipe says otherwise.
"""

import io
import multiprocessing
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from plainnet.config import resolve
from plainnet.runs import RunDir
from plainnet.train import TrainingDiverged, train

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


@dataclass
class Row:
    label: str
    preset: str | None
    overrides: list[str]


@dataclass
class RowResult:
    row: Row
    summaries: list[dict]  # of the runs that finished
    runs: list[RunDir]  # every run folder, diverged ones included
    diverged: int = 0  # runs stopped by a NaN/inf loss (counted as failures, not averaged)

    def stat(self, key: str) -> tuple[float, float]:
        v = [100 * s[key] for s in self.summaries]
        return statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0

    def max_unit_norm(self) -> str:
        """The largest hidden ||w_j|| at the end, over seeds: at c, max-norm was binding."""
        norms = [s["hidden_unit_norm_max"] for s in self.summaries]
        return f"{max(norms):.2f}" if norms else "—"

    def cell(self, key: str) -> str:
        if not self.summaries:
            return f"diverged ({self.diverged}/{self.diverged})"
        m, sd = self.stat(key)
        runs = self.diverged + len(self.summaries)
        return f"{m:.2f} ± {sd:.2f}" + (
            f" ({self.diverged}/{runs} diverged)" if self.diverged else ""
        )


def run_grid(
    rows: list[Row], seeds: list[int], base: list[str], out: str, log=print, jobs: int = 1
) -> list[RowResult]:
    """Train every row for every seed; each run is an ordinary run folder under `out`.

    With `jobs` > 1 that many runs train at once, in worker processes that share the CPU
    threads out between them: on 2 CPU cores a grid of 100-layer MLPs finishes 1.5x sooner
    with 2 jobs (docs/performance.md). A run's numbers depend on its thread count (kernels
    sum in another order), not on `jobs` itself: the same threads give the same results.
    """
    results = [RowResult(row, [], []) for row in rows]
    work = []  # (row result, seed, config, run folder), in table order
    for result in results:
        row = result.row
        for seed in seeds:
            name = f"{row.label}-s{seed}".replace(" ", "_").replace("/", "_")
            cfg = resolve(
                row.preset,
                None,
                [
                    *base,
                    *row.overrides,
                    f"train.seed={seed}",
                    f"run.out_dir={out}",
                    f"run.name={name}",
                ],
            )
            run = RunDir.create(cfg)
            result.runs.append(run)
            work.append((result, seed, cfg, run))

    outcomes: dict[int, dict | str] = {}

    def done(i: int, outcome: dict | str) -> None:
        outcomes[i] = outcome
        result, seed = work[i][:2]
        if isinstance(outcome, str):
            log(f"{result.row.label} seed {seed}: diverged ({outcome})")
        else:
            log(
                f"{result.row.label} seed {seed}: train {outcome['final_train_err']:.2%} "
                f"test {outcome['final_test_err']:.2%} ({outcome['train_time_s']:.0f} s)"
            )

    if jobs <= 1:
        for i, (_, _, cfg, run) in enumerate(work):
            done(i, _train_one(cfg, run.path))
    else:
        threads = max(1, torch.get_num_threads() // jobs)
        spawn = multiprocessing.get_context("spawn")  # no fork of a process holding torch
        with ProcessPoolExecutor(jobs, spawn, _init_worker, (threads,)) as pool:
            futures = {pool.submit(_train_one, w[2], w[3].path): i for i, w in enumerate(work)}
            try:
                for f in as_completed(futures):
                    done(futures[f], f.result())
            except BaseException:  # a bad config, Ctrl-C: do not start the rest of the grid
                pool.shutdown(cancel_futures=True)
                raise
    for i, (result, *_) in enumerate(work):  # in table order, whatever finished first
        if isinstance(outcomes[i], str):
            result.diverged += 1
        else:
            result.summaries.append(outcomes[i])
    return results


def _train_one(cfg, path: Path) -> dict | str:
    """One grid run: its summary, or why it diverged."""
    try:
        return train(cfg, RunDir(path), console=Console(file=io.StringIO())).summary
    except TrainingDiverged as e:
        return str(e)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as the CLI does: a vanishing net's denormals are slow


def grid_table(results: list[RowResult]) -> str:
    lines = [
        "| row | seeds | train error % (eval mode) | test error % | best-epoch test error % |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.row.label} | {len(r.summaries)} | {r.cell('final_train_err')} | "
            f"{r.cell('final_test_err')} | {r.cell('best_test_err')} |"
        )
    return "\n".join(lines) + "\n"


def learning_curves(results: list[RowResult], path: Path, title: str) -> Path:
    """Test error per epoch, mean over seeds, one line per row."""
    import numpy as np

    from plainnet.plots import plt, save

    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        curves = [[m["test_err"] * 100 for m in run.read_metrics()] for run in r.runs]
        curves = [c for c in curves if c]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        mean = np.mean([c[:n] for c in curves], axis=0)
        ax.plot(range(1, n + 1), mean, label=r.row.label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error % (mean over seeds)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)


def write_report(out: Path, name: str, title: str, started: float, body: str) -> Path:
    """`<out>/<name>.md`: the title, the exact command, machine, date and wall time, the body."""
    gpu = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    text = (
        f"# {title}\n\n"
        f"Command: `{' '.join(['plainnet', *sys.argv[1:]])}`\n\n"
        f"Machine: {platform.machine()}, {torch.get_num_threads()} CPU threads, {gpu}; "
        f"torch {torch.__version__}. Date: {time.strftime('%Y-%m-%d')}. "
        f"Wall time: {(time.perf_counter() - started) / 60:.1f} min.\n\n{body}"
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.md"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- recipes


RUNS = Path("runs/reproduce")  # run folders (checkpoints) stay out of the results folder
QUICK = " (quick smoke variant, not a result)"


def table1(out: Path, quick: bool, seeds: list[int], log=print, jobs: int = 1) -> Path:
    """The paper's ablation: 100-layer MLP on USPS, every subset of BN / LReLU / max-norm."""
    base = ["data.dataset=usps", "model.depth=100", "train.epochs=20"]
    if quick:
        base = ["data.dataset=usps", "model.depth=10", "train.epochs=2", "data.train_subset=1000"]
    rows = [Row(p, p, []) for p in PAPER_TABLE1]
    t0 = time.perf_counter()
    name = "table1-quick" if quick else "table1"
    results = run_grid(rows, seeds, base, str(RUNS / name), log, jobs)
    lines = [
        "| row | paper train % | paper test % | ours train % | ours test % | ours best test % "
        "| max unit norm |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        paper = PAPER_TABLE1[r.row.label]
        p_tr, p_te = (f"{paper[0]:.2f}", f"{paper[1]:.2f}") if paper else ("—", "—")
        lines.append(
            f"| {r.row.label} | {p_tr} | {p_te} | {r.cell('final_train_err')} | "
            f"{r.cell('final_test_err')} | {r.cell('best_test_err')} | {r.max_unit_norm()} |"
        )
    plot = learning_curves(results, out / f"{name}.png", "Table 1 ablation, USPS")
    body = (
        f"Settings: {' '.join(base)}, seeds {seeds}; everything else is the default config "
        "(`plainnet config show`). Ours: mean ± std over seeds of the final model (eval mode). "
        "Max unit norm: the largest hidden-unit ||w_j|| after training over all seeds; the "
        f"max-norm rows use c = {resolve().max_norm.c:g}, so a value at c means it was binding.\n\n"
        + "\n".join(lines)
        + f"\n\n![learning curves]({plot.name})\n"
    )
    return write_report(out, name, "Table 1: ablation on USPS" + QUICK * quick, t0, body)


ABLATION3 = ("naive", "bn", "proposed")


def activations(out: Path, quick: bool, seeds: list[int], log=print, jobs: int = 1) -> Path:
    """The paper's investigation figures: naive vs BN vs proposed, 100 layers, at init and
    after training, on COIL-20, USPS (and digits): normalized mean activation over depth,
    layer-50 / layer-99 heatmaps over the whole training set, condition number over depth."""
    from plainnet.probe import probe_config, save_probes

    t0 = time.perf_counter()
    name = "activations-quick" if quick else "activations"
    epochs = {"coil20": 30, "usps": 20, "digits": 40}
    lines = [
        "| data | net | state | test error % | NMA at last layer | cond. number at last layer "
        "| effective rank at last layer | dead units at last layer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sections = []
    for ds in ("coil20", "usps", "digits"):
        base = [f"data.dataset={ds}", "model.depth=100", f"train.epochs={epochs[ds]}"]
        if quick:
            base = [
                f"data.dataset={ds}",
                "model.depth=10",
                "train.epochs=1",
                "data.train_subset=300",
            ]
        seed = seeds[0]
        rows = [Row(p, p, []) for p in ABLATION3]
        trained = run_grid(rows, [seed], base, str(RUNS / name / ds), log, jobs)
        for state in ("init", "trained"):
            results, errs = {}, {}
            for row, res in zip(rows, trained, strict=True):
                trained_run = res.runs[0] if state == "trained" else None
                if trained_run is not None and not res.summaries:  # diverged: nothing to probe
                    continue
                results[row.label] = probe_config(res.runs[0].config(), trained_run)
                errs[row.label] = res.summaries[0]["final_test_err"] if trained_run else None
            folder = out / name / f"{ds}-{state}"
            save_probes(results, folder, sorted({k for r in results.values() for k in r.kept}))
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
        f"Networks: {', '.join(ABLATION3)} presets, seed {seeds[0]}, `{base[1]}`, epochs per "
        f"data set {epochs}, defaults otherwise (e.g. width 128). Naive nets whose training "
        "diverged have no trained probe. Probe: batch statistics, the whole training split "
        "(COIL-20: the 1,152 training images of the default split); definitions in "
        "docs/probe.md.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(sections)
    )
    return write_report(out, name, "The paper's activation figures" + QUICK * quick, t0, body)


def depth(out: Path, quick: bool, seeds: list[int], log=print, jobs: int = 1) -> Path:
    """Error versus depth on USPS for naive, BN-only and proposed (the paper's Fig. 2 analogue)."""
    from plainnet.plots import plt, save

    depths = [3, 5] if quick else [10, 20, 50, 100, 200]
    base = ["data.dataset=usps", "train.epochs=20"]
    if quick:
        base = ["data.dataset=usps", "train.epochs=1", "data.train_subset=300"]
    name = "depth-quick" if quick else "depth"
    rows = [Row(f"{p} d={d}", p, [f"model.depth={d}"]) for p in ABLATION3 for d in depths]
    t0 = time.perf_counter()
    results = run_grid(rows, seeds, base, str(RUNS / name), log, jobs)
    by = {(r.row.preset, int(r.row.overrides[0].split("=")[1])): r for r in results}
    lines = ["| net | " + " | ".join(f"depth {d}" for d in depths) + " |"]
    lines.append("|---|" + "---|" * len(depths))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for p in ABLATION3:
        cells = [
            f"{by[p, d].cell('final_train_err')} / {by[p, d].cell('final_test_err')}"
            for d in depths
        ]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
        for ax, key in zip(axes, ("final_train_err", "final_test_err"), strict=True):
            pts = [(d, by[p, d].stat(key)[0]) for d in depths if by[p, d].summaries]
            ax.plot(*zip(*pts, strict=True), marker="o", label=p)
    for ax, title in zip(axes, ("train error % (eval mode)", "test error %"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("depth (weight layers)")
        ax.set_ylabel(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    plot = save(fig, out / f"{name}.png")
    body = (
        f"Settings: {' '.join(base)}, seeds {seeds}; defaults otherwise. Cells: train / test "
        "error %, mean ± std over seeds (final model, eval mode).\n\n"
        + "\n".join(lines)
        + f"\n\n![error versus depth]({plot.name})\n"
    )
    return write_report(out, name, "Error versus depth on USPS" + QUICK * quick, t0, body)


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


def table2(
    out: Path,
    quick: bool,
    seeds: list[int],
    log=print,
    epochs: int = 164,
    train_subset: int = 0,
    jobs: int = 1,
) -> Path:
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
    if quick:
        epochs, train_subset = 1, 256
        rows = [replace_depth(r) for r in rows]
    base = [*CIFAR_PROTOCOL, f"train.epochs={epochs}"]
    if train_subset:
        base.append(f"data.train_subset={train_subset}")
    short = quick or epochs < 164 or train_subset
    name = "table2-quick" if quick else ("table2-short" if short else "table2")
    t0 = time.perf_counter()
    results = run_grid(rows, seeds, base, str(RUNS / name), log, jobs)
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
    plot = learning_curves(results, out / f"{name}.png", "CIFAR-10")
    label = ""
    if short:
        label = (
            f" — SHORTENED RUN ({epochs} epochs"
            + (f", {train_subset} training images" if train_subset else "")
            + "): shows the pipeline and the relative order only, not the paper's protocol"
        )
    body = (
        f"Protocol: {' '.join(base)}; seeds {seeds}. PlainNet rows use their presets "
        "(proposed: BN + Leaky ReLU beta 0.5 + max-norm c 4 + He-uniform; BN: BN + ReLU). "
        "**Data: `cifar10.npz` in ../shared/data is decoded from lossy JPEG copies (quality "
        "75); expect errors 2-3 points above the official CIFAR-10's.**\n\n"
        + "\n".join(lines)
        + f"\n\n![learning curves]({plot.name})\n"
    )
    return write_report(out, name, f"Table 2: CIFAR-10{label}", t0, body)


def replace_depth(row: Row) -> Row:
    """The quick variant's shallow stand-ins (the smallest depths of each family)."""
    arch = row.overrides[0]
    depth = "model.depth=8" if arch.endswith("resnet") else "model.depth=5"
    return Row(row.label, row.preset, [arch, depth])
