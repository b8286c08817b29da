"""Probing configs and runs: the depth diagnostics (`plainnet.nn.diagnostics`) of a config's
network at init or of a trained run, written as `probe.json`, `layers.csv` and figures."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from plainnet.app.build import init_model, make_data
from plainnet.app.config import Config, ConfigError, resolve
from plainnet.app.runs import RunDir, RunError
from plainnet.files import write_atomic, write_csv
from plainnet.nn.diagnostics import LayerStats, ProbeResult, probe


@dataclass
class Target:
    """One network `plainnet probe` draws: a config at init, or a trained run."""

    label: str
    cfg: Config
    run: RunDir | None = None


def probe_targets(
    presets=(), configs=(), compare=(), runs=(), labelled=(), overrides=()
) -> list[Target]:
    """The networks `plainnet probe` draws on shared axes.

    `presets`, `configs` and `overrides` compose into one base config, as in `train`; each
    `compare` preset and each labelled override set (`(label, overrides)`) is a target on top
    of that base, and each trained run folder one more. With no compared preset and no
    labelled set, the base is a target itself (unless only runs are given). A run is
    `PATH` (labelled by its folder's name) or `"LABEL: PATH"`. Shared axes compare nets on
    the same inputs, so the targets must share one data set."""
    targets = [Target(p, resolve([*presets, p], configs, overrides)) for p in compare]
    targets += [Target(lb, resolve(presets, configs, [*overrides, *more])) for lb, more in labelled]
    if not targets and (presets or configs or overrides or not runs):
        label = "+".join([*presets, *(Path(c).stem for c in configs)]) or "proposed"
        targets.append(Target(label, resolve(presets, configs, overrides)))
    for r in runs:
        label, colon, path = r.partition(": ")
        if not colon or Path(r).exists():  # a folder may have ": " in its name
            label, path = "", r
        run = RunDir.open(path)
        targets.append(Target(f"{label.strip() or run.path.name} (trained)", run.config(), run))
    labels = [t.label for t in targets]
    if twice := sorted({x for x in labels if labels.count(x) > 1}):
        # results are kept by label: a second target with the same one would replace the first
        raise ConfigError(f"two targets are labelled {twice[0]!r}; give each its own label")
    data_sets = sorted({t.cfg.data.dataset for t in targets})
    if len(data_sets) > 1:
        raise ConfigError(
            f"the targets are on different data sets ({', '.join(data_sets)}); give them one "
            f"with data.dataset=... (a run keeps its own: data.dataset={data_sets[-1]})"
        )
    return targets


def probe_all(
    targets: list[Target],
    split: str = "train",
    keep: list[int] | None = None,
    max_samples: int | None = 10_000,
    batch_stats: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, ProbeResult], list[int], str]:
    """Probe every target (`probe_config`), saying one line each; returns the results by
    label, the hidden layers kept for heatmaps, and the figures' context line."""
    results, kept = {}, set()
    for t in targets:
        r = results[t.label] = probe_config(t.cfg, t.run, split, keep, max_samples, batch_stats)
        outside = [n for n in keep or [] if not 1 <= n <= len(r.layers)]
        if outside:
            raise ConfigError(f"--layers {outside}: {t.label} has hidden layers 1..{len(r.layers)}")
        kept.update(r.kept)
        last = r.layers[-1]
        log(
            f"{t.label}: {len(r.layers)} hidden layers, {len(r.labels)} {split} samples; last "
            f"layer: NMA {last.normalized_mean_activation:.3g}, condition number "
            f"{last.condition_number:.3g}, effective rank {last.effective_rank:.3g}"
        )
    return results, sorted(kept), _context(targets, split, batch_stats)


def _context(targets: list[Target], split: str, batch_stats: bool) -> str:
    """What every figure's title says of the targets: data, depths, trained or at init."""
    data_sets = sorted({t.cfg.data.dataset for t in targets})
    depths = sorted({t.cfg.model.depth for t in targets})
    trained = [t.run is not None for t in targets]
    state = "trained" if all(trained) else "at init" if not any(trained) else ""
    return (
        f"{', '.join(data_sets)}, {'/'.join(map(str, depths))} layers"
        + (f", {state}" if state else ", trained (runs) and at init")
        + f", {split} split"
        + ("" if batch_stats else ", BN in eval mode")
    )


def probe_data(data, split: str, max_samples: int | None, seed: int = 0):
    """`split`'s samples (a seeded random subset of `max_samples` for big sets) in batches."""
    x, y = data.split(split)
    if max_samples is not None and len(y) > max_samples:
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(y), generator=gen)[:max_samples].sort().values.to(y.device)
        x, y = x[idx], y[idx]
    return [(x[i : i + 500], y[i : i + 500]) for i in range(0, len(y), 500)]


def probe_config(
    cfg,
    run=None,
    split: str = "train",
    keep: list[int] | None = None,
    max_samples: int | None = 10_000,
    batch_stats: bool = True,
) -> ProbeResult:
    """Probe the network of config `cfg`: at init (seeded as training starts), or trained
    with `run`'s checkpoint. `keep` defaults to the middle and the last hidden layer."""

    data = make_data(cfg)
    model, _ = init_model(cfg, data)
    if run is not None:
        model.load_state_dict(run.load_checkpoint()["model"])
    n_hidden = cfg.model.depth - 1
    keep = keep or [(n_hidden + 1) // 2, n_hidden]
    batches = probe_data(data, split, max_samples, cfg.train.seed)
    return probe(model, batches, grad_batch=batches[0], keep=keep, batch_stats=batch_stats)


def save_probes(
    results: dict[str, ProbeResult], out_dir, keep: Iterable[int] = (), context: str = ""
) -> list:
    """Write `probe.json`, `layers.csv` and the figures for labelled probe results;
    `context` (e.g. "USPS, 200 layers, at init") heads every figure."""
    import json

    from plainnet.app import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(
        out / "probe.json",
        json.dumps({k: r.to_dict(finite=True) for k, r in results.items()}, indent=1),
    )
    cols = [f for f in LayerStats.__dataclass_fields__ if f != "singular_values"]
    rows = [
        [label, *(getattr(s, c) for c in cols)] for label, r in results.items() for s in r.layers
    ]
    write_csv(out / "layers.csv", [["target", *cols], *rows])
    stats = {k: r.layers for k, r in results.items()}
    files = [
        plots.normalized_mean_activation(stats, out / "normalized_mean_activation.png", context),
        plots.spectrum(stats, out / "singularity.png", context),
        plots.gradient_norms(stats, out / "gradient_norms.png", context),
        plots.correlation(stats, out / "correlation.png", context),
    ]
    # one colour scale for every heatmap, so that side-by-side figures compare
    reps = [r.kept[idx] for r in results.values() for idx in keep if idx in r.kept]
    lim = max((plots.heatmap_limit(rep) for rep in reps), default=1.0)
    for label, r in results.items():
        for idx in keep:
            if idx in r.kept:
                name = f"heatmap_{_slug(label)}_layer{idx}.png"
                path = out / name
                files.append(plots.heatmap(r.kept[idx], r.labels, idx, label, path, context, lim))
    return [out / "probe.json", out / "layers.csv", *files]


def plot_log(run, out_dir, max_lines: int = 8) -> list:
    """Figures of a run's `probe.jsonl` (`run.probe_every`): each quantity over depth, one line
    per logged epoch (at most `max_lines`, spread over training, first and last included)."""
    from types import SimpleNamespace

    from plainnet.app import plots

    entries = run.read_probes()
    n = len(entries)
    picked = sorted({round(i * (n - 1) / max(max_lines - 1, 1)) for i in range(max_lines)})
    try:
        stats = {
            f"epoch {int(e['epoch'])}": [SimpleNamespace(**d) for d in e["layers"]]
            for e in (entries[i] for i in picked if i < n)
        }
        for layers in stats.values():
            for s in layers:
                s.index, s.normalized_mean_activation  # noqa: B018 (the fields every plot reads)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RunError(f"{run.probe_path}: its lines are not plainnet probe entries") from None
    cfg = run.config()
    context = f"{cfg.data.dataset}, {cfg.model.depth} layers, {run.path.name}, during training"
    out = Path(out_dir)
    return [
        plots.normalized_mean_activation(stats, out / "normalized_mean_activation.png", context),
        plots.spectrum(stats, out / "singularity.png", context),
        plots.gradient_norms(stats, out / "gradient_norms.png", context),
        plots.correlation(stats, out / "correlation.png", context),
    ]


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
