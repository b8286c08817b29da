import math

import pytest
import torch
from torch import nn

from plainnet import he_uniform_, init_weights_, plain_cnn
from plainnet.nn.init import INITS, fan_in


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
