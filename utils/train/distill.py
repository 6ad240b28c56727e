"""The training loss: cross-entropy with the recipe's label smoothing, or, with a teacher
(chapter 8), DeiT's hard distillation (Touvron et al., 2021): the mean of the
cross-entropy against the labels and against the teacher's predicted classes on the same
augmented batch. A model with one output learns both from it (chapter 8); a model with
DeiT's distillation token (chapter 11, `vitbook.deit`) gives a pair in training, the
`<cls>` head's logits for the labels and the `<dist>` head's for the teacher."""

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


def prediction(output) -> torch.Tensor:
    """The logits a model's training output predicts with: the output itself, or the mean
    of a distillation-token model's pair (as it predicts at evaluation)."""
    return (output[0] + output[1]) / 2 if isinstance(output, tuple) else output


def training_loss(recipe: Recipe, teacher: nn.Module | None = None) -> Callable:
    """`loss(output, images, targets)`: the loss a training step minimises; `targets` are
    labels, or class probabilities (mixup and CutMix)."""

    def loss(output, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if isinstance(output, tuple) and teacher is None:
            raise ValueError("a model with a distillation token learns from a teacher: pass train(..., teacher=...)")
        logits, dist_logits = output if isinstance(output, tuple) else (output, output)
        against_labels = F.cross_entropy(logits.float(), targets, label_smoothing=recipe.label_smoothing)
        if teacher is None:
            return against_labels
        with torch.no_grad():
            taught = teacher(images).argmax(dim=1)
        against_teacher = F.cross_entropy(dist_logits.float(), taught, label_smoothing=recipe.label_smoothing)
        return (against_labels + against_teacher) / 2

    return loss
