import pytest
import torch
from torch import nn

from plainnet import PlainBlock, build_model, plain_cnn, plain_mlp
from plainnet.nn.models import ACTIVATIONS, activation, count_parameters, stage_sizes


def weight_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def test_leaky_relu_is_eq1():
    z = torch.linspace(-3, 3, 61)
    for beta in (0.0, 0.1, 0.3, 0.99):
        expected = torch.where(z > 0, z, beta * z)
        assert torch.equal(activation("leaky_relu", beta)(z), expected)


@pytest.mark.parametrize("depth", [2, 3, 100, 1000])
def test_mlp_depth_counts_weight_layers_including_classifier(depth):
    model = plain_mlp((1, 8, 8), 10, depth=depth, width=8)
    assert len(weight_layers(model)) == depth == model.depth
    assert len(model.blocks) == depth - 1
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)


@pytest.mark.parametrize("depth", [2, 5, 20, 50, 56, 110])
def test_cnn_depth_counts_weight_layers(depth):
    model = plain_cnn((3, 32, 32), 10, depth=depth)
    assert len(weight_layers(model)) == depth == model.depth
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cnn_sizes_match_he_et_al():
    assert stage_sizes(48, 3) == [16, 16, 16]  # depth 50 = 6*8 + 2
    assert stage_sizes(50, 3) == [17, 17, 16]  # other depths: extras go to early stages
    # The paper's 50-layer PlainNet has 0.72M parameters; ours, with BN, 0.756M.
    assert count_parameters(plain_cnn((3, 32, 32), 10, depth=50)) == pytest.approx(0.72e6, rel=0.06)
    # Depth 56 is ResNet-56 without its (parameter-free) shortcuts: 0.85M.
    assert count_parameters(plain_cnn((3, 32, 32), 10, depth=56)) == pytest.approx(0.85e6, rel=0.01)


def test_cnn_downsamples_at_each_stage():
    model = plain_cnn((3, 32, 32), 10, depth=8)
    shapes = []
    x = torch.randn(1, 3, 32, 32)
    for block in model.blocks:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes[0] == (16, 32, 32)
    assert shapes[-1] == (64, 8, 8)
    assert {s for s in shapes} == {(16, 32, 32), (32, 16, 16), (64, 8, 8)}


def test_hidden_layers_are_plain_blocks_without_skips():
    model = plain_mlp((16,), 10, depth=6, norm="batch", act="leaky_relu")
    names = [n for n, _ in model.named_children()]
    assert names == ["flatten", "layer1", "layer2", "layer3", "layer4", "layer5", "head"]
    for block in model.blocks:
        assert isinstance(block, PlainBlock)
        kinds = [type(m) for m in block]
        assert kinds == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU]
        assert block.weight.bias is None  # BN follows: a bias would be cancelled


def test_components_switch_independently():
    model = plain_mlp((16,), 10, depth=4, norm="none", act="relu")
    for block in model.blocks:
        assert [type(m) for m in block] == [nn.Linear, nn.ReLU]
        assert block.weight.bias is not None
    for name in ACTIVATIONS:
        assert plain_mlp((16,), 10, depth=3, act=name)(torch.randn(3, 16)).shape == (3, 10)


def test_registry_and_bad_arguments():
    assert isinstance(build_model("mlp", in_shape=(4,), num_classes=3, depth=3), nn.Module)
    # a whole config section may be passed (width is not a CNN argument) ...
    cnn = build_model("cnn", in_shape=(3, 8, 8), num_classes=3, depth=5, width=64, act="relu")
    assert isinstance(cnn.layer1.act, nn.ReLU)
    # ... but a builder called directly rejects a misspelt argument
    with pytest.raises(TypeError, match="widht"):
        plain_mlp((4,), 3, depth=3, widht=8)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet0", in_shape=(4,), num_classes=3)
    with pytest.raises(ValueError, match="depth must be >= 2"):
        plain_mlp((4,), 3, depth=1)
    with pytest.raises(ValueError, match="unknown activation"):
        plain_mlp((4,), 3, depth=3, act="sigmoidish")


def test_cifar_resnet_baseline_sizes():
    from plainnet.nn.models import resnet

    assert count_parameters(resnet((3, 32, 32), 10, depth=56)) == pytest.approx(0.85e6, rel=0.01)
    assert count_parameters(resnet((3, 32, 32), 10, depth=110)) == pytest.approx(1.7e6, rel=0.02)
    assert resnet((3, 32, 32), 10, depth=20)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet((3, 32, 32), 10, depth=51)


def test_a_zero_init_residual_resnet_starts_as_its_shortcuts():
    """Every block starts as its shortcut, so the outputs no longer grow with the number of
    blocks at init, as they do in He et al.'s ResNet."""
    from plainnet.nn.models import BasicBlock, resnet

    torch.manual_seed(0)
    x = torch.randn(64, 1, 16, 16)
    block = resnet((1, 16, 16), 10, depth=20, zero_init_residual=True).stage1_1
    h = torch.relu(torch.randn(64, 16, 16, 16))
    assert torch.equal(block(h), h)  # train mode: the branch's BatchNorm outputs 0 * z + 0

    def features(net):  # the pooled features the head reads
        return net[:-1](x).std().item()

    plain = {d: features(resnet((1, 16, 16), 10, depth=d)) for d in (20, 110)}
    zero = {
        d: features(resnet((1, 16, 16), 10, depth=d, zero_init_residual=True)) for d in (20, 110)
    }
    assert plain[110] > 2 * plain[20]
    assert zero[110] == pytest.approx(zero[20], rel=0.5)
    bn2 = [
        m.bn2.weight
        for m in resnet((1, 16, 16), 10, depth=20).modules()
        if isinstance(m, BasicBlock)
    ]
    assert all(torch.equal(w, torch.ones_like(w)) for w in bn2)  # the default is He et al.'s


def test_a_builtin_model_name_cannot_be_replaced_silently():
    from plainnet.nn.models import MODELS, register_model

    def mlp(in_shape, num_classes):  # a user's module defining its own "mlp"
        return nn.Linear(1, num_classes)

    mlp.__module__ = "mymodels"
    with pytest.raises(ValueError, match="'mlp' is registered already .* another name"):
        register_model(mlp)
    assert MODELS["mlp"].__module__ == "plainnet.nn.models"
