"""The recorded run `sweep`: an exploration, once made by scripts on a lent H200 outside the
command line (records/2026-11-26-h200/README.md), of recipes for the book's targets: one
change at a time from the quick setting (seeds 0 and 1), candidates for the CPU's
checkpoint and for the GPU's recipe (seed 0). Choosing only: each variant records its
validation accuracy after every epoch and its training seconds; the test set is not used.
"""

from __future__ import annotations

from dataclasses import replace

from ..runs import recorded_run
from ..train import BOOK_RECIPE, CPU_RECIPE, QUICK_RECIPE
from ..vit import BOOK_CONFIG, CPU_CONFIG, QUICK_CONFIG
from . import spread, train_and_test


def patches_7x7(dim: int, depth: int, heads: int = 4, mlp_ratio: int = 2) -> dict:
    """The quick setting's model (7x7 patches) at another width, depth or number of heads."""
    return dict(QUICK_CONFIG, dim=dim, depth=depth, num_heads=heads, mlp_dim=mlp_ratio * dim)


# One change from the quick setting each (10 epochs, about 186 s on 2 CPU cores).
ONE_CHANGE = {
    "quick": (QUICK_CONFIG, QUICK_RECIPE),
    "lr 1e-3": (QUICK_CONFIG, replace(QUICK_RECIPE, lr=1e-3)),
    "lr 4e-3": (QUICK_CONFIG, replace(QUICK_RECIPE, lr=4e-3)),
    "lr 8e-3": (QUICK_CONFIG, replace(QUICK_RECIPE, lr=8e-3)),
    "weight decay 0.1": (QUICK_CONFIG, replace(QUICK_RECIPE, weight_decay=0.1)),
    "no label smoothing": (QUICK_CONFIG, replace(QUICK_RECIPE, label_smoothing=0.0)),
    "batch 64": (QUICK_CONFIG, replace(QUICK_RECIPE, batch_size=64)),
    "batch 256": (QUICK_CONFIG, replace(QUICK_RECIPE, batch_size=256)),
    "batch 256, lr 4e-3": (QUICK_CONFIG, replace(QUICK_RECIPE, batch_size=256, lr=4e-3)),
    "batch 256, lr 4e-3, 13 epochs": (QUICK_CONFIG, replace(QUICK_RECIPE, batch_size=256, lr=4e-3, epochs=13)),
    "augment": (QUICK_CONFIG, replace(QUICK_RECIPE, augment=True)),
    "no warm-up": (QUICK_CONFIG, replace(QUICK_RECIPE, warmup_epochs=0)),
    "warm-up 1": (QUICK_CONFIG, replace(QUICK_RECIPE, warmup_epochs=1)),
    "dim 96": (patches_7x7(96, 4), QUICK_RECIPE),
    "dim 128": (patches_7x7(128, 4), QUICK_RECIPE),
    "dim 128, depth 2": (patches_7x7(128, 2), QUICK_RECIPE),
    "dim 128, lr 4e-3": (patches_7x7(128, 4), replace(QUICK_RECIPE, lr=4e-3)),
    "depth 6": (patches_7x7(64, 6), QUICK_RECIPE),
    "mlp x4": (patches_7x7(64, 4, mlp_ratio=4), QUICK_RECIPE),
    "heads 2": (patches_7x7(64, 4, heads=2), QUICK_RECIPE),
    "heads 8": (patches_7x7(64, 4, heads=8), QUICK_RECIPE),
    "positions std 1": (dict(QUICK_CONFIG, pos_std=1.0), QUICK_RECIPE),
    "15 epochs": (QUICK_CONFIG, replace(QUICK_RECIPE, epochs=15)),
    "15 epochs, lr 4e-3": (QUICK_CONFIG, replace(QUICK_RECIPE, epochs=15, lr=4e-3)),
    "20 epochs": (QUICK_CONFIG, replace(QUICK_RECIPE, epochs=20)),
}
LONG_RECIPE = replace(CPU_RECIPE, warmup_epochs=2)  # the long candidates': augmentation, 2 warm-up epochs
# Candidates for the CPU's checkpoint (its target: 30 minutes on 2 CPU cores).
LONG = {
    "checkpoint now (CPU_CONFIG, CPU_RECIPE, 20 epochs)": (CPU_CONFIG, CPU_RECIPE),
    "CPU_CONFIG, 26 epochs, augment": (CPU_CONFIG, replace(LONG_RECIPE, epochs=26)),
    "CPU_CONFIG, 30 epochs, batch 256 lr 3e-3": (CPU_CONFIG, replace(LONG_RECIPE, epochs=30, batch_size=256, lr=3e-3)),
    "quick model, 60 epochs, augment": (QUICK_CONFIG, replace(LONG_RECIPE, epochs=60)),
    "quick model, 90 epochs, augment": (QUICK_CONFIG, replace(LONG_RECIPE, epochs=90)),
    "quick model, 60 epochs, no augment": (QUICK_CONFIG, replace(LONG_RECIPE, epochs=60, augment=False)),
    "p7 dim 128 depth 6, 40 epochs, augment": (patches_7x7(128, 6), replace(LONG_RECIPE, epochs=40)),
    "p7 dim 96 depth 6, 50 epochs, augment": (patches_7x7(96, 6), replace(LONG_RECIPE, epochs=50)),
    "p7 dim 128 depth 4, 50 epochs, augment": (patches_7x7(128, 4), replace(LONG_RECIPE, epochs=50)),
    "p7 dim 128 depth 6, 40 epochs, batch 256 lr 3e-3": (
        patches_7x7(128, 6),
        replace(LONG_RECIPE, epochs=40, batch_size=256, lr=3e-3),
    ),
    "p7 dim 192 depth 6 heads 6, 30 epochs, augment": (patches_7x7(192, 6, heads=6), replace(LONG_RECIPE, epochs=30)),
}
# The GPU's recipe: BOOK_CONFIG and BOOK_RECIPE are what the first of these chose.
SHORT_BOOK_RECIPE = replace(BOOK_RECIPE, epochs=20, warmup_epochs=1)  # the recipe before it
GPU = {
    "book config no dropout, 40 epochs": (BOOK_CONFIG, BOOK_RECIPE),
    "book config no dropout, batch 256, 20 epochs": (BOOK_CONFIG, replace(SHORT_BOOK_RECIPE, batch_size=256)),
    "book config no dropout, no augmentation, 20 epochs": (BOOK_CONFIG, replace(SHORT_BOOK_RECIPE, augment=False)),
    "cpu config, 40 epochs": (CPU_CONFIG, BOOK_RECIPE),
}
# table: (seeds, {variant: (config, recipe)})
SWEEP = {
    "one change from the quick setting": ((0, 1), ONE_CHANGE),
    "candidates for the CPU's checkpoint": ((0,), LONG),
    "the GPU's recipe": ((0,), GPU),
}


@recorded_run(
    "sweep",
    "exploration: validation split only, no test numbers; the variants records/2026-11-26-h200 "
    "tried (one change to the quick setting on seeds 0 and 1; candidates for the CPU's "
    "checkpoint and the GPU's recipe on seed 0)",
)
def sweep(device, parts, progress):
    results = {}
    for table, (seeds, named) in SWEEP.items():
        results[table] = {}
        for name, (config, recipe) in named.items():
            curves = [
                parts.get(
                    f"{table}: {name}, seed {seed}",
                    lambda config=config, recipe=recipe, seed=seed: train_and_test(
                        config, recipe, seed, device, progress, measure_test=False
                    ),
                )
                for seed in seeds
            ]
            results[table][name] = {"seeds": curves, "seconds": spread([c["seconds"][-1] for c in curves])}
    return results
