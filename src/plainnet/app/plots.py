"""Figures for the depth diagnostics (`plainnet.nn.diagnostics`) and the reports, written as
PNG files with matplotlib.

Every figure is a `matplotlib.figure.Figure` drawn without pyplot, so plainnet never switches
the backend of the process it runs in (a notebook keeps its own) and leaves no figure open.
"""

import collections
import itertools
import math
import re
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.colors import TABLEAU_COLORS, to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from plainnet.files import write_atomic

# Condition numbers are drawn up to this value; an infinite one (a singular matrix) sits on it.
COND_CAP = 1e17


# One colour per net in every figure: the paper's component nets (the presets), the deep
# preset and the ResNets; any other label takes the cycle's colour for its position.
NET_COLOURS = {
    "naive": "tab:red",
    "lrelu": "tab:pink",
    "maxnorm": "tab:olive",
    "lrelu_maxnorm": "tab:brown",
    "bn": "tab:blue",
    "bn_lrelu": "tab:cyan",
    "bn_maxnorm": "tab:purple",
    "proposed": "tab:green",
    "deep": "tab:orange",
    "resnet": "tab:gray",
}


def colours(labels: list[str]) -> list:
    """A colour per label: the net's own when a word of the label names one (the first such
    word: "proposed (beta 0.5)"; "PlainNet-BN-56" is bn), a second variant of that net in the
    same figure a darker shade of it, a third a lighter one; other labels take, in order, the
    cycle's colours that no label of this figure already has."""
    names = []
    for label in labels:  # the first word naming a net: "PlainNet-BN-56" is "bn"
        words = ["resnet" if w.startswith("resnet") else w for w in re.split(r"\W+", label.lower())]
        names.append(next((w for w in words if w in NET_COLOURS), label))
    taken = {NET_COLOURS.get(n) for n in names}
    free = itertools.cycle([c for c in TABLEAU_COLORS if c not in taken] or TABLEAU_COLORS)
    variants = collections.Counter()
    out = []
    for n in names:
        if n not in NET_COLOURS:
            out.append(next(free))
            continue
        rgb, k = np.array(to_rgb(NET_COLOURS[n])), variants[n]
        variants[n] += 1
        shade = (0.0, -0.45, 0.45, -0.7, 0.7)[k % 5]  # towards black (< 0) or white (> 0)
        out.append(tuple(rgb * (1 + shade) if shade <= 0 else rgb + (1 - rgb) * shade))
    return out


def drawn_before(drawn: dict, values, label: str) -> str | None:
    """The label a curve with exactly these `values` was first drawn with, when that was
    another label (this one would hide it: the caller names the twin and restyles); `drawn`
    is the figure's record of curves, values -> first label."""
    first = drawn.setdefault(tuple(values), label)
    return first if first != label else None


def log_if_wide(ax) -> str:
    """A log y axis when the drawn values span more than 10x (errors from chance down to a
    few percent: on a linear axis the band where nets are compared is a few pixels high);
    ", log scale" for the axis label (with "0 not drawn" when some value is 0, which a log axis
    cannot show), else "". A linear axis starts at 0, so that a lone point or a flat line is
    not blown up to fill the panel."""
    every = [y for line in ax.get_lines() for y in line.get_ydata()]
    ys = [y for y in every if y > 0]
    if ys and max(ys) > 10 * min(ys):
        ax.set_yscale("log")
        # labels at 1, 2 and 5 of each decade, written 40 rather than 4 x 10^1: every minor
        # tick labelled crowds an axis that spans several decades
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        return ", log scale" + ("; 0 not drawn" if 0 in every else "")
    ax.set_ylim(bottom=0)
    return ""


def figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """A new `Figure` and its axes (`Figure.subplots`): pyplot's `subplots` without pyplot."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save(fig, path, context: str = ""):
    """Write `fig` as PNG; `context` (data set, depth, init or trained) goes above it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if context:
        fig.suptitle(context, fontsize=9, color="0.3")
    fig.tight_layout()
    return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))


def legend(ax, width: int = 40, **kwargs):
    """`ax.legend` with each label wrapped at `width` characters: a trained run is labelled by
    its folder's name, and one such label unwrapped squeezes the axes beside it to a sliver."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [textwrap.fill(x, width) for x in labels], **kwargs)


def _per_layer(ax, stats: dict, key: str, transform=lambda v: v):
    told = False
    for c, (label, layers) in zip(colours(list(stats)), stats.items(), strict=True):
        points = [(s.index, transform(v)) for s in layers if (v := getattr(s, key)) is not None]
        # matplotlib leaves inf/NaN out without a mark: a line that stops must say why (a
        # gradient that overflows float32 deep in a net is a finding, not a gap in the data)
        if lost := [i for i, v in points if not math.isfinite(v)]:
            label, told = f"{label}: inf/NaN at {len(lost)} layers ({min(lost)}-{max(lost)})", True
        xs, ys = zip(*points, strict=True) if points else ((), ())
        ax.plot(xs, ys, marker="." if len(xs) < 40 else None, label=label, color=c)
    ax.set_xlabel("hidden layer")
    ax.grid(True, which="both", alpha=0.3)
    if len(stats) > 1 or told:
        legend(ax)


def _over_depth(stats: dict, key: str, ylabel: str, title: str, path, context: str = ""):
    fig, ax = figure(figsize=(7, 4.5))
    _per_layer(ax, stats, key)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return save(fig, path, context)


def normalized_mean_activation(stats: dict, path, context: str = ""):
    """NMA_l = mean|h_l| / mean|h_1| versus depth, one line per probed network."""
    ylabel = "normalized mean activation  mean|h_l| / mean|h_1|"
    return _over_depth(
        stats, "normalized_mean_activation", ylabel, "Units' outputs over depth", path, context
    )


def spectrum(stats: dict, path, context: str = ""):
    """Condition number (log) and effective rank of each layer's representation matrix."""
    fig, (a, b) = figure(1, 2, figsize=(12, 4.5))
    _per_layer(
        a, stats, "condition_number", lambda v: min(v, COND_CAP) if math.isfinite(v) else COND_CAP
    )
    a.set_yscale("log")
    a.set_ylabel("condition number of H (samples x units)")
    a.set_title(f"Near-singularity (singular matrices drawn at {COND_CAP:.0e})")
    _per_layer(b, stats, "effective_rank")
    b.set_yscale("log")
    b.set_ylabel("effective rank")
    b.set_title("How many directions the representation uses")
    return save(fig, path, context)


def gradient_norms(stats: dict, path, context: str = ""):
    """||dL/dW_l|| for one batch versus depth."""
    ylabel = "gradient norm of the layer's weights"
    return _over_depth(stats, "grad_norm", ylabel, "Gradient flow (one batch)", path, context)


def heatmap_limit(rep: np.ndarray) -> float:
    """The colour scale's half-range for `rep`: its 99.5th percentile of |output|."""
    return float(np.percentile(np.abs(rep), 99.5)) or 1.0


def heatmap(
    rep: np.ndarray, labels: np.ndarray, index: int, label: str, path, context="", lim=None
):
    """One layer's outputs for every probed sample: units x samples, samples sorted by class.
    `lim`: the colour scale's half-range (give figures that are compared the same one).

    The scale is symmetric-logarithmic, linear within lim / 1000 of zero: nets whose outputs
    differ by orders of magnitude share one scale and each one's pattern stays visible."""
    from matplotlib.colors import SymLogNorm

    order = np.argsort(labels, kind="stable")
    fig, ax = figure(figsize=(10, 4))
    lim = lim or heatmap_limit(rep)
    norm = SymLogNorm(linthresh=lim / 1000, vmin=-lim, vmax=lim)
    im = ax.imshow(rep[order].T, aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest")
    bounds = np.flatnonzero(np.diff(labels[order])) + 0.5
    for b in bounds:
        ax.axvline(b, color="k", lw=0.4, alpha=0.5)
    ax.set_xlabel(f"samples ({len(labels)}, sorted by class; lines separate classes)")
    ax.set_ylabel("units")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{label}: layer {index} outputs")
    # decades from lim / 100 up and 0: the default ticks crowd around the linear band
    ticks = [-lim, -lim / 10, -lim / 100, 0, lim / 100, lim / 10, lim]
    bar = fig.colorbar(im, ax=ax, ticks=ticks, label="unit output (symmetric log scale)")
    bar.ax.set_yticklabels([f"{t:.2g}" for t in ticks])
    return save(fig, path, context)


def correlation(stats: dict, path, context: str = ""):
    """Mean pairwise cosine similarity of hidden vectors versus depth (band: +-1 std over the
    pairs), beside the wide-random-net theory f^l(c_0) for each net's slopes (dashed)."""
    fig, ax = figure(figsize=(7.5, 4.8))
    for c, (label, layers) in zip(colours(list(stats)), stats.items(), strict=True):
        xs = [s.index for s in layers if s.cosine_mean is not None]
        mean = np.array([s.cosine_mean for s in layers if s.cosine_mean is not None])
        std = np.array([s.cosine_std for s in layers if s.cosine_mean is not None])
        ax.plot(xs, mean, color=c, label=f"{label}: measured")
        ax.fill_between(xs, mean - std, mean + std, color=c, alpha=0.15, lw=0)
        theory = [(s.index, s.cosine_theory) for s in layers if s.cosine_theory is not None]
        if theory:
            ax.plot(*zip(*theory, strict=True), color=c, ls="--", label=f"{label}: theory, no BN")
    ax.set_xlabel("hidden layer")
    ax.set_ylabel("pairwise cosine similarity of hidden vectors")
    ax.set_ylim(-0.2, 1.02)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_title("Do inputs collapse with depth? (1: all inputs look alike)")
    ax.grid(True, alpha=0.3)
    legend(ax, fontsize=7)
    return save(fig, path, context)


def error_vs_depth(by: dict, path, title: str) -> Path:
    """Final test, train (eval mode) and running train error against depth, one line per
    net through the seeds' means, each seed a small dot (a mean can hide one failed seed):
    `by[net, depth]` is a grid's `RowResult`. A diverged run is an x at 100%, nets' marks
    side by side; a net whose curve is another's is dashed and says so."""
    nets, depths = list(dict.fromkeys(n for n, _ in by)), sorted({d for _, d in by})
    fig, axes = figure(1, 3, figsize=(18, 4.8))
    panels = [
        ("final_test_err", "test error % (final model, eval mode)"),
        ("final_train_err", "train error % (final model, eval mode)"),
        ("final_running_train_err", "train error % (last epoch, train-mode BN)"),
    ]
    drawn: dict[tuple, str] = {}  # a curve's points -> the first net drawn with them
    for k, (net, colour) in enumerate(zip(nets, colours(nets), strict=True)):
        nudge = 1.06 ** (k - (len(nets) - 1) / 2)  # side by side, not on top of each other
        for ax, (key, _) in zip(axes, panels, strict=True):
            pts = [(d, by[net, d].stat(key)[0]) for d in depths if by[net, d].values(key)]
            if pts:
                style = dict(label=net)
                if twin := drawn_before(drawn, (key, *pts), net):  # drawn over it: dashed
                    style = dict(label=f"{net} (identical to {twin})", ls="--", mfc="none")
                ax.plot(*zip(*pts, strict=True), marker="o", color=colour, **style)
                seeds = [(d * nudge, v) for d in depths for v in by[net, d].values(key)]
                ax.plot(*zip(*seeds, strict=True), ".", color=colour, alpha=0.5, ms=5)
            failed = [d * nudge for d in depths if by[net, d].diverged]
            ax.plot(failed, [100] * len(failed), "x", color=colour, ms=9, mew=2)
    for ax, (_, ylabel) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_xticks(depths, [f"{d:,}" for d in depths], minor=False)
        ax.minorticks_off()
        ax.set_xlabel("depth (weight layers)")
        scale = log_if_wide(ax).removeprefix(", ")
        ax.set_ylabel(ylabel + (f"\n{scale}" if scale else ""))  # two lines: it fits the panel
        ax.grid(True, alpha=0.3, which="both")
    legend(axes[-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # off the curves
    fig.suptitle(title)
    return save(fig, path)


def component_map(grid, ratios, beta_names, c_names, seeds: int, path, title: str) -> Path:
    """Left: validation error of every slope (rows) x bound (columns) as a heatmap, each
    cell's mean written in it (`grid[i][j]` is a grid's `RowResult`; an all-diverged cell dark
    grey, its failures counted). Right: each slope's gradient ratio at init, log scale."""
    mean = np.full((len(grid), len(grid[0])), np.nan)
    fig, (ax, ax2) = figure(1, 2, figsize=(13, 5.2), width_ratios=[1.4, 1])
    for (i, j), r in np.ndenumerate(np.array(grid, dtype=object)):
        if r.values("final_val_err"):
            mean[i, j] = r.stat("final_val_err")[0]
        failed = f"\n{r.diverged}/{len(r.runs)} diverged" if r.diverged else ""
        text = "all\ndiverged" if np.isnan(mean[i, j]) else f"{mean[i, j]:.1f}{failed}"
        dark = np.isnan(mean[i, j]) or mean[i, j] > 50
        ax.text(j, i, text, ha="center", va="center", fontsize=9,
                color="white" if dark else "black")  # fmt: skip
    img = ax.imshow(mean, cmap="viridis_r", vmin=0, vmax=100, aspect="auto")
    ax.set_facecolor("0.25")  # an all-diverged cell has no mean: drawn dark grey
    ax.set_xticks(range(len(c_names)), c_names)
    ax.set_yticks(range(len(beta_names)), beta_names)
    ax.set_xlabel("max-norm bound (eq. 2)")
    ax.set_ylabel("Leaky ReLU slope beta (eq. 1)")
    fig.colorbar(img, ax=ax, label=f"validation error % (mean of {seeds} seeds)")
    ax2.bar(range(len(beta_names)), ratios, color="C0")
    ax2.set_yscale("log")
    ax2.set_xticks(range(len(beta_names)), beta_names, rotation=30)
    ax2.set_xlabel("Leaky ReLU slope beta")
    ax2.set_ylabel("gradient norm, first / last hidden layer")
    ax2.set_title("at init (probe, 500 training samples)")
    fig.suptitle(title)
    return save(fig, path)


LINESTYLES = ["-", "--", ":", "-."]


def learning_curves(results, path: Path, title: str) -> Path:
    """Per-epoch error of every run of a grid (`results`: `plainnet.app.grid.RowResult`s) on
    the selection split (validation, else test), one colour per row and one line style per
    seed; diverged runs end in an x and say so."""
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
    legend(ax, fontsize=7, ncol=2)
    return save(fig, path)


def search_figure(points: list[dict], fields, path: Path, title: str) -> Path:
    """A search's trials (`plainnet.app.recipes.tune`): validation error against each
    searched field, one panel per field; finished trials as dots shaded by trial order
    (later: darker), pruned ones as x at their last epoch's error, diverged or failed ones
    at 100%."""
    fig, axes = figure(
        1, len(fields), figsize=(max(6.0, 4.2 * len(fields) + 0.6), 4), squeeze=False
    )
    n = max(len(points) - 1, 1)
    for ax, field in zip(axes[0], fields, strict=True):
        pos = {c: i for i, c in enumerate(field.choices)}

        def x(v, pos=pos):
            return pos[v] if pos else v

        for i, p in enumerate(points):
            if field.name not in p["params"] or p["err"] is None:  # e.g. pruned at epoch 1
                continue
            v, state = x(p["params"][field.name]), p["state"]
            if state == "finished":
                ax.plot(v, 100 * p["err"], "o", color=(0.1, 0.3, 0.7, 0.25 + 0.75 * i / n))
            elif state == "pruned" and p["err"] is not None:
                ax.plot(v, 100 * p["err"], "x", color="0.45", ms=7)
            elif state in ("diverged", "failed"):
                ax.plot(v, 100, "^", color="tab:red", ms=7)
        if field.kind == "log":
            ax.set_xscale("log")
        if pos:
            ax.set_xticks(range(len(pos)), list(pos), rotation=20, fontsize=7)
        ax.set_xlabel(field.name)
        ax.grid(True, alpha=0.3)
        scale = log_if_wide(ax)
    axes[0][0].set_ylabel(f"validation error %{scale}")
    for marker, colour, label in (("o", (0.1, 0.3, 0.7), "finished (darker: later)"),
                                  ("x", "0.45", "pruned (last epoch)"),
                                  ("^", "tab:red", "diverged/failed (at 100%)")):  # fmt: skip
        axes[0][-1].plot([], [], marker, color=colour, label=label, ls="none")
    legend(axes[0][-1], fontsize=7)
    width = fig.get_figwidth()
    fig.suptitle(textwrap.fill(title, int(14 * width)), fontsize=9)  # ~14 characters an inch
    return save(fig, path)
