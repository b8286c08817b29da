"""Grids of runs: rows of config overrides x seeds, trained with `plainnet.app.trainer`.

A failed run is a result, not an omission: runs stopped by a NaN/inf loss are counted per
row (`RowResult.diverged`), shown in every table cell and drawn in every figure, and their
run folders are kept. With `jobs` > 1 several runs train at once in worker processes.
"""

import io
import multiprocessing
import statistics
import textwrap
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from plainnet.app.build import with_numbers
from plainnet.app.config import Config, ConfigError, resolve
from plainnet.app.notes import show_warnings_as_notes
from plainnet.app.runs import RunDir, RunError
from plainnet.app.trainer import TrainingDiverged, train
from plainnet.errors import PlainnetError


@dataclass
class Row:
    """One row of a grid: a preset and overrides, and typed `tags` a recipe reads back
    (e.g. `{"net": "proposed", "depth": 200}`) instead of parsing the overrides."""

    label: str
    preset: str | list[str] | None  # several apply in order
    overrides: list[str]
    tags: dict[str, Any] = field(default_factory=dict)
    cost: float = 1.0  # relative run time: with jobs > 1 the costliest runs start first
    seeds: list[int] | None = None  # this row's seeds, if not the grid's


@dataclass
class RowResult:
    row: Row
    summaries: list[dict]  # of the runs that finished
    runs: list[RunDir]  # every run folder, diverged ones included
    # runs stopped by a NaN/inf loss or unable to train (counted as failures, not averaged)
    diverged: int = 0
    reasons: list[str] = field(default_factory=list)  # why each of them stopped
    # outcomes (summary, or why it failed) of runs a resumed grid found in its folder
    read_back: list[dict | str] = field(default_factory=list)

    @property
    def failure(self) -> str:
        """How this row's unfinished runs ended: "diverged" (NaN/inf), else "failed"."""
        return "diverged" if all(r.startswith("diverged") for r in self.reasons) else "failed"

    def values(self, key: str) -> list[float]:
        return [100 * s[key] for s in self.summaries if s.get(key) is not None]

    def stat(self, key: str) -> tuple[float, float]:
        v = self.values(key)
        return statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0

    def max_unit_norm(self) -> str:
        """The largest hidden ||w_j|| at the end, over seeds: at c, max-norm was binding."""
        norms = [s["hidden_unit_norm_max"] for s in self.summaries]
        return f"{max(norms):.2f}" if norms else "—"

    def cell(self, key: str) -> str:
        """Mean ± std over the finished seeds (or "(1 seed)"), with the diverged count."""
        runs = self.diverged + len(self.summaries)
        if not self.summaries:
            return f"{self.failure} ({self.diverged}/{runs})"
        v = self.values(key)
        if not v:
            return "—"
        m, sd = self.stat(key)
        text = f"{m:.2f} ± {sd:.2f}" if len(v) > 1 else f"{m:.2f} (1 seed)"
        return text + (f" ({self.diverged}/{runs} {self.failure})" if self.diverged else "")


def run_grid(
    rows: list[Row],
    seeds: list[int],
    base: list[str],
    out: str,
    log=print,
    jobs: int = 1,
    config_file: str | None = None,
    overrides: list[str] = (),
    resume: bool = False,
) -> list[RowResult]:
    """Train every row for every seed; each run is an ordinary run folder under `out`.

    A run's config: the row's preset < `base` (the grid's settings) < `config_file` <
    `overrides` (the user's) < the row's own overrides and seed.

    With `jobs` > 1 that many runs train at once, in worker processes that share the CPU
    threads out between them (docs/performance.md), costliest first so that no long run is
    left alone at the end. A run's numbers depend on its thread count (kernels sum in another
    order), not on `jobs` itself: the same threads give the same results.

    With `resume`, a run whose folder in `out` holds its config (whatever its name) is not trained
    again: a finished one (or one that diverged) is read back, an interrupted one continues
    from its last checkpoint, as `plainnet train --resume` would. So a grid stopped halfway,
    or rerun to redraw its report with newer code, trains only what is missing.
    """
    results = [RowResult(row, [], []) for row in rows]
    planned = []  # (row result, seed, config), in table order
    for result in results:
        row = result.row
        for seed in row.seeds if row.seeds is not None else seeds:
            name = f"{row.label}-s{seed}".replace(" ", "_").replace("/", "_")
            mine = [*overrides, *row.overrides, f"train.seed={seed}"]
            where = [f"run.out_dir={out}", f"run.name={name}"]
            try:
                cfg = resolve(row.preset, config_file, [*mine, *where], base)
            except ConfigError as e:
                raise ConfigError(f"row {row.label!r}: {e}") from None
            planned.append((result, seed, cfg))
    outcomes: dict[int, dict | str] = {}
    earlier = _earlier_runs(Path(out)) if resume else {}
    work = []  # (row result, seed, config, run folder, resumed): once every row is valid
    for result, seed, cfg in planned:
        found, outcome = earlier.get(_key(cfg), (None, None))
        if outcome is not None:  # finished or failed before: read back, not trained
            result.read_back.append(outcome)
            outcomes[len(work)] = outcome
        run = found or RunDir.create(cfg)
        result.runs.append(run)
        work.append((result, seed, cfg, run, found is not None))

    def done(i: int, outcome: dict | str) -> None:
        outcomes[i] = outcome
        result, seed = work[i][:2]
        if isinstance(outcome, str):
            log(f"{result.row.label} seed {seed}: {outcome}")
        else:
            val = outcome.get("final_val_err")
            log(
                f"{result.row.label} seed {seed}: train {outcome['final_train_err']:.2%}"
                + (f" val {val:.2%}" if val is not None else "")
                + f" test {outcome['final_test_err']:.2%} ({outcome['train_time_s']:.0f} s)"
            )

    for i in sorted(outcomes):
        log(f"read back {work[i][3].path}")
        done(i, outcomes[i])
    todo = [i for i in range(len(work)) if i not in outcomes]
    if jobs <= 1:
        for i in todo:
            done(i, _train_one(*work[i][2:]))
    else:
        threads = max(1, torch.get_num_threads() // jobs)
        spawn = multiprocessing.get_context("spawn")  # no fork of a process holding torch
        order = sorted(todo, key=lambda i: -work[i][0].row.cost)
        with ProcessPoolExecutor(jobs, spawn, _init_worker, (threads,)) as pool:
            futures = {pool.submit(_train_one, *work[i][2:]): i for i in order}
            try:
                for f in as_completed(futures):
                    done(futures[f], f.result())
            except BaseException:  # Ctrl-C, SIGTERM: stop the running runs too, at once
                workers = list(getattr(pool, "_processes", {}).values())
                for p in workers:
                    p.terminate()  # SIGTERM: each run names its folder, resumable
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    for i, (result, *_) in enumerate(work):  # in table order, whatever finished first
        if isinstance(outcomes[i], str):
            result.diverged += 1
            result.reasons.append(outcomes[i])
        else:
            result.summaries.append(outcomes[i])
    return results


def _train_one(cfg, run: RunDir, resume: bool = False) -> dict | str:
    """One grid run: its summary, or why it failed ("diverged: ..." or "failed: ...": a
    run that cannot train, e.g. its data split is empty, is a result of the grid too),
    which its folder keeps (`failed.txt`) for a resumed grid."""
    try:
        return train(cfg, run, resume, console=Console(file=io.StringIO())).summary
    except TrainingDiverged as e:
        reason = f"diverged: {e}"
    except PlainnetError as e:
        reason = f"failed: {e}"
    run.write_failure(reason)
    return reason


def _key(cfg: Config) -> str:
    """What identifies a run: its resolved config ("auto"s as numbers, as its folder has it),
    less where it lives and what it is called (`run.out_dir`, `run.name`): a grid's folder
    may have been moved or copied (e.g. into docs/), a row relabelled, or a run made by
    `plainnet train` gathered into a grid to be drawn with others."""
    cfg = with_numbers(cfg)
    where = dict(out_dir="", name="")
    return cfg.model_copy(update=dict(run=cfg.run.model_copy(update=where))).to_toml()


def _earlier_runs(out: Path) -> dict[str, tuple[RunDir, dict | str | None]]:
    """The run folders in `out` by config: each with its summary, its failure, or None when
    it was interrupted and has a checkpoint to continue from. Of several folders with one
    config the most advanced wins (finished, then failed, then the newest interrupted)."""
    found: dict[str, tuple[int, str, RunDir, dict | str | None]] = {}
    for path in sorted(out.glob("*/config.toml")):
        run = RunDir(path.parent)
        try:
            key = _key(run.config())
            if run.summary_path.is_file():
                rank, outcome = 3, run.read_summary()
            elif run.failure_path.is_file():
                rank, outcome = 2, run.failure_path.read_text().strip()
            elif run.checkpoint_path.is_file():
                rank, outcome = 1, None
            else:
                continue  # stopped before its first checkpoint: trained again, in a new folder
        except (RunError, ConfigError):
            continue  # not a run of this grid's making: left alone
        if key not in found or (rank, path.parent.name) > found[key][:2]:
            found[key] = (rank, path.parent.name, run, outcome)
    return {key: (run, outcome) for key, (_, _, run, outcome) in found.items()}


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    # a spawned worker starts without the command's handling of warnings
    show_warnings_as_notes()


def grid_table(results: list[RowResult]) -> str:
    has_val = any(s.get("final_val_err") is not None for r in results for s in r.summaries)
    cols = ["train error % (final, eval mode)"]
    keys = ["final_train_err"]
    if has_val:
        cols.append("val error % (final)")
        keys.append("final_val_err")
    cols += ["test error % (final)", "test error % (best epoch, selected on val)"]
    keys += ["final_test_err", "best_test_err"]
    if not has_val:
        cols[-1] = "test error % (best epoch, selected on test: optimistic)"
    lines = ["| row | runs | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for r in results:
        cells = " | ".join(r.cell(k) for k in keys)
        lines.append(f"| {r.row.label} | {len(r.runs)} | {cells} |")
    return "\n".join(lines) + "\n"


def diverged_list(results: list[RowResult]) -> str:
    """A report's list of the runs that diverged or failed and why (empty when none did)."""
    reasons = [f"- {r.row.label}: {reason}" for r in results for reason in r.reasons]
    return "\nRuns that did not finish:\n\n" + "\n".join(reasons) + "\n" if reasons else ""


LINESTYLES = ["-", "--", ":", "-."]


def learning_curves(results: list[RowResult], path: Path, title: str) -> Path:
    """Per-epoch error of every run on the selection split (validation, else test), one
    colour per row and one line style per seed; diverged runs end in an x and say so."""
    from plainnet.app.plots import colours, drawn_before, figure, log_if_wide, save

    fig, ax = figure(figsize=(9, 5.5))
    cfgs = {run.path: run.config() for r in results for run in r.runs}
    seeds = sorted({c.train.seed for c in cfgs.values()})
    split = "test"
    drawn: dict[tuple, str] = {}  # a curve's values -> the first label drawn with them
    for r, colour in zip(results, colours([r.row.label for r in results]), strict=True):
        for j, run in enumerate(r.runs):
            rows = run.read_metrics()
            if rows and rows[0].get("val_err") is not None:
                split = "val"
            ys = [100 * m[f"{split}_err"] for m in rows if m.get(f"{split}_err") is not None]
            failed = not run.summary_path.exists()
            label = r.row.label if j == 0 else None
            if failed:
                seed = cfgs[run.path].train.seed
                when = f"after {len(ys)} epochs" if ys else "in epoch 1, drawn at 100%"
                label = f"{r.row.label} (seed {seed}: diverged {when})"
            if not ys:  # diverged before its first evaluation: an x at the top of epoch 1
                ax.plot([1], [100], color=colour, marker="x", ms=9, ls="none", label=label)
                continue
            xs = range(1, len(ys) + 1)
            marker = None
            if twin := drawn_before(drawn, ys, r.row.label):  # say so, and show both
                label, marker = f"{label or r.row.label} (identical to {twin})", "o"
            style = LINESTYLES[seeds.index(cfgs[run.path].train.seed) % 4]
            ax.plot(xs, ys, color=colour, ls=style, lw=1.2, label=label,
                    marker=marker, ms=4, mfc="none")  # fmt: skip
            if failed:
                ax.plot(xs[-1], ys[-1], color=colour, marker="x", ms=9)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    scale = log_if_wide(ax)
    ax.set_ylabel(f"{'validation' if split == 'val' else 'test'} error %{scale}")
    data = ", ".join(sorted({c.data.dataset for c in cfgs.values()}))
    depths = "/".join(str(d) for d in sorted({c.model.depth for c in cfgs.values()}))
    # a long settings line wraps rather than running off the figure's edge
    ax.set_title(f"{textwrap.fill(title, 110)}\n{data}, {depths} layers, trained", fontsize=9)
    ax.grid(True, alpha=0.3)
    for j, seed in enumerate(seeds if len(seeds) > 1 else []):  # which line style is which
        ax.plot([], [], color="0.4", ls=LINESTYLES[j % 4], label=f"seed {seed}")
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)
