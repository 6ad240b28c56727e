"""Chapter 10's recorded run: training images/s of the quick ViT under DDP, started by
torchrun through `vitbook.ddp_train.launch`."""

from __future__ import annotations

import torch

from ..ddp_train import launch
from ..runs import recorded_run

DDP_THROUGHPUT = dict(processes=(1, 2), steps=100, rounds=3)


def process_counts(device: torch.device) -> tuple[int, ...]:
    """The numbers of processes `ddp_throughput` compares: DDP_THROUGHPUT's on the CPU; on
    CUDA, one process a GPU, so those of them that the GPUs here allow (at least 1)."""
    if device.type != "cuda":
        return DDP_THROUGHPUT["processes"]
    return tuple(n for n in DDP_THROUGHPUT["processes"] if n <= torch.cuda.device_count()) or (1,)


@recorded_run(
    "ddp_throughput",
    "training images/s of the quick ViT under DDP with 1 and 2 processes "
    "started by torchrun (on CUDA, one a GPU: as many as there are GPUs; global batch 128, "
    "100 steps each, alternating rounds)",
)
def ddp_throughput(device, parts, progress):
    counts, steps, rounds = process_counts(device), DDP_THROUGHPUT["steps"], DDP_THROUGHPUT["rounds"]
    name = {n: f"{n} process{'es' if n > 1 else ''}" for n in counts}
    runs = {
        (n, r): parts.get(
            f"{name[n]}, round {r}",
            lambda n=n: launch(n, "--steps", str(steps), "--eval-images", "100", device=device.type)[0],
        )
        for r in range(rounds)
        for n in counts
    }
    return {
        name[n]: {
            "torch_threads": runs[n, 0]["torch_threads"],
            "steps": steps,
            "images_per_s": [runs[n, r]["images_per_s"] for r in range(rounds)],
        }
        for n in counts
    }
