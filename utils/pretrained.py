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
from .compact import compact_vit
from .deit import DistilledViT
from .device import get_device
from .stem import conv_stem_vit
from .train import History, Recipe, load_checkpoint, save_checkpoint
from .vit import ViT, vit_config

RESULTS = Path(__file__).parent / "results"  # shipped with the package (Colab too)
CHECKPOINT = RESULTS / "vit-book.pt"
RUN_OF = {"vit-quick.pt": "quick", "mlp-quick.pt": "baselines", "resnet-quick.pt": "baselines"}  # who writes it
MODELS = {  # a config's "model"
    "vit": ViT,
    "conv-stem vit": conv_stem_vit,
    "compact vit": compact_vit,
    "distilled vit": DistilledViT,
    "mlp": MLP,
    "resnet": ResNet,
}


def build(config: dict) -> nn.Module:
    """The model a config describes: a `ViT`, or the model its "model" entry names."""
    config = dict(config)
    kind = config.pop("model", "vit")
    if kind not in MODELS:
        raise ValueError(f'a config\'s "model" is one of {", ".join(map(repr, MODELS))}, not {kind!r}')
    return MODELS[kind](**config)


def _difference(expected: dict, saved: dict) -> str | None:
    """The first way the state dict `saved` differs from `expected` in names or shapes, in words."""
    for lacks, has, what in ((saved, expected, "the weights lack"), (expected, saved, "the weights have an extra")):
        names = sorted(has.keys() - lacks.keys())
        if names:
            return f"{what} {names[0]}" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")
    wrong = next((k for k in expected if expected[k].shape != saved[k].shape), None)
    return wrong and (
        f"{wrong} is {tuple(saved[wrong].shape)} in the weights, {tuple(expected[wrong].shape)} for the config"
    )


def check_config(model: nn.Module, config: dict) -> None:
    """A ValueError unless `config` builds a model of `model`'s kind and shape (for a ViT,
    also its heads, dropout, pooling and positions, which its weights do not show)."""
    try:
        with torch.device("meta"):  # shapes only: no memory, no random numbers drawn
            built = build(config)
    except TypeError as err:  # an argument its kind does not take
        raise ValueError(f"the config {config} does not describe the model: it builds none ({err})") from None
    difference = _difference(built.state_dict(), model.state_dict())
    if difference is None and isinstance(model, ViT):
        has, says = vit_config(model), vit_config(built)
        difference = "; ".join(f"its {k} is {v!r}, the config's {says[k]!r}" for k, v in has.items() if says[k] != v)
    if difference:
        raise ValueError(
            f"the config {config} does not describe the model: {difference}; give the config that built it"
        )


def save_trained(
    path: str | os.PathLike,
    model: nn.Module,
    config: dict,
    recipe: Recipe,
    history: History,
    test_accuracy: float,
    device: str,
    command: str,
) -> None:
    """Save `model`'s weights with the record of the run that trained them (atomically);
    `config` must describe `model` (`check_config`), as `load_trained` rebuilds it from that."""
    check_config(model, config)
    save_checkpoint(
        path,
        model={k: v.cpu() for k, v in model.state_dict().items()},
        config=config,
        recipe=dataclasses.asdict(recipe),
        test_accuracy=test_accuracy,
        seconds=history.seconds[-1],
        history=dataclasses.asdict(history),
        device=device,
        date=datetime.date.today().isoformat(),
        torch=torch.__version__,
        command=command,
    )


def load_trained(path: str | os.PathLike = CHECKPOINT, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The trained model (in eval mode, on `device`) and the record of its run (a dict
    without the weights: config, recipe, test_accuracy, seconds, device, date, ...)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_trained takes a checkpoint's path, not a {type(path).__name__}")
    path = Path(path)
    remake = f"`python -m vitbook.runs run {RUN_OF.get(path.name, 'checkpoint')}`"
    if not path.is_file():
        names = ", ".join([CHECKPOINT.name, *RUN_OF])
        raise FileNotFoundError(
            f"no trained checkpoint at {path}. The recorded runs write them: {remake}"
            + (
                ""
                if path.suffix
                else f". load_trained takes a checkpoint's path, not a model's name: the "
                f"trained models are {names} in vitbook.pretrained.RESULTS, e.g. RESULTS / 'mlp-quick.pt'"
            )
        )
    state = load_checkpoint(path)
    missing = {"model", "config", "test_accuracy"} - state.keys()
    if missing:
        raise ValueError(f"{path} is a checkpoint but not a trained model's record: it lacks {sorted(missing)}")
    try:
        model = build(state["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: its saved config does not build a model ({err}); make it again: {remake}") from None
    difference = _difference(model.state_dict(), state["model"])
    if difference:
        raise ValueError(
            f"{path}: its saved config does not match its weights ({difference}); the file was "
            f"edited or damaged: make it again with {remake}"
        )
    model.load_state_dict(state["model"])
    info = {k: v for k, v in state.items() if k != "model"}
    return model.to(get_device(device)).eval(), info
