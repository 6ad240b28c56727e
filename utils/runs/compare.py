"""Reading recorded runs side by side: the tables and differences chapters print from
the records that `vitbook.runs.load_run` returns (re-exported by `vitbook.runs`)."""

from __future__ import annotations

import statistics

import torch


def first_reaching(history: dict, target: float) -> tuple[int, float, float] | None:
    """(epoch, training seconds, validation accuracy) of the first epoch of a recorded
    training (per-epoch `epochs`, `seconds`, `validation_accuracy`) whose validation
    accuracy reaches `target`; None if none does. Time to an accuracy is measured this way
    on both sides of a comparison."""
    return next(
        (
            (e, s, a)
            for e, s, a in zip(history["epochs"], history["seconds"], history["validation_accuracy"])
            if a >= target
        ),
        None,
    )


def show_variants(variants: dict, reference: str | None = None, split: str = "test", seconds: bool = True) -> None:
    """Print a table of the variants of a comparison (as `vitbook.experiments.variants`
    records them): the `split`'s accuracy ("test", or "validation": each seed's last
    epoch), mean ± standard deviation over the seeds, the difference of the means from the
    variant `reference` in points, and the mean training seconds (unless not `seconds`: a
    record whose CPU was shared has seconds that are no cost)."""

    def accuracy(result):
        if split == "test":
            return result["test_accuracy"]
        final = [s["validation_accuracy"][-1] for s in result["seeds"]]
        return {"mean": statistics.mean(final), "std": statistics.stdev(final) if len(final) > 1 else 0.0}

    width, column = max(len("variant"), *map(len, variants)), f"{split} accuracy"
    gaps = reference is not None
    header = f"{'variant':<{width}}  {column:<14}" + ("  vs reference" if gaps else "")
    print(f"{header}  training" if seconds else header.rstrip())
    for name, result in variants.items():
        mean, std = (accuracy(result)[k] for k in ("mean", "std"))
        line = f"{name:<{width}}  {mean:6.2%} ± {std:.2%}".ljust(width + 2 + max(14, len(column)))
        if gaps:
            gap = 100 * (mean - accuracy(variants[reference])["mean"])
            line += f"  {'reference' if name == reference else f'{gap:+.2f} points':<12}"
        print(f"{line}  {result['seconds']['mean']:,.0f} s" if seconds else line.rstrip())


def paired_differences(result: dict, other: dict) -> torch.Tensor:
    """`result`'s test accuracy less `other`'s, seed by seed, in points: two seeded results
    (as `vitbook.experiments.seeded` records them) of the same seeds, whose seeds shared
    their data (chapter 8's and 11's shares of the training set)."""
    seeds = [[run["seed"] for run in r["seeds"]] for r in (result, other)]
    if seeds[0] != seeds[1]:
        raise ValueError(f"the two results must hold the same seeds in the same order, not {seeds[0]} and {seeds[1]}")
    return torch.tensor(
        [100 * (a["test_accuracy"] - b["test_accuracy"]) for a, b in zip(result["seeds"], other["seeds"])]
    )


def final_mean(result: dict, key: str) -> float:
    """The last value of each seed's history `key` (e.g. "train_loss"), mean of the seeds."""
    if not result["seeds"] or key not in result["seeds"][0]:
        raise KeyError(f"the result's seeds have no history {key!r}; they have {sorted(result['seeds'][0])}")
    return sum(seed[key][-1] for seed in result["seeds"]) / len(result["seeds"])


def best_minus_final(result: dict) -> float:
    """Each seed's best validation accuracy less its last epoch's, mean of the seeds, in
    points: how much a training lost after its best epoch (0 where the last was the best)."""
    curves = [seed["validation_accuracy"] for seed in result["seeds"]]
    return 100 * sum(max(curve) - curve[-1] for curve in curves) / len(curves)
