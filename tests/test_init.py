import math

import pytest
import torch
from torch import nn

from plainnet import delta_orthogonal_, he_uniform_, init_weights_, plain_cnn, plain_mlp
from plainnet.nn.init import INITS, activation_gain, fan_in


@pytest.mark.parametrize(
    "layer,n_in",
    [(nn.Linear(400, 300), 400), (nn.Conv2d(16, 256, 3), 16 * 3 * 3)],
)
def test_he_uniform_bounds_and_variance_eq3(layer, n_in):
    torch.manual_seed(0)
    w = he_uniform_(layer.weight)
    assert fan_in(w) == n_in
    bound = math.sqrt(6 / n_in)
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.99 * bound  # fills the whole interval
    # U[-a, a] has variance a^2 / 3 = 2 / n_in
    assert w.var().item() == pytest.approx(2 / n_in, rel=0.03)
    assert w.mean().item() == pytest.approx(0, abs=0.05 * bound)


def test_init_weights_covers_every_layer_and_zeroes_biases():
    torch.manual_seed(0)
    model = plain_cnn((3, 16, 16), 10, depth=8, norm="none", init="torch")
    init_weights_(model, "he_uniform")
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            assert m.weight.abs().max() <= math.sqrt(6 / fan_in(m.weight))
            assert torch.all(m.bias == 0)


@pytest.mark.parametrize("scheme", sorted(INITS))
def test_every_scheme_builds(scheme):
    model = plain_cnn((3, 8, 8), 10, depth=5, init=scheme)
    assert torch.isfinite(model(torch.randn(2, 3, 8, 8))).all()


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown init"):
        init_weights_(nn.Linear(2, 2), "zeros")


@pytest.mark.parametrize("shape", [(64, 64), (32, 100), (100, 32)])
def test_delta_orthogonal_linear_is_an_isometry_up_to_gain(shape):
    torch.manual_seed(0)
    w = delta_orthogonal_(torch.empty(*shape), gain=1.7)
    out, inp = shape
    if out <= inp:  # orthonormal rows: every unit's weights have norm gain, pairwise orthogonal
        assert torch.allclose(w @ w.T, 1.7**2 * torch.eye(out), atol=1e-5)
    else:  # orthogonal columns, scaled so a unit still sees its input's second moment
        assert torch.allclose(w.T @ w, 1.7**2 * out / inp * torch.eye(inp), atol=1e-4)


def test_delta_orthogonal_conv_is_an_orthogonal_centre_tap():
    torch.manual_seed(0)
    w = delta_orthogonal_(torch.empty(16, 16, 3, 3), gain=1.0)
    centre = w[:, :, 1, 1]
    assert torch.allclose(centre @ centre.T, torch.eye(16), atol=1e-5)
    w[:, :, 1, 1] = 0
    assert not w.any()  # every other tap is zero
    # so a conv at init maps each pixel's channel vector orthogonally: norms are kept
    conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    delta_orthogonal_(conv.weight)
    x = torch.randn(2, 16, 8, 8)
    assert torch.allclose(conv(x).norm(dim=1), x.norm(dim=1), atol=1e-4)


def test_activation_gains_keep_the_second_moment():
    torch.manual_seed(0)
    z = torch.randn(1_000_000)
    for act in (nn.ReLU(), nn.LeakyReLU(0.3), nn.LeakyReLU(0.9)):
        second = (activation_gain(act) * act(z)).pow(2).mean().item()
        assert second == pytest.approx(1.0, rel=0.01)
    assert activation_gain(nn.Tanh()) == 1.0


def test_delta_orthogonal_keeps_a_deep_net_without_batchnorm_at_its_input_scale():
    """200 hidden layers of Leaky ReLU without BatchNorm: with each layer's gain the signal's
    size stays within a factor of two; He-uniform (gain sqrt 2, ReLU's) makes it grow by
    (1 + beta^2) per layer."""
    torch.manual_seed(0)
    x = torch.randn(256, 128)
    sizes = {}
    for scheme in ("delta_orthogonal", "he_uniform"):
        model = plain_mlp((128,), 10, depth=201, width=128, norm="none", beta=0.8, init=scheme)
        hidden = model[:-1]  # without the classifier
        with torch.no_grad():
            sizes[scheme] = hidden(x).pow(2).mean().item() / x.pow(2).mean().item()
    assert 0.5 < sizes["delta_orthogonal"] < 2
    assert sizes["he_uniform"] > 1e30 or not math.isfinite(sizes["he_uniform"])


def _channel_rank(x: torch.Tensor) -> int:
    """Rank of the channels' covariance over samples and positions."""
    f = x.transpose(0, 1).flatten(1)
    return int(torch.linalg.matrix_rank(f - f.mean(1, keepdim=True), rtol=1e-4))


def test_delta_orthogonal_widen_gives_a_grey_image_distinct_channels():
    """On a one-channel image the delta-orthogonal stem makes 16 copies of the image (rank 1);
    the widening variant fills the whole kernel (rank 9 = 1 x 3 x 3), keeps equal-width convs
    delta-orthogonal and keeps the signal's size."""
    torch.manual_seed(0)
    x = torch.randn(64, 1, 12, 12)
    ranks, sizes = {}, {}
    for scheme in ("delta_orthogonal", "delta_orthogonal_widen"):
        model = plain_cnn((1, 12, 12), 10, depth=20, norm="none", beta=0.9, init=scheme)
        with torch.no_grad():
            ranks[scheme] = _channel_rank(model.layer1.weight(x))  # the stem conv
            sizes[scheme] = model[:-3](x).pow(2).mean().item() / x.pow(2).mean().item()
        same_width = model.layer2.weight.weight
        assert same_width[:, :, 0, 0].abs().sum() == 0  # only the centre tap
    assert ranks == {"delta_orthogonal": 1, "delta_orthogonal_widen": 9}
    assert all(0.3 < s < 3 for s in sizes.values()), sizes
