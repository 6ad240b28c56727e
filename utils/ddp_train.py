"""Chapter 10's command: the quick ViT trained with DDP on the processes torchrun starts.

    torchrun --nproc-per-node 2 -m vitbook.ddp_train --out result.json --steps 50

Every process builds the same model from the same seed, joins the process group
(`vitbook.distributed.start`) and runs `vitbook.train.train`, which trains each rank on its
slice of every batch. Rank 0 writes what it measured (the recipe, the number of
processes, their backend and torch threads, training seconds, images per second, the
training history) to `--out` as JSON, and with `--weights` the trained weights, both
atomically. Several machines: the same command on each, with `--nnodes`, `--node-rank`
and `--rdzv-endpoint HOST:PORT` of one of them (torchrun's documentation).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from .device import seed_everything
from .distributed import backend_for, rank_and_world, start, stop
from .experiments import splits
from .pretrained import build
from .runs import recorded_run
from .train import QUICK_RECIPE, save_checkpoint, train, write_atomically
from .vit import QUICK_CONFIG


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torchrun --nproc-per-node N -m vitbook.ddp_train",
                                description="Train the quick ViT (QUICK_CONFIG, QUICK_RECIPE) with DDP; "
                                            "rank 0 writes the result as JSON.")
    p.add_argument("--out", required=True, help="the JSON file rank 0 writes")
    p.add_argument("--weights", help="also write the trained weights here (rank 0)")
    p.add_argument("--steps", type=int, help="stop after this many optimiser steps (default: the epochs)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=QUICK_RECIPE.batch_size, help="the global batch")
    p.add_argument("--eval-images", type=int, default=1000, help="validation images evaluated after each epoch")
    p.add_argument("--train-images", type=int, help="train on the first N training images only (the tests)")
    p.add_argument("--checkpoint", help="rank 0 saves the training state here after every epoch; a run "
                                        "started again with the same options resumes from it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (nccl, one GPU a process)")
    p.add_argument("--fail-at-step", type=int, help="rank 1 fails on purpose at this step (the tests)")
    return p


@record  # a failing rank's error reaches torchrun's summary ("Root Cause")
def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    device = start(args.device)
    try:
        rank, world = rank_and_world()
        recipe = replace(QUICK_RECIPE, epochs=args.epochs, batch_size=args.batch_size)
        train_data, validation, _ = splits(device)
        if args.train_images:
            train_data = train_data.first(args.train_images)

        def on_step(step: int, loss: float) -> bool:
            if args.fail_at_step is not None and rank == 1 and step == args.fail_at_step:
                raise RuntimeError(f"rank 1 fails on purpose at step {step} (--fail-at-step)")
            return args.steps is not None and step + 1 >= args.steps

        seed_everything(args.seed)
        model = build(QUICK_CONFIG)
        history = train(model, train_data, validation.first(args.eval_images), recipe, seed=args.seed,
                        on_step=on_step, progress=rank == 0, checkpoint=args.checkpoint,
                        resume=args.checkpoint is not None)
        steps = args.steps or recipe.epochs * math.ceil(len(train_data) / recipe.batch_size)
        if rank == 0:
            images = args.steps * recipe.batch_size if args.steps else len(train_data) * recipe.epochs
            result = {"processes": world, "backend": backend_for(device), "device": str(device),
                      "torch_threads": torch.get_num_threads(), "recipe": asdict(recipe), "steps": steps,
                      "seconds": history.seconds[-1], "images_per_s": images / history.seconds[-1],
                      "history": asdict(history)}
            write_atomically(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))
            if args.weights:
                save_checkpoint(args.weights, model=model.state_dict())
    finally:
        stop()


def launch(processes: int, *options: str, device: str = "cpu", timeout: float = 600) -> tuple[dict, str]:
    """Run `torchrun --standalone --nproc-per-node PROCESSES -m vitbook.ddp_train OPTIONS` as a
    subprocess (from a notebook, too) and return (rank 0's result, the run's output); if it
    fails, a RuntimeError with torchrun's account of the first failure."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                   str(processes), "-m", "vitbook.ddp_train", "--out", str(out), "--device", device, *options]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        output = done.stdout + done.stderr
        if done.returncode != 0:  # torchrun's summary names the rank that failed first, and its error
            cause = output[output.index("Root Cause"):] if "Root Cause" in output else output[-3000:]
            raise RuntimeError(f"torchrun with {processes} process(es) failed (exit code {done.returncode}):\n"
                               + cause)
        return json.loads(out.read_text()), output


DDP_THROUGHPUT = dict(processes=(1, 2), steps=100, rounds=3)


def process_counts(device: torch.device) -> tuple[int, ...]:
    """The numbers of processes `ddp_throughput` compares: DDP_THROUGHPUT's on the CPU; on
    CUDA, one process a GPU, so those of them that the GPUs here allow (at least 1)."""
    if device.type != "cuda":
        return DDP_THROUGHPUT["processes"]
    return tuple(n for n in DDP_THROUGHPUT["processes"] if n <= torch.cuda.device_count()) or (1,)


@recorded_run("ddp_throughput", "training images/s of the quick ViT under DDP with 1 and 2 processes "
              "started by torchrun (on CUDA, one a GPU: as many as there are GPUs; global batch 128, "
              "100 steps each, alternating rounds)")
def ddp_throughput(device, parts, progress):
    counts, steps, rounds = process_counts(device), DDP_THROUGHPUT["steps"], DDP_THROUGHPUT["rounds"]
    name = {n: f"{n} process{'es' if n > 1 else ''}" for n in counts}
    runs = {(n, r): parts.get(f"{name[n]}, round {r}", lambda n=n: launch(
                n, "--steps", str(steps), "--eval-images", "100", device=device.type)[0])
            for r in range(rounds) for n in counts}
    return {name[n]: {"torch_threads": runs[n, 0]["torch_threads"], "steps": steps,
                      "images_per_s": [runs[n, r]["images_per_s"] for r in range(rounds)]}
            for n in counts}


if __name__ == "__main__":
    main()
