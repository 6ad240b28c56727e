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
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from .checks import as_int
from .device import seed_everything
from .distributed import backend_for, check_batch_size, rank_and_world, start, stop
from .pretrained import build
from .train import QUICK_RECIPE, save_checkpoint, splits, train, write_atomically
from .vit import QUICK_CONFIG


def _at_least(least: int):
    """An argparse type: a whole number >= `least`, refused with a one-line reason."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value

    return whole_number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torchrun --nproc-per-node N -m vitbook.ddp_train",
        description="Train the quick ViT (QUICK_CONFIG, QUICK_RECIPE) with DDP; rank 0 writes the result as JSON.",
    )
    p.add_argument("--out", required=True, help="the JSON file rank 0 writes")
    p.add_argument("--weights", help="also write the trained weights here (rank 0)")
    p.add_argument("--steps", type=_at_least(1), help="stop after this many optimiser steps (default: the epochs)")
    p.add_argument("--epochs", type=_at_least(1), default=1)
    p.add_argument("--batch-size", type=_at_least(1), default=QUICK_RECIPE.batch_size, help="the global batch")
    p.add_argument(
        "--eval-images", type=_at_least(1), default=1000, help="validation images evaluated after each epoch"
    )
    p.add_argument("--train-images", type=_at_least(1), help="train on the first N training images only (the tests)")
    p.add_argument(
        "--checkpoint",
        help="rank 0 saves the training state here after every epoch; a run "
        "started again with the same options resumes from it",
    )
    p.add_argument("--seed", type=_at_least(0), default=0)
    p.add_argument(
        "--device", default="cpu", choices=("cpu", "cuda"), help="cpu (gloo) or cuda (nccl, one GPU a process)"
    )
    p.add_argument("--fail-at-step", type=_at_least(0), help="rank 1 fails on purpose at this step (the tests)")
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
        history = train(
            model,
            train_data,
            validation.first(args.eval_images),
            recipe,
            seed=args.seed,
            on_step=on_step,
            progress=rank == 0,
            checkpoint=args.checkpoint,
            resume=args.checkpoint is not None,
        )
        if rank == 0:
            steps, images = steps_and_images(args.steps, len(train_data), recipe)
            result = {
                "processes": world,
                "backend": backend_for(device),
                "device": str(device),
                "torch_threads": torch.get_num_threads(),
                "recipe": asdict(recipe),
                "steps": steps,
                "seconds": history.seconds[-1],
                "images_per_s": images / history.seconds[-1],
                "history": asdict(history),
            }
            write_atomically(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))
            if args.weights:
                save_checkpoint(args.weights, model=model.state_dict())
    finally:
        stop()


def steps_and_images(steps: int | None, train_images: int, recipe) -> tuple[int, int]:
    """(optimiser steps, training images) of a run of `recipe` on `train_images` images that
    stops after `steps` steps, or at the end of its epochs if that comes first (or `steps`
    is None); each epoch's last batch may be smaller."""
    per_epoch = math.ceil(train_images / recipe.batch_size)
    steps = min(steps or math.inf, recipe.epochs * per_epoch)
    epochs, rest = divmod(steps, per_epoch)
    return steps, epochs * train_images + min(rest * recipe.batch_size, train_images)


def _check_options(processes: int, options: tuple[str, ...], device: str) -> None:
    """Refuse, before torchrun starts, what the processes would refuse: the options, in one
    line with the command's own parser's message, or a batch that does not split over them."""
    wrong = [o for o in options if not isinstance(o, str)]
    if wrong:
        raise TypeError(
            f'launch\'s options are command-line strings, e.g. "--steps", "10"; '
            f"{wrong[0]!r} is not one: pass str({wrong[0]!r})"
        )
    p = parser()

    def refuse(message: str):
        raise ValueError(
            f"vitbook.ddp_train refuses the options {' '.join(options)!r}: {message} "
            "(see python -m vitbook.ddp_train --help)"
        )

    p.error = refuse
    args = p.parse_args(["--out", "-", "--device", device, *options])
    if args.out != "-" or args.device != device:
        raise ValueError(
            "launch itself sets --out (it returns the result) and --device (its device=...): "
            "leave them out of the options"
        )
    check_batch_size(args.batch_size, processes)


def _first_failure(output: str) -> str:
    """From torchrun's output: ': rank R: the error it raised', then torchrun's summary of
    that first failure (its "Root Cause"), or the output's end when there is none."""
    cause = output[output.index("Root Cause") :] if "Root Cause" in output else output[-3000:]
    rank = re.search(r"^\s*rank\s*: (\d+)", cause, re.MULTILINE)
    errors = re.findall(r"^\s*(\w+(?:Error|Exception|Interrupt): .*)$", cause, re.MULTILINE)
    said = f"rank {rank[1]}: {errors[-1]}" if rank and errors else "see torchrun's account below"
    return f": {said}\n{cause}"


def torchrun_command(processes: int, out: Path, *options: str) -> list[str]:
    """`torchrun --standalone --nproc-per-node PROCESSES -m vitbook.ddp_train --out OUT
    OPTIONS`, with this Python's torch."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(processes),
        "-m",
        "vitbook.ddp_train",
        "--out",
        str(out),
        *options,
    ]


def launch(processes: int, *options: str, device: str = "cpu", timeout: float = 600) -> tuple[dict, str]:
    """Run `torchrun --standalone --nproc-per-node PROCESSES -m vitbook.ddp_train OPTIONS` as a
    subprocess (from a notebook, too) and return (rank 0's result, the run's output); if it
    fails, a RuntimeError with torchrun's account of the first failure. Options that the
    command refuses are refused before it starts (a ValueError saying why)."""
    processes = as_int(processes, "processes", least=1)
    _check_options(processes, options, device)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = torchrun_command(processes, out, "--device", device, *options)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise RuntimeError(
                f"torchrun with {processes} process(es) failed (exit code {done.returncode})" + _first_failure(output)
            )
        return json.loads(out.read_text()), output


if __name__ == "__main__":
    main()
