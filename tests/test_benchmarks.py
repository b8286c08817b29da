"""The speed benchmark runs end to end and prints its table (a smoke run; no timing asserted)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "benchmarks" / "bench_train.py"


def load(name: str = "bench_train"):
    """A benchmark script as a module; its folder is on the path while it loads, as when it
    runs (the scripts import each other and `user_loop`)."""
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH.with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH.parent))
    return module


def test_rounds_rotate_the_order_of_the_loops():
    calls = []
    variants = {k: (lambda k=k: calls.append(k) or len(calls)) for k in "abc"}
    speeds = load().interleaved(variants, rounds=3)
    assert calls == list("abcbcacab")
    assert speeds == {"a": [1, 6, 8], "b": [2, 4, 9], "c": [3, 5, 7]}


def test_plainnets_loop_trains_the_references_model_at_any_depth():
    """At 1,000 layers a config without a preset resolves to the deep recipe; the benchmark
    names its recipe, so the BatchNorm CNN is timed against the BatchNorm CNN."""
    config = load().trainer_config
    cnn = ["model.arch=cnn", "model.depth=1000"]
    assert config("proposed", cnn).model.norm == "batch"
    deep = config("deep", cnn)
    assert (deep.model.norm, deep.model.init) == ("none", "delta_orthogonal")


def test_quick_benchmark_prints_every_row(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--keras-python", ""],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # its runs/ folder lands here
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    for row in (
        "eager reference",
        "plainnet (default)",
        "plainnet (channels_last=false)",
        "max-norm projection",
        "inference (eval",
        "bf16 autocast",  # timed where the CPU has native bf16, else said so
        "training FLOPs per sample",
        "keras: not measured",
    ):
        assert row in text, row
    # the reference, once per model, at exactly its own speed (another loop may also come out
    # at 1.00 in a one-round run: only the reference rows are counted)
    reference = [line for line in text.splitlines() if line.startswith("eager reference")]
    assert len(reference) == 2 and all("1.00 (1.00-1.00)" in line for line in reference)


def test_defaults_benchmark_times_whole_runs_and_splits_them(tmp_path):
    """bench_defaults.py --quick: the careful user's loop and `plainnet train` as processes,
    both learning (test error far below chance: 90%), plainnet's time split into parts."""
    script = BENCH.with_name("bench_defaults.py")
    out = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [r for r in out.stdout.splitlines() if r.startswith(("| reference", "| plainnet"))]
    assert len(rows) == 2 and "**1.00** (1.00-1.00)" in rows[0]
    assert all(float(r.split("|")[-2].strip(" %")) < 50 for r in rows), rows
    for part in ("steps", "test", "Calibration", "LastCheckpoint", "start, setup and the rest"):
        assert part in out.stdout, part


def test_gpu_probe_times_every_table2_model_and_sizes_a_schedule():
    probe = Path(__file__).parent.parent / "benchmarks" / "gpu_probe.py"
    args = ["--device", "cpu", "--batch", "4", "--steps", "1", "--depth", "5", "--no-compile"]
    args += ["--warmup", "1"]
    out = subprocess.run(
        [sys.executable, str(probe), *args, "--epochs-per-minute"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rates = dict(line.split("\t") for line in out.stdout.splitlines() if "\t" in line)
    from plainnet.app.recipes.table2 import ROWS

    assert list(rates) == [*(r.label for r in ROWS), "plain CNN-5"]
    assert "CNN-110, deep recipe" in rates
    assert all(float(r) > 0 for r in rates.values())
    assert out.stdout.count("| eager fp32 | bf16 + channels_last |") == 1


def test_floor_step_is_the_autograd_step_by_direct_kernel_calls():
    """bench_floor.py's floor runs the step's kernels without autograd: it must train the
    net exactly as `backward()` + SGD do, or the floor would time a different computation."""
    import torch
    import torch.nn.functional as F

    from plainnet.nn.models import plain_mlp

    floor = load("bench_floor")
    torch.manual_seed(0)
    x, y = torch.randn(32, 256), torch.randint(0, 10, (32,))
    nets = [plain_mlp((256,), 10, depth=10) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    start = nets[0].layer1.weight.weight.detach().clone()
    opts = [torch.optim.SGD(n.parameters(), lr=0.1, momentum=0.9, fused=True) for n in nets]
    for _ in range(3):
        opts[0].zero_grad()
        F.cross_entropy(nets[0](x), y).backward()
        opts[0].step()
        floor.floor_step(nets[1], opts[1], x, y)
    a, b = nets[0].state_dict(), nets[1].state_dict()
    assert not torch.equal(a["layer1.weight.weight"], start)  # the steps moved the weights
    for k in a:
        if "num_batches_tracked" not in k:  # a counter the kernels do not keep
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_floor_benchmark_prints_every_contender():
    script = BENCH.with_name("bench_floor.py")
    out = subprocess.run(
        [sys.executable, str(script), "--depth", "4", "--rounds", "1", "--steps", "3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for row in ("| reference (user's loop) |", "| plainnet |", "| floor (kernels only) |"):
        assert row in out.stdout, row
    assert "**1.00** (1.00-1.00)" in out.stdout
