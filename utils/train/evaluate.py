"""Accuracy, predictions and plain cross-entropy of a model on a `DeviceData`, and the
recipe's bf16 autocast."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .device_data import DeviceData


def autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(
    model: nn.Module, data: DeviceData, *, batch_size: int = 1000, img_size: int = 28, bf16: bool = False
) -> float:
    """Accuracy of `model` on all of `data`."""
    predicted = predict(model, data, batch_size=batch_size, img_size=img_size, bf16=bf16)
    return (predicted == data.labels.cpu()).sum().item() / len(data)


@torch.no_grad()
def predict(
    model: nn.Module, data: DeviceData, *, batch_size: int = 1000, img_size: int = 28, bf16: bool = False
) -> torch.Tensor:
    """Predicted class of every image of `data`, on the CPU (in eval mode; the model's
    training mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    preds = []
    for x, _ in data.batches(batch_size, img_size=img_size):
        with autocast(data.device, bf16):
            preds.append(model(x).argmax(dim=1).cpu())
    model.train(was_training)
    return torch.cat(preds)


@torch.no_grad()
def cross_entropy(model: nn.Module, data: DeviceData, *, batch_size: int = 1000, img_size: int = 28) -> float:
    """The mean plain cross-entropy (no label smoothing) of `model` on all of `data`, in
    eval mode (the model's training mode is restored afterwards): one measure for every
    recipe, whatever loss it trains on."""
    was_training = model.training
    model.eval()
    total = sum(
        F.cross_entropy(model(x).float(), y, reduction="sum").item()
        for x, y in data.batches(batch_size, img_size=img_size)
    )
    model.train(was_training)
    return total / len(data)
