import math

import numpy as np
import pytest
import torch

from plainnet import plain_mlp
from plainnet.app.config import resolve
from plainnet.nn.correlation import (
    bn_gradient_beta,
    c_map,
    c_map_depth,
    leaky_relu_gain,
    resolve_beta,
    tat_beta,
)


def monte_carlo_cosines(c0: float, beta: float, layers: int, width: int = 4000, seed: int = 0):
    """Cosine similarity of two inputs' hidden vectors through wide random Leaky ReLU layers
    with Gaussian weights of the variance-preserving gain: an independent estimate of f^l."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(width, generator=g, dtype=torch.float64)
    b = torch.randn(width, generator=g, dtype=torch.float64)
    b = b - (a @ b) / (a @ a) * a  # orthogonal to a, then mix to cosine c0
    x = torch.stack([a / a.norm(), c0 * a / a.norm() + math.sqrt(1 - c0**2) * b / b.norm()])
    x = x * math.sqrt(width)
    out = []
    for _ in range(layers):
        w = torch.randn(width, width, generator=g, dtype=torch.float64) / math.sqrt(width)
        x = torch.nn.functional.leaky_relu(x @ w.T, beta) * leaky_relu_gain(beta)
        out.append((x[0] @ x[1] / (x[0].norm() * x[1].norm())).item())
    return out


@pytest.mark.parametrize("beta, c0", [(0.0, 0.0), (0.3, 0.2), (0.6, -0.5)])
def test_c_map_matches_wide_random_layers(beta, c0):
    predicted = c_map_depth(c0, beta, 4)[1:]
    measured = np.mean([monte_carlo_cosines(c0, beta, 4, 2000, seed) for seed in range(6)], 0)
    assert np.allclose(predicted, measured, atol=0.025), (predicted, measured)
    assert not np.allclose(measured, c0, atol=0.025)  # the layers did move the correlation


def test_c_map_closed_forms_at_special_points():
    cs = np.linspace(-1, 1, 41)
    assert np.allclose(c_map(cs, 1.0), cs)  # beta = 1: a linear net keeps every correlation
    # beta = 0: ReLU's normalized arc-cosine kernel of degree 1 (Cho & Saul 2009)
    theta = np.arccos(cs)
    arc_cos = (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi
    assert np.allclose(c_map(cs, 0.0), arc_cos)
    assert c_map(0.0, 0.0) == pytest.approx(1 / np.pi)
    for beta in (0.0, 0.5, 0.9):
        assert c_map(1.0, beta) == pytest.approx(1.0)
        assert np.all(c_map(cs, beta) >= cs - 1e-12)  # every layer pulls inputs together


def test_tat_beta_hits_eta_and_grows_with_depth():
    betas = [tat_beta(layers) for layers in (20, 50, 99, 199, 499, 999)]
    assert all(a < b for a, b in zip(betas, betas[1:], strict=False))
    for layers, beta in zip((20, 50, 99, 199, 499, 999), betas, strict=True):
        assert c_map_depth(0.0, beta, layers)[-1] == pytest.approx(0.9, abs=1e-6)
    # the values the docs quote (a depth-D model has D - 1 Leaky ReLU layers)
    assert [round(resolve_beta("auto", d, norm="none"), 2) for d in (100, 200, 500, 1000)] == [
        0.57,
        0.68,
        0.79,
        0.84,
    ]
    assert tat_beta(2) == 0.0  # shallow: even ReLU keeps f^L(0) below eta
    # ... but "auto" never goes below the paper's slope
    assert [resolve_beta("auto", d, norm=n) for d in (3, 10, 50) for n in ("batch", "none")] == [
        0.5
    ] * 6
    assert tat_beta(200, eta=0.5) > tat_beta(200, eta=0.9)  # a stricter target, a more linear net


def test_auto_slope_reaches_the_model_and_the_run_config(small_cfg, quiet):
    model = plain_mlp((64,), 10, depth=200, beta="auto")
    assert model.layer1.act.negative_slope == resolve_beta("auto", 200) == 0.6789
    assert resolve(overrides=["model.beta=auto"]).model.beta == "auto"  # kept until a run starts

    from plainnet.app.trainer import train

    run = train(small_cfg("model.depth=30", "model.beta=auto", "train.epochs=1"), console=quiet)
    assert run.run_dir.config().model.beta == resolve_beta("auto", 30)
    assert run.summary["beta"] == resolve_beta("auto", 30)


def test_batchnorm_auto_slope_also_bounds_the_gradient_growth():
    # the formula, and where it takes over from TAT's slope (about 240 layers)
    assert bn_gradient_beta(999) == pytest.approx(1 - math.log(100) / (0.065 * 999))
    assert bn_gradient_beta(10) == 0.0 and bn_gradient_beta(999, ratio=10) > bn_gradient_beta(999)
    for d in (10, 50, 100, 200):
        assert resolve_beta("auto", d) == resolve_beta("auto", d, norm="none")
    assert [resolve_beta("auto", d) for d in (500, 1000)] == [0.858, 0.9291]
    for norm in ("batch", "batch_renorm"):
        assert resolve_beta("auto", 1000, norm=norm) > resolve_beta("auto", 1000, norm="none")


def test_batchnorm_auto_slope_keeps_the_gradient_ratio_near_its_target():
    """Independent of the fit's data (digits, not USPS): at 300 layers the gradient norm ratio
    between the first and last hidden layer at init is near 100 with "auto", and several
    times larger with TAT's slope alone."""
    from plainnet.app.probe import probe_config

    def ratio(beta):
        cfg = resolve(
            "proposed", overrides=["model.depth=300", f"model.beta={beta}", "model.width=64"]
        )
        layers = probe_config(cfg, max_samples=256).layers
        return layers[0].grad_norm / layers[-1].grad_norm

    auto, tat = ratio("auto"), ratio(resolve_beta("auto", 300, norm="none"))
    assert 10 < auto < 400
    assert tat > 2 * auto


@pytest.mark.parametrize("bad", [(0, 0.9), (10, 1.0), (10, 0.0)])
def test_tat_beta_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        tat_beta(*bad)
