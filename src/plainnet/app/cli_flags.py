"""The flags every `plainnet` command that resolves a config shares, each meaning the same
everywhere: --preset/-p (composing), --config/-c, SECTION.KEY=VALUE overrides and the
shortcut flags (--dataset, --depth, ...)."""

import click

# Flags that are shortcuts for `section.key=value` overrides: flag -> (field, its help's hint).
SHORTCUTS = {
    "dataset": ("data.dataset", ""),
    "model": ("model.arch", " (mlp, cnn, resnet)"),
    "depth": ("model.depth", " (weight layers)"),
    "epochs": ("train.epochs", ""),
    "seed": ("train.seed", ""),
    "device": ("train.device", " (auto, cpu, cuda, cuda:1 ...)"),
    "out": ("run.out_dir", " (default: runs)"),
    "name": ("run.name", ""),
    "data_dir": ("data.data_dir", " (default: $PLAINNET_DATA)"),
}


def shortcuts(*names: str):
    """The `--NAME` shortcut flags of `SHORTCUTS`, each the same in every command."""

    def add(fn):
        for name in reversed(names):
            field, hint = SHORTCUTS[name]
            kind = int if name in ("depth", "epochs", "seed") else None
            flag = f"--{name.replace('_', '-')}"
            fn = click.option(flag, type=kind, help=f"Shortcut for {field}{hint}.")(fn)
        return fn

    return add


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


def with_shortcuts(overrides: tuple[str, ...], flags: dict) -> list[str]:
    """The overrides with the shortcut flags given (`flags`: name -> value or None) first."""
    shortcut = [f"{SHORTCUTS[k][0]}={v}" for k, v in flags.items() if v is not None]
    return shortcut + list(overrides)
