"""Multi-process training on PyTorch's own engine: torchrun + DistributedDataParallel.

`torchrun --nproc_per_node=N -m plainnet train ...` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK set; `setup` joins them into one process group (NCCL on GPUs, gloo on CPU). A plain
`plainnet train` is world size 1 and touches none of this.
"""

import contextlib
import os
import signal
import threading
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # setup() created the process group, so cleanup() ends it

    @property
    def main(self) -> bool:
        """Only the main process writes the run folder and prints."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of `n` items (sizes differ by at most one)."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def sum(self, *values: torch.Tensor | float) -> list[float]:
        """Sum scalars over all ranks (one all-reduce); plain floats on one process."""
        t = torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in values]).to(self.device)
        if self.size > 1:
            dist.all_reduce(t)
        return t.tolist()


SINGLE = World()  # one process on the CPU


def setup(device: torch.device) -> World:
    """Join the torchrun process group if there is one; else world size 1 on `device`."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(device=device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()  # a caller's own process group is left alone
    if owns:
        # Waiting for the other processes happens in C++, where Python's handlers never run:
        # with the default actions, SIGINT and SIGTERM end the wait (and the process) at once.
        with _default_signals():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), device, owns)


@contextlib.contextmanager
def _default_signals():
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers
        return
    old = {s: signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def wrap(model: nn.Module, world: World, sync_bn: bool) -> nn.Module:
    """DDP around `model` (which keeps its own weights); SyncBatchNorm first, if asked.

    PyTorch's SyncBatchNorm runs on GPUs only: on CPU each rank normalizes with the
    statistics of its own share of the batch, and a warning says so.
    """
    if world.size == 1:
        return model
    if sync_bn and world.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif (
        sync_bn
        and world.main
        and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    ):
        warnings.warn(
            "SyncBatchNorm needs GPUs; on CPU each process normalizes with its own share "
            "of the batch (BatchNorm statistics then differ from a one-process run)",
            stacklevel=2,
        )
    ids = [world.device.index] if world.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def cleanup(world: World) -> None:
    if world.owns_group and dist.is_initialized():
        dist.destroy_process_group()
