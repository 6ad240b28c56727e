"""The trained ViT that chapter 7 opens up: where it is, how it was made, how to load it.

The committed checkpoint `results/vit-book.pt` holds the weights and a record of the
run that made them (configuration, recipe, test accuracy, training seconds, device,
date, command). The benchmark writes it on a GPU with the book's recipe; without a GPU

    python -m vitbook.pretrained --recipe quick --epochs 8 --out utils/results/vit-book.pt

trains the book's model on the CPU with the quick setting's optimiser (about 4.5 minutes
an epoch on 2 cores; 88.3% test accuracy after 8 epochs).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import sys
from pathlib import Path

import torch

from .data import load_fashion_mnist
from .device import get_device, seed_everything
from .train import BOOK_RECIPE, QUICK_RECIPE, DeviceData, History, Recipe, load_checkpoint, save_checkpoint, train
from .vit import BOOK_CONFIG, ViT

RESULTS = Path(__file__).parent / "results"  # shipped with the package (Colab too)
CHECKPOINT = RESULTS / "vit-book.pt"
RECIPES = {"book": BOOK_RECIPE, "quick": QUICK_RECIPE}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def save_trained(path: str | os.PathLike, model: ViT, config: dict, recipe: Recipe, history: History,
                 device: str, command: str) -> None:
    """Save `model`'s weights with the record of the run that trained them (atomically)."""
    save_checkpoint(path, model={k: v.cpu() for k, v in model.state_dict().items()}, config=config,
                    recipe=dataclasses.asdict(recipe), test_accuracy=history.test_acc[-1],
                    seconds=history.seconds[-1], history=dataclasses.asdict(history), device=device,
                    date=datetime.date.today().isoformat(), torch=torch.__version__, command=command)


def load_trained(path: str | os.PathLike = CHECKPOINT, device: torch.device | str = "cpu") -> tuple[ViT, dict]:
    """The trained model (in eval mode, on `device`) and the record of its run (a dict
    without the weights: config, recipe, test_accuracy, seconds, device, date, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained checkpoint at {path}. Train one with `python -m vitbook.pretrained "
            f"--out {path}` (or chapter 6's benchmark command on a GPU)")
    state = load_checkpoint(path)
    missing = {"model", "config", "test_accuracy"} - state.keys()
    if missing:
        raise ValueError(f"{path} is a checkpoint but not a trained model's record: it lacks {sorted(missing)}")
    model = ViT(**state["config"])
    model.load_state_dict(state["model"])
    info = {k: v for k, v in state.items() if k != "model"}
    return model.to(get_device(device)).eval(), info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vitbook.pretrained",
                                     description="Train the book's ViT once and save it for chapter 7.")
    parser.add_argument("--out", type=Path, required=True,
                        help=f"where to save it (required: the shipped {CHECKPOINT.name} is never "
                        "overwritten by default)")
    parser.add_argument("--recipe", choices=RECIPES, default="book",
                        help="book: the GPU recipe; quick: the CPU setting's optimiser")
    parser.add_argument("--epochs", type=int, help="override the recipe's number of epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    recipe = RECIPES[args.recipe]
    if args.epochs:
        recipe = dataclasses.replace(recipe, epochs=args.epochs)
    device = get_device()
    seed_everything(args.seed)
    model = ViT(**BOOK_CONFIG)
    history = train(model, DeviceData(load_fashion_mnist("train"), device),
                    DeviceData(load_fashion_mnist("test"), device), recipe, seed=args.seed)
    save_trained(args.out, model, BOOK_CONFIG, recipe, history, device_name(device),
                 "python -m vitbook.pretrained " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"saved {args.out}: test accuracy {history.test_acc[-1]:.4f} after {history.seconds[-1]:.0f} s")


if __name__ == "__main__":
    main()
