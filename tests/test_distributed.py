"""Two gloo processes (torchrun, CPU) against one process with the same global batch."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from plainnet.app.config import resolve
from plainnet.app.trainer import train

WORKER = Path(__file__).with_name("ddp_worker.py")
BASE = ["model.depth=8", "model.width=32", "train.epochs=2", "train.batch_size=64"]


def torchrun(tmp_path, *overrides):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(tmp_path),
        *overrides,
    ]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p, [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]


def test_two_processes_equal_one_process_without_batchnorm(tmp_path, quiet):
    # No BatchNorm: every quantity is a sum over the global batch, so DDP's all-reduced
    # gradients equal one process's up to float summation order.
    overrides = [*BASE, "model.norm=none", "max_norm.c=1.0", f"run.out_dir={tmp_path / 'runs'}"]
    p, (w0, w1) = torchrun(tmp_path, *overrides)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # ranks identical after max-norm
    single = train(
        resolve(overrides=[*overrides, f"run.out_dir={tmp_path / 'one'}"]), console=quiet
    )
    ref = single.model.state_dict()
    for k in ref:
        assert torch.allclose(ref[k], w0[k], rtol=1e-4, atol=1e-5), k
    assert len(list((tmp_path / "runs").iterdir())) == 1  # one writer, one run folder
    assert p.stdout.count("epoch    2") == 1  # one printer


def test_batchnorm_ranks_stay_identical(tmp_path):
    # On CPU SyncBatchNorm is unavailable: each rank normalizes its half of the batch, so the
    # result differs from one process (documented), but DDP and max-norm keep ranks equal.
    overrides = [*BASE, f"run.out_dir={tmp_path / 'runs'}"]
    p, (w0, w1) = torchrun(tmp_path, *overrides)
    params = [k for k in w0 if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(w0[k], w1[k]) for k in params)
    assert "SyncBatchNorm needs GPUs" in p.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert len((run / "metrics.csv").read_text().splitlines()) == 3
