"""Run under torchrun by test_distributed.py: train, then save this rank's final weights."""

import sys

import torch

from plainnet.app.config import resolve
from plainnet.app.trainer import train

out, *overrides = sys.argv[1:]
result = train(resolve(overrides=overrides))
rank = (
    torch.distributed.get_rank()
    if torch.distributed.is_initialized()
    else int(__import__("os").environ["RANK"])
)
torch.save(result.model.state_dict(), f"{out}/rank{rank}.pt")
