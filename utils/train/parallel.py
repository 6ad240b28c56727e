"""What `train` does inside a process group (chapter 10, `vitbook.distributed`): every
process runs `train` with the same arguments; the model is wrapped in
DistributedDataParallel, each rank trains on its slice of every batch
(`distributed.shard`), the epoch's metrics are summed over the ranks, and rank 0 alone
shows progress, calls `on_epoch` and writes the checkpoint."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..distributed import check_batch_size, rank_and_world, shard
from .recipe import Recipe


def check_distributed(recipe: Recipe, max_seconds: float | None) -> None:
    """Refuse what a process group cannot do: a time limit (each process would stop at its
    own time), a batch the processes cannot share."""
    _, world = rank_and_world()
    if world > 1:
        if max_seconds is not None:
            raise ValueError(
                "max_seconds stops each process at its own time, so the processes of a "
                "distributed run would stop at different steps and wait for each other "
                "for ever; stop them by steps or epochs instead"
            )
        check_batch_size(recipe.batch_size, world)


def for_steps(model: nn.Module, device: torch.device, recipe: Recipe) -> nn.Module:
    """The module a training step calls: `model`, in DistributedDataParallel inside a
    process group, compiled when the recipe says so (on CUDA)."""
    _, world = rank_and_world()
    step_model = (
        model
        if world == 1
        else DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    )
    return torch.compile(step_model) if recipe.compile and device.type == "cuda" else step_model


def this_ranks(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's slice of a batch (the whole batch outside a process group)."""
    rank, world = rank_and_world()
    if world == 1:
        return images, labels
    part = shard(len(labels), rank, world)
    return images[part], labels[part]


def summed(totals: torch.Tensor) -> torch.Tensor:
    """`totals` summed over the ranks of the process group (as they are outside one)."""
    if rank_and_world()[1] > 1:
        dist.all_reduce(totals)
    return totals
