"""What a training shows while it runs, and when it stops early."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .recipe import History


def progress_bar(images: int, epoch: int, epochs: int, show: bool) -> tqdm:
    # redrawn once a second: in a notebook each redraw is a few widget messages, which a
    # test client (nbval) reads only when the cell ends (thousands in a long cell)
    return tqdm(
        total=images, desc=f"epoch {epoch + 1}/{epochs}", unit="img", disable=not show, leave=False, mininterval=1.0
    )


def show_step(bar: tqdm, step: int, images: int, loss_sum: torch.Tensor, seen: int, start: float, world: int) -> None:
    """Count `images` on the bar; every 20 steps, show the running loss and images/s
    (`.item()` waits for the GPU: not every step)."""
    bar.update(images)
    if not bar.disable and step % 20 == 0:
        bar.set_postfix(
            loss=f"{loss_sum.item() / seen:.3f}", img_s=f"{seen * world / (time.perf_counter() - start):,.0f}"
        )


def print_epoch(history: History, eval_name: str) -> None:
    print(
        f"epoch {history.epoch[-1]:>2}: loss {history.train_loss[-1]:.3f}, train acc "
        f"{history.train_acc[-1]:.3f}, {eval_name} acc {history.eval_acc[-1]:.4f}, "
        f"{history.seconds[-1]:.1f} s"
    )


@dataclass
class Stop:
    """When training ends early: `on_step(step, loss)` returned True or more than
    `max_seconds` of training have passed (both asked after every step), or
    `on_epoch(history)` returned True (after every epoch). `elapsed`: training seconds of
    the epochs done."""

    on_step: Callable | None = None
    on_epoch: Callable | None = None
    max_seconds: float | None = None
    elapsed: float = 0.0
    asked: bool = False  # by on_step

    def out_of_time(self, running: float = 0.0) -> bool:
        return self.max_seconds is not None and self.elapsed + running > self.max_seconds

    def after_step(self, step: int, loss: torch.Tensor, running: float) -> bool:
        self.asked = bool(self.on_step and self.on_step(step, loss.item()))
        return self.asked or self.out_of_time(running)

    def after_epoch(self, history: History, rank: int, world: int) -> bool:
        if self.on_epoch and rank == 0 and self.on_epoch(history):
            if world > 1:
                raise ValueError(
                    "on_epoch asked to stop, but it runs on rank 0 alone, so the other "
                    "processes would wait for rank 0 for ever; stop a distributed run "
                    "by steps (on_step) or epochs instead"
                )
            return True
        return self.asked or self.out_of_time()
