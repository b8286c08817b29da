"""TensorBoard logging of a run (`run.tensorboard`): its config, curves, probe and hparams.

Into `<run>/tb/`: the resolved config as text, every `metrics.csv` column per epoch, the
probe's per-layer statistics when `run.probe_every` is set (`probe/<stat>/layerNNNN`, for at
most 32 layers spread over the depth, first and last included), and at the end the config
as hparams beside the final errors, so that runs can be compared in the HPARAMS tab.
"""

import warnings
from pathlib import Path

from plainnet.app.config import Config, ConfigError
from plainnet.files import no_link

# The probe statistics logged per layer: how large the outputs are, how many directions the
# representation still spans, how ill-conditioned it is, and the weights' gradient size.
PROBE_STATS = ("normalized_mean_activation", "effective_rank", "condition_number", "grad_norm")
MAX_LAYERS = 32


class TensorBoardMissing(UserWarning):
    """`run.tensorboard = "auto"` without the tensorboard package: no `tb/`."""


def open_writer(setting: bool | str, folder):
    """A `SummaryWriter` into `folder`, or None (`false`, or `"auto"` without the package)."""
    if setting is False:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if setting is True:
            raise ConfigError(
                "run.tensorboard = true needs the tensorboard package: pip install "
                "'tensorboard>=2.14' (or pip install -e '.[tensorboard]' in a checkout)"
            ) from None
        warnings.warn(
            "tensorboard is not installed, so this run writes no tb/ (pip install tensorboard; "
            "run.tensorboard = false silences this)",
            TensorBoardMissing,
            stacklevel=2,
        )
        return None
    return SummaryWriter(str(no_link(folder)))


def open_run(cfg: Config, run) -> object | None:
    """The writer of a run (`open_writer` into its `tb/`, None for a process that does not
    write), its config logged first."""
    tb = open_writer(cfg.run.tensorboard, run.tb_path) if run.writable else None
    if tb:
        log_config(tb, cfg)
    return tb


def log_config(tb, cfg: Config) -> None:
    # Markdown code block: TensorBoard's text plugin renders Markdown.
    tb.add_text("config", "```toml\n" + cfg.to_toml() + "```")


def log_epoch(tb, row: dict) -> None:
    for k, v in row.items():
        if k not in ("epoch", "step") and v is not None:
            tb.add_scalar(k, v, row["epoch"])


def log_probe(tb, layers: list[dict], epoch: int) -> None:
    """Per-layer probe statistics (dicts of `plainnet.app.probe.LayerStats`) at `epoch`."""
    n = len(layers)
    picked = sorted(
        {round(i * (n - 1) / (MAX_LAYERS - 1)) for i in range(MAX_LAYERS)} & set(range(n))
    )
    for i in picked:
        for stat in PROBE_STATS:
            v = layers[i].get(stat)
            if v is not None:
                tb.add_scalar(f"probe/{stat}/layer{layers[i]['index']:04d}", v, epoch)


def log_hparams(tb, cfg: Config, summary: dict) -> None:
    """The config's fields (lists as text) against the final errors, in the HPARAMS tab."""
    hparams = {}
    for section, fields in cfg.model_dump().items():
        for key, v in fields.items():
            hparams[f"{section}.{key}"] = v if isinstance(v, bool | int | float | str) else str(v)
    metrics = {
        f"hparam/{k}": summary[k]
        for k in ("final_train_err", "final_val_err", "final_test_err", "best_test_err")
        if summary.get(k) is not None
    }
    # In tb/hparams, one entry per run: a resumed or extended run replaces the one it wrote
    # before, so the HPARAMS tab lists each run once, with its latest numbers.
    folder = no_link(Path(tb.log_dir) / "hparams")
    if folder.is_dir():
        for old in folder.iterdir():
            if old.is_dir() and not old.is_symlink():  # not as written: the run's numbers stand
                warnings.warn(f"{old} is a folder (plainnet writes files there): no hparams",
                              stacklevel=2)  # fmt: skip
                return
            old.unlink()  # a link there is removed itself, not what it points at
    tb.add_hparams(hparams, metrics, run_name="hparams")


def close(tb, cfg: Config, summary: dict) -> None:
    """Log the final numbers beside the config and close the writer (None: nothing to do)."""
    if tb:
        log_hparams(tb, cfg, summary)
        tb.close()
