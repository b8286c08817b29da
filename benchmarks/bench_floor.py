"""How fast can an eager training step of the plain MLP be? Its kernels alone, against the loops.

    python benchmarks/bench_floor.py                      # MLP-100 and MLP-1000, ~3 min on 2 cores
    python benchmarks/bench_floor.py --depth 100 --rounds 9
    python benchmarks/bench_floor.py --compile            # + plainnet compiled (steady state)

A step of the plain MLP (batch 128, width 128) runs, for every hidden layer, three matrix
products (forward, input gradient, weight gradient), BatchNorm's forward and backward kernels
and Leaky ReLU's forward and backward kernels; then the optimizer. `floor_step` calls exactly
those ATen kernels one after the other, without autograd, modules or a Python loop over the
parameters (one fused SGD kernel), and skips the max-norm projection. Any eager loop runs at
least these kernels, so its step cannot be much faster than the floor: `reference / floor` is
about the most that any eager trainer, plainnet's included, can gain over the careful user's
loop. Only fusing kernels (a compiler) or faster kernels go below it.

Three contenders, timed in interleaved rounds in one process (rotated order, median of the
per-round ratios): the reference (nn modules and autograd, `torch.optim.SGD` with momentum,
a `torch.renorm` loop over the hidden weights: the loop of `bench_defaults.py`), plainnet's
step (`plainnet.engine.loop.train_epoch` over the same batches: its fused SGD, its grouped
`MaxNorm`, its running loss and error), and the floor.
"""

import argparse
import os
import platform
import time
from statistics import median

import torch
from bench_train import interleaved
from user_loop import user_step

from plainnet import MaxNorm
from plainnet.engine.loop import State, Steps, train_epoch
from plainnet.nn.models import PlainNet, hidden_weights, plain_mlp
from plainnet.nn.speed import CompiledOrEager

aten = torch.ops.aten
BATCH, LR, C = 128, 0.02, 4.0


def floor_step(model: PlainNet, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor):
    """One SGD step of `model` (Linear without bias -> BatchNorm -> Leaky ReLU blocks, then a
    Linear head; `x` already flattened) by direct calls of the kernels autograd would run;
    the gradients are those of `F.cross_entropy(model(x), y).backward()`."""
    saved = []
    h = x
    with torch.no_grad():
        for block in model.blocks:
            w, bn, slope = block.weight.weight, block.norm, block.act.negative_slope
            z = aten.mm(h, w.t())
            n, mean, rstd = aten.native_batch_norm(
                z, bn.weight, bn.bias, bn.running_mean, bn.running_var, True, bn.momentum, bn.eps
            )
            saved.append((h, z, n, mean, rstd))
            h = aten.leaky_relu(n, slope)
        head = model.head
        logits = aten.addmm(head.bias, h, head.weight.t())
        g = logits.softmax(1)
        g[torch.arange(len(y)), y] -= 1
        g /= len(y)
        head.weight.grad, head.bias.grad = aten.mm(g.t(), h), g.sum(0)
        g = aten.mm(g, head.weight)
        for i in reversed(range(len(saved))):
            block, (h, z, n, mean, rstd) = model.blocks[i], saved[i]
            w, bn, slope = block.weight.weight, block.norm, block.act.negative_slope
            g = aten.leaky_relu_backward(g, n, slope, False)
            g, bn.weight.grad, bn.bias.grad = aten.native_batch_norm_backward(
                g, z, bn.weight, bn.running_mean, bn.running_var, mean, rstd, True, bn.eps,
                [True, True, True],
            )  # fmt: skip
            w.grad = aten.mm(g.t(), h)
            if i:  # the input needs no gradient
                g = aten.mm(g, w)
    opt.step()


def contenders(depth: int, steps: int, compiled: bool) -> dict:
    """Name -> a function that takes `steps` steps and returns milliseconds per step."""
    torch.manual_seed(0)
    batches = [(torch.randn(BATCH, 256), torch.randint(0, 10, (BATCH,))) for _ in range(steps)]

    def model():
        torch.manual_seed(0)
        return plain_mlp((256,), 10, depth=depth)

    def timed(step):
        def run():
            t0 = time.perf_counter()
            step()
            return (time.perf_counter() - t0) / steps * 1e3

        return run

    ref = model()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=LR, momentum=0.9)
    ref_hidden = hidden_weights(ref)

    def reference():
        for x, y in batches:
            user_step(ref, ref_opt, ref_hidden, x, y, C)

    def plainnet(net, train_model):
        opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9, fused=True)
        project = MaxNorm(hidden_weights(net), C)
        state, steps = State(net, opt, epochs=1), Steps(project=project, train_model=train_model)
        return lambda: train_epoch(state, batches, steps)

    low = model()
    low_opt = torch.optim.SGD(low.parameters(), lr=LR, momentum=0.9, fused=True)
    found = {
        "reference (user's loop)": timed(reference),
        "plainnet": timed(plainnet(net := model(), net)),
        "floor (kernels only)": timed(lambda: [floor_step(low, low_opt, x, y) for x, y in batches]),
    }
    if compiled:
        net = model()
        found["plainnet, compiled"] = timed(plainnet(net, CompiledOrEager(net)))
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depth", type=int, action="append", help="MLP depth (repeatable)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--compile", action="store_true", help="also plainnet with torch.compile")
    p.add_argument("--steps", type=int, help="steps a round (default: max(6, 2000 / depth))")
    args = p.parse_args()
    print(
        f"# bench_floor, {time.strftime('%Y-%m-%d %H:%M')}: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads; torch {torch.__version__}"
    )
    for depth in args.depth or [100, 1000]:
        steps = args.steps or max(6, 2000 // depth)
        runs = contenders(depth, steps, args.compile)
        for run in runs.values():
            run()  # warm-up (and compilation)
        ms = interleaved(runs, args.rounds)
        ref = ms["reference (user's loop)"]
        print(f"\nMLP-{depth}, batch {BATCH}, {steps} steps a round, {args.rounds} rounds:\n")
        print("| step | ms, median (min-max) | reference / this: median (min-max) |")
        print("|---|---|---|")
        for name, times in ms.items():
            ratios = [r / t for r, t in zip(ref, times, strict=True)]
            print(
                f"| {name} | {median(times):.1f} ({min(times):.1f}-{max(times):.1f}) | "
                f"**{median(ratios):.2f}** ({min(ratios):.2f}-{max(ratios):.2f}) |"
            )


if __name__ == "__main__":
    main()
