"""Checkpoints written atomically (an interrupted write leaves the old file), and the
state of a training that a checkpoint keeps, so that a training resumes where it stopped."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .optim import optimizer_for, scheduler_for
from .recipe import History, Recipe


def write_atomically(path: str | os.PathLike, write) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it onto `path` in one
    step: an interrupted write leaves the old file (or none), never half of a new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_checkpoint(path: str | os.PathLike, **state) -> None:
    """`torch.save(state, path)`, atomically: an interrupted save leaves the old file."""
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by `save_checkpoint`, with a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:
        raise RuntimeError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {err}); delete it and train again"
        ) from err
    if not isinstance(state, dict):
        raise RuntimeError(
            f"{path} is not a readable checkpoint: it holds a {type(state).__name__}, "
            "not the dict of named entries that save_checkpoint writes; "
            "delete it and train again"
        )
    return state


@dataclass
class State:
    """What a training changes, all of which a checkpoint keeps: the model, its optimiser and
    schedule, the generator that shuffles and augments, the history, the epochs done."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    history: History
    epoch: int = 0

    @classmethod
    def start(cls, model: nn.Module, recipe: Recipe, steps_per_epoch: int, seed: int) -> State:
        optimizer = optimizer_for(model, recipe)
        return cls(
            model,
            optimizer,
            scheduler_for(optimizer, recipe, steps_per_epoch),
            torch.Generator().manual_seed(seed),
            History(recipe=asdict(recipe)),
        )

    def save(self, path: str | os.PathLike) -> None:
        save_checkpoint(
            path,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            generator=self.generator.get_state(),
            history=asdict(self.history),
            epoch=self.epoch,
            recipe=self.history.recipe,
        )

    def resume(self, path: str | os.PathLike, device: torch.device) -> None:
        """Continue from the checkpoint at `path`, which must have been written by the same recipe."""
        state = load_checkpoint(path, map_location=device)
        if state["recipe"] != self.history.recipe:
            raise ValueError(f"{path} was written by another recipe: {state['recipe']}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.history, self.epoch = History(**state["history"]), state["epoch"]
