"""Chapter 11's recorded runs of training levers, from the quick setting and from the
compact ViT of `vitbook.experiments.chapter11` (its architecture levers):

- `augreg`, `augreg_long`, `augreg_long_mix`: AugReg's and DeiT's augmentation and
  regularisation levers, one at a time, at the quick setting's 10 epochs and (some of
  them) at 40 (LONG_EPOCHS);
- `compact_augreg`: an exploration of the same levers on `versus_resnet`'s compact ViT;
- `compact_long`: that compact ViT at the long budget, with mixup or CutMix and without;
- `rematch`: target T1 again, the compact ViT with the levers chosen there;
- `distillation_token`: DeiT's distillation token against chapter 8's distillation
  through the `<cls>` token, both taught by chapter 8's ResNet, at 40 epochs too (the
  untaught quick setting at 40 epochs is `schedule`'s, trained by the same code and seeds).
"""

from __future__ import annotations

from dataclasses import replace

from ..runs import recorded_run
from ..train import QUICK_RECIPE, Recipe
from ..vit import QUICK_CONFIG
from . import seeded, train_and_test
from .chapter08 import BASELINES, teacher
from .chapter11 import WINNER, alternating, epochs_in_resnet_time, scaled, timed_epochs

# The long budget of `augreg_long` and `distillation_token`: the longest schedule of
# `schedule`. Without augmentation the quick setting converged at 10 epochs there and
# overfits at 40; augmentation and a teacher change the data the model fits, so they get
# the long one.
LONG_EPOCHS = 40
# AugReg's and DeiT's levers: (change to the config, change to the recipe)
AUGREG = {
    "without a lever": ({}, {}),
    "shifts and flips": ({}, dict(augment=True)),
    "random erasing (25% of images)": ({}, dict(erase=0.25)),
    "mixup (0.8) or CutMix (1.0)": ({}, dict(mixup=0.8, cutmix=1.0)),
    "stochastic depth (0.1)": (dict(drop_path=0.1), {}),
    "weight decay 0.1 (from 0.05)": ({}, dict(weight_decay=0.1)),
    # after `augreg`: Fashion-MNIST's shoes face one way, so mirroring them may cost
    "shifts only (no flips)": ({}, dict(augment=True, flip=False)),
}
SHORT_LEVERS = tuple(AUGREG)[:6]  # those of `augreg` and `compact_augreg`
# At the long budget, in two runs that each fit in an afternoon on the CPU (with their own
# reference): the shifts, with and without the flips; a mixing lever and a regulariser
AUGREG_LONG = {
    "augreg_long": ("without a lever", "shifts and flips", "shifts only (no flips)"),
    "augreg_long_mix": ("without a lever", "mixup (0.8) or CutMix (1.0)", "stochastic depth (0.1)"),
}
# `compact_long`: the quick setting's best lever at the long budget, on the compact ViT; it
# runs first, so that a run stopped half-way has the arm that answers T1's accuracy question
COMPACT_LONG = ("mixup (0.8) or CutMix (1.0)", "without a lever")


def with_levers(config: dict, recipe: Recipe, *names: str) -> tuple[dict, Recipe]:
    """`config` and `recipe` with AugReg's levers `names` (keys of AUGREG) added."""
    for name in names:
        config_change, recipe_change = AUGREG[name]
        config, recipe = dict(config, **config_change), replace(recipe, **recipe_change)
    return config, recipe


@recorded_run(
    "augreg",
    "AugReg's levers one at a time from the quick setting (shifts and flips, random "
    "erasing, mixup or CutMix, stochastic depth, stronger weight decay) at its 10 epochs, "
    "3 seeds",
)
def augreg(device, parts, progress):
    return {
        name: seeded(parts, name, *with_levers(QUICK_CONFIG, QUICK_RECIPE, name), device, progress)
        for name in SHORT_LEVERS
    }


def long_levers(names: tuple[str, ...], device, parts, progress, config: dict = QUICK_CONFIG) -> dict:
    """`seeded` for each lever of `names` added to `config` (the quick setting's) trained LONG_EPOCHS."""
    recipe = scaled(LONG_EPOCHS)
    return {name: seeded(parts, name, *with_levers(config, recipe, name), device, progress) for name in names}


@recorded_run(
    "augreg_long",
    f"the shifts and flips of chapter 6's augmentation, and the shifts alone, against the "
    f"quick setting trained {LONG_EPOCHS} epochs, 3 seeds",
)
def augreg_long(device, parts, progress):
    return long_levers(AUGREG_LONG["augreg_long"], device, parts, progress)


@recorded_run(
    "augreg_long_mix",
    f"mixup or CutMix, and stochastic depth, one at a time from the quick setting trained "
    f"{LONG_EPOCHS} epochs, 3 seeds",
)
def augreg_long_mix(device, parts, progress):
    return long_levers(AUGREG_LONG["augreg_long_mix"], device, parts, progress)


@recorded_run(
    "compact_long",
    f"target T1's accuracy: the compact ViT of versus_resnet trained {LONG_EPOCHS} epochs with mixup "
    "or CutMix (the quick setting's best lever at that budget) and without a lever, 3 seeds",
)
def compact_long(device, parts, progress):
    return long_levers(COMPACT_LONG, device, parts, progress, config=WINNER)


# The compact ViT's epochs in `versus_resnet` (as many as fit in the ResNet's time)
WINNER_EPOCHS = 15


@recorded_run(
    "compact_augreg",
    "exploration: validation split only, no test numbers; AugReg's levers one at a time on "
    f"the compact ViT of `versus_resnet` at its {WINNER_EPOCHS} epochs (seed 0), to choose "
    "what it takes into a second match against the ResNet",
)
def compact_augreg(device, parts, progress):
    return {
        name: parts.get(
            name,
            lambda name=name: train_and_test(
                *with_levers(WINNER, scaled(WINNER_EPOCHS), name), 0, device, progress, measure_test=False
            ),
        )
        for name in SHORT_LEVERS
    }


# Chosen in `compact_augreg` (the best validation accuracy there, seed 0): the levers the
# compact ViT takes into `rematch`
REMATCH_LEVERS = ("random erasing (25% of images)",)
TIMING_ROUNDS = 3  # timed epochs of each model in `rematch`, alternating; their median counts


@recorded_run(
    "rematch",
    "target T1 again: the compact ViT of `versus_resnet` with the levers chosen in "
    "`compact_augreg`, against the ResNet of `baselines`, as it is and with the same levers, "
    "all trained in this run, seeds alternating; the compact ViT for as many whole epochs as "
    f"fit in the ResNet's time, counted from the median of {TIMING_ROUNDS} timed epochs of "
    "each in alternating rounds; 3 seeds",
)
def rematch(device, parts, progress):
    resnet = (BASELINES["ResNet"], QUICK_RECIPE)
    timed = {"ResNet": resnet, "compact ViT": with_levers(WINNER, QUICK_RECIPE, *REMATCH_LEVERS)}
    seconds = timed_epochs(parts, timed, device, rounds=TIMING_ROUNDS)
    epochs = epochs_in_resnet_time(seconds)
    models = {
        "ResNet": resnet,
        "compact ViT": with_levers(WINNER, scaled(epochs), *REMATCH_LEVERS),
        "ResNet with the same levers": with_levers(*resnet, *REMATCH_LEVERS),
    }
    results = alternating(parts, models, device, progress)
    return {"levers": list(REMATCH_LEVERS), "epoch_seconds": seconds, **results}


TAUGHT = {
    "through the <cls> token (chapter 8)": QUICK_CONFIG,
    "distillation token (DeiT)": dict(QUICK_CONFIG, model="distilled vit"),
}


@recorded_run(
    "distillation_token",
    "the quick setting at 40 epochs with chapter 8's hard distillation through its <cls> "
    "token and with DeiT's distillation token, both taught by the ResNet of "
    "results/resnet-quick.pt; 3 seeds (the untaught quick setting at 40 epochs is `schedule`'s)",
)
def distillation_token(device, parts, progress):
    resnet, about = teacher(device)
    taught = {
        name: seeded(parts, name, config, scaled(LONG_EPOCHS), device, progress, teacher=resnet)
        for name, config in TAUGHT.items()
    }
    return {**taught, "teacher": about}
