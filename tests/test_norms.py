import pytest
import torch
from torch import nn

from plainnet import plain_cnn, plain_mlp
from plainnet.nn.norms import (
    BatchRenorm1d,
    BatchRenorm2d,
    channel_mean_var,
    precise_bn_,
    recalibrate_,
)


@pytest.mark.parametrize(
    "cls, bn, shape",
    [(BatchRenorm1d, nn.BatchNorm1d, (64, 8)), (BatchRenorm2d, nn.BatchNorm2d, (16, 8, 5, 5))],
)
def test_starts_as_batchnorm_and_ends_as_the_population_normalization(cls, bn, shape):
    torch.manual_seed(0)
    x = torch.randn(shape) * 3 + 1
    brn, ref = cls(8), bn(8, momentum=0.01)
    for m in (brn, ref):
        nn.init.uniform_(m.weight)
        nn.init.uniform_(m.bias)
    ref.load_state_dict(brn.state_dict())
    # step 0: r_max = 1, d_max = 0, so r = 1, d = 0: plain BatchNorm, same running update
    assert torch.allclose(brn(x), ref(x), atol=1e-5)
    assert torch.allclose(brn.running_mean, ref.running_mean)
    assert torch.allclose(brn.running_var, ref.running_var)
    # after the warm-up, with r and d inside their clips, training mode normalizes with the
    # running statistics (as eval mode does), whatever the batch's own statistics
    brn.num_batches_tracked.fill_(brn.warmup)
    brn.r_max, brn.d_max = 100.0, 100.0
    brn.eval()
    expected = brn(x)
    brn.train()
    assert torch.allclose(brn(x), expected, atol=1e-4)


def test_r_and_d_carry_no_gradient():
    """Gradients flow as through BatchNorm on the batch statistics (r, d are constants)."""
    torch.manual_seed(0)
    x = torch.randn(32, 4, requires_grad=True)
    brn = BatchRenorm1d(4)
    brn.running_var.fill_(4.0)
    brn.running_mean.fill_(0.5)
    brn.num_batches_tracked.fill_(brn.warmup)
    (brn(x) ** 3).sum().backward()
    g_brn = x.grad.clone()
    x.grad = None
    mean, std = x.mean(0), (x.var(0, unbiased=False) + brn.eps).sqrt()
    r = (std / (4.0 + brn.eps) ** 0.5).detach().clamp(1 / 3, 3)
    d = ((mean - 0.5) / (4.0 + brn.eps) ** 0.5).detach().clamp(-5, 5)
    ((((x - mean) / std * r + d) ** 3).sum()).backward()
    assert torch.allclose(g_brn, x.grad, atol=1e-5)


def test_models_build_with_batch_renorm():
    mlp = plain_mlp((16,), 3, depth=5, width=8, norm="batch_renorm")
    cnn = plain_cnn((3, 8, 8), 3, depth=5, channels=(4, 8), norm="batch_renorm")
    assert isinstance(mlp.layer1.norm, BatchRenorm1d) and isinstance(
        cnn.layer1.norm, nn.BatchNorm2d
    )
    assert mlp(torch.randn(4, 16)).shape == (4, 3) and cnn(torch.randn(4, 3, 8, 8)).shape == (4, 3)


def _bn_outputs(model, x):
    outs = []
    hooks = [b.norm.register_forward_hook(lambda m, i, o: outs.append(o)) for b in model.blocks]
    model(x)
    for h in hooks:
        h.remove()
    return outs


def test_recalibrated_bns_standardize_exactly_what_eval_mode_feeds_them():
    torch.manual_seed(0)
    model = plain_mlp((16,), 3, depth=40, width=32, beta=0.2)
    x = torch.randn(600, 16) * 2 + 1
    for _ in range(5):  # running averages from a few train-mode batches
        model(x[torch.randint(0, 600, (64,))])
    model.eval()
    before = _bn_outputs(model, x)
    recalibrate_(model, x)
    assert not model.training
    after = _bn_outputs(model, x)
    for o in after:  # BN's affine is the identity at init: outputs have mean 0, var 1
        assert o.mean(0).abs().max() < 1e-4 and (o.var(0) - 1).abs().max() < 1e-3
    assert max((o.var(0) - 1).abs().max() for o in before) > 0.1  # it was not so before
    # precise BN (train-mode passes) standardizes the train-mode inputs, not eval mode's
    precise_bn_(model, x, batch_size=100)
    model.eval()
    deep = _bn_outputs(model, x)[-1]
    assert (deep.var(0) - 1).abs().max() > (after[-1].var(0) - 1).abs().max()


def test_training_calibrates_and_reports_the_running_average_numbers_beside(small_cfg, quiet):
    from plainnet.app.trainer import train

    result = train(
        small_cfg("model.depth=30", "train.epochs=2", "train.check_running_stats=true"),
        console=quiet,
    )
    s = result.summary
    assert 0 <= s["final_val_err_running_stats"] <= 1
    # the test split is read once, by the final model; the training split is not re-read
    assert "final_test_err_running_stats" not in s and "final_train_err_running_stats" not in s
    # the check's time is its own, in the last epoch only, apart from the calibration's
    rows = result.run_dir.read_metrics()
    assert rows[0]["running_stats_check_s"] == 0 < rows[1]["running_stats_check_s"]
    assert all(r["calibration_s"] > 0 for r in rows)
    assert {"RunningStatsCheck", "Calibration"} <= set(s["seconds_by_part"])
    off = train(
        small_cfg("model.depth=30", "train.epochs=2", "train.calibrate_bn=0",
                  "train.check_running_stats=true"),
        console=quiet,
    )  # fmt: skip
    assert "final_val_err_running_stats" not in off.summary
    plain = train(small_cfg("model.depth=30", "train.epochs=1"), console=quiet).summary
    assert "final_val_err_running_stats" not in plain  # the check is asked for, or not run
    assert "RunningStatsCheck" not in plain["seconds_by_part"]
    # calibration never changes the trajectory: train-mode BN does not read running statistics
    assert off.summary["final_running_train_err"] == s["final_running_train_err"]


def test_calibration_samples_by_default_are_fewer_for_conv_nets():
    """Measured on validation (docs/depth.md): an MLP's units need about 1,024 samples; a
    conv net's channels pool every position, and 512 were as good."""
    from plainnet.app.build import calibration_samples
    from plainnet.app.config import resolve

    assert calibration_samples(resolve(overrides=["model.arch=mlp"])) == 1024
    assert calibration_samples(resolve(overrides=["model.arch=cnn"])) == 512
    assert calibration_samples(resolve(overrides=["train.calibrate_bn=300"])) == 300


def test_calibration_in_parts_sets_the_statistics_of_the_whole_sample():
    """`recalibrate_(..., batch_size)` runs each layer on parts of the sample (faster on CPU
    for feature maps) and sets the statistics the whole sample gives, uneven last part too."""
    torch.manual_seed(0)
    model = plain_cnn((3, 8, 8), 3, depth=12, channels=(4, 8))
    x = torch.randn(70, 3, 8, 8) * 2 + 1

    def stats():
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        return torch.cat([torch.cat([b.running_mean, b.running_var]) for b in bns])

    recalibrate_(model, x)
    whole = stats()
    recalibrate_(model, x, batch_size=16)  # parts of 16, 16, 16, 16 and 6
    assert torch.allclose(stats(), whole, rtol=1e-5, atol=1e-6)


def test_channel_mean_var_is_batchnorms_unbiased_per_channel_statistics():
    torch.manual_seed(0)
    for shape in [(2048, 32), (64, 8, 5, 5), (3, 4)]:
        x = (torch.randn(*shape) * 5 + 100).double()  # a large mean: one-pass sums lose digits
        mean, var = channel_mean_var(x.float())
        dims = [0, *range(2, x.dim())]
        assert mean.shape == var.shape == (shape[1],)
        assert torch.allclose(mean.double(), x.mean(dims), rtol=1e-6)
        assert torch.allclose(var.double(), x.var(dims), rtol=1e-5)
