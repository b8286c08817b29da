"""Grids of runs: rows of config overrides x seeds, trained with `plainnet.app.trainer`.

A failed run is a result, not an omission: runs stopped by a NaN/inf loss are counted per
row (`RowResult.diverged`), shown in every table cell and drawn in every figure, and their
run folders are kept. With `jobs` > 1 several runs train at once in worker processes.
"""

import io
import multiprocessing
import os
import statistics
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from plainnet.app.build import with_numbers
from plainnet.app.config import Config, ConfigError, import_user_module, resolve, user_modules
from plainnet.app.notes import show_warnings_as_notes
from plainnet.app.runs import NEUTRAL, WHERE, RunDir, RunError, RunInUse, hold
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


def labelled_overrides(text: str) -> tuple[str, list[str]]:
    """`"LABEL: section.key=value ..."` -> (LABEL, overrides)."""
    label, colon, rest = text.partition(":")
    if not colon or not label.strip():
        raise ConfigError(f"{text!r} must look like 'LABEL: section.key=value ...'")
    return label.strip(), rest.split()


def split_values(text: str) -> list[str]:
    """`0.1,0.3` -> ["0.1", "0.3"]; commas inside brackets (TOML lists) do not split."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p.strip() for p in [*parts, cur] if p.strip()]


def sweep_rows(rows: list[str], vary: list[str], preset: str | None = None) -> list[Row]:
    """A sweep's rows: each labelled row (`"LABEL: key=value ..."`) times the cartesian
    product of the `vary` fields (`"section.key=v1,v2"`), all on `preset`."""
    grid: list[tuple[str, list[str]]] = [("", [])]
    for item in vary:
        key, eq, values = item.partition("=")
        if not eq or not values:
            raise ConfigError(f"--vary {item!r} must look like section.key=v1,v2")
        grid = [
            ((f"{label} " if label else "") + f"{key}={v}", [*ovr, f"{key}={v}"])
            for label, ovr in grid
            for v in split_values(values)
        ]
    named = [labelled_overrides(r) for r in rows] or [("", [])]
    return [
        Row(" ".join(x for x in (name, label) if x) or "defaults", preset, [*more, *ovr])
        for name, more in named
        for label, ovr in grid
    ]


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

    def has(self, key: str) -> bool:
        """Whether any finished run has `key` (e.g. `best_test_err`: only runs that kept a
        best epoch, `run.select` other than "final")."""
        return any(s.get(key) is not None for s in self.summaries)

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


def ranked(results: list[RowResult], key: str = "final_val_err") -> list[RowResult]:
    """The rows with `key` and no failed run, lowest mean first."""
    whole = [r for r in results if r.values(key) and not r.diverged]
    return sorted(whole, key=lambda r: r.stat(key)[0])


def winner(results: list[RowResult], key: str = "final_val_err") -> str:
    """A sentence naming the row of lowest mean `key` and saying whether its lead over the
    next row is larger than the seeds' spread (else this grid cannot tell the two apart)."""
    order = ranked(results, key)
    if not order:
        return "No row finished every seed with a validation error: no winner is named.\n"
    (best, *rest), what = order, key.removeprefix("final_").replace("_err", " error")
    m, sd = best.stat(key)
    text = f"Lowest mean {what}: **{best.row.label}** ({_mean_sd(best, key)})"
    if rest:
        m2, sd2 = rest[0].stat(key)
        if len(best.values(key)) < 2:
            verdict = "one seed, so no spread to judge the gap by"
        elif m2 - m <= max(sd, sd2):
            verdict = "within the seeds' spread: this grid does not tell the two apart"
        else:
            verdict = "more than the seeds' spread"
        after = f"{rest[0].row.label} ({_mean_sd(rest[0], key)})"
        text += f", {m2 - m:.2f} points ahead of {after}: {verdict}"
    return text + ".\n"


def _mean_sd(result: RowResult, key: str) -> str:
    m, sd = result.stat(key)
    return f"{m:.2f} ± {sd:.2f} %" if len(result.values(key)) > 1 else f"{m:.2f} %, one seed"


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
    backend=None,
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

    `backend`: what trains the runs, `backend(work, todo, jobs, done)`; default the process
    pool above (`train_in_processes`), or e.g. `plainnet.app.cluster.RayBackend`.
    """
    results = [RowResult(row, [], []) for row in rows]
    work = plan_runs(results, seeds, base, out, config_file, overrides)
    Path(out).mkdir(parents=True, exist_ok=True)
    beside = Path(out).parent / f".{Path(out).name}.lock"  # not among the run folders
    with hold(beside, f"the grid in {out}"):  # one process per grid
        outcomes = _claim_folders(work, Path(out), resume)
        for i in sorted(outcomes):
            log(f"read back {work[i].run.path}")
            _say(work[i], outcomes[i], log)
        todo = [i for i in range(len(work)) if i not in outcomes]

        def done(i: int, outcome: dict | str) -> None:
            outcomes[i] = outcome
            _say(work[i], outcome, log)

        (backend or train_in_processes)(work, todo, jobs, done)
    _collect(work, outcomes)
    return results


@dataclass
class Job:
    """One run of a grid: its row, seed and resolved config; its folder once claimed."""

    result: RowResult
    seed: int
    cfg: Config
    run: RunDir | None = None
    resumed: bool = False  # the folder is an earlier one, continued


def plan_runs(results, seeds, base, out, config_file=None, overrides=()) -> list[Job]:
    """Every row (of `results`) x seed with its resolved config, in table order; every row
    is checked before any folder exists."""
    work = []
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
            work.append(Job(result, seed, cfg))
    return work


def _claim_folders(work: list[Job], out: Path, resume: bool) -> dict[int, dict | str]:
    """Each run's folder: with `resume` an earlier one of the same config, else a new one.
    Returns the outcomes read back (finished or failed runs), by position in `work`."""
    earlier = _earlier_runs(out) if resume else {}
    outcomes: dict[int, dict | str] = {}
    for i, job in enumerate(work):
        found, outcome = earlier.get(_key(job.cfg), (None, None))
        if outcome is not None:  # finished or failed before: read back, not trained
            job.result.read_back.append(outcome)
            outcomes[i] = outcome
        job.run, job.resumed = found or RunDir.create(job.cfg), found is not None
        job.result.runs.append(job.run)
    return outcomes


def _say(job: Job, outcome: dict | str, log) -> None:
    """A run's line: its failure, or its final errors and time."""
    where = f"{job.result.row.label} seed {job.seed}"
    if isinstance(outcome, str):
        log(f"{where}: {outcome}")
        return
    val = outcome.get("final_val_err")
    log(
        f"{where}: train {outcome['final_train_err']:.2%}"
        + (f" val {val:.2%}" if val is not None else "")
        + f" test {outcome['final_test_err']:.2%} ({_seconds(outcome['train_time_s'])})"
    )


def _seconds(t: float) -> str:
    return f"{t:.1f} s" if t < 10 else f"{t:.0f} s"  # a quick run is not "0 s"


def train_in_processes(work: list[Job], todo: list[int], jobs: int | None, done) -> None:
    """Train the runs `todo` (positions in `work`), `jobs` at a time (None: 1) in worker
    processes of this machine; `done(i, outcome)` as each one ends."""
    if (jobs or 1) <= 1:
        for i in todo:
            done(i, train_one(work[i].cfg, work[i].run, work[i].resumed))
        return
    threads = max(1, torch.get_num_threads() // jobs)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding torch
    order = sorted(todo, key=lambda i: -work[i].result.row.cost)
    with ProcessPoolExecutor(jobs, spawn, _init_worker, (threads, user_modules())) as pool:
        args = {i: (work[i].cfg, work[i].run, work[i].resumed) for i in order}
        futures = {pool.submit(train_one, *args[i]): i for i in order}
        try:
            for f in as_completed(futures):
                try:
                    done(futures[f], f.result())
                except BrokenProcessPool:  # a worker killed from outside, e.g. out of memory
                    raise RunError(
                        f"a worker process died while training {work[futures[f]].run.path} "
                        "(killed, out of memory?); --resume continues the grid's runs"
                    ) from None
        except BaseException:  # Ctrl-C, SIGTERM: stop the running runs too, at once
            for p in list(getattr(pool, "_processes", {}).values()):
                p.terminate()  # SIGTERM: each run names its folder, resumable
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _collect(work: list[Job], outcomes: dict[int, dict | str]) -> None:
    """Each run's outcome into its row's result, in table order, whatever finished first."""
    for i, job in enumerate(work):
        if isinstance(outcomes[i], str) and outcomes[i].startswith(SKIPPED):
            continue  # another process's run: said when skipped, neither a result nor a failure
        if isinstance(outcomes[i], str):
            job.result.diverged += 1
            job.result.reasons.append(outcomes[i])
        else:
            job.result.summaries.append(outcomes[i])


SKIPPED = "skipped:"  # how a run held by another process is reported


def train_one(cfg, run: RunDir, resume: bool = False) -> dict | str:
    """One grid run: its summary, or why it failed ("diverged: ..." or "failed: ...": a
    run that cannot train, e.g. its data split is empty, is a result of the grid too),
    which its folder keeps (`failed.txt`) for a resumed grid."""
    try:
        return train(cfg, run, resume, console=Console(file=io.StringIO())).summary
    except RunInUse as e:  # another process trains it: not failed, left for a later resume
        return f"{SKIPPED} {e}; resume the grid once it is free"
    except TrainingDiverged as e:
        reason = f"diverged: {e}"
    except PlainnetError as e:
        reason = f"failed: {e}"
    run.write_failure(reason)
    return reason


def _key(cfg: Config) -> str:
    """What identifies a run: its resolved config ("auto"s as numbers, as its folder has it),
    less where it lives and what it is called (`WHERE`: a grid's folder may have been moved
    or copied, e.g. into docs/, a row relabelled, or a run made by `plainnet train` gathered
    into a grid to be drawn with others) and what changes none of its numbers (`NEUTRAL`)."""
    raw = with_numbers(cfg).model_dump()
    for name in WHERE | NEUTRAL:
        section, key = name.split(".")
        raw[section].pop(key)
    return repr(raw)


def _earlier_runs(out: Path) -> dict[str, tuple[RunDir, dict | str | None]]:
    """The run folders in `out` by config: each with its summary, its failure, or None when
    it was interrupted and has a checkpoint to continue from. Of several folders with one
    config the most advanced wins (finished, then failed, then the newest interrupted)."""
    found: dict[str, tuple[int, str, RunDir, dict | str | None]] = {}
    for path in sorted(out.glob("*/config.toml")):
        if path.parent.is_symlink():  # planted, or made elsewhere: never written through
            warnings.warn(f"{path.parent} is a symbolic link: left alone", stacklevel=2)
            continue
        run = RunDir(path.parent)
        try:
            key = _key(run.config())
            if run.summary_path.is_file() and (outcome := _summary_or_note(run)) is not None:
                rank = 3
            elif run.failure_path.is_file():
                rank, outcome = 2, run.failure_path.read_text().strip()
            elif run.checkpoint_path.is_file() or run.remote_path.is_file():
                rank, outcome = 1, None  # continued (a remote one where its checkpoint is)
            else:
                continue  # stopped before its first checkpoint: trained again, in a new folder
        except (RunError, ConfigError):
            continue  # not a run of this grid's making: left alone
        if key not in found or (rank, path.parent.name) > found[key][:2]:
            found[key] = (rank, path.parent.name, run, outcome)
    return {key: (run, outcome) for key, (_, _, run, outcome) in found.items()}


def _summary_or_note(run: RunDir) -> dict | None:
    """The run's checked summary, or None after one line saying why it is not used (the run
    is then continued from its checkpoint, which rewrites the summary)."""
    try:
        return run.read_summary()
    except RunError as e:
        warnings.warn(f"{e}; not read back: continued from its checkpoint", stacklevel=2)
        return None


def _init_worker(threads: int, modules: list[str]) -> None:
    _die_with_parent()
    worker_setup(threads, modules)


def worker_setup(threads: int, modules: list[str]) -> None:
    """A fresh worker process (the pool's, a Ray task's) as the grid's process: its thread
    count, warnings as notes, and the user modules the parent imported."""
    torch.set_num_threads(threads)
    # a spawned worker starts without the command's handling of warnings
    show_warnings_as_notes()
    for name in modules:  # what the parent imported (plainnet --import): the same registry
        try:
            import_user_module(name)
        except ValueError as e:  # e.g. imported from a folder the parent has left since
            warnings.warn(f"a worker process: {e}; its runs cannot use it", stacklevel=2)


def _die_with_parent() -> None:
    """A worker gets SIGTERM when the grid's process dies, even by SIGKILL (Linux), instead
    of training on, unseen, beside a later resume of the same runs."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's own cleanup still applies
        return
    if os.getppid() == 1:  # the parent died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def grid_table(results: list[RowResult]) -> str:
    has_val = any(r.has("final_val_err") for r in results)
    cols = ["train error % (final, eval mode)"]
    keys = ["final_train_err"]
    if has_val:
        cols.append("val error % (final)")
        keys.append("final_val_err")
    cols.append("test error % (final)")
    keys.append("final_test_err")
    if any(r.has("best_test_err") for r in results):  # beside the final model's, labelled
        on = "val" if has_val else "test: optimistic"
        cols.append(f"test error % (best epoch, selected on {on})")
        keys.append("best_test_err")
    lines = ["| row | runs | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for r in results:
        cells = " | ".join(r.cell(k) for k in keys)
        lines.append(f"| {r.row.label} | {len(r.runs)} | {cells} |")
    return "\n".join(lines) + "\n"


def diverged_list(results: list[RowResult]) -> str:
    """A report's list of the runs that diverged or failed and why (empty when none did)."""
    reasons = [f"- {r.row.label}: {reason}" for r in results for reason in r.reasons]
    return "\nRuns that did not finish:\n\n" + "\n".join(reasons) + "\n" if reasons else ""
