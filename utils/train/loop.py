"""`train`: chapter 6's loop (a step a batch, an evaluation an epoch), with what the
book's trainer adds as named pieces beside it: the recipe's erasing, mixup and CutMix
(`augment`), the loss with or without a teacher (`distill`), the state a checkpoint
keeps and resumes (`checkpoint.State`), the progress bar and the rules that stop early
(`progress`), a process group (`parallel`), bf16 autocast (`evaluate.autocast`) and
the recipe's optimiser and schedule (`optim`).

`train`'s options: `eval_data` is the validation split while choosing (printed as
"validation acc"; `eval_name` renames it). With `checkpoint`, the state is saved there
after every epoch, and with `resume=True` training continues from it when it exists.
`on_epoch(history)` is called after every epoch (chapter 6 draws a live plot with it),
`on_step(step, loss)` after every step; when either returns True, training stops there;
`max_seconds` stops it after that much training time (the partial epoch is evaluated
too). `teacher`: a trained model with the same classes to distil from (chapter 8).
Inside a process group (chapter 10), every process calls `train` with the same
arguments; `on_step` must then decide alike on every rank (by the step, not the loss)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..distributed import rank_and_world
from .augment import augment_batch
from .checkpoint import State
from .device_data import DeviceData
from .distill import frozen_teacher, prediction, training_loss
from .evaluate import autocast, evaluate
from .parallel import check_distributed, for_steps, summed, this_ranks
from .progress import Stop, print_epoch, progress_bar, show_step
from .recipe import History, Recipe


def train(
    model: nn.Module,
    train_data: DeviceData,
    eval_data: DeviceData,
    recipe: Recipe,
    *,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    on_epoch=None,
    on_step=None,
    max_seconds: float | None = None,
    eval_name: str = "validation",
    teacher: nn.Module | None = None,
) -> History:
    """Train `model` with `recipe`, evaluating on `eval_data` after every epoch; return the
    history. The options are the pieces of the module's docstring."""
    check_distributed(recipe, max_seconds)
    rank, world = rank_and_world()
    model.to(train_data.device).train()
    frozen = None if teacher is None else frozen_teacher(teacher, model, train_data, recipe)
    state = State.start(model, recipe, math.ceil(len(train_data) / recipe.batch_size), seed)
    if resume and checkpoint and Path(checkpoint).is_file():
        state.resume(checkpoint, train_data.device)
    step_model, loss = for_steps(model, train_data.device, recipe), training_loss(recipe, frozen)
    stop = Stop(on_step, on_epoch, max_seconds, elapsed=(state.history.seconds or [0.0])[-1])
    for epoch in range(state.epoch, recipe.epochs):
        train_loss, train_acc = train_epoch(step_model, loss, state, train_data, recipe, stop, progress and rank == 0)
        accuracy = evaluate(model, eval_data, img_size=recipe.img_size, bf16=recipe.bf16)
        state.history.add(epoch + 1, train_loss, train_acc, accuracy, stop.elapsed, state.scheduler.get_last_lr()[0])
        state.epoch = epoch + 1
        if progress and rank == 0:
            print_epoch(state.history, eval_name)
        if checkpoint and rank == 0:
            state.save(checkpoint)
        if stop.after_epoch(state.history, rank, world):
            break
    return state.history


def train_epoch(
    model: nn.Module, loss_of: Callable, state: State, data: DeviceData, recipe: Recipe, stop: Stop, show: bool
) -> tuple[float, float]:
    """One pass over `data`, a step a batch (this rank's slice of it); the epoch's mean
    training loss and accuracy, over all ranks. Adds the epoch's seconds to `stop.elapsed`."""
    device = data.device
    bar = progress_bar(len(data), state.epoch, recipe.epochs, show)
    loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
    seen, start, steps = 0, time.perf_counter(), math.ceil(len(data) / recipe.batch_size)
    batches = data.batches(
        recipe.batch_size,
        shuffle=True,
        augment=recipe.augment,
        flip=recipe.flip,
        img_size=recipe.img_size,
        generator=state.generator,
    )
    for i, (x, y) in enumerate(batches):
        batch = len(y)  # all ranks together
        x, y = this_ranks(x, y)
        x, targets = augment_batch(x, y, recipe, state.generator, data.num_classes)
        with autocast(device, recipe.bf16):
            output = model(x)
            loss = loss_of(output, x, targets)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (prediction(output).argmax(dim=1) == y).sum()
        seen += len(y)
        show_step(bar, i, batch, loss_sum, seen, start, rank_and_world()[1])
        if stop.after_step(state.epoch * steps + i, loss, time.perf_counter() - start):
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    stop.elapsed += time.perf_counter() - start
    bar.close()
    loss_sum, correct, seen = summed(
        torch.stack([loss_sum, correct.to(loss_sum.dtype), torch.tensor(float(seen), device=device)])
    ).tolist()
    return loss_sum / seen, correct / seen
