"""LARS against steps computed by hand."""

import pytest
import torch

from plainnet.app.build import make_optimizer
from plainnet.app.config import resolve
from plainnet.nn.lars import LARS


def test_one_step_by_hand():
    # w = [[3, 4]] (norm 5), g = [[0, 2]] (norm 2): trust = 0.1 * 5 / 2 = 0.25, and the
    # first momentum buffer is the scaled gradient itself.
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
    b = torch.nn.Parameter(torch.tensor([1.0]))
    opt = LARS([w, b], lr=2.0, momentum=0.5, trust_coefficient=0.1)
    w.grad, b.grad = torch.tensor([[0.0, 2.0]]), torch.tensor([3.0])
    opt.step()
    assert torch.allclose(w, torch.tensor([[3.0, 4.0 - 2.0 * 0.25 * 2.0]]))  # [[3, 3]]
    assert torch.allclose(b, torch.tensor([1.0 - 2.0 * 3.0]))  # a vector: plain SGD
    # second step, same gradient: w = [[3, 3]], norm sqrt(18); trust = 0.1 sqrt(18) / 2;
    # buffer = 0.5 * [0, 0.5] + trust * [0, 2]
    opt.step()
    trust = 0.1 * 18**0.5 / 2
    expect = 3.0 - 2.0 * (0.5 * 0.5 + trust * 2.0)
    assert torch.allclose(w, torch.tensor([[3.0, expect]]))


def test_weight_decay_enters_the_gradient_and_its_norm():
    # g + wd w = [[0, 2]] + 0.5 [[4, 0]] = [[2, 2]], norm sqrt(8); ||w|| = 4
    w = torch.nn.Parameter(torch.tensor([[4.0, 0.0]]))
    opt = LARS([w], lr=1.0, momentum=0.0, weight_decay=0.5, trust_coefficient=0.01)
    w.grad = torch.tensor([[0.0, 2.0]])
    opt.step()
    trust = 0.01 * 4 / 8**0.5
    assert torch.allclose(w, torch.tensor([[4.0 - 2 * trust, -2 * trust]]))


def test_the_step_is_the_same_fraction_of_every_layer_whatever_its_gradient():
    """The point of LARS in a deep BatchNorm net: a layer whose gradient is 1e4 times another's
    moves by the same fraction of its norm."""
    torch.manual_seed(0)
    small, large = torch.nn.Parameter(torch.randn(8, 8)), torch.nn.Parameter(torch.randn(8, 8))
    before = [small.detach().clone(), large.detach().clone()]
    opt = LARS([small, large], lr=1.0, momentum=0.0, trust_coefficient=0.01)
    small.grad, large.grad = torch.randn(8, 8), 1e4 * torch.randn(8, 8)
    opt.step()
    moved = [(p - b).norm() / b.norm() for p, b in zip([small, large], before, strict=True)]
    assert torch.allclose(torch.stack(moved), torch.tensor([0.01, 0.01]))


def test_a_zero_weight_takes_the_plain_step():
    w = torch.nn.Parameter(torch.zeros(2, 2))
    opt = LARS([w], lr=0.5, momentum=0.0)
    w.grad = torch.ones(2, 2)
    opt.step()
    assert torch.allclose(w, torch.full((2, 2), -0.5))


def test_config_builds_lars_and_refuses_bad_values():
    cfg = resolve(None, None, ["optim.name=lars", "optim.lr=2.0", "optim.trust_coefficient=0.02"])
    opt = make_optimizer(cfg.optim, [torch.nn.Parameter(torch.ones(2, 2))])
    assert isinstance(opt, LARS) and opt.defaults["trust_coefficient"] == 0.02
    with pytest.raises(ValueError):
        LARS([torch.nn.Parameter(torch.ones(1))], lr=-1.0)
