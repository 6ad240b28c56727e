"""The book's recorded runs (see `vitbook.runs`): `python -m vitbook.runs --list`.

Every choice is made on a validation split of `VALIDATION_IMAGES` carved from the
training set (`vitbook.data.split_off`); the test set gives final numbers only.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import torch
import torch.nn.functional as F

from .data import load_fashion_mnist, split_off
from .device import seed_everything
from .pretrained import CHECKPOINT, save_trained
from .runs import device_name, recorded_run
from .train import BOOK_RECIPE, CPU_RECIPE, D2L_RECIPE, QUICK_RECIPE, DeviceData, Recipe, evaluate, train
from .vit import BOOK_CONFIG, D2L_CONFIG, QUICK_CONFIG, ViT, timm_equivalent

VALIDATION_IMAGES = 10_000
SEEDS = (0, 1, 2)
THROUGHPUT = dict(batch=128, steps=20, rounds=5)  # per model and round


def splits(device: torch.device) -> tuple[DeviceData, DeviceData, DeviceData]:
    """(training set less the validation split, validation split, test set) on `device`."""
    rest, validation = split_off(load_fashion_mnist("train"), VALIDATION_IMAGES)
    return (DeviceData(rest, device), DeviceData(validation, device),
            DeviceData(load_fashion_mnist("test"), device))


def train_and_test(config: dict, recipe: Recipe, seed: int, device: torch.device, progress: bool,
                   checkpoint=None, command: str = "", resume=None) -> dict:
    """Train `config` with `recipe` (validation accuracy after every epoch), then measure
    the test accuracy once; with `checkpoint`, save the trained model there; with
    `resume` (a path), keep a per-epoch checkpoint there and continue from it."""
    train_data, validation, test = splits(device)
    seed_everything(seed)
    model = ViT(**config)
    history = train(model, train_data, validation, recipe, seed=seed, progress=progress,
                    checkpoint=resume, resume=resume is not None)
    test_accuracy = evaluate(model, test, img_size=recipe.img_size, bf16=recipe.bf16)
    if checkpoint:
        save_trained(checkpoint, model, config, recipe, history, test_accuracy,
                     device_name(device), command)
    return {"config": config, "recipe": dataclasses.asdict(recipe), "seed": seed,
            "epochs": history.epoch, "seconds": history.seconds, "train_loss": history.train_loss,
            "validation_accuracy": history.test_acc, "test_accuracy": test_accuracy}


def spread(values: list[float]) -> dict:
    """Mean, standard deviation (n - 1) and the values themselves."""
    return {"mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}


def seeded(parts, key: str, config: dict, recipe: Recipe, device, progress) -> dict:
    """`train_and_test` for every seed of SEEDS, each a part of the run, and the spread of
    their test accuracies and training seconds."""
    runs = [parts.get(f"{key}, seed {seed}", lambda seed=seed: train_and_test(
        config, recipe, seed, device, progress)) for seed in SEEDS]
    return {"seeds": runs, "test_accuracy": spread([r["test_accuracy"] for r in runs]),
            "seconds": spread([r["seconds"][-1] for r in runs])}


def images_per_second(model: torch.nn.Module, size: int, device: torch.device, batch: int,
                      steps: int) -> float:
    """Training images per second: forward, backward and AdamW step on random
    `size` x `size` images."""
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

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
    return {"config": config, "batch": batch, "steps": steps, "rounds": rates,
            "book_images_per_s": book, "timm_images_per_s": timm, "ratio": book / timm}


@recorded_run("throughput", "training images/s of the book's ViT and of timm's VisionTransformer "
              "of the same shape (float32, batch 128, alternating rounds)")
def throughput(device, parts, progress):
    return {name: parts.get(name, lambda config=config: compare_throughput(config, device, **THROUGHPUT))
            for name, config in (("quick", QUICK_CONFIG), ("book", BOOK_CONFIG))}


@recorded_run("quick", "the quick setting that nbval runs (QUICK_CONFIG, QUICK_RECIPE), 3 seeds")
def quick(device, parts, progress):
    return seeded(parts, "quick", QUICK_CONFIG, QUICK_RECIPE, device, progress)


@recorded_run("checkpoint", "the book's model trained with the device's recipe (CPU_RECIPE, or "
              "BOOK_RECIPE on CUDA); seed 0 becomes the shipped checkpoint chapter 7 opens")
def checkpoint(device, parts, progress):
    recipe = BOOK_RECIPE if device.type == "cuda" else CPU_RECIPE
    command = f"python -m vitbook.runs run checkpoint --device {device.type}"
    return {"seed 0": parts.get("seed 0", lambda: train_and_test(
        BOOK_CONFIG, recipe, 0, device, progress, checkpoint=CHECKPOINT, command=command))}


@recorded_run("d2l", "D2L's recipe as D2L runs it (D2L_CONFIG, D2L_RECIPE: 96x96, SGD, 10 epochs)")
def d2l(device, parts, progress):
    return {"seed 0": parts.get("seed 0", lambda: train_and_test(
        D2L_CONFIG, D2L_RECIPE, 0, device, progress, resume=parts.scratch("seed 0")))}
