"""Chapter 8's recorded runs: the ViT beside an MLP and a small ResNet (the same recipe,
then the same training time), on shares of the training set (data hunger), and distilled
from the ResNet."""

from __future__ import annotations

from dataclasses import replace

import torch

from ..device import seed_everything
from ..pretrained import RESULTS, build, load_trained
from ..runs import recorded_run, run_command
from ..train import CPU_RECIPE, QUICK_RECIPE, Recipe, splits, train
from ..vit import CPU_CONFIG, QUICK_CONFIG
from . import seeded, stretched

BASELINES = {"MLP": dict(model="mlp", hidden=(256,)), "ResNet": dict(model="resnet", widths=(16, 32, 64))}


@recorded_run(
    "baselines",
    "an MLP and a small ResNet trained with the quick setting's recipe, 3 seeds; "
    "seed 0's models become results/mlp-quick.pt and resnet-quick.pt (chapter 8)",
)
def baselines(device, parts, progress):
    command = run_command("baselines", device.type)
    return {
        name: seeded(
            parts,
            name,
            config,
            QUICK_RECIPE,
            device,
            progress,
            command=command,
            keep=RESULTS / f"{config['model']}-quick.pt",
        )
        for name, config in BASELINES.items()
    }


EQUAL_TIME = dict(seconds=180, models={"ViT": QUICK_CONFIG, **BASELINES})  # the quick setting's budget


def epoch_seconds(config: dict, recipe: Recipe, device) -> float:
    """Training seconds of one epoch of `recipe` for `config` on `device` (seed 0)."""
    train_data, validation, _ = splits(device)
    seed_everything(0)
    return train(build(config), train_data, validation.first(256), replace(recipe, epochs=1), progress=False).seconds[
        -1
    ]


def timed_epoch(parts, name: str, config: dict, device, recipe: Recipe = QUICK_RECIPE) -> float:
    """`epoch_seconds` of `recipe` for `config`, kept as the part "`name`, one epoch"."""
    return parts.get(f"{name}, one epoch", lambda: {"seconds": epoch_seconds(config, recipe, device)})["seconds"]


@recorded_run(
    "equal_time",
    "the ViT (quick setting), the MLP and the ResNet given the same training "
    "time, 180 s: the quick recipe for as many epochs as each fits in it, counted from one "
    "timed epoch, 3 seeds",
)
def equal_time(device, parts, progress):
    results = {}
    for name, config in EQUAL_TIME["models"].items():
        one = timed_epoch(parts, name, config, device)
        epochs = max(1, round(EQUAL_TIME["seconds"] / one))
        results[name] = dict(
            seeded(parts, name, config, replace(QUICK_RECIPE, epochs=epochs), device, progress), epoch_seconds=one
        )
    return results


HUNGER = dict(fractions=(0.01, 0.05, 0.2, 1.0), epochs=5)
HUNGER_MODELS = {
    "ViT": CPU_CONFIG,
    "ViT, conv stem": dict(CPU_CONFIG, model="conv-stem vit"),
    "ResNet": BASELINES["ResNet"],
}
# `data_hunger` trains every share for 5 epochs, short of convergence for the ViT (89.0%
# at 20 epochs on the full set, `checkpoint`). `data_hunger_converged` gives every share the
# steps at which the quick setting has converged on the full set (10 epochs: `schedule`'s
# rule, chapter 11), with the quick recipe, the quick ViT and the ResNet.
CONVERGED_HUNGER_MODELS = {"ViT": QUICK_CONFIG, "ResNet": BASELINES["ResNet"]}


def hunger_recipe() -> Recipe:
    """CPU_RECIPE cut to HUNGER's epochs, its warm-up in proportion."""
    return stretched(CPU_RECIPE, HUNGER["epochs"])


def hunger_curves(parts, models: dict, recipe: Recipe, device, progress) -> dict:
    """Every model of `models` (name: config) trained with `recipe` on each share of
    HUNGER's fractions, 3 seeds: {name: {fraction: seeded result}}."""
    return {
        name: {
            f"{fraction:g}": seeded(parts, f"{name}, {fraction:g}", config, recipe, device, progress, fraction=fraction)
            for fraction in HUNGER["fractions"]
        }
        for name, config in models.items()
    }


@recorded_run(
    "data_hunger",
    "the ViT, the conv-stem ViT and the ResNet on 1%, 5%, 20% and 100% of "
    "the training set (class-balanced, the same subsets for all; every fraction sees as "
    "many images), 5 epochs of the full set, 3 seeds",
)
def data_hunger(device, parts, progress):
    return hunger_curves(parts, HUNGER_MODELS, hunger_recipe(), device, progress)


@recorded_run(
    "data_hunger_converged",
    "the quick ViT and the ResNet on 1%, 5%, 20% and 100% of the training set (as "
    "data_hunger), every share trained for the steps of 10 epochs of the full set, where the "
    "quick setting has converged on validation (chapter 11's schedule rule), 3 seeds",
)
def data_hunger_converged(device, parts, progress):
    return hunger_curves(parts, CONVERGED_HUNGER_MODELS, QUICK_RECIPE, device, progress)


@recorded_run(
    "data_hunger_short",
    "the control between data_hunger and data_hunger_converged, the budget alone: the quick "
    "ViT and the ResNet on the same shares and subsets, trained as data_hunger_converged but "
    "for data_hunger's 5 epochs of the full set (the quick recipe cut to 5 epochs, its warm-up "
    "in proportion), 3 seeds",
)
def data_hunger_short(device, parts, progress):
    return hunger_curves(parts, CONVERGED_HUNGER_MODELS, stretched(QUICK_RECIPE, HUNGER["epochs"]), device, progress)


@recorded_run(
    "data_hunger_augmented",
    "the second control between data_hunger and data_hunger_converged, the augmentation "
    "alone: the quick ViT and the ResNet on the same shares and subsets, trained as "
    "data_hunger_converged but with data_hunger's shifts and flips (augment=True), 3 seeds",
)
def data_hunger_augmented(device, parts, progress):
    return hunger_curves(parts, CONVERGED_HUNGER_MODELS, replace(QUICK_RECIPE, augment=True), device, progress)


TEACHER = RESULTS / "resnet-quick.pt"  # the `baselines` run's ResNet, seed 0


def teacher(device) -> tuple[torch.nn.Module, dict]:
    """The ResNet of TEACHER on `device` (frozen by `train`, so every seed can share it),
    and what a run records of it."""
    model, record = load_trained(TEACHER, device)
    return model, {"path": TEACHER.name, "test_accuracy": record["test_accuracy"]}


@recorded_run(
    "distillation",
    "the ViT of data_hunger on the full training set, trained as there and "
    "with hard distillation from the ResNet of results/resnet-quick.pt (DeiT), 3 seeds",
)
def distillation(device, parts, progress):
    recipe = hunger_recipe()
    resnet, about = teacher(device)
    return {
        "ViT": seeded(parts, "ViT", CPU_CONFIG, recipe, device, progress),
        "ViT, distilled from the ResNet": seeded(
            parts, "ViT, distilled", CPU_CONFIG, recipe, device, progress, teacher=resnet
        ),
        "teacher": about,
    }
