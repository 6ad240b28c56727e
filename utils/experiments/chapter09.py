"""Chapter 9's recorded runs (see `vitbook.runs`): the book's trained ViT at a higher
resolution, and a ViT trained on five classes learning the other five from few labels.

Both build on `vitbook.experiments` (the same splits, seeds and records as every run).
Fine-tuning uses a quarter of the training recipe's learning rate (`FINE_TUNE`), a common
starting point, not tuned here.
"""

from __future__ import annotations

from dataclasses import replace

from ..pretrained import CHECKPOINT, build, load_trained
from ..runs import recorded_run
from ..train import CPU_RECIPE, QUICK_RECIPE, evaluate, splits
from ..transfer import at_image_size, freeze_all_but_head, with_new_head
from ..vit import QUICK_CONFIG
from . import seeded, train_and_test

RESOLUTION = dict(img_size=56, epochs=1)  # 28x28 -> 56x56 images: a 7x7 grid of 4x4 patches -> 14x14
FINE_TUNE = 1 / 4  # fine-tuning learning rate, as a share of the recipe's


@recorded_run(
    "resolution",
    "the book's trained ViT (28x28, 7x7 grid) at 56x56 (14x14 grid, images "
    "upsampled): as it is, fine-tuned for one epoch with its positions resampled or "
    "drawn anew, against the same ViT trained at 56x56 from scratch for one epoch; 3 seeds",
)
def resolution(device, parts, progress):
    size, epochs = RESOLUTION["img_size"], RESOLUTION["epochs"]
    trained, record = load_trained(CHECKPOINT, device)
    config = dict(record["config"], img_size=size)
    scratch = replace(CPU_RECIPE, img_size=size, epochs=epochs, warmup_epochs=0.1 * epochs)
    fine_tune = replace(scratch, lr=scratch.lr * FINE_TUNE)

    def moved(fresh_positions: bool = False):
        """The trained ViT at `size`, its position table resampled, or with
        `fresh_positions` drawn anew as an untrained ViT's of the new shape."""
        model = at_image_size(trained, size)
        if fresh_positions:
            model.tokens.pos_embed.data.copy_(build(config).tokens.pos_embed.data.to(device))
        return model

    def as_it_is():
        _, validation, test = splits(device)
        model = moved()
        return {
            "test_accuracy_at_28": evaluate(trained, test),
            "validation_accuracy": evaluate(model, validation, img_size=size),
            "test_accuracy": evaluate(model, test, img_size=size),
        }

    variants = {
        "fine-tuned, positions resampled": (fine_tune, moved),
        "fine-tuned, positions drawn anew": (fine_tune, lambda: moved(fresh_positions=True)),
        "trained at 56x56 from scratch": (scratch, None),
    }
    return {
        "no fine-tuning": parts.get("no fine-tuning", as_it_is),
        **{
            name: seeded(parts, name, config, recipe, device, progress, start=start)
            for name, (recipe, start) in variants.items()
        },
    }


FEW_LABELS = dict(first=(0, 1, 2, 3, 4), then=(5, 6, 7, 8, 9), fractions=(0.01, 0.1, 1.0), epochs=5)


@recorded_run(
    "few_labels",
    "the quick ViT trained on classes 0-4 (clothes), then learning classes 5-9 "
    "(sandal, shirt, sneaker, bag, ankle boot) from 1%, 10% or 100% of their labels: a linear "
    "probe on its frozen features, full fine-tuning, and training from scratch; 3 seeds",
)
def few_labels(device, parts, progress):
    first, then = FEW_LABELS["first"], FEW_LABELS["then"]
    path = parts.scratch("trained on the first classes")
    config = dict(QUICK_CONFIG, num_classes=len(first))

    def pretrain():  # seed 0, the quick recipe; the model is kept at `path`
        return train_and_test(config, QUICK_RECIPE, 0, device, progress, checkpoint=path, classes=first)

    pretrained = parts.get("trained on classes 0-4, seed 0", pretrain)
    if not path.is_file():  # interrupted after that part: train it again (deterministic on a CPU)
        pretrain()

    def start(probe: bool):
        model = with_new_head(load_trained(path, device)[0], len(then))
        return freeze_all_but_head(model) if probe else model

    recipe = replace(QUICK_RECIPE, epochs=FEW_LABELS["epochs"])
    methods = {
        "linear probe": (recipe, lambda: start(probe=True)),
        "fine-tuning": (replace(recipe, lr=recipe.lr * FINE_TUNE), lambda: start(probe=False)),
        "from scratch": (recipe, None),
    }
    config = dict(QUICK_CONFIG, num_classes=len(then))
    return {
        "trained on classes 0-4": pretrained,
        **{
            f"{fraction:g}": {
                name: seeded(
                    parts,
                    f"{name}, {fraction:g}",
                    config,
                    r,
                    device,
                    progress,
                    classes=then,
                    fraction=fraction,
                    start=s,
                )
                for name, (r, s) in methods.items()
            }
            for fraction in FEW_LABELS["fractions"]
        },
    }
