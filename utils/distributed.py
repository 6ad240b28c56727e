"""Chapter 10: data-parallel training with PyTorch's own stack: `torch.distributed`,
`DistributedDataParallel` (DDP), launched by `torchrun`.

`torchrun --nproc-per-node N -m vitbook.ddp_train ...` starts N processes, each with
`RANK`, `WORLD_SIZE`, `LOCAL_RANK` and a rendezvous address in its environment. Each one
calls `start()`, which joins the process group (`gloo` on CPUs, `nccl` on GPUs, one GPU a
process), and then runs the book's own `vitbook.train.train`: it sees the process group
and wraps the model in DDP, takes its rank's share of every batch, adds up the metrics
over the ranks, and lets rank 0 alone print, draw the progress bar and write checkpoints.
The command that torchrun starts is `vitbook.ddp_train`.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

from .checks import as_int
from .device import get_device

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, the number of processes): (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def backend_for(device: torch.device) -> str:
    """`nccl` for CUDA devices, `gloo` for the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


def start(device: torch.device | str | None = None, timeout_s: float = 120) -> torch.device:
    """Join the process group `torchrun` set up, and return this process's device: its own
    GPU (`cuda:LOCAL_RANK`) when the run uses CUDA, else the CPU. A collective that waits
    longer than `timeout_s` for another rank fails instead of hanging."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not set: this is the code of one process of a "
            "distributed run, started by torchrun. Launch it as `torchrun "
            "--nproc-per-node N -m vitbook.ddp_train ...` (N processes on this "
            "machine), not with python directly"
        )
    device = get_device(device)
    if device.type == "cuda":
        local_rank = int(os.environ["LOCAL_RANK"])
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"process {local_rank} of this machine has no GPU of its own: "
                f"{torch.cuda.device_count()} GPU(s) here; start at most that many "
                "processes per machine (--nproc-per-node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), timeout=datetime.timedelta(seconds=timeout_s))
    return device


def stop() -> None:
    """Leave the process group (on success and on error alike)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(batch: int, rank: int, world_size: int) -> slice:
    """The slice of a batch of `batch` images that rank `rank` of `world_size` trains on:
    consecutive slices, equal when `batch` divides evenly (the last, smaller batch of an
    epoch may not), so that the ranks together train on exactly the one-process batch."""
    batch, world_size = as_int(batch, "batch", least=1), as_int(world_size, "world_size", least=1)
    if not 0 <= as_int(rank, "rank") < world_size:
        raise ValueError(f"rank {rank} is not one of the {world_size} processes 0 ... {world_size - 1}")
    if batch < world_size:
        raise ValueError(f"a batch of {batch} cannot give each of {world_size} processes an image")
    base, extra = divmod(batch, world_size)
    first = rank * base + min(rank, extra)
    return slice(first, first + base + (rank < extra))


def check_batch_size(batch_size: int, world_size: int) -> None:
    """A global batch must split evenly over the processes (each rank's loss is the mean over
    its slice, and DDP averages the ranks' gradients: equal slices make that the mean over
    the whole batch)."""
    batch_size = as_int(batch_size, "batch_size", least=1)
    if batch_size % as_int(world_size, "world_size (the number of processes)", least=1):
        raise ValueError(
            f"a global batch of {batch_size} does not split evenly over {world_size} "
            f"processes; use a batch size divisible by {world_size}"
        )
