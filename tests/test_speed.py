import warnings

import pytest
import torch
import torch.nn.functional as F

from plainnet import MaxNorm, hidden_weights, plain_cnn, plain_mlp, unit_norms
from plainnet.app.trainer import train
from plainnet.nn import speed


def _grads(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_checkpointed_gradients_equal_plain_ones():
    torch.manual_seed(0)
    net = plain_mlp((16,), 4, depth=12, width=8, norm="none")
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    plain = _grads(net, x, y)
    ckpt = _grads(speed.Checkpointed(net, 3), x, y)
    assert all(torch.allclose(a, b) for a, b in zip(plain, ckpt, strict=True))


def test_compile_failure_falls_back_to_eager_with_one_warning(monkeypatch):
    def broken(model):
        def fail(x):
            raise RuntimeError("no compiler here\nsecond line")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    net = plain_mlp((16,), 4, depth=3, width=8)
    m = speed.CompiledOrEager(net)
    x = torch.randn(5, 16)
    with pytest.warns(UserWarning, match="torch.compile failed .RuntimeError: no compiler here."):
        out = m(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(m(x), out)


def test_compiled_model_runs_other_batch_shapes_eagerly(monkeypatch):
    """Only the first input shape is compiled; a short last batch runs eagerly instead of
    costing a second (dynamic-shape) compilation."""
    seen = []

    def recording(model):
        return lambda x: seen.append(tuple(x.shape)) or model(x)

    monkeypatch.setattr(torch, "compile", recording)
    m = speed.CompiledOrEager(plain_mlp((16,), 4, depth=3, width=8))
    for n in (8, 8, 3, 8):
        assert m(torch.randn(n, 16)).shape == (n, 4)
    assert seen == [(8, 16)] * 3


def test_channels_last_conv_weights_stay_channels_last_under_max_norm():
    torch.manual_seed(0)
    net = plain_cnn((3, 8, 8), 4, depth=6).to(memory_format=torch.channels_last)
    ws = hidden_weights(net)
    project = MaxNorm(ws, 0.3)
    project()
    for w in ws:
        if w.shape[-1] == 3:  # 3x3 conv kernels
            assert w.is_contiguous(memory_format=torch.channels_last)
        assert unit_norms(w).max() <= 0.3 * (1 + 1e-5)
    assert net(torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)).shape == (
        2,
        4,
    )


def test_switches_train_end_to_end(small_cfg, quiet):
    cfg = small_cfg(
        "model.arch=cnn",
        "model.depth=5",
        "train.epochs=1",
        "train.channels_last=true",
        "train.amp=bf16",
        "train.checkpoint_segments=2",
        "data.train_subset=256",
    )
    s = train(cfg, console=quiet).summary
    assert s["final_test_err"] < 1.0 and s["hidden_unit_norm_max"] <= cfg.max_norm.c * 1.00001


@pytest.mark.parametrize("bf16_units", [False, True])
def test_bf16_on_a_cpu_without_bf16_instructions_is_warned_about(
    small_cfg, quiet, monkeypatch, bf16_units
):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: bf16_units, raising=False)
    cfg = small_cfg("train.epochs=1", "train.amp=bf16", "data.train_subset=64")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        train(cfg, console=quiet)
    slow = [w for w in seen if "without bf16 instructions" in str(w.message)]
    assert len(slow) == (0 if bf16_units else 1)
    assert speed.bf16_is_slow(torch.device("cpu")) is not bf16_units
    assert speed.cpu_instructions().endswith(" with bf16" if bf16_units else " without bf16")
    assert not speed.bf16_is_slow(torch.device("meta"))  # not a CPU: never slow by this test


def test_a_pytorch_that_cannot_tell_bf16_instructions_gets_no_bf16_claim(monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    assert speed.cpu_has_bf16() is None and not speed.bf16_is_slow(torch.device("cpu"))
    assert speed.cpu_instructions() == torch.backends.cpu.get_cpu_capability()


def test_autocast_choice():
    cpu = torch.device("cpu")
    assert isinstance(speed.autocast(cpu, "auto"), type(speed.autocast(cpu, "off")))
    assert speed.uses_channels_last("auto", conv=True) and speed.uses_channels_last(True, True)
    assert not speed.uses_channels_last("auto", conv=False)
    assert not speed.uses_channels_last(True, conv=False)
    assert not speed.uses_channels_last(False, conv=True)


def test_training_flushes_denormals_and_restores_the_callers_setting(small_cfg, quiet):
    def flushed() -> bool:
        return (torch.tensor([1e-39]) * 1.0).item() == 0.0

    seen = []
    for before in (False, True):
        torch.set_flush_denormal(before)
        with speed.flush_denormals():
            seen.append(flushed())
        assert flushed() == before
    assert seen == [True, True]
    torch.set_flush_denormal(False)
    train(small_cfg("train.epochs=1"), console=quiet)
    assert not flushed()


def test_the_memory_estimate_counts_checkpointed_activations_and_suggests_them(monkeypatch):
    """Activation checkpointing keeps the segments' inputs and one segment at a time: the
    estimate of a deep CNN falls accordingly, and a run too large says to use it."""
    from types import SimpleNamespace

    from plainnet.app import memory
    from plainnet.app.config import ConfigError, resolve

    data = SimpleNamespace(in_shape=(1, 16, 16), num_classes=10, train_size=1000)

    def need(segments):
        overrides = ["model.arch=cnn", "model.depth=400", f"train.checkpoint_segments={segments}"]
        return memory.memory_estimate(resolve("deep", overrides=overrides), data)

    plain, recomputed = need(0), need(20)
    assert plain["activations"] > 5 * recomputed["activations"] > 0
    assert plain["parameters"] == recomputed["parameters"]
    monkeypatch.setattr(memory, "free_memory", lambda device: plain["activations"] // 2)
    cfg = resolve("deep", overrides=["model.arch=cnn", "model.depth=400"])
    with pytest.raises(ConfigError, match=r"train.checkpoint_segments=20\)"):
        memory.check_memory(cfg, data, torch.device("cpu"))
