import pytest
import torch
import torch.nn.functional as F

from plainnet import MaxNorm, hidden_weights, max_norm_, plain_cnn, plain_mlp, unit_norms

TOL = 1e-5


def _train_steps(model, shape, project, steps=5, lr=5.0):
    """Real SGD steps with a large lr, so that weights leave the ball and must be projected."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.randn(16, *shape, generator=gen)
        y = torch.randint(0, 10, (16,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        project()


@pytest.mark.parametrize("build,shape", [(plain_mlp, (1, 8, 8)), (plain_cnn, (3, 8, 8))])
def test_invariant_after_real_optimizer_steps(build, shape):
    torch.manual_seed(0)
    model = build(shape, 10, depth=12, norm="none", beta=0.5)
    c = 0.5  # He-uniform rows start near sqrt(2) > c, so every unit is projected
    project = MaxNorm(hidden_weights(model), c)
    _train_steps(model, shape, project)
    for w in hidden_weights(model):
        assert unit_norms(w).max() <= c * (1 + TOL)
    # Projection scales a vector onto the sphere: the norms of projected units sit at c.
    assert unit_norms(hidden_weights(model)[3]).min() == pytest.approx(c, rel=TOL)
    # The classifier is not constrained by the default ("hidden") selection.
    assert unit_norms(model.head.weight).max() > c


def test_vectors_below_c_are_untouched_bit_for_bit():
    torch.manual_seed(0)
    w = torch.randn(6, 20)
    w[::2] *= 10  # rows 0, 2, 4 far above c=3; rows 1, 3, 5 (norm ~4.5) scaled below it
    w[1::2] *= 0.5
    before = w.clone()
    max_norm_([w], c=3.0)
    assert torch.equal(w[1::2], before[1::2])
    assert torch.allclose(unit_norms(w[::2]), torch.full((3,), 3.0), rtol=TOL)
    # Direction is kept: the projected row is a positive multiple of the original.
    cos = F.cosine_similarity(w[::2], before[::2], dim=1)
    assert torch.allclose(cos, torch.ones(3), atol=1e-6)


def test_conv_constrains_one_vector_per_output_channel():
    conv = torch.nn.Conv2d(4, 8, 3)
    with torch.no_grad():
        conv.weight.mul_(torch.arange(1, 9, dtype=torch.float).view(8, 1, 1, 1))
    norms = unit_norms(conv.weight)
    assert norms.shape == (8,)  # one vector of C_in*k*k = 36 values per output channel
    c = norms.median().item()
    max_norm_(conv, c)
    after = unit_norms(conv.weight)
    assert torch.allclose(after, norms.clamp(max=c), rtol=TOL)


def test_user_loop_on_a_100_layer_model():
    """What a user writes: their own loop, `max_norm_(model, c)` after each step."""
    torch.manual_seed(0)
    model = plain_mlp((256,), 10, depth=100, width=32)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    for _ in range(3):
        x, y = torch.randn(32, 256), torch.randint(0, 10, (32,))
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        max_norm_(model, c=1.0)  # a module: every Linear, the classifier included
    assert (
        max(
            unit_norms(m.weight).max()
            for m in model.modules()
            if hasattr(m, "weight") and isinstance(m, torch.nn.Linear)
        )
        <= 1.0 + TOL
    )


def test_all_layers_includes_head_and_groups_by_shape():
    model = plain_mlp((64,), 10, depth=100, width=32)
    project = MaxNorm(model, 1.0)
    # first layer (32x64), 98 hidden (32x32), head (10x32): three groups, not 100 loops
    assert sorted(len(g) for g in project.groups) == [1, 1, 98]
    project()
    assert project.max_norm() <= 1.0 + TOL


def test_rejects_non_positive_c():
    with pytest.raises(ValueError, match="c must be > 0"):
        MaxNorm([torch.ones(2, 2)], 0.0)


def test_packed_weights_keep_values_and_repack_when_replaced():
    torch.manual_seed(0)
    model = plain_mlp((16,), 4, depth=6, width=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    project = MaxNorm(hidden_weights(model), 0.5)
    assert list(model.parameters()) == params  # same Parameter objects, now views of one buffer
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    hidden = hidden_weights(model)[1:]
    assert len({w.untyped_storage().data_ptr() for w in hidden}) == 1
    # Replacing the storage behind the projection's back (as model.to(...) can) is noticed.
    model.layer3.weight.weight.data = model.layer3.weight.weight.data.clone() * 10
    project()
    assert unit_norms(model.layer3.weight.weight).max() <= 0.5 * (1 + TOL)
