import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from plainnet import plain_cnn, plain_mlp
from plainnet.app.build import init_model, make_data
from plainnet.app.config import resolve
from plainnet.app.probe import probe_data, save_probes
from plainnet.nn.diagnostics import (
    hidden_layers,
    probe,
    singular_values_from_gram,
    spectrum_stats,
)


def _matrix(singular_values, n=200, seed=0):
    """An n x d matrix with exactly these singular values."""
    rng = np.random.default_rng(seed)
    d = len(singular_values)
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return u @ np.diag(singular_values) @ v.T


def test_spectrum_stats_on_known_singular_values():
    s = spectrum_stats(np.array([100.0, 10.0, 1.0, 0.5]))
    assert s["condition_number"] == pytest.approx(200.0)
    assert s["rank"] == 4
    p = np.array([100, 10, 1, 0.5]) / 111.5
    assert s["effective_rank"] == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    equal = spectrum_stats(np.ones(8))
    assert equal["condition_number"] == 1.0 and equal["effective_rank"] == pytest.approx(8.0)
    singular = spectrum_stats(np.array([3.0, 2.0, 0.0]))
    assert singular["condition_number"] == math.inf and singular["rank"] == 2
    assert spectrum_stats(np.zeros(3))["rank"] == 0


def test_gram_route_equals_direct_svd():
    sv = np.array([50.0, 20.0, 5.0, 1.0, 0.1, 0.01])
    h = _matrix(sv)
    got = singular_values_from_gram(h.T @ h)
    np.testing.assert_allclose(got, np.linalg.svd(h, compute_uv=False), rtol=1e-6)
    np.testing.assert_allclose(got, sv, rtol=1e-6)


class Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_hooks_see_every_hidden_layer_once_and_match_a_direct_computation():
    torch.manual_seed(0)
    model = plain_mlp((16,), 5, depth=6, width=12, norm="none")
    x, y = torch.randn(300, 16), torch.randint(0, 5, (300,))
    layers = hidden_layers(model)
    assert [layer.name for layer in layers] == [f"layer{i}" for i in range(1, 6)]
    batches = [(x[i : i + 100], y[i : i + 100]) for i in range(0, 300, 100)]
    result = probe(model, batches, grad_batch=(x[:50], y[:50]), keep=[2, 5])
    assert len(result.layers) == 5 and sorted(result.kept) == [2, 5]
    # independent computation of layer 2's representation
    h = model.layer2(model.layer1(x)).detach().double().numpy()
    s = result.layers[1]
    assert s.units == 12
    assert s.mean == pytest.approx(h.mean(), rel=1e-6)
    assert s.max == pytest.approx(h.max(), rel=1e-6)
    assert s.dead_fraction == pytest.approx(((h > 0).sum(0) == 0).mean())
    np.testing.assert_allclose(s.singular_values, np.linalg.svd(h, compute_uv=False), rtol=1e-5)
    np.testing.assert_allclose(result.kept[2], h, rtol=1e-5)
    h1 = model.layer1(x).detach().abs().mean().item()
    assert s.normalized_mean_activation == pytest.approx(np.abs(h).mean() / h1, rel=1e-5)
    # gradient norm of layer 2's weight, computed directly
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x[:50]), y[:50]).backward()
    assert s.grad_norm == pytest.approx(model.layer2.weight.weight.grad.norm().item(), rel=1e-5)
    assert s.weight_norm_max == pytest.approx(
        model.layer2.weight.weight.norm(dim=1).max().item(), rel=1e-6
    )


def test_each_hook_fires_once_per_batch_and_model_is_unchanged():
    torch.manual_seed(0)
    model = plain_cnn((3, 8, 8), 4, depth=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    counters = []
    for block in model.blocks:
        counter = Counting(block.act)
        block.act = counter
        counters.append(counter)
    x = torch.randn(64, 3, 8, 8)
    batches = [
        (x[:32], torch.zeros(32, dtype=torch.long)),
        (x[32:], torch.zeros(32, dtype=torch.long)),
    ]
    result = probe(model, batches)
    assert [c.calls for c in counters] == [2] * 4
    assert [s.units for s in result.layers] == [16, 16, 32, 64]  # conv: a unit is a channel
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats restored


def test_generic_sequential_network():
    model = nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    layers = hidden_layers(model)
    assert [layer.name for layer in layers] == ["1", "3"]
    assert layers[1].weight is model[2].weight
    r = probe(model, [(torch.randn(20, 8), torch.zeros(20, dtype=torch.long))])
    assert len(r.layers) == 2


def test_naive_100_layer_net_at_init_loses_its_signal_with_depth():
    """The direction the paper reports: a naive plain net's deep layers decay and collapse."""
    cfg = resolve("naive")
    data = make_data(cfg)
    model, _ = init_model(cfg, data)
    batches = probe_data(data, "train", 1000)
    layers = probe(model, batches).layers
    nma = [s.normalized_mean_activation for s in layers]
    eff = [s.effective_rank for s in layers]
    assert len(layers) == 99
    assert np.mean(nma[-10:]) < 0.5 * np.mean(nma[:10])
    assert np.mean(eff[-10:]) < 0.25 * np.mean(eff[:10])
    # with BN + LReLU + max-norm the same depth keeps both
    cfg = resolve("proposed")
    model, _ = init_model(cfg, data)
    prop = probe(model, batches).layers
    assert np.mean([s.effective_rank for s in prop[-10:]]) > 4 * np.mean(eff[-10:])


def test_measured_correlation_follows_the_c_map_in_a_net_without_bn():
    """At init, a wide-enough ReLU/Leaky ReLU net without BN collapses its inputs as
    f^l(c_0) predicts; the probe's theory curve is that map applied to the same pairs."""
    from plainnet.nn.correlation import c_map
    from plainnet.nn.diagnostics import COSINE_SAMPLES, pairwise_cosines

    torch.manual_seed(0)
    x = torch.randn(300, 64) + 0.5  # inputs with a positive mean cosine
    y = torch.zeros(300, dtype=torch.long)
    for beta in (0.0, 0.5):
        model = plain_mlp((64,), 2, depth=20, width=1024, norm="none", beta=beta)
        layers = probe(model, [(x, y)]).layers
        measured = np.array([s.cosine_mean for s in layers])
        theory = np.array([s.cosine_theory for s in layers])
        expected = pairwise_cosines(x[:COSINE_SAMPLES])
        for i in range(len(layers)):
            expected = c_map(expected, beta)
            assert theory[i] == pytest.approx(expected.mean())
        assert np.abs(measured - theory).max() < 0.06, (beta, measured - theory)
        assert all(s.cosine_std >= 0 for s in layers)
    # slope 0.5 keeps inputs apart longer than ReLU does
    assert theory[-1] < 0.99
    relu_top = probe(plain_mlp((64,), 2, depth=20, norm="none", act="relu"), [(x, y)])
    assert relu_top.layers[-1].cosine_theory > theory[-1]
    # other activations have no theory curve
    tanh = probe(plain_mlp((64,), 2, depth=5, act="tanh"), [(x, y)]).layers
    assert all(s.cosine_theory is None and s.cosine_mean is not None for s in tanh)


def test_files_are_written(tmp_path):
    torch.manual_seed(0)
    model = plain_mlp((16,), 3, depth=8, width=8)
    x, y = torch.randn(90, 16), torch.arange(90) % 3
    results = {
        "a": probe(model, [(x, y)], grad_batch=(x, y), keep=[4]),
        "b c": probe(model, [(x, y)], keep=[4]),
    }
    files = save_probes(results, tmp_path, keep=[4])
    names = sorted(f.name for f in files)
    assert names == sorted(
        [
            "probe.json",
            "layers.csv",
            "normalized_mean_activation.png",
            "singularity.png",
            "gradient_norms.png",
            "correlation.png",
            "heatmap_a_layer4.png",
            "heatmap_b_c_layer4.png",
        ]
    )
    for f in files:
        assert f.stat().st_size > 0
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "probe.json").read_text())
    assert len(data["a"]["layers"]) == 7
    assert len((tmp_path / "layers.csv").read_text().splitlines()) == 1 + 14


def test_side_by_side_heatmaps_share_one_colour_scale(tmp_path, monkeypatch):
    """Two nets whose layer outputs differ 10x in size are drawn on the larger one's scale."""
    from plainnet.app import plots

    torch.manual_seed(0)
    small = plain_mlp((16,), 3, depth=6, width=8)
    large = plain_mlp((16,), 3, depth=6, width=8)
    x, y = torch.randn(60, 16), torch.arange(60) % 3
    results = {"small": probe(small, [(x, y)], keep=[3]), "large": probe(large, [(x, y)], keep=[3])}
    results["large"].kept[3] = results["large"].kept[3] * 10
    seen = []
    monkeypatch.setattr(plots, "heatmap", lambda *a, **k: seen.append(a[6]) or tmp_path / "x")
    save_probes(results, tmp_path, keep=[3])
    expect = plots.heatmap_limit(results["large"].kept[3])
    assert seen == [expect, expect]


def test_a_net_keeps_its_colour_in_every_figure_and_its_variants_are_told_apart():
    from matplotlib.colors import to_rgb

    from plainnet.app.plots import NET_COLOURS, colours

    one = colours(["naive", "proposed (beta 0.5)", "deep"])
    other = colours(["deep: 1000 layers", "proposed, beta auto", "my net", "your net"])
    assert to_rgb(one[1]) == to_rgb(other[1]) == to_rgb(NET_COLOURS["proposed"])
    assert to_rgb(one[2]) == to_rgb(other[0])
    assert len({to_rgb(c) for c in other}) == 4  # labels naming no net take free colours
    variants = [to_rgb(c) for c in colours(["proposed, beta 0.5", "proposed, beta auto"] * 2)]
    assert len(set(variants)) == 4 and variants[0] == to_rgb(NET_COLOURS["proposed"])


def test_error_axes_are_log_when_the_values_span_decades_and_start_at_zero_otherwise():
    from plainnet.app.plots import figure, log_if_wide

    _, (wide, narrow) = figure(1, 2)
    wide.plot([1, 2, 3], [83.0, 20.0, 2.5])
    narrow.plot([10_000], [6.73], marker="o")  # one point: not blown up to fill the panel
    assert log_if_wide(wide) == ", log scale" and wide.get_yscale() == "log"
    assert log_if_wide(narrow) == "" and narrow.get_yscale() == "linear"
    assert narrow.get_ylim()[0] == 0 and narrow.get_ylim()[1] > 6.73


def _grad_layers(grads: list[float]) -> list:
    """Per-layer stats with only what the per-layer figures read of a layer: gradient norms."""
    from types import SimpleNamespace

    return [SimpleNamespace(index=i + 1, grad_norm=g) for i, g in enumerate(grads)]


def test_a_line_that_stops_at_inf_or_nan_says_so_in_its_legend(tmp_path):
    from plainnet.app.plots import _per_layer, figure, gradient_norms

    stats = {"bn": _grad_layers([1.0, 10.0, math.inf, math.nan, 2.0])}  # overflowed at 3-4
    _, ax = figure()
    _per_layer(ax, stats, "grad_norm")
    (text,) = [t.get_text() for t in ax.get_legend().get_texts()]
    assert text == "bn: inf/NaN at 2 layers (3-4)"
    gradient_norms(stats, tmp_path / "g.png")  # the figure a probe writes draws it too
    assert (tmp_path / "g.png").stat().st_size > 0


def test_long_labels_are_wrapped_in_the_legend_so_the_axes_keep_their_width():
    from plainnet.app.plots import _per_layer, figure

    name = "20261207-092935-proposed,_batch_32,_random_shifts,_1_epoch_of_warm-up-s0 (trained)"
    _, ax = figure()
    _per_layer(ax, {name: _grad_layers([2.0, 3.0]), "b": _grad_layers([2.0, 3.0])}, "grad_norm")
    text = ax.get_legend().get_texts()[0].get_text()
    assert "".join(text.split()) == "".join(name.split())  # all of it, on lines of 40 at most
    assert max(map(len, text.split("\n"))) <= 40 < len(name)
