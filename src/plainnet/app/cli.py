"""The `plainnet` command: a thin layer over the application (`plainnet.app`) and the library.

Every error a user can cause (flags, config files, run folders, checkpoints) ends as one line
on stderr and a non-zero exit status.
"""

import contextlib
import os
import signal
import sys
import time
import warnings
from pathlib import Path

import click
import numpy as np

# Only what every command needs is imported here; torch and the modules that use it are
# imported by the commands that train or build a model, so `--help`, `config` and `data list`
# answer without it.
from plainnet.app.config import (
    CHECKPOINTS,
    ConfigError,
    import_user_module,
    origins,
    presets,
    resolve,
)
from plainnet.app.notes import show_warnings_as_notes
from plainnet.data.datasets import SPECS, cache_path, prepare, spec
from plainnet.data.datasets import arrays as dataset_arrays
from plainnet.errors import PlainnetError, TrainingDiverged
from plainnet.files import write_atomic, write_csv

# Flags that are shortcuts for `section.key=value` overrides.
SHORTCUTS = {
    "dataset": "data.dataset",
    "model": "model.arch",
    "depth": "model.depth",
    "epochs": "train.epochs",
    "seed": "train.seed",
    "device": "train.device",
    "out": "run.out_dir",
    "name": "run.name",
    "data_dir": "data.data_dir",
}


def config_options(fn):
    """--preset, --config and OVERRIDES, shared by every command that resolves a config."""
    fn = click.argument("overrides", nargs=-1, metavar="[SECTION.KEY=VALUE]...")(fn)
    fn = click.option(
        "--config",
        "-c",
        "config_file",
        multiple=True,
        type=click.Path(),
        help="A TOML config (repeatable: later files win).",
    )(fn)
    return click.option(
        "--preset",
        "-p",
        multiple=True,
        help="A built-in preset (see `plainnet config presets`; repeatable: later ones win).",
    )(fn)


def _overrides(overrides: tuple[str, ...], flags: dict) -> list[str]:
    shortcut = [f"{SHORTCUTS[k]}={v}" for k, v in flags.items() if v is not None]
    return shortcut + list(overrides)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plainnet", prog_name="plainnet")
@click.option(
    "--import",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE first (one that registers models with @register_model); repeatable. "
    "For a model, model.module=MODULE also keeps it in the run's config.",
)
def cli(modules):
    """Train very deep neural networks without skip connections (PlainNets)."""
    for name in modules:
        try:
            import_user_module(name)
        except ValueError as e:
            raise ConfigError(f"--import: {e}") from None


@cli.command("train")
@config_options
@click.option("--dataset", help="Shortcut for data.dataset.")
@click.option("--model", help="Shortcut for model.arch (mlp, cnn, resnet).")
@click.option("--depth", type=int, help="Shortcut for model.depth (weight layers).")
@click.option("--epochs", type=int, help="Shortcut for train.epochs.")
@click.option("--seed", type=int, help="Shortcut for train.seed.")
@click.option("--device", help="Shortcut for train.device (auto, cpu, cuda, cuda:1 ...).")
@click.option("--out", help="Shortcut for run.out_dir (default: runs).")
@click.option("--name", help="Shortcut for run.name.")
@click.option("--data-dir", help="Shortcut for data.data_dir (default: $PLAINNET_DATA).")
@click.option("--resume", type=click.Path(), help="Continue the run in this folder.")
@click.option(
    "--extend", is_flag=True, help="With --resume: allow more epochs (stretches the schedule)."
)
def train_cmd(preset, config_file, overrides, resume, extend, **flags):
    """Train a PlainNet. With no arguments: the paper's proposed 100-layer net on digits.

    Any config field can be set as SECTION.KEY=VALUE, e.g. `model.beta=0.2 optim.lr=0.1`.
    """
    from plainnet.app.trainer import resume as resume_run
    from plainnet.app.trainer import train

    items = _overrides(overrides, flags)
    if extend and not resume:
        raise ConfigError("--extend goes with --resume RUN_DIR")
    if not resume:
        train(resolve(preset, config_file, items))
        return
    if preset or config_file:
        raise ConfigError("--resume takes its config from the run folder; drop --preset/--config")
    resume_run(resume, items, extend)


checkpoint_option = click.option(
    "--checkpoint",
    type=click.Choice(CHECKPOINTS),
    default="selected",
    help="selected: what the run's run.select kept (best.pt, else last.pt), as the training "
    "summary's first line; best: best.pt; last: last.pt.",
)


@cli.command("eval")
@click.argument("run_dir", type=click.Path())
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test")
@checkpoint_option
@click.option("--device", default="cpu", show_default=True)
def eval_cmd(run_dir, split, checkpoint, device):
    """Loss, error, per-class errors and a confusion matrix of a trained run (eval mode).

    Writes eval-<checkpoint>-<split>.csv and .png into the run folder.
    """
    from plainnet.app.build import load_arrays, resolve_device
    from plainnet.app.inference import check_fits, evaluate_raw, load_run, save_evaluation

    loaded = load_run(run_dir, checkpoint, resolve_device(device))
    arrays = load_arrays(loaded.config)
    x, y = getattr(arrays, f"x_{split}"), getattr(arrays, f"y_{split}")
    if not len(y):
        raise ConfigError(f"the run has no {split} split (data.val_fraction = 0)")
    check_fits(loaded, x, y, f"{loaded.config.data.dataset} ({split} split)")
    ev = evaluate_raw(loaded.model, loaded.preprocess, x, y, loaded.classes)
    click.echo(
        f"{loaded.describe()}, {split} split, {len(y)} samples: "
        f"loss {ev.loss:.4f}, error {ev.error:.2%}"
    )
    width = max(5, *map(len, loaded.class_names))
    click.echo(f"{'class':>{width}}  samples  error")
    for name, row, e in zip(loaded.class_names, ev.confusion, ev.per_class_error, strict=True):
        click.echo(f"{name:>{width}}  {int(row.sum()):>7}  {e:6.2%}")
    stem = f"eval-{loaded.checkpoint}-{split}"
    for f in save_evaluation(ev, Path(run_dir), stem, f"{Path(run_dir).name}, {split}"):
        click.echo(f"wrote {f}")


@cli.command("predict")
@click.argument("run_dir", type=click.Path())
@click.argument("inputs", type=click.Path())
@checkpoint_option
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", type=click.Path(), help="A .csv or .npz file (default: predictions.csv).")
@click.option(
    "--rescale",
    is_flag=True,
    help="Map inputs from 0..255 (0..1 for floats up to 1) onto the training inputs' range.",
)
def predict_cmd(run_dir, inputs, checkpoint, device, out, rescale):
    """Predict the classes of INPUTS: a .npy/.npz array of raw images, an image, or a folder.

    Writes one row per input (name, predicted class, class probabilities). Inputs must lie in
    the value range the model was trained on (recorded in its checkpoint; --rescale maps
    0..255 onto it). Images are converted to the model's channels and resized to its input
    size, with a note.
    """

    from plainnet.app.build import resolve_device
    from plainnet.app.inference import load_run, predict, read_inputs
    from plainnet.app.runs import not_a_run_file

    loaded = load_run(run_dir, checkpoint, resolve_device(device))
    click.echo(f"model: {loaded.describe()}")
    names, x = read_inputs(inputs, loaded.in_shape, loaded.raw, rescale)
    probs = predict(loaded.model, loaded.preprocess, x)
    out = not_a_run_file(out or "predictions.csv")
    if out.suffix == ".npz":
        arrays = dict(names=np.array(names), predicted=probs.argmax(1), probabilities=probs)
        write_atomic(out, lambda f: np.savez(f, **arrays))
    else:
        labels = loaded.class_names
        rows = [["input", "predicted", "class", *[f"p_{c}" for c in labels]]]
        for name, p in zip(names, probs, strict=True):
            rows.append([name, int(p.argmax()), labels[p.argmax()], *[f"{v:.6f}" for v in p]])
        write_csv(out, rows)
    click.echo(f"{len(names)} inputs -> {out}")


@cli.command("export")
@click.argument("run_dir", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["pt2", "torchscript"]), default="pt2")
@checkpoint_option
@click.option("--out", type=click.Path(), help="Output file (default: in the run folder).")
def export_cmd(run_dir, fmt, checkpoint, out):
    """Write the model, its input standardization folded in, as a file that needs only torch.

    It takes float N,C,H,W raw input values (as the dataset stores them) and returns
    logits. pt2: load with torch.export.load(path).module(); torchscript: torch.jit.load(path).
    """
    from plainnet.app.inference import export, load_run
    from plainnet.app.runs import not_a_run_file

    loaded = load_run(run_dir, checkpoint)
    click.echo(f"model: {loaded.describe()}")
    suffix = ".pt2" if fmt == "pt2" else ".ts.pt"
    out = not_a_run_file(out or Path(run_dir) / f"model-{loaded.checkpoint}{suffix}")
    export(loaded.model, loaded.preprocess, loaded.in_shape, out, fmt)
    shape = ",".join(map(str, loaded.in_shape))
    click.echo(f"wrote {out} (input: float N,{shape} raw values as the dataset stores them)")


@cli.group("config")
def config_group():
    """Inspect presets and resolved configs."""


@config_group.command("show")
@config_options
@click.option("--comments", is_flag=True, help="Each field's documentation above it.")
def config_show(preset, config_file, overrides, comments):
    """Print the resolved config as TOML: redirect it to a file, edit, and pass it with -c.

    Each value that is not the default says where it was set (a preset, a file, the command
    line); the reference of every field: docs/config.md.
    """
    cfg = resolve(preset, config_file, overrides)
    where = origins(preset, config_file, overrides)
    click.echo(cfg.annotated(where, comments), nl=False)


@config_group.command("presets")
def config_presets():
    """List the built-in presets (the paper's Table 1 ablation rows)."""
    for name, text in sorted(presets().items()):
        first = text.splitlines()[0].lstrip("# ")
        click.echo(f"{name:<14} {first}")


@cli.command("model")
@config_options
@click.option("--dataset", help="Shortcut for data.dataset (gives the input shape).")
@click.option("--model", help="Shortcut for model.arch (mlp, cnn, resnet).")
@click.option("--depth", type=int, help="Shortcut for model.depth (weight layers).")
@click.option("--verbose", "-v", is_flag=True, help="Also print the full PyTorch repr.")
def model_cmd(preset, config_file, overrides, verbose, **flags):
    """A table of the layers a config builds: output shape, parameters, FLOPs per sample.

    Built on PyTorch's meta device: no data is read and no memory is allocated, so any size
    can be described. Identical consecutive layers are shown as one line (xN).
    """
    import torch
    from rich.console import Console
    from rich.table import Table

    from plainnet.app.build import data_shape, make_model, model_name
    from plainnet.nn.models import layer_table

    cfg = resolve(preset, config_file, _overrides(overrides, flags))
    shape = data_shape(cfg)
    with torch.device("meta"):
        model = make_model(cfg, shape)
    rows = layer_table(model, shape.in_shape)
    table = Table(title=f"{model_name(cfg)} on {cfg.data.dataset}, input {shape.in_shape}")
    for col in ("layer", "type", "output", "parameters", "FLOPs"):
        table.add_column(col, justify="right" if col in ("parameters", "FLOPs") else "left")
    groups: list[list[dict]] = []
    for r in rows:
        same = groups and all(groups[-1][0][k] == r[k] for k in ("type", "output", "parameters"))
        groups[-1].append(r) if same else groups.append([r])
    for g in groups:
        name = g[0]["name"] if len(g) == 1 else f"{g[0]['name']}..{g[-1]['name']} (x{len(g)})"
        table.add_row(name, g[0]["type"], str(g[0]["output"]), f"{g[0]['parameters']:,}",
                      _si(g[0]["flops"]))  # fmt: skip
    params, flops = sum(r["parameters"] for r in rows), sum(r["flops"] for r in rows)
    table.add_section()
    table.add_row("total", f"{len(rows)} modules", "", f"{params:,}", _si(flops))
    console = Console(highlight=False)
    console.print(table)
    console.print(f"{model_name(cfg)}: {params:,} parameters, {_si(flops)} FLOPs per sample")
    if verbose:
        click.echo(model)


def _si(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


@cli.command("probe")
@click.option("--preset", "-p", "presets_", multiple=True, help="Probe this preset (repeatable).")
@click.option("--config", "-c", "configs", multiple=True, type=click.Path(), help="A TOML config.")
@click.option("--run", "runs", multiple=True, type=click.Path(), help="A run folder (trained).")
@click.option(
    "--target",
    "-t",
    "labelled",
    multiple=True,
    help='A labelled set of overrides on the defaults, e.g. "beta auto: model.beta=auto".',
)
@click.option("--dataset", help="Shortcut for data.dataset (presets and configs).")
@click.option("--depth", type=int, help="Shortcut for model.depth (presets and configs).")
@click.option("--data-dir", help="Shortcut for data.data_dir.")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option(
    "--layers",
    "keep",
    help="Hidden layers to draw as heatmaps, e.g. 50,99 (default: middle and last).",
)
@click.option(
    "--max-samples",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Seeded sample cap.",
)
@click.option(
    "--eval-mode", is_flag=True, help="Probe BatchNorm in inference mode (running statistics)."
)
@click.option(
    "--log",
    "log_run",
    type=click.Path(),
    help="Draw a run's probe.jsonl (run.probe_every) over its epochs instead.",
)
@click.option("--out", type=click.Path(), help="Output folder (default: runs/probes/<timestamp>).")
@click.argument("overrides", nargs=-1, metavar="[SECTION.KEY=VALUE]...")
def probe_cmd(
    presets_,
    configs,
    runs,
    labelled,
    split,
    keep,
    max_samples,
    eval_mode,
    log_run,
    out,
    overrides,
    **flags,
):
    """Per-layer depth diagnostics of networks at init (presets, configs) or trained (runs).

    All targets are drawn on shared axes: `plainnet probe -p naive -p bn -p proposed`.
    `plainnet probe --log RUN_DIR` draws what a run logged during training, one line per epoch.
    """
    from plainnet.app.probe import probe_config, save_probes
    from plainnet.app.runs import RunDir

    out = Path(out or Path("runs/probes") / time.strftime("%Y%m%d-%H%M%S"))
    if log_run:
        from plainnet.app.probe import plot_log

        for f in plot_log(RunDir.open(log_run), out):
            click.echo(f"wrote {f}")
        return
    items = _overrides(overrides, flags)
    targets = [(p, resolve(p, None, items), None) for p in presets_]
    targets += [(Path(c).stem, resolve(None, c, items), None) for c in configs]
    for label, more in map(labelled_overrides, labelled):
        targets.append((label, resolve(None, None, [*items, *more]), None))
    for r in runs:
        run = RunDir.open(r)
        targets.append((f"{run.path.name} (trained)", run.config(), run))
    if not targets:
        targets = [("proposed", resolve(None, None, items), None)]
    data_sets = sorted({cfg.data.dataset for _, cfg, _ in targets})
    if len(data_sets) > 1:  # shared axes would compare nets on different inputs
        raise ConfigError(
            f"the targets are on different data sets ({', '.join(data_sets)}); give them one "
            f"with data.dataset=... (a run keeps its own: data.dataset={data_sets[-1]})"
        )
    results, layers_kept = {}, set()
    for label, cfg, run in targets:
        wanted = _layer_list(keep) if keep else None
        r = results[label] = probe_config(cfg, run, split, wanted, max_samples, not eval_mode)
        outside = [n for n in wanted or [] if not 1 <= n <= len(r.layers)]
        if outside:
            raise ConfigError(f"--layers {outside}: {label} has hidden layers 1..{len(r.layers)}")
        layers_kept.update(r.kept)
        last = r.layers[-1]
        click.echo(
            f"{label}: {len(r.layers)} hidden layers, {len(r.labels)} {split} samples; last "
            f"layer: NMA {last.normalized_mean_activation:.3g}, condition number "
            f"{last.condition_number:.3g}, effective rank {last.effective_rank:.3g}"
        )
    data_sets = sorted({cfg.data.dataset for _, cfg, _ in targets})
    depths = sorted({cfg.model.depth for _, cfg, _ in targets})
    state = "trained" if all(run for *_, run in targets) else ("at init" if not runs else "")
    context = (
        f"{', '.join(data_sets)}, {'/'.join(map(str, depths))} layers"
        + (f", {state}" if state else ", trained (runs) and at init")
        + f", {split} split"
        + (", BN in eval mode" if eval_mode else "")
    )
    for f in save_probes(results, out, sorted(layers_kept), context):
        click.echo(f"wrote {f}")


def labelled_overrides(text: str) -> tuple[str, list[str]]:
    """`"LABEL: section.key=value ..."` -> (LABEL, overrides)."""
    label, colon, rest = text.partition(":")
    if not colon or not label.strip():
        raise click.BadParameter(f"{text!r} must look like 'LABEL: section.key=value ...'")
    return label.strip(), rest.split()


def _layer_list(text: str, what: str = "layer numbers") -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of {what}")
    return values


resume_option = click.option(
    "--resume",
    is_flag=True,
    help="Read back the runs already finished with the same config, continue interrupted "
    "ones, train the rest; rewrite the report.",
)


@cli.group("reproduce")
def reproduce_group():
    """The paper's experiments, written as Markdown + PNG under --out."""


def _recipe(name: str, doc: str, *extra):
    """`plainnet reproduce NAME`: runs `plainnet.app.recipes.NAME` and says where it wrote."""

    def command(quick, seeds, out, jobs, config_file, overrides, overwrite, resume, **kwargs):
        from plainnet.app import recipes

        out = Path(out or Path("runs/reports") / time.strftime("%Y%m%d-%H%M%S"))
        plan = recipes.Plan(
            out,
            quick,
            _layer_list(seeds, "seeds"),
            jobs,
            config_file,
            list(overrides),
            overwrite,
            log=click.echo,
            resume=resume,
        )
        path = recipes.RECIPES[name](plan, **kwargs)
        click.echo(f"wrote {path}")

    command.__doc__ = doc + (
        "\n\nYour own settings (-c FILE, SECTION.KEY=VALUE) apply on top of the recipe's and "
        "under what each row varies."
    )
    for option in (
        *extra,
        click.argument("overrides", nargs=-1, metavar="[SECTION.KEY=VALUE]..."),
        click.option("--config", "-c", "config_file", type=click.Path(), help="A TOML config."),
        click.option(
            "--out", type=click.Path(), help="Report folder (default: runs/reports/<timestamp>)."
        ),
        click.option("--overwrite", is_flag=True, help="Replace an existing report in --out."),
        resume_option,
        click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated."),
        click.option("--quick", is_flag=True, help="A tiny smoke-test variant (first seed only)."),
        click.option(
            "--jobs",
            type=click.IntRange(1),
            default=1,
            show_default=True,
            help="Runs trained at once (CPU threads are shared out between them).",
        ),
    ):
        command = option(command)
    reproduce_group.command(name)(command)


_recipe("table1", "Table 1: the 100-layer USPS ablation (8 rows x seeds).")
_recipe(
    "components",
    "Where each component matters: BN + LReLU at 100 layers over beta x max-norm c (heatmap).",
)
_recipe("activations", "Activation figures: naive / BN / proposed, 100 layers.")
_recipe(
    "depth",
    "Error versus depth 10..2,000 on USPS: naive / BN / proposed (beta 0.5, beta auto) / deep.",
    click.option(
        "--depths",
        callback=lambda ctx, param, v: _layer_list(v) if v else None,
        help="Comma-separated depths instead of 10,...,2000 (e.g. 10000).",
    ),
    click.option(
        "--nets",
        callback=lambda ctx, param, v: [n.strip() for n in v.split(",")] if v else None,
        help="Comma-separated nets (the start of a label: naive, bn, proposed, deep).",
    ),
)
_recipe(
    "evalgap",
    "Eval mode against training at depth 100-500: BatchNorm's population statistics four "
    "ways, and Batch Renormalization.",
)
_recipe(
    "table2",
    "Table 2: CIFAR-10 PlainNet-50 vs PlainNet-BN-56 vs ResNet-56/110 (a GPU job).",
    click.option("--epochs", type=int, default=164, show_default=True),
    click.option("--train-subset", type=int, default=0, help="Train on N images (CPU runs)."),
)


@cli.command("sweep")
@click.option("--preset", "-p", help="A built-in preset under every row.")
@click.option("--config", "-c", "config_file", type=click.Path(), help="A TOML config.")
@click.option(
    "--vary",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A field and its values; several --vary make their cartesian product.",
)
@click.option(
    "--row", "rows", multiple=True, help='A labelled row: "LABEL: section.key=value ...".'
)
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated.")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True)
@click.option("--out", type=click.Path(), help="Folder (default: runs/sweeps/<timestamp>).")
@click.option(
    "--refit",
    is_flag=True,
    help="Retrain the row best on validation on train + validation; read test once per run.",
)
@resume_option
@click.argument("overrides", nargs=-1, metavar="[SECTION.KEY=VALUE]...")
def sweep_cmd(preset, config_file, vary, rows, seeds, jobs, out, refit, resume, overrides):
    """Train a grid of configs x seeds and write a Markdown table and learning curves.

    `plainnet sweep --vary model.beta=0.3,0.5 --vary max_norm.c=2.0,4.0 --seeds 0,1
    data.dataset=usps train.epochs=20` trains 4 rows x 2 seeds. Runs and the report go to
    --out; failed runs are counted in the table, not dropped.
    """
    from plainnet.app import recipes
    from plainnet.app.grid import Row

    grid = [("", [])]
    for item in vary:
        key, eq, values = item.partition("=")
        if not eq or not values:
            raise click.BadParameter(f"--vary {item!r} must look like section.key=v1,v2")
        grid = [
            ((f"{label} " if label else "") + f"{key}={v}", [*ovr, f"{key}={v}"])
            for label, ovr in grid
            for v in _split_values(values)
        ]
    named = [labelled_overrides(r) for r in rows] or [("", [])]
    table = [
        Row(" ".join(x for x in (name, label) if x) or "defaults", preset, [*more, *ovr])
        for name, more in named
        for label, ovr in grid
    ]
    out = Path(out or Path("runs/sweeps") / time.strftime("%Y%m%d-%H%M%S"))
    plan = recipes.Plan(
        out,
        False,
        _layer_list(seeds, "seeds"),
        jobs,
        config_file,
        list(overrides),
        log=click.echo,
        resume=resume,
    )
    plan.runs = out  # its runs in <out>/runs, a refit's in <out>/refit
    click.echo(f"wrote {recipes.sweep(plan, table, refit)}")


def _split_values(text: str) -> list[str]:
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


@cli.group("data")
def data_group():
    """List, download and inspect datasets (cached as <data-dir>/<name>.npz)."""


data_dir_option = click.option(
    "--data-dir", help="Where datasets live (default: $PLAINNET_DATA, else ~/.cache/plainnet)."
)


@data_group.command("list")
@data_dir_option
def data_list(data_dir):
    """The registered datasets and whether each is ready in the data directory."""
    for name, s in SPECS.items():
        path = cache_path(name, data_dir)
        state = "embedded" if not s.sources else ("ready" if path.exists() else "not downloaded")
        click.echo(f"{name:<8} {state:<15} {s.about}")
    click.echo(f"data directory: {cache_path('x', data_dir).parent}")


@data_group.command("download")
@click.argument("name")
@data_dir_option
def data_download(name, data_dir):
    """Fetch NAME's official files, verify their checksums and convert them to the cache."""
    click.echo(f"{name}: ready at {prepare(name, data_dir)}")


@data_group.command("info")
@click.argument("name")
@data_dir_option
def data_info(name, data_dir):
    """Shapes, class counts, value ranges and provenance of NAME's data."""
    arrays, meta = dataset_arrays(name, data_dir, download=False)
    where = cache_path(name, data_dir) if spec(name).sources else "embedded"
    click.echo(f"{name}: {where}")
    for key in sorted(k for k in arrays if k.startswith("x")):
        x, y = arrays[key], arrays["y" + key[1:]]
        counts = np.bincount(y, minlength=SPECS[name].num_classes)
        click.echo(
            f"  {key:<8} {x.dtype} {tuple(x.shape)}  values {x.min()}..{x.max()} "
            f"(mean {x.mean():.2f})  per class {counts.min()}..{counts.max()}: {counts.tolist()}"
        )
    for k, v in meta.items():
        click.echo(f"  {k}: {v}")


def main(argv: list[str] | None = None) -> None:
    def fail(message: str, code: int) -> None:
        click.echo(f"plainnet: {message}", err=True)
        sys.exit(code)

    # The handlers are this command's only: a caller (a test, a notebook calling main) gets
    # its own back when main returns.
    with warnings.catch_warnings(), _sigterm_as_interrupt():
        show_warnings_as_notes()
        _main(argv, fail)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler's stop) ends a run like Ctrl-C: the last checkpoint is kept."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: signals cannot be handled there
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv, fail) -> None:
    try:
        cli.main(args=argv, prog_name="plainnet", standalone_mode=False)
    except click.ClickException as e:
        fail(f"error: {e.format_message()}", e.exit_code)
    except TrainingDiverged as e:
        if os.environ.get("PLAINNET_DEBUG"):
            raise
        fail(f"diverged: {e}", 1)
    except PlainnetError as e:  # anything else is a bug: its traceback shows
        if os.environ.get("PLAINNET_DEBUG"):
            raise
        fail(f"error: {e}", 2)
    except (KeyboardInterrupt, click.exceptions.Abort) as e:
        interrupt = e.__cause__ if isinstance(e, click.exceptions.Abort) else e  # click wraps it
        run = (
            interrupt.args[0]
            if isinstance(interrupt, KeyboardInterrupt) and interrupt.args
            else None
        )
        kept = (
            f"{run} keeps its last checkpoint (plainnet train --resume {run})"
            if run
            else "a run folder keeps its last checkpoint (--resume RUN_DIR)"
        )
        fail(f"interrupted; {kept}", 130)
