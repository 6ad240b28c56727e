"""The book's recorded runs (see `vitbook.runs`), one module a chapter: `chapter06` (training
and its choices), `chapter08` (the ViT beside convnets), `chapter09` (transfer), `chapter10`
(data parallelism), `chapter11` and `chapter11_training` (the levers that help a ViT on
small data: its architecture's, its training's), `speed` (what makes a training step
faster on the CPU) and `sweep` (the exploration that chose the recipes).
`python -m vitbook.runs --list` lists them.
This module holds what they share: training one setting on several seeds and recording
it the same way every time.

Every choice is made on a validation split of `vitbook.train.VALIDATION_IMAGES` carved from
the training set (`vitbook.data.split_off`); the test set gives final numbers only.
"""

from __future__ import annotations

import dataclasses
import statistics

import torch

from ..device import seed_everything
from ..pretrained import build, save_trained
from ..runs import device_name
from ..train import Recipe, evaluate, splits, train

SEEDS = (0, 1, 2)


def train_and_test(
    config: dict,
    recipe: Recipe,
    seed: int,
    device: torch.device,
    progress: bool,
    checkpoint=None,
    command: str = "",
    resume=None,
    fraction: float = 1.0,
    classes=None,
    start=None,
    teacher=None,
    measure_test: bool = True,
) -> dict:
    """Train `config` with `recipe` (validation accuracy after every epoch), then measure
    the test accuracy once (with `measure_test=False`, for an exploration, the test set
    is not touched and nothing saved); with `checkpoint`, save the trained model there; with
    `resume` (a path), keep a per-epoch checkpoint there and continue from it; with
    `fraction` < 1 or `classes`, train on that share or those classes of the training set
    (`splits`); with `start`, a function returning the model to start from (chapter 9:
    a trained model to fine-tune), called after seeding, instead of building `config`;
    with `teacher` (a trained model), distil from it (`train`)."""
    train_data, validation, test = splits(device, fraction, seed, classes)
    seed_everything(seed)
    model = start() if start else build(config)
    history = train(
        model,
        train_data,
        validation,
        recipe,
        seed=seed,
        progress=progress,
        checkpoint=resume,
        resume=resume is not None,
        teacher=teacher,
    )
    run = {
        "config": config,
        "recipe": dataclasses.asdict(recipe),
        "seed": seed,
        "epochs": history.epoch,
        "seconds": history.seconds,
        "train_loss": history.train_loss,
        # on the images as the recipe transformed them, in training mode (dropout on)
        "train_accuracy": history.train_acc,
        "validation_accuracy": history.eval_acc,
        "fraction": fraction,
        "classes": None if classes is None else list(classes),
    }
    if not measure_test:
        return run
    run["test_accuracy"] = evaluate(model, test, img_size=recipe.img_size, bf16=recipe.bf16)
    if checkpoint:
        save_trained(checkpoint, model, config, recipe, history, run["test_accuracy"], device_name(device), command)
    return run


def stretched(recipe: Recipe, epochs: int) -> Recipe:
    """`recipe` for `epochs` epochs, its warm-up in proportion (the cosine decay follows)."""
    return dataclasses.replace(recipe, epochs=epochs, warmup_epochs=recipe.warmup_epochs * epochs / recipe.epochs)


def spread(values: list[float]) -> dict:
    """Mean, standard deviation (n - 1) and the values themselves."""
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def seeded(
    parts, key: str, config: dict, recipe: Recipe, device, progress, keep=None, command: str = "", seeds=None, **options
) -> dict:
    """`train_and_test` (with `options`) for every seed of `seeds` (SEEDS by default),
    each a part of the run, and the spread of their test accuracies and training seconds;
    with `keep` (a path), seed 0's trained model is saved there with `command` in its record."""
    runs = [
        parts.get(
            f"{key}, seed {seed}",
            lambda seed=seed: train_and_test(
                config,
                recipe,
                seed,
                device,
                progress,
                checkpoint=keep if seed == 0 else None,
                command=command,
                **options,
            ),
        )
        for seed in (SEEDS if seeds is None else seeds)
    ]
    return {
        "seeds": runs,
        "test_accuracy": spread([r["test_accuracy"] for r in runs]),
        "seconds": spread([r["seconds"][-1] for r in runs]),
    }


def variants(parts, named: dict[str, tuple[dict, Recipe]], device, progress) -> dict:
    """`seeded` for every named (config, recipe): one change per comparison."""
    return {name: seeded(parts, name, config, recipe, device, progress) for name, (config, recipe) in named.items()}
