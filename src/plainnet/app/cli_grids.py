"""The `plainnet` commands that train grids: `sweep` (your rows x seeds) and `reproduce NAME`
(the paper's experiments, one command per recipe of `plainnet.app.recipes.RECIPES`, made from
the recipe's signature). Option parsing and calls only; `plainnet.app.cli` adds them to the
command group.
"""

import inspect
import time
import typing
from pathlib import Path

import click

from plainnet.app.cli_flags import SHORTCUTS, shortcuts, with_shortcuts


def int_list(text: str, what: str = "layer numbers") -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of {what}")
    return values


def _plan(out, seeds, jobs, config_file, overrides, resume, cluster: dict, **more):
    """How a recipe or a sweep runs (`plainnet.app.recipes.Plan`), from the shared flags."""
    from plainnet.app.recipes import Plan

    seeds, overrides = int_list(seeds, "seeds"), list(overrides)
    if len(set(seeds)) < len(seeds):  # the same seed twice is the same run twice
        raise click.BadParameter(f"{seeds} repeats a seed", param_hint="--seeds")
    return Plan(Path(out), seeds=seeds, jobs=jobs, config_file=config_file, overrides=overrides,
                log=click.echo, resume=resume, backend=_backend(**cluster), **more)  # fmt: skip


def _backend(backend, address, storage, cpus_per_run, gpus_per_run):
    """What trains a grid's runs: None (this machine's process pool) or a `RayBackend`."""
    if backend == "ray":
        from plainnet.app.cluster import RayBackend

        return RayBackend(address, storage, cpus_per_run or 1, gpus_per_run or 0.0)
    given = {"--address": address, "--storage": storage, "--cpus-per-run": cpus_per_run,
             "--gpus-per-run": gpus_per_run}  # fmt: skip
    if flags := [k for k, v in given.items() if v is not None]:
        raise click.UsageError(f"{', '.join(flags)} go with --backend ray")
    return None


# The options of `_backend`, which a command passes on as one dict.
CLUSTER = ("backend", "address", "storage", "cpus_per_run", "gpus_per_run")


def _cluster(options: dict) -> dict:
    """The cluster options, taken out of a command's `options`."""
    return {k: options.pop(k) for k in CLUSTER}


GRID_OPTIONS = [
    click.Option(
        ["--resume"],
        is_flag=True,
        help="Read back the runs already finished with the same config, continue interrupted "
        "ones, train the rest; rewrite the report.",
    ),
    click.Option(["--seeds"], default="0,1,2", show_default=True, help="Comma-separated."),
    click.Option(
        ["--jobs"],
        type=click.IntRange(1),
        help="Runs trained at once (default 1; CPU threads are shared out between them). "
        "With --backend ray: at most this many (default: as many as the cluster fits).",
    ),
    click.Option(
        ["--backend"],
        type=click.Choice(["process", "ray"]),
        default="process",
        show_default=True,
        help="process: worker processes on this machine; ray: a Ray task per run, on a "
        "cluster (--address) or a local Ray runtime (pip install 'plainnet[ray]').",
    ),
    click.Option(
        ["--address"],
        help="With --backend ray: the cluster to use ('auto', 'ray://HOST:10001'); "
        "default: a local Ray runtime for this command.",
    ),
    click.Option(
        ["--storage"],
        type=click.Path(),
        help="With --backend ray: where runs train on their workers (checkpoints); a path "
        "every worker reaches lets --resume continue interrupted runs (default: each "
        "worker's temporary folder). The records come back to --out either way.",
    ),
    click.Option(
        ["--cpus-per-run"],
        type=click.IntRange(1),
        help="With --backend ray: CPUs (torch threads) per run [default: 1].",
    ),
    click.Option(
        ["--gpus-per-run"],
        type=click.FloatRange(0),
        help="With --backend ray: GPUs per run (a fraction shares one) [default: 0].",
    ),
    click.Option(["--config", "-c", "config_file"], type=click.Path(), help="A TOML config."),
    click.Argument(["overrides"], nargs=-1, metavar="[SECTION.KEY=VALUE]..."),
]


class Recipes(click.Group):
    """`plainnet reproduce NAME`: one command per recipe of `plainnet.app.recipes.RECIPES`,
    made when asked for (the recipes import torch, which `plainnet --help` need not wait for)."""

    def list_commands(self, ctx) -> list[str]:
        from plainnet.app.recipes import RECIPES

        return list(RECIPES)

    def get_command(self, ctx, name: str) -> click.Command | None:
        from plainnet.app.recipes import RECIPES

        return _recipe_command(name, RECIPES[name]) if name in RECIPES else None


def _recipe_command(name: str, recipe) -> click.Command:
    """A command running `recipe(plan, **options)`; its own options come from its signature
    (`Annotated[type, help]` parameters after the plan)."""

    def run(quick, out, overwrite, seeds, jobs, config_file, overrides, resume, **options):
        out = out or Path("runs/reports") / time.strftime("%Y%m%d-%H%M%S")
        plan = _plan(out, seeds, jobs, config_file, overrides, resume, _cluster(options),
                     quick=quick, overwrite=overwrite)  # fmt: skip
        click.echo(f"wrote {recipe(plan, **options)}")

    hints = typing.get_type_hints(recipe, include_extras=True)
    own = [
        _recipe_option(p, hints[p.name])
        for p in [*inspect.signature(recipe).parameters.values()][1:]
    ]
    common = [
        click.Option(["--quick"], is_flag=True, help="A tiny smoke-test variant (one seed)."),
        click.Option(["--out"], type=click.Path(), help="Report folder (default: runs/reports)."),
        click.Option(["--overwrite"], is_flag=True, help="Replace an existing report in --out."),
    ]
    doc = inspect.getdoc(recipe).split("\n\n")[0] + (
        "\n\nYour own settings (-c FILE, SECTION.KEY=VALUE) apply on top of the recipe's and "
        "under what each row varies."
    )
    return click.Command(name, callback=run, params=[*own, *common, *GRID_OPTIONS], help=doc)


def _recipe_option(param: inspect.Parameter, hint) -> click.Option:
    """`--name` for a recipe's parameter `name: Annotated[int | list[int] | list[str], help]`,
    with its default."""
    kind, help_ = typing.get_args(hint)
    name = param.name
    flag = f"--{name.replace('_', '-')}"
    if kind is int:
        return click.Option([flag, name], type=int, default=param.default, help=help_,
                            show_default=True)  # fmt: skip
    item = typing.get_args(typing.get_args(kind)[0])[0]  # list[int] | None -> int

    def parse(ctx, _, value):
        if not value:
            return None
        return int_list(value, name) if item is int else [v.strip() for v in value.split(",")]

    return click.Option([flag, name], callback=parse, help=help_)


reproduce_group = Recipes(
    "reproduce", help="The paper's experiments, written as Markdown + PNG under --out."
)


@click.command("sweep")
@click.option("--preset", "-p", multiple=True,
              help="A built-in preset under every row (repeatable: later ones win).")  # fmt: skip
@shortcuts(*(k for k in SHORTCUTS if k not in ("out", "seed", "name")))  # a grid: --out, --seeds
@click.option(
    "--vary",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A field and its values; several --vary make their cartesian product.",
)
@click.option(
    "--row", "rows", multiple=True, help='A labelled row: "LABEL: section.key=value ...".'
)
@click.option("--out", type=click.Path(), help="Folder (default: runs/sweeps/<timestamp>).")
@click.option(
    "--refit",
    is_flag=True,
    help="Retrain the row best on validation on train + validation; read test once per run.",
)
def sweep_cmd(preset, vary, rows, out, refit, seeds, jobs, config_file, overrides, resume,
              **flags):  # fmt: skip
    """Train a grid of configs x seeds and write a Markdown table and learning curves.

    `plainnet sweep --vary model.beta=0.3,0.5 --vary max_norm.c=2.0,4.0 --seeds 0,1
    data.dataset=usps train.epochs=20` trains 4 rows x 2 seeds. Runs and the report go to
    --out; failed runs are counted in the table, not dropped.
    """
    from plainnet.app.grid import sweep_rows
    from plainnet.app.recipes import sweep

    table = sweep_rows(rows, vary, list(preset) or None)
    out = out or Path("runs/sweeps") / time.strftime("%Y%m%d-%H%M%S")
    cluster = _cluster(flags)
    plan = _plan(out, seeds, jobs, config_file, with_shortcuts(overrides, flags), resume, cluster)
    plan.runs = plan.out  # its runs in <out>/runs, a refit's in <out>/refit
    click.echo(f"wrote {sweep(plan, table, refit)}")


sweep_cmd.params.extend(GRID_OPTIONS)


@click.command("tune")
@click.option("--preset", "-p", multiple=True,
              help="A built-in preset under every trial (repeatable: later ones win).")  # fmt: skip
@shortcuts(*(k for k in SHORTCUTS if k not in ("out", "name")))
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=RANGE",
    help="A field to search: KEY=LOW:HIGH (uniform), KEY=log:LOW:HIGH, KEY=int:LOW:HIGH or "
    "KEY=V1,V2,... (repeatable).",
)
@click.option("--trials", type=click.IntRange(0), default=20, show_default=True,
              help="Trials this process runs (0: only write the study's report).")  # fmt: skip
@click.option("--study", "study_name", default="plainnet", show_default=True,
              help="The study's name in the database.")  # fmt: skip
@click.option(
    "--storage",
    metavar="URL",
    help="The study's database, shared by every process that names it (e.g. "
    "postgresql://user@host/db, sqlite:////shared/study.db); default: study.db in --out.",
)
@click.option("--sampler-seed", type=int, help="Seeds the sampler (one process, repeatable).")
@click.option("--no-prune", is_flag=True, help="Train every trial to its end.")
@click.option(
    "--refit",
    is_flag=True,
    help="Train the best config again on train + validation; its test split is the one read.",
)
@click.option("--out", type=click.Path(), help="Folder (default: runs/tune/<timestamp>).")
@click.option("--config", "-c", "config_file", type=click.Path(), help="A TOML config.")
@click.argument("overrides", nargs=-1, metavar="[SECTION.KEY=VALUE]...")
def tune_cmd(preset, fields, trials, study_name, storage, sampler_seed, no_prune, refit, out,
             config_file, overrides, **flags):  # fmt: skip
    """Search config fields with Optuna: TPE, pruning on validation error, test read once.

    `plainnet tune --field optim.lr=log:1e-4:1e-1 --field model.eta=0.3:0.9 --trials 20
    --dataset usps --depth 100` trains 20 trials and writes tune.md, tune.png and best.toml
    (loadable with -c) to --out. Several processes naming one --storage URL share the study.
    Needs pip install 'plainnet[optuna]'.
    """
    from plainnet.app.recipes import Plan
    from plainnet.app.recipes.tune import Field, Search, tune

    out = Path(out or Path("runs/tune") / time.strftime("%Y%m%d-%H%M%S"))
    plan = Plan(out, config_file=config_file, overrides=with_shortcuts(overrides, flags),
                log=click.echo)  # fmt: skip
    search = Search(plan, [Field.parse(f) for f in fields], list(preset) or None, trials,
                    study_name, storage, sampler_seed, not no_prune, refit)  # fmt: skip
    click.echo(f"wrote {tune(search)}")
