"""The training loss: cross-entropy with the recipe's label smoothing, or, with a teacher
(chapter 8), DeiT's hard distillation (Touvron et al., 2021) through the model's one
output: the mean of the cross-entropy against the labels and against the teacher's
predicted classes on the same augmented batch."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .device_data import DeviceData
from .evaluate import autocast
from .recipe import Recipe


def frozen_teacher(teacher: nn.Module, model: nn.Module, data: DeviceData, recipe: Recipe) -> nn.Module:
    """`teacher` on the data's device, in eval mode, without gradients; it must give one
    logit a class for the images `model` takes."""
    if teacher is model:
        raise ValueError("the teacher must be another model, trained already, not the model being trained")
    teacher = teacher.to(data.device).eval().requires_grad_(False)
    x = next(iter(data.first(2).batches(2, shuffle=False, img_size=recipe.img_size)))[0]
    with torch.no_grad(), autocast(data.device, recipe.bf16):
        got, want = teacher(x).shape, model.eval()(x).shape
    model.train()
    if got != want:
        raise ValueError(
            f"the teacher gives logits of shape {tuple(got)} for a batch of 2, the model "
            f"{tuple(want)}: the teacher must have the model's classes"
        )
    return teacher


def training_loss(recipe: Recipe, teacher: nn.Module | None = None) -> Callable:
    """`loss(logits, images, labels)`: the loss a training step minimises."""

    def loss(logits: torch.Tensor, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        against_labels = F.cross_entropy(logits.float(), labels, label_smoothing=recipe.label_smoothing)
        if teacher is None:
            return against_labels
        with torch.no_grad():
            taught = teacher(images).argmax(dim=1)
        return (against_labels + F.cross_entropy(logits.float(), taught, label_smoothing=recipe.label_smoothing)) / 2

    return loss
