"""Chapter 6's recorded runs: the book's training settings on 3 seeds, its checkpoint, the
race against D2L's recipe, and the choices of the recipe (optimiser, input pipeline,
pooling and positions), one change at a time."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from ..device import seed_everything
from ..pretrained import CHECKPOINT, RESULTS, build
from ..runs import recorded_run, run_command
from ..train import BOOK_RECIPE, CPU_RECIPE, D2L_RECIPE, QUICK_RECIPE, Recipe, cross_entropy, splits, train
from ..vit import BOOK_CONFIG, CPU_CONFIG, D2L_CONFIG, QUICK_CONFIG, ViT, timm_equivalent
from . import SEEDS, seeded, train_and_test, variants

THROUGHPUT = dict(batch=128, steps=20, rounds=5)  # per model and round


def training_step(
    model: torch.nn.Module, size: int, device: torch.device, batch: int, bf16: bool = False, channels_last: bool = False
):
    """A function that runs one training step of `model` (forward, backward and AdamW step)
    on a fixed batch of random `size` x `size` images; with `bf16`, the forward pass under
    bfloat16 autocast; with `channels_last`, the model and images in that memory format
    (for convolutions)."""
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def images_per_second(
    model: torch.nn.Module,
    size: int,
    device: torch.device,
    batch: int,
    steps: int,
    bf16: bool = False,
    channels_last: bool = False,
) -> float:
    """Training images per second of `training_step` (two warm-up steps first)."""
    step = training_step(model, size, device, batch, bf16, channels_last)
    step(), step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def compare_throughput(config: dict, device: torch.device, batch: int, steps: int, rounds: int) -> dict:
    """The book's ViT against timm's VisionTransformer of the same shape and weights, in
    alternating rounds (a slow spell of the machine hits both), medians of the rounds."""
    seed_everything(0)
    ours, theirs = ViT(**config), timm_equivalent(ViT(**config))
    rates = {"book": [], "timm": []}
    for _ in range(rounds):
        for name, model in (("book", ours), ("timm", theirs)):
            rates[name].append(images_per_second(model, config["img_size"], device, batch, steps))
    book, timm = statistics.median(rates["book"]), statistics.median(rates["timm"])
    return {
        "config": config,
        "batch": batch,
        "steps": steps,
        "rounds": rates,
        "book_images_per_s": book,
        "timm_images_per_s": timm,
        "ratio": book / timm,
    }


@recorded_run(
    "throughput",
    "training images/s of the book's ViT and of timm's VisionTransformer "
    "of the same shape (float32, batch 128, alternating rounds)",
)
def throughput(device, parts, progress):
    return {
        name: parts.get(name, lambda config=config: compare_throughput(config, device, **THROUGHPUT))
        for name, config in (("quick", QUICK_CONFIG), ("cpu", CPU_CONFIG), ("book", BOOK_CONFIG))
    }


@recorded_run(
    "quick",
    "the quick setting that nbval runs (QUICK_CONFIG, QUICK_RECIPE), 3 seeds; seed 0's "
    "model becomes results/vit-quick.pt (chapter 8)",
)
def quick(device, parts, progress):
    return seeded(
        parts,
        "quick",
        QUICK_CONFIG,
        QUICK_RECIPE,
        device,
        progress,
        keep=RESULTS / "vit-quick.pt",
        command=run_command("quick", device.type),
    )


@recorded_run(
    "checkpoint",
    "the book's model for the device (CPU_CONFIG with CPU_RECIPE, or "
    "BOOK_CONFIG with BOOK_RECIPE on CUDA); seed 0 becomes the checkpoint chapter 7 opens",
)
def checkpoint(device, parts, progress):
    config, recipe = (BOOK_CONFIG, BOOK_RECIPE) if device.type == "cuda" else (CPU_CONFIG, CPU_RECIPE)
    command = run_command("checkpoint", device.type)
    return {
        "seed 0": parts.get(
            "seed 0",
            lambda: train_and_test(
                config,
                recipe,
                0,
                device,
                progress,
                checkpoint=CHECKPOINT,
                command=command,
                resume=parts.scratch("seed 0"),
            ),
        )
    }


def time_to_accuracy(config: dict, recipe: Recipe, seed: int, target: float, device, progress) -> dict:
    """Train `config` with `recipe` until the validation accuracy first reaches `target`
    after an epoch (or the recipe ends): the epochs, seconds and accuracies until then."""
    train_data, validation, _ = splits(device)
    seed_everything(seed)
    history = train(
        build(config),
        train_data,
        validation,
        recipe,
        seed=seed,
        progress=progress,
        on_epoch=lambda h: h.eval_acc[-1] >= target,
    )
    return {
        "seed": seed,
        "target": target,
        "reached": history.eval_acc[-1] >= target,
        "epochs": history.epoch,
        "seconds": history.seconds,
        "validation_accuracy": history.eval_acc,
    }


@recorded_run(
    "d2l",
    "D2L's recipe as D2L runs it (D2L_CONFIG, D2L_RECIPE: 96x96, SGD, 10 epochs), then "
    "the quick setting on the same machine, stopped at the first epoch that reaches D2L's "
    "final validation accuracy, 3 seeds",
)
def d2l(device, parts, progress):
    theirs = parts.get(
        "seed 0", lambda: train_and_test(D2L_CONFIG, D2L_RECIPE, 0, device, progress, resume=parts.scratch("seed 0"))
    )
    target = theirs["validation_accuracy"][-1]
    return {
        "seed 0": theirs,
        "quick setting to D2L's accuracy": [
            parts.get(
                f"quick setting to D2L's accuracy, seed {seed}",
                lambda seed=seed: time_to_accuracy(QUICK_CONFIG, QUICK_RECIPE, seed, target, device, progress),
            )
            for seed in SEEDS
        ],
    }


def first_steps(config: dict, recipe: Recipe, steps: int, device, progress) -> dict:
    """The first `steps` optimiser steps (seed 0: every recipe sees the same first
    batches): the loss each step trained on (`loss`: label-smoothed where the recipe
    smooths), and after each step the plain cross-entropy on 256 fixed validation images
    (`validation_loss`: the same measure for every recipe). `training_seconds` leaves out
    the time of those evaluations."""
    train_data, validation, _ = splits(device)
    seed_everything(0)
    model, probe = build(config), validation.first(256)
    losses, held_out, evaluating = [], [], 0.0

    def after_step(step, loss):
        nonlocal evaluating
        start = time.perf_counter()
        held_out.append(cross_entropy(model, probe, img_size=recipe.img_size))
        evaluating += time.perf_counter() - start
        losses.append(loss)
        return len(losses) == steps

    start = time.perf_counter()
    train(model, train_data, probe, recipe, progress=progress, on_step=after_step)
    return {"loss": losses, "validation_loss": held_out, "training_seconds": time.perf_counter() - start - evaluating}


# D2L's optimiser settings (plain SGD, lr 0.1, constant, no label smoothing) on the book's data
D2L_OPTIMIZER = replace(
    QUICK_RECIPE, optimizer="sgd", lr=0.1, weight_decay=0.0, warmup_epochs=0, schedule="constant", label_smoothing=0.0
)
FIRST_STEPS = 40


@recorded_run(
    "optimizer",
    "D2L's optimiser settings against the book's on the same model and data "
    "(3 seeds), and the first steps of D2L's own model under each, with the plain "
    "cross-entropy on 256 validation images after every step",
)
def optimizer(device, parts, progress):
    named = {"book: AdamW, warm-up, cosine, label smoothing": QUICK_RECIPE, "D2L: SGD, lr 0.1, constant": D2L_OPTIMIZER}
    first = {
        "D2L: SGD, lr 0.1, constant": D2L_RECIPE,
        "SGD, lr 0.1, 1 epoch of warm-up": replace(D2L_RECIPE, warmup_epochs=1),
        "book: AdamW, warm-up, cosine, label smoothing": replace(QUICK_RECIPE, img_size=96),
    }
    return {
        "quick model": variants(parts, {k: (QUICK_CONFIG, r) for k, r in named.items()}, device, progress),
        f"D2L model, first {FIRST_STEPS} steps": {
            k: parts.get(f"first steps, {k}", lambda r=r: first_steps(D2L_CONFIG, r, FIRST_STEPS, device, progress))
            for k, r in first.items()
        },
    }


@recorded_run(
    "pipeline",
    "D2L's input pipeline (96x96, 16x16 patches) against native 28x28 with "
    "7x7 and 4x4 patches, the same model width and recipe (D2L's exercise 1), 3 seeds",
)
def pipeline(device, parts, progress):
    return variants(
        parts,
        {
            "96x96, 16x16 patches (D2L)": (
                dict(QUICK_CONFIG, img_size=96, patch_size=16),
                replace(QUICK_RECIPE, img_size=96),
            ),
            "28x28, 7x7 patches": (dict(QUICK_CONFIG, patch_size=7), QUICK_RECIPE),
            "28x28, 4x4 patches": (dict(QUICK_CONFIG, patch_size=4), QUICK_RECIPE),
        },
        device,
        progress,
    )


@recorded_run(
    "ablations", "one change at a time to the quick setting: pooling, positions, their initialisation, 3 seeds"
)
def ablations(device, parts, progress):
    return variants(
        parts,
        {
            name: (dict(QUICK_CONFIG, **change), QUICK_RECIPE)
            for name, change in {
                "quick setting (<cls>, learned positions, std 0.02)": {},
                "mean pooling": dict(pool="mean"),
                "sin-cos positions": dict(position="sincos"),
                "no positions": dict(position="none"),
                "learned positions, initial std 1 (D2L)": dict(pos_std=1.0),
            }.items()
        },
        device,
        progress,
    )
