"""Speed and memory switches of the trainer, each a config field (`train.*`).

* `compile`: `torch.compile` on the training model, falling back to eager execution with one
  warning if compilation fails (no compiler, an unsupported op, ...);
* `channels_last`: NHWC memory format for CNNs (faster here on CPU too, and the GPU convs'
  fast path);
* `amp`: bf16 autocast; "auto" turns it on for CUDA only (on CPUs without bf16 matrix units
  it is several times slower than fp32);
* `checkpoint_segments`: activation checkpointing, so that a 1,000-layer net fits in small
  memory: only the segment boundaries' activations are stored, the rest are recomputed in
  the backward pass (about one extra forward pass of time).

`docs/performance.md` has the measurements behind the defaults.
"""

import contextlib
import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential


class Checkpointed(nn.Module):
    """Runs an `nn.Sequential` in `segments` checkpointed pieces.

    BatchNorm layers see each batch twice (forward and recomputation), so their running
    statistics take two momentum updates per step; batch statistics, and so the gradients,
    are unchanged.
    """

    def __init__(self, net: nn.Sequential, segments: int):
        super().__init__()
        self.net, self.segments = net, min(segments, len(net))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self.net(x)
        return checkpoint_sequential(self.net, self.segments, x, use_reentrant=False)


class CompiledOrEager(nn.Module):
    """`torch.compile(model)`, or `model` itself after one warning if compiling fails.

    Only inputs shaped like the first one run compiled; others (an epoch's short last batch)
    run eagerly, the same computation: a second shape would make torch.compile build a
    dynamic-shape graph, which on CPU took as long again as the first compilation
    (docs/performance.md).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.eager = model
        self.compiled = torch.compile(model)
        self.failed = False
        self.shape: torch.Size | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shape = self.shape or x.shape
        if not self.failed and x.shape == self.shape:
            try:
                return self.compiled(x)
            except Exception as e:  # dynamo/inductor raise many types; all mean "use eager"
                self.failed = True
                msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
                warnings.warn(
                    f"torch.compile failed ({type(e).__name__}: {msg}); training eagerly",
                    stacklevel=2,
                )
        return self.eager(x)


def autocast(device: torch.device, amp: str | bool):
    """bf16 autocast when `amp` says so ("auto": on CUDA only), else a no-op context."""
    on = device.type == "cuda" if amp == "auto" else amp == "bf16"
    if not on:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def cpu_has_bf16() -> bool | None:
    """Whether this CPU has bf16 instructions (AVX-512 BF16 or AMX); None where this PyTorch
    cannot tell (it answers only through private helpers)."""
    names = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    checks = [getattr(torch.cpu, n) for n in names if hasattr(torch.cpu, n)]
    return any(c() for c in checks) if checks else None


def cpu_instructions() -> str:
    """The CPU's vector instructions PyTorch's kernels use ("AVX2", "AVX512", ...), and
    whether it has bf16 ones: a run's float results, and bf16's speed, depend on both."""
    bf16 = {True: " with bf16", False: " without bf16", None: ""}[cpu_has_bf16()]
    return torch.backends.cpu.get_cpu_capability() + bf16


def bf16_is_slow(device: torch.device) -> bool:
    """Whether bf16 autocast would slow `device` down: a CPU without bf16 instructions,
    where a bf16 step took 5-16x as long as an fp32 one (AVX2, docs/performance.md). Where
    PyTorch cannot tell, False: no warning rather than a wrong one."""
    return device.type == "cpu" and cpu_has_bf16() is False


def uses_channels_last(setting: bool | str, conv: bool) -> bool:
    """`"auto"`: every CNN (`conv`), on any device (measured faster on CPU too,
    docs/performance.md; NHWC is also the GPU convs' fast layout)."""
    return conv and (setting == "auto" or bool(setting))


@contextlib.contextmanager
def flush_denormals():
    """Flush float32 denormals to zero inside the block, then restore the caller's setting:
    `with plainnet.flush_denormals(): ...` around your own training loop.

    A vanishing plain net's outputs reach the denormal range (below 1.2e-38), where CPU
    arithmetic is up to ~100x slower; flushing changes only values that small. PyTorch has
    no getter for the flag, so the current setting is read off a denormal multiplication.
    """
    was_on = (torch.tensor([1e-39]) * 1.0).item() == 0.0
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_on)
