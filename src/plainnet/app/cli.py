"""The `plainnet` command: a thin layer over the application (`plainnet.app`) and the library.

Option parsing and calls, nothing a library user would also want. Every error a user can
cause (flags, config files, run folders, checkpoints) ends as one line on stderr and a
non-zero exit status. Each command imports what it needs when it runs, so `--help` answers
without torch, numpy or pydantic.
"""

import time
from pathlib import Path

import click

from plainnet.app.cli_flags import SHORTCUTS, config_options, shortcuts, with_shortcuts
from plainnet.app.cli_grids import int_list, reproduce_group, sweep_cmd, tune_cmd
from plainnet.app.notes import spoken_as_a_command
from plainnet.errors import ConfigError


def _resolve(preset, config_file, items):
    from plainnet.app.config import resolve

    return resolve(preset, config_file, items)


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
    if modules:
        from plainnet.app.config import import_user_module

        for name in modules:
            try:
                import_user_module(name)
            except ValueError as e:
                raise ConfigError(f"--import: {e}") from None


@cli.command("train")
@config_options
@shortcuts(*SHORTCUTS)
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

    items = with_shortcuts(overrides, flags)
    if extend and not resume:
        raise ConfigError("--extend goes with --resume RUN_DIR")
    if not resume:
        train(_resolve(preset, config_file, items))
        return
    if preset or config_file:
        raise ConfigError("--resume takes its config from the run folder; drop --preset/--config")
    resume_run(resume, items, extend)


checkpoint_option = click.option(
    "--checkpoint",
    default="selected",
    metavar="[selected|best|last]",
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
    from rich.console import Console

    from plainnet.app import tables
    from plainnet.app.build import resolve_device
    from plainnet.app.inference import evaluate_run

    loaded, ev, files = evaluate_run(run_dir, split, checkpoint, resolve_device(device))
    click.echo(
        f"{loaded.describe()}, {split} split, {int(ev.confusion.sum())} samples: "
        f"loss {ev.loss:.4f}, error {ev.error:.2%}"
    )
    Console(highlight=False).print(tables.per_class(ev, loaded.class_names))
    for f in files:
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
    from plainnet.app.inference import load_run, predict, read_inputs, write_predictions
    from plainnet.app.runs import not_a_run_file

    loaded = load_run(run_dir, checkpoint, resolve_device(device))
    click.echo(f"model: {loaded.describe()}")
    names, x = read_inputs(inputs, loaded.in_shape, loaded.raw, rescale)
    probs = predict(loaded.model, loaded.preprocess, x)
    out = write_predictions(
        not_a_run_file(out or "predictions.csv"), names, probs, loaded.class_names
    )
    click.echo(f"{len(names)} inputs -> {out}")


@cli.command("export")
@click.argument("run_dir", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["pt2", "torchscript"]), default="pt2")
@click.option(
    "--layout",
    type=click.Choice(["nchw", "nhwc", "nhw", "flat"]),
    default="nchw",
    show_default=True,
    help="The input's layout: N,C,H,W; N,H,W,C; N,H,W (one channel); flat N,C*H*W.",
)
@checkpoint_option
@click.option("--out", type=click.Path(), help="Output file (default: in the run folder).")
def export_cmd(run_dir, fmt, layout, checkpoint, out):
    """Write the model, its input standardization folded in, as a file that needs only torch.

    It takes raw input values (as the dataset stores them) in the --layout chosen here (a
    compiled program has one input rank; predict and eval take them all) and returns logits.
    pt2 (float32 input): load with torch.export.load(path).module(); torchscript (any
    numeric dtype): torch.jit.load(path).
    """
    from plainnet.app.inference import LAYOUTS, export, load_run
    from plainnet.app.runs import not_a_run_file

    loaded = load_run(run_dir, checkpoint)
    click.echo(f"model: {loaded.describe()}")
    suffix = ".pt2" if fmt == "pt2" else ".ts.pt"
    out = not_a_run_file(out or Path(run_dir) / f"model-{loaded.checkpoint}{suffix}")
    export(loaded.model, loaded.preprocess, loaded.in_shape, out, fmt, layout)
    shape = ",".join(map(str, LAYOUTS[layout](*loaded.in_shape)))
    dtype = "float32" if fmt == "pt2" else "numeric"
    click.echo(f"wrote {out} (input: {dtype} N,{shape} raw values as the dataset stores them)")


@cli.group("config")
def config_group():
    """Inspect presets and resolved configs."""


@config_group.command("show")
@config_options
@shortcuts(*SHORTCUTS)
@click.option("--comments", is_flag=True, help="Each field's documentation above it.")
def config_show(preset, config_file, overrides, comments, **flags):
    """Print the resolved config as TOML: redirect it to a file, edit, and pass it with -c.

    Each value that is not the default says where it was set (a preset, a file, the command
    line); the reference of every field: docs/config.md.
    """
    from plainnet.app.config import origins

    overrides = with_shortcuts(overrides, flags)
    cfg = _resolve(preset, config_file, overrides)
    where = origins(preset, config_file, overrides)
    click.echo(cfg.annotated(where, comments), nl=False)


@config_group.command("presets")
def config_presets():
    """List the built-in presets (the paper's Table 1 ablation rows)."""
    from plainnet.app.config import presets

    for name, text in sorted(presets().items()):
        said = []  # the leading comment's first sentence, over as many lines as it takes
        for line in text.splitlines():
            if not line.startswith("#") or said and said[-1].endswith("."):
                break
            said.append(line.lstrip("# ").strip())
        click.echo(f"{name:<14} {' '.join(said)}")


@cli.command("model")
@config_options
@shortcuts(*SHORTCUTS)
@click.option("--verbose", "-v", is_flag=True, help="Also print the full PyTorch repr.")
def model_cmd(preset, config_file, overrides, verbose, **flags):
    """A table of the layers a config builds: output shape, parameters, FLOPs per sample.

    Built on PyTorch's meta device: no data is read and no memory is allocated, so any size
    can be described. Identical consecutive layers are shown as one line (xN).
    """
    import torch
    from rich.console import Console

    from plainnet.app import tables
    from plainnet.app.build import data_shape, make_model, model_name, with_numbers
    from plainnet.nn.models import layer_groups, layer_table

    cfg = with_numbers(_resolve(preset, config_file, with_shortcuts(overrides, flags)))
    shape = data_shape(cfg)
    with torch.device("meta"):
        model = make_model(cfg, shape)
    rows = layer_table(model, shape.in_shape)
    title = f"{model_name(cfg)} on {cfg.data.dataset}, input {shape.in_shape}"
    params, flops = sum(r["parameters"] for r in rows), sum(r["flops"] for r in rows)
    console = Console(highlight=False)
    console.print(tables.layers(title, rows, layer_groups(rows)))
    console.print(f"{model_name(cfg)}: {params:,} parameters, {tables.si(flops)} FLOPs per sample")
    if verbose:
        click.echo(model)


@cli.command("probe")
@config_options
@click.option("--compare", "compare", multiple=True, metavar="PRESET",
              help="Probe this preset on top of the config too (repeatable).")  # fmt: skip
@click.option("--run", "runs", multiple=True, metavar="[LABEL: ]PATH",
              help='A run folder (trained), optionally labelled: "lr 0.02: runs/RUN".')  # fmt: skip
@click.option(
    "--target",
    "-t",
    "labelled",
    multiple=True,
    help='A labelled set of overrides on the defaults, e.g. "beta auto: model.beta=auto".',
)
@shortcuts(*(k for k in SHORTCUTS if k != "out"))  # --out: where its figures go
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option(
    "--layers",
    "keep",
    help="Hidden layers to draw as heatmaps, e.g. 50,99 (default: middle and last).",
)
@click.option("--max-samples", type=click.IntRange(1), default=10_000, show_default=True,
              help="Seeded sample cap.")  # fmt: skip
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
def probe_cmd(preset, config_file, compare, runs, labelled, split, keep, max_samples, eval_mode,
              log_run, out, overrides, **flags):  # fmt: skip
    """Per-layer depth diagnostics of networks at init (configs) or trained (runs).

    -p, -c and overrides compose one config, as in `train`; `--compare`, `--target` and
    `--run` add networks, all drawn on shared axes: `plainnet probe --compare naive --compare
    bn --compare proposed`. `plainnet probe --log RUN_DIR` draws what a run logged during
    training, one line per epoch.
    """
    from plainnet.app import probe
    from plainnet.app.grid import labelled_overrides
    from plainnet.app.runs import RunDir

    out = Path(out or Path("runs/probes") / time.strftime("%Y%m%d-%H%M%S"))
    if log_run:
        files = probe.plot_log(RunDir.open(log_run), out)
    else:
        items, wanted = with_shortcuts(overrides, flags), int_list(keep) if keep else None
        labelled = [labelled_overrides(t) for t in labelled]
        targets = probe.probe_targets(preset, config_file, compare, runs, labelled, items)
        found = probe.probe_all(targets, split, wanted, max_samples, not eval_mode, click.echo)
        files = probe.save_probes(found[0], out, *found[1:])
    for f in files:
        click.echo(f"wrote {f}")


cli.add_command(reproduce_group)
cli.add_command(sweep_cmd)
cli.add_command(tune_cmd)


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
    from plainnet.data.datasets import SPECS, cache_path

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
    from plainnet.data.datasets import prepare

    click.echo(f"{name}: ready at {prepare(name, data_dir)}")


@data_group.command("info")
@click.argument("name")
@data_dir_option
def data_info(name, data_dir):
    """Shapes, class counts, value ranges and provenance of NAME's data."""
    from plainnet.data.datasets import describe

    for line in describe(name, data_dir):
        click.echo(line)


def main(argv: list[str] | None = None) -> None:
    """The `plainnet` command: warnings as one-line notes, errors as one line and an exit
    status, SIGTERM as Ctrl-C (`plainnet.app.notes`)."""
    with spoken_as_a_command():
        cli.main(args=argv, prog_name="plainnet", standalone_mode=False)
