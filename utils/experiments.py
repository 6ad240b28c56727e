"""The book's recorded runs (see `vitbook.runs`): `python -m vitbook.runs --list`.

Every choice is made on a validation split of `VALIDATION_IMAGES` carved from the
training set (`vitbook.data.split_off`); the test set gives final numbers only.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import replace
import time

import torch
import torch.nn.functional as F

from .data import FashionMNIST, balanced_subset, load_fashion_mnist, only_classes, split_off
from .device import seed_everything
from .pretrained import CHECKPOINT, RESULTS, build, load_trained, save_trained
from .runs import device_name, recorded_run, run_command
from .train import BOOK_RECIPE, CPU_RECIPE, D2L_RECIPE, QUICK_RECIPE, DeviceData, Recipe, evaluate, train
from .vit import BOOK_CONFIG, CPU_CONFIG, D2L_CONFIG, QUICK_CONFIG, ViT, timm_equivalent

VALIDATION_IMAGES = 10_000
SEEDS = (0, 1, 2)
THROUGHPUT = dict(batch=128, steps=20, rounds=5)  # per model and round


def splits(device: torch.device, fraction: float = 1.0, seed: int = 0,
           classes=None) -> tuple[DeviceData, DeviceData, DeviceData]:
    """(training set less the validation split, validation split, test set) on `device`.

    With `fraction` < 1 the training set is that share of every class (`balanced_subset`,
    drawn with `seed`), repeated so that an epoch still shows as many images as the full
    set: every fraction then gets the same steps, epochs and evaluations. With `classes`
    (class indices), all three hold only those classes, relabelled 0, 1, ... (`only_classes`)."""
    rest, validation = split_off(load_fashion_mnist("train"), VALIDATION_IMAGES)
    test = load_fashion_mnist("test")
    if classes is not None:
        rest, validation, test = (only_classes(d, classes) for d in (rest, validation, test))
    if fraction < 1:
        subset = balanced_subset(rest, fraction, seed)
        times = round(len(rest) / len(subset))
        rest = FashionMNIST(subset.images.repeat(times, 1, 1, 1), subset.labels.repeat(times),
                            rest.classes, rest.source)
    return DeviceData(rest, device), DeviceData(validation, device), DeviceData(test, device)


def train_and_test(config: dict, recipe: Recipe, seed: int, device: torch.device, progress: bool,
                   checkpoint=None, command: str = "", resume=None, fraction: float = 1.0,
                   classes=None, start=None, teacher=None) -> dict:
    """Train `config` with `recipe` (validation accuracy after every epoch), then measure
    the test accuracy once; with `checkpoint`, save the trained model there; with
    `resume` (a path), keep a per-epoch checkpoint there and continue from it; with
    `fraction` < 1 or `classes`, train on that share or those classes of the training set
    (`splits`); with `start`, a function returning the model to start from (chapter 9:
    a trained model to fine-tune), called after seeding, instead of building `config`;
    with `teacher` (a trained model), distil from it (`train`)."""
    train_data, validation, test = splits(device, fraction, seed, classes)
    seed_everything(seed)
    model = start() if start else build(config)
    history = train(model, train_data, validation, recipe, seed=seed, progress=progress,
                    checkpoint=resume, resume=resume is not None, teacher=teacher)
    test_accuracy = evaluate(model, test, img_size=recipe.img_size, bf16=recipe.bf16)
    if checkpoint:
        save_trained(checkpoint, model, config, recipe, history, test_accuracy,
                     device_name(device), command)
    return {"config": config, "recipe": dataclasses.asdict(recipe), "seed": seed,
            "epochs": history.epoch, "seconds": history.seconds, "train_loss": history.train_loss,
            "validation_accuracy": history.eval_acc, "test_accuracy": test_accuracy,
            "fraction": fraction, "classes": None if classes is None else list(classes)}


def spread(values: list[float]) -> dict:
    """Mean, standard deviation (n - 1) and the values themselves."""
    return {"mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}


def seeded(parts, key: str, config: dict, recipe: Recipe, device, progress, keep=None, command: str = "",
           **options) -> dict:
    """`train_and_test` (with `options`) for every seed of SEEDS, each a part of the run,
    and the spread of their test accuracies and training seconds; with `keep` (a path),
    seed 0's trained model is saved there with `command` in its record."""
    runs = [parts.get(f"{key}, seed {seed}", lambda seed=seed: train_and_test(
        config, recipe, seed, device, progress, checkpoint=keep if seed == 0 else None, command=command,
        **options)) for seed in SEEDS]
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
            for name, config in (("quick", QUICK_CONFIG), ("cpu", CPU_CONFIG), ("book", BOOK_CONFIG))}


@recorded_run("quick", "the quick setting that nbval runs (QUICK_CONFIG, QUICK_RECIPE), 3 seeds; seed 0's "
              "model becomes results/vit-quick.pt (chapter 8)")
def quick(device, parts, progress):
    return seeded(parts, "quick", QUICK_CONFIG, QUICK_RECIPE, device, progress, keep=RESULTS / "vit-quick.pt",
                  command=run_command("quick", device.type))


@recorded_run("checkpoint", "the book's model for the device (CPU_CONFIG with CPU_RECIPE, or "
              "BOOK_CONFIG with BOOK_RECIPE on CUDA); seed 0 becomes the checkpoint chapter 7 opens")
def checkpoint(device, parts, progress):
    config, recipe = (BOOK_CONFIG, BOOK_RECIPE) if device.type == "cuda" else (CPU_CONFIG, CPU_RECIPE)
    command = run_command("checkpoint", device.type)
    return {"seed 0": parts.get("seed 0", lambda: train_and_test(
        config, recipe, 0, device, progress, checkpoint=CHECKPOINT, command=command,
        resume=parts.scratch("seed 0")))}


def time_to_accuracy(config: dict, recipe: Recipe, seed: int, target: float, device, progress) -> dict:
    """Train `config` with `recipe` until the validation accuracy first reaches `target`
    after an epoch (or the recipe ends): the epochs, seconds and accuracies until then."""
    train_data, validation, _ = splits(device)
    seed_everything(seed)
    history = train(build(config), train_data, validation, recipe, seed=seed, progress=progress,
                    on_epoch=lambda h: h.eval_acc[-1] >= target)
    return {"seed": seed, "target": target, "reached": history.eval_acc[-1] >= target,
            "epochs": history.epoch, "seconds": history.seconds, "validation_accuracy": history.eval_acc}


@recorded_run("d2l", "D2L's recipe as D2L runs it (D2L_CONFIG, D2L_RECIPE: 96x96, SGD, 10 epochs), then "
              "the quick setting on the same machine, stopped at the first epoch that reaches D2L's "
              "final validation accuracy, 3 seeds")
def d2l(device, parts, progress):
    theirs = parts.get("seed 0", lambda: train_and_test(
        D2L_CONFIG, D2L_RECIPE, 0, device, progress, resume=parts.scratch("seed 0")))
    target = theirs["validation_accuracy"][-1]
    return {"seed 0": theirs, "quick setting to D2L's accuracy": [
        parts.get(f"quick setting to D2L's accuracy, seed {seed}", lambda seed=seed: time_to_accuracy(
            QUICK_CONFIG, QUICK_RECIPE, seed, target, device, progress)) for seed in SEEDS]}


def variants(parts, named: dict[str, tuple[dict, Recipe]], device, progress) -> dict:
    """`seeded` for every named (config, recipe): one change per comparison."""
    return {name: seeded(parts, name, config, recipe, device, progress)
            for name, (config, recipe) in named.items()}


def first_steps(config: dict, recipe: Recipe, steps: int, device, progress) -> list[float]:
    """The training loss at each of the first `steps` optimiser steps (seed 0: every
    recipe sees the same first batches)."""
    train_data, validation, _ = splits(device)
    seed_everything(0)
    losses = []
    train(build(config), train_data, validation.first(256), recipe, progress=progress,
          on_step=lambda step, loss: losses.append(loss) or len(losses) == steps)
    return losses


# D2L's optimiser settings (plain SGD, lr 0.1, constant, no label smoothing) on the book's data
D2L_OPTIMIZER = replace(QUICK_RECIPE, optimizer="sgd", lr=0.1, weight_decay=0.0, warmup_epochs=0,
                        schedule="constant", label_smoothing=0.0)
FIRST_STEPS = 40


@recorded_run("optimizer", "D2L's optimiser settings against the book's on the same model and data "
              "(3 seeds), and the first steps of D2L's own model under each")
def optimizer(device, parts, progress):
    named = {"book: AdamW, warm-up, cosine, label smoothing": QUICK_RECIPE,
             "D2L: SGD, lr 0.1, constant": D2L_OPTIMIZER}
    first = {"D2L: SGD, lr 0.1, constant": D2L_RECIPE,
             "SGD, lr 0.1, 1 epoch of warm-up": replace(D2L_RECIPE, warmup_epochs=1),
             "book: AdamW, warm-up, cosine, label smoothing": replace(QUICK_RECIPE, img_size=96)}
    return {"quick model": variants(parts, {k: (QUICK_CONFIG, r) for k, r in named.items()}, device, progress),
            f"D2L model, first {FIRST_STEPS} steps": {k: parts.get(f"first steps, {k}", lambda r=r: {
                "loss": first_steps(D2L_CONFIG, r, FIRST_STEPS, device, progress)}) for k, r in first.items()}}


@recorded_run("pipeline", "D2L's input pipeline (96x96, 16x16 patches) against native 28x28 with "
              "7x7 and 4x4 patches, the same model width and recipe (D2L's exercise 1), 3 seeds")
def pipeline(device, parts, progress):
    return variants(parts, {
        "96x96, 16x16 patches (D2L)": (dict(QUICK_CONFIG, img_size=96, patch_size=16),
                                       replace(QUICK_RECIPE, img_size=96)),
        "28x28, 7x7 patches": (dict(QUICK_CONFIG, patch_size=7), QUICK_RECIPE),
        "28x28, 4x4 patches": (dict(QUICK_CONFIG, patch_size=4), QUICK_RECIPE)}, device, progress)


@recorded_run("ablations", "one change at a time to the quick setting: pooling, positions, their "
              "initialisation, 3 seeds")
def ablations(device, parts, progress):
    return variants(parts, {name: (dict(QUICK_CONFIG, **change), QUICK_RECIPE) for name, change in {
        "quick setting (<cls>, learned positions, std 0.02)": {},
        "mean pooling": dict(pool="mean"),
        "sin-cos positions": dict(position="sincos"),
        "no positions": dict(position="none"),
        "learned positions, initial std 1 (D2L)": dict(pos_std=1.0)}.items()}, device, progress)


BASELINES = {"MLP": dict(model="mlp", hidden=(256,)), "ResNet": dict(model="resnet", widths=(16, 32, 64))}


@recorded_run("baselines", "an MLP and a small ResNet trained with the quick setting's recipe, 3 seeds; "
              "seed 0's models become results/mlp-quick.pt and resnet-quick.pt (chapter 8)")
def baselines(device, parts, progress):
    command = run_command("baselines", device.type)
    return {name: seeded(parts, name, config, QUICK_RECIPE, device, progress, command=command,
                         keep=RESULTS / f"{config['model']}-quick.pt") for name, config in BASELINES.items()}


EQUAL_TIME = dict(seconds=180, models={"ViT": QUICK_CONFIG, **BASELINES})  # the quick setting's budget


def epoch_seconds(config: dict, recipe: Recipe, device) -> float:
    """Training seconds of one epoch of `recipe` for `config` on `device` (seed 0)."""
    train_data, validation, _ = splits(device)
    seed_everything(0)
    return train(build(config), train_data, validation.first(256), replace(recipe, epochs=1),
                 progress=False).seconds[-1]


@recorded_run("equal_time", "the ViT (quick setting), the MLP and the ResNet given the same training "
              "time, 180 s: the quick recipe for as many epochs as each fits in it, counted from one "
              "timed epoch, 3 seeds")
def equal_time(device, parts, progress):
    results = {}
    for name, config in EQUAL_TIME["models"].items():
        one = parts.get(f"{name}, one epoch", lambda c=config: {"seconds": epoch_seconds(c, QUICK_RECIPE, device)})
        epochs = max(1, round(EQUAL_TIME["seconds"] / one["seconds"]))
        results[name] = dict(seeded(parts, name, config, replace(QUICK_RECIPE, epochs=epochs), device, progress),
                             epoch_seconds=one["seconds"])
    return results


HUNGER = dict(fractions=(0.01, 0.05, 0.2, 1.0), epochs=5)
HUNGER_MODELS = {"ViT": CPU_CONFIG, "ViT, conv stem": dict(CPU_CONFIG, model="conv-stem vit"),
                 "ResNet": BASELINES["ResNet"]}


def hunger_recipe() -> Recipe:
    """CPU_RECIPE cut to HUNGER's epochs, its warm-up in proportion."""
    return replace(CPU_RECIPE, epochs=HUNGER["epochs"],
                   warmup_epochs=CPU_RECIPE.warmup_epochs * HUNGER["epochs"] / CPU_RECIPE.epochs)


@recorded_run("data_hunger", "the ViT, the conv-stem ViT and the ResNet on 1%, 5%, 20% and 100% of "
              "the training set (class-balanced, the same subsets for all; every fraction sees as "
              "many images), 3 seeds")
def data_hunger(device, parts, progress):
    recipe = hunger_recipe()
    return {name: {f"{fraction:g}": seeded(parts, f"{name}, {fraction:g}", config, recipe, device,
                                           progress, fraction=fraction)
                   for fraction in HUNGER["fractions"]} for name, config in HUNGER_MODELS.items()}


TEACHER = RESULTS / "resnet-quick.pt"  # the `baselines` run's ResNet, seed 0


@recorded_run("distillation", "the ViT of data_hunger on the full training set, trained as there and "
              "with hard distillation from the ResNet of results/resnet-quick.pt (DeiT), 3 seeds")
def distillation(device, parts, progress):
    recipe = hunger_recipe()
    teacher, record = load_trained(TEACHER, device)  # frozen by `train`, so every seed can share it
    return {"ViT": seeded(parts, "ViT", CPU_CONFIG, recipe, device, progress),
            "ViT, distilled from the ResNet": seeded(parts, "ViT, distilled", CPU_CONFIG, recipe, device,
                                                     progress, teacher=teacher),
            "teacher": {"path": TEACHER.name, "test_accuracy": record["test_accuracy"]}}
