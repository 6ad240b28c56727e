"""The trained models the chapters open: where they are, how to build and load them.

The shipped checkpoint `results/vit-book.pt` (chapter 7) holds the weights and a record of
the run that made them (configuration, recipe, test accuracy, training seconds, device,
date, command); the recorded run ``python -m vitbook.runs run checkpoint`` writes it, and
``... run quick`` and ``... run baselines`` write `results/vit-quick.pt`, `mlp-quick.pt` and
`resnet-quick.pt` (chapter 8), all by `vitbook.experiments`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path

import torch
from torch import nn

from .baselines import MLP, ResNet
from .device import get_device
from .stem import conv_stem_vit
from .train import History, Recipe, load_checkpoint, save_checkpoint
from .vit import ViT

RESULTS = Path(__file__).parent / "results"  # shipped with the package (Colab too)
CHECKPOINT = RESULTS / "vit-book.pt"
RUN_OF = {"vit-quick.pt": "quick", "mlp-quick.pt": "baselines", "resnet-quick.pt": "baselines"}  # who writes it
MODELS = {"vit": ViT, "conv-stem vit": conv_stem_vit, "mlp": MLP, "resnet": ResNet}  # a config's "model"


def build(config: dict) -> nn.Module:
    """The model a config describes: a `ViT`, or the model its "model" entry names."""
    config = dict(config)
    return MODELS[config.pop("model", "vit")](**config)


def save_trained(path: str | os.PathLike, model: nn.Module, config: dict, recipe: Recipe, history: History,
                 test_accuracy: float, device: str, command: str) -> None:
    """Save `model`'s weights with the record of the run that trained them (atomically)."""
    save_checkpoint(path, model={k: v.cpu() for k, v in model.state_dict().items()}, config=config,
                    recipe=dataclasses.asdict(recipe), test_accuracy=test_accuracy,
                    seconds=history.seconds[-1], history=dataclasses.asdict(history), device=device,
                    date=datetime.date.today().isoformat(), torch=torch.__version__, command=command)


def load_trained(path: str | os.PathLike = CHECKPOINT, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The trained model (in eval mode, on `device`) and the record of its run (a dict
    without the weights: config, recipe, test_accuracy, seconds, device, date, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained checkpoint at {path}. The recorded runs write them: "
            f"`python -m vitbook.runs run {RUN_OF.get(path.name, 'checkpoint')}`")
    state = load_checkpoint(path)
    missing = {"model", "config", "test_accuracy"} - state.keys()
    if missing:
        raise ValueError(f"{path} is a checkpoint but not a trained model's record: it lacks {sorted(missing)}")
    model = build(state["config"])
    model.load_state_dict(state["model"])
    info = {k: v for k, v in state.items() if k != "model"}
    return model.to(get_device(device)).eval(), info
