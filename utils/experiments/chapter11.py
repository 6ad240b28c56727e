"""Chapter 11's recorded runs: what closes the ViT's gap to the ResNet on Fashion-MNIST,
one lever at a time from the quick setting (QUICK_CONFIG, QUICK_RECIPE: what chapter 6
trains live), 3 seeds each, every choice on the validation split.

- `schedule`: the quick setting trained for 10, 20 and 40 epochs (the cosine decay
  stretched to each), to see where its validation accuracy stops rising (`converged`);
- `levers`: the tokenizer (shifted patches, a convolutional tokenizer), the attention
  (locality self-attention) and the pooling (mean, sequence pooling), one change each;
- `lever_speed`: the training speed of every variant of `levers`;
- `combinations`: an exploration (validation only, seed 0) of combinations of the levers
  trained about as long as the ResNet, to choose the model set against it;
- `versus_resnet`: target T1, the combination chosen there against the ResNet of chapter 8,
  both trained in the one run, given the same training time;
- `compact_hunger`: that combination on shares of the training set, as chapter 8's
  `data_hunger_converged` trains the quick ViT and the ResNet;
Their training levers (AugReg's, DeiT's distillation token) and the rematch against the
ResNet are in `vitbook.experiments.chapter11_training`.

Each variant records its cost beside its accuracy: parameters and FLOPs a forward pass
(`vitbook.compact.model_costs`) and training seconds. Training seconds drift with the
host's load over an hour-long run, so `lever_speed` measures every variant's training
speed in alternating rounds in one process, which a drift hits alike.
"""

from __future__ import annotations

import statistics

from ..compact import model_costs
from ..device import seed_everything
from ..pretrained import build
from ..runs import recorded_run
from ..train import QUICK_RECIPE, Recipe
from ..vit import QUICK_CONFIG
from . import SEEDS, seeded, stretched, train_and_test
from .chapter06 import images_per_second
from .chapter08 import BASELINES, hunger_curves, timed_epoch

SCHEDULE_EPOCHS = (10, 20, 40)
# A schedule has converged when doubling it gains less than this on validation (3-seed
# means): about twice the seed-to-seed spread of the quick setting (0.2 points, `quick`).
CONVERGED_GAIN = 0.004
COMPACT = dict(QUICK_CONFIG, model="compact vit")
LEVERS = {
    "quick setting": QUICK_CONFIG,
    "shifted patch tokenization (SPT)": dict(COMPACT, tokenizer="spt"),
    # 3 blocks give the quick setting's 4x4 grid of tokens; 16 channels (CCT's 2-block
    # models use 64) keep a training step within twice the quick setting's on a CPU
    "convolutional tokenizer (CCT)": dict(COMPACT, tokenizer="conv", conv_layers=3, in_planes=16),
    "locality self-attention (LSA)": dict(COMPACT, attention="lsa"),
    "mean pooling": dict(QUICK_CONFIG, pool="mean"),
    "sequence pooling (CCT)": dict(COMPACT, pool="seq"),
}


def costs(config: dict) -> dict:
    """`model_costs` of the model `config` builds (seeded: the numbers do not depend on it)."""
    seed_everything(0)
    return model_costs(build(config))


def scaled(epochs: int):
    """QUICK_RECIPE for `epochs` epochs, its warm-up in proportion."""
    return stretched(QUICK_RECIPE, epochs)


def final_validation(result: dict) -> float:
    """The mean over the seeds of the last epoch's validation accuracy."""
    return statistics.mean(seed["validation_accuracy"][-1] for seed in result["seeds"])


def converged(by_epochs: dict[int, dict], gain: float = CONVERGED_GAIN) -> int | None:
    """The shortest schedule (epochs) whose doubling gains less than `gain` in mean final
    validation accuracy; None if every doubling still gains more."""
    epochs = sorted(by_epochs)
    return next(
        (
            e
            for e in epochs
            if 2 * e in by_epochs and final_validation(by_epochs[2 * e]) - final_validation(by_epochs[e]) < gain
        ),
        None,
    )


@recorded_run(
    "schedule",
    "the quick setting trained for 10, 20 and 40 epochs (cosine decay to each), 3 seeds: "
    "where its validation accuracy stops rising (doubling gains < 0.4 points)",
)
def schedule(device, parts, progress):
    by_epochs = {e: seeded(parts, f"{e} epochs", QUICK_CONFIG, scaled(e), device, progress) for e in SCHEDULE_EPOCHS}
    return {
        "epochs": {str(e): result for e, result in by_epochs.items()},
        "converged_gain": CONVERGED_GAIN,
        "converged_at": converged(by_epochs),
    }


@recorded_run(
    "levers",
    "one change at a time to the quick setting: shifted patch tokenization, a convolutional "
    "tokenizer, locality self-attention, mean and sequence pooling; 3 seeds, with each "
    "model's parameters and FLOPs",
)
def levers(device, parts, progress):
    return {
        name: dict(seeded(parts, name, config, QUICK_RECIPE, device, progress), costs=costs(config))
        for name, config in LEVERS.items()
    }


SPEED = dict(batch=128, steps=50, rounds=5)  # per variant and round


@recorded_run(
    "lever_speed",
    "training images/s of every variant of `levers` (forward, backward and AdamW step, "
    "batch 128, float32), in alternating rounds in one process; medians of the rounds",
)
def lever_speed(device, parts, progress):
    seed_everything(0)
    models = {name: build(config) for name, config in LEVERS.items()}
    rates = {name: [] for name in models}
    for _ in range(SPEED["rounds"]):
        for name, model in models.items():
            rates[name].append(images_per_second(model, 28, device, SPEED["batch"], SPEED["steps"]))
    return {name: {"images_per_s": statistics.median(r), "rounds": r} for name, r in rates.items()}


def conv_vit(dim: int, depth: int, planes: int = 16, pool: str = "seq", **levers) -> dict:
    """A config of the quick setting's ViT with CCT's tokenizer (3 blocks of `planes`
    channels: 16 tokens), at width `dim` (heads of 16 channels, MLP twice as wide) and depth
    `depth`, pooled by `pool`, with any other lever of `compact_vit`."""
    return dict(
        COMPACT,
        tokenizer="conv",
        conv_layers=3,
        in_planes=planes,
        dim=dim,
        depth=depth,
        num_heads=dim // 16,
        mlp_dim=2 * dim,
        pool=pool,
        **levers,
    )


# Candidates for the best combination against the ResNet's training time (about 500 s on
# the book's CPU, run `baselines`), each about that long; seed 0, validation only.
COMBINATIONS = {
    "CCT tokenizer, 20 epochs": (dict(COMPACT, tokenizer="conv", conv_layers=3, in_planes=16), scaled(20)),
    "CCT tokenizer, sequence pooling, 20 epochs": (conv_vit(64, 4), scaled(20)),
    "CCT tokenizer (32 channels), sequence pooling, 12 epochs": (conv_vit(64, 4, planes=32), scaled(12)),
    "CCT tokenizer, width 128, depth 3, sequence pooling, 12 epochs": (conv_vit(128, 3), scaled(12)),
}


@recorded_run(
    "combinations",
    "exploration: validation split only, no test numbers; combinations of chapter 11's "
    "levers, each trained about as long as the ResNet of `baselines` (seed 0), to choose "
    "the model that chapter 11 sets against the ResNet",
)
def combinations(device, parts, progress):
    return {
        name: parts.get(name, lambda c=config, r=recipe: train_and_test(c, r, 0, device, progress, measure_test=False))
        for name, (config, recipe) in COMBINATIONS.items()
    }


def timed_epochs(parts, models: dict[str, tuple[dict, Recipe]], device, rounds: int) -> dict[str, float]:
    """The median of `rounds` timed epochs (`timed_epoch`) of each named (config, recipe),
    in alternating rounds, so that a drift in the host's speed hits all alike."""
    seconds = {name: [] for name in models}
    for r in range(rounds):
        for name, (config, recipe) in models.items():
            key = name if r == 0 else f"{name}, round {r + 1}"
            seconds[name].append(timed_epoch(parts, key, config, device, recipe))
    return {name: statistics.median(s) for name, s in seconds.items()}


def alternating(parts, models: dict[str, tuple[dict, Recipe]], device, progress) -> dict[str, dict]:
    """`seeded` for every named (config, recipe), the seeds alternating between them (a
    drift in the host's speed hits all alike), with each model's `costs`."""
    for seed in SEEDS:
        for name, (config, recipe) in models.items():
            seeded(parts, name, config, recipe, device, progress, seeds=(seed,))
    return {
        name: dict(seeded(parts, name, config, recipe, device, progress), costs=costs(config))
        for name, (config, recipe) in models.items()
    }


def epochs_in_resnet_time(seconds: dict[str, float]) -> int:
    """The whole epochs of the compact ViT that fit in the ResNet's QUICK_RECIPE epochs,
    from an epoch's `seconds` of each (rounded down; at least one): T1's budget rule."""
    return max(1, int(QUICK_RECIPE.epochs * seconds["ResNet"] / seconds["compact ViT"]))


# Chosen in `combinations` (the best validation accuracy there, in the least time)
WINNER = conv_vit(64, 4, planes=32)


@recorded_run(
    "versus_resnet",
    "target T1: chapter 11's compact ViT (CCT tokenizer of 32 channels, sequence pooling, "
    "width 64, depth 4) against the ResNet of `baselines`, both trained in this run, seeds "
    "alternating: the ResNet with the quick recipe (10 epochs), the compact ViT for as many "
    "whole epochs as fit in the ResNet's time, counted from one timed epoch of each; 3 seeds",
)
def versus_resnet(device, parts, progress):
    resnet = (BASELINES["ResNet"], QUICK_RECIPE)
    one = timed_epochs(parts, {"ResNet": resnet, "compact ViT": (WINNER, QUICK_RECIPE)}, device, rounds=1)
    epochs = epochs_in_resnet_time(one)
    results = alternating(parts, {"ResNet": resnet, "compact ViT": (WINNER, scaled(epochs))}, device, progress)
    return {name: dict(result, epoch_seconds=one[name]) for name, result in results.items()}


@recorded_run(
    "compact_hunger",
    "the compact ViT of versus_resnet on the shares of data_hunger_converged, trained as "
    "there (the quick recipe: the steps of 10 epochs of the full set, for every share), 3 "
    "seeds: its data-hunger curve beside chapter 8's quick ViT and ResNet",
)
def compact_hunger(device, parts, progress):
    return hunger_curves(parts, {"compact ViT": WINNER}, QUICK_RECIPE, device, progress)
