"""The recipe's optimiser (AdamW with decay groups, or plain SGD) and its learning-rate
schedule (linear warm-up, then constant or cosine decay to zero), stepped once a batch."""

from __future__ import annotations

import math

import torch
from torch import nn

from .recipe import Recipe


def optimizer_for(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over the parameters that are not frozen (requires_grad)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("every parameter of the model is frozen (requires_grad=False): nothing to train")
    if recipe.optimizer == "sgd":
        return torch.optim.SGD([p for _, p in named], lr=recipe.lr, weight_decay=recipe.weight_decay)
    # No weight decay on biases, LayerNorm weights, the <cls> token and positions.
    decay = [p for n, p in named if p.ndim >= 2 and "tokens." not in n]
    rest = [p for n, p in named if not (p.ndim >= 2 and "tokens." not in n)]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=recipe.lr, fused=fused)


def schedule_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning rate at optimiser step `step` of `total`, as a fraction of the peak:
    linear warm-up over `warmup` steps, then constant or cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


def scheduler_for(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The recipe's schedule over all its epochs of `steps_per_epoch` steps."""
    total, warmup = recipe.epochs * steps_per_epoch, round(recipe.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: schedule_factor(step, total, warmup, recipe.schedule)
    )
