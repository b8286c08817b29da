"""How a recipe runs and reports: `Plan` (report folder, seeds, jobs, the user's settings), the
grid it trains (`plainnet.app.grid`), and the one table helper the recipes share."""

import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from plainnet.app.config import Config, ConfigError, resolve
from plainnet.app.grid import Row, RowResult, run_grid
from plainnet.app.runs import trained_on
from plainnet.files import write_atomic
from plainnet.nn import speed

QUICK = " (quick smoke variant, not a result)"


@dataclass
class Plan:
    """How a recipe runs: where its report goes, the seeds, runs trained at once, and the
    user's own settings (`-c FILE`, `section.key=value`), applied on top of the recipe's base
    settings and under each row's own (see `plainnet.app.grid.run_grid`)."""

    out: Path
    quick: bool = False
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    jobs: int | None = None  # runs at once: 1 in the process pool, as many as fit on Ray
    config_file: str | None = None
    overrides: list[str] = field(default_factory=list)
    overwrite: bool = False
    log: Callable[[str], None] = print
    # reuse the grid's finished runs and continue its interrupted ones (`run_grid`'s resume)
    resume: bool = False
    # where the grid's run folders (checkpoints) go, out of the report folder; default:
    # runs/reproduce under the current folder, resolved when the plan is made
    runs: Path | None = None
    backend: Callable | None = None  # what trains the runs (`run_grid`'s), e.g. `RayBackend`
    started: float = field(default_factory=time.perf_counter)
    reused: int = 0  # runs read back from earlier, not trained by this invocation
    reused_s: float = 0.0  # their training time, when they ran
    total: int = 0
    trained_on: set[str] = field(default_factory=set)  # the machines its runs trained on

    def __post_init__(self):
        self.runs = Path(self.runs or Path("runs") / "reproduce")
        if self.quick:  # a smoke test of the pipeline: one seed is enough
            self.seeds = self.seeds[:1]

    def claim(self, name: str) -> str:
        """`name` (with "-quick" for the smoke variant), refusing to replace a report that
        exists unless asked (`overwrite`, or `resume`: the report of the same grid, redrawn),
        before any training starts."""
        name = f"{name}-quick" if self.quick else name
        if (self.out / f"{name}.md").exists() and not (self.overwrite or self.resume):
            raise ConfigError(
                f"{self.out / name}.md exists; pass --resume (reuse its finished runs), "
                "--overwrite or another --out"
            )
        return name

    def grid(self, rows: list[Row], base: list[str], folder: str) -> list[RowResult]:
        results = run_grid(
            rows,
            self.seeds,
            base,
            str(self.runs / folder),
            self.log,
            self.jobs,
            self.config_file,
            self.overrides,
            self.resume,
            self.backend,
        )
        outcomes = [o for r in results for o in r.read_back]
        self.reused += len(outcomes)
        self.reused_s += sum(o["train_time_s"] for o in outcomes if isinstance(o, dict))
        self.total += sum(len(r.runs) for r in results)
        self.trained_on |= {trained_on(s) for r in results for s in r.summaries}
        return results

    def settings(self, base: list[str]) -> str:
        """The settings every run shares, as the report states them."""
        mine = [f"-c {self.config_file}"] if self.config_file else []
        return " ".join([*base, *mine, *self.overrides])

    def resolved(self, base: list[str], preset=None) -> Config:
        """The config a grid's runs start from: `preset` < `base` < the user's file and
        settings, as `run_grid` resolves each run's (less the row's own overrides)."""
        return resolve(preset, self.config_file, self.overrides, base)

    def values(self, base: list[str], keys: list[str], preset=None) -> str:
        """`section.key value, ...` of the resolved config (`resolved`): a report states what
        ran, never a default restated as prose that could go stale."""
        cfg = self.resolved(base, preset)
        return ", ".join(f"{k} {getattr(getattr(cfg, k.split('.')[0]), k.split('.')[1])}"
                         for k in keys)  # fmt: skip

    def report(self, name: str, title: str, body: str) -> Path:
        """`<out>/<name>.md`: the title, the exact command, machine, date, wall time, body."""
        gpu = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
        text = (
            f"# {title}{QUICK * self.quick}\n\n"
            f"Command: `{shlex.join(['plainnet', *sys.argv[1:]])}`\n\n"
            f"Machine: {platform.machine()} ({speed.cpu_instructions()}), "
            f"{torch.get_num_threads()} CPU threads, {gpu}; "
            f"torch {torch.__version__}. Date: {time.strftime('%Y-%m-%d')}. "
            f"Wall time: {(time.perf_counter() - self.started) / 60:.1f} min"
            + (
                f" ({self.reused} of {self.total} runs read back from an earlier invocation "
                f"with --resume, not trained again; their training took "
                f"{self.reused_s / 60:.1f} min when they ran)"
                if self.reused
                else ""
            )
            + f". Runs trained on: {'; '.join(sorted(self.trained_on)) or 'none'}.\n\n{body}"
        )
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{name}.md"
        return write_atomic(path, text)


def refit_overrides(selection: str) -> list[str]:
    """What refitting a choice means (`sweep --refit`, `tune --refit`): trained on the training
    and validation splits together, no per-epoch choice, the test split read once at the end,
    and the config naming what was chosen (`selection`)."""
    return ["data.val_fraction=0", "run.select=final", f"run.refit_of={selection!r}"]


def matrix(
    caption: str, corner: str, rows: Sequence, cols: Sequence, cell: Callable, names=(), heads=()
) -> str:
    """A Markdown table under `caption`: one row per item of `rows` (titled `names`, else the
    items themselves), one column per item of `cols` (titled `heads`), cells `cell(row, col)`."""
    names = names or [str(r) for r in rows]
    heads = heads or [str(c) for c in cols]
    lines = [caption, "", f"| {corner} | " + " | ".join(heads) + " |"]
    lines.append("|---" * (len(cols) + 1) + "|")
    for r, name in zip(rows, names, strict=True):
        lines.append(f"| {name} | " + " | ".join(cell(r, c) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def pick(asked: list[str] | None, among: list[str], flag: str) -> list[str]:
    """The names of `among` that a recipe's `flag` asked for, in `among`'s order (all of
    them when none were asked for); a name not among them is an error."""
    if asked and set(asked) - set(among):
        raise ConfigError(f"{flag} {asked}: choose among {among}")
    return [k for k in among if not asked or k in asked]


def net_depth_rows(nets: dict, depths: list[int], seeds: list[int], one_seed_above: int):
    """A grid of nets (label -> (preset, overrides)) x depths, tagged `net` and `depth`, the
    deeper ones (above `one_seed_above`) with the first seed only; costlier runs first."""
    return [
        Row(
            f"{net} d={d}",
            preset,
            [*extra, f"model.depth={d}"],
            tags=dict(net=net, depth=d),
            cost=d,
            seeds=seeds if d <= one_seed_above else seeds[:1],
        )  # fmt: skip
        for net, (preset, extra) in nets.items()
        for d in depths
    ]


def seeds_by_depth(by: dict) -> str:
    """The seeds a net x depth grid's rows trained (`by[net, depth]`), as its report says
    them: read off the rows, so the report cannot state another rule than the grid ran."""
    seeds = {d: r.row.seeds for (_, d), r in sorted(by.items(), key=lambda item: item[0][1])}
    every = seeds[min(seeds)]
    fewer = [d for d, s in seeds.items() if s != every]
    if not fewer:
        return f"seeds {every}"
    last = max(d for d in seeds if d < min(fewer))  # the deepest with every seed
    return f"seeds {every} up to depth {last}, {seeds[min(fewer)]} above"


def net_depth_table(by: dict, caption: str, cell: Callable) -> str:
    """A table of a net x depth grid (`by[net, depth]`): a row per net, a column per depth."""
    nets, depths = list(dict.fromkeys(n for n, _ in by)), sorted({d for _, d in by})
    return matrix(caption, "net", nets, depths, cell, heads=[f"depth {d}" for d in depths])
