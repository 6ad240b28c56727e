"""Baselines the ViT is measured against (chapters 6 and 8): an MLP and a small ResNet.

Both take what `ViT` takes, (B, C, H, W) float images, give (B, num_classes) logits, and
check their input with the same clear errors, so the book's trainer, evaluation and
recorded runs use them unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .checks import ShapeError, as_int
from .patches import _check_device_and_dtype, _check_images, _check_positive_ints


def _widths(value, name: str) -> tuple[int, ...]:
    """`value` as a tuple of positive widths, one per layer; a lone int is refused with the fix."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(
            f"{name} is a tuple of widths, one per layer, not {value!r}: for one layer of "
            f"that width, {name}=({value!r},)"
        )
    return tuple(as_int(w, f"{name}[{i}]", least=1) for i, w in enumerate(value))


class MLP(nn.Module):
    """Flatten the image, one hidden layer per entry of `hidden` (linear, ReLU), a linear
    head: the "no structure at all" baseline."""

    def __init__(
        self, img_size: int = 28, in_channels: int = 1, num_classes: int = 10, hidden: tuple[int, ...] = (256,)
    ):
        super().__init__()
        hidden = _widths(hidden, "hidden")
        _check_positive_ints(img_size=img_size, in_channels=in_channels, num_classes=num_classes)
        self.img_size, self.in_channels = img_size, in_channels
        widths = [in_channels * img_size**2, *hidden]
        layers = [nn.Flatten()]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.layers = nn.Sequential(*layers, nn.Linear(widths[-1], num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        image = (self.in_channels, self.img_size, self.img_size)
        if isinstance(images, torch.Tensor) and images.ndim == 2 and images.shape[1] == math.prod(image):
            raise ShapeError(
                f"MLP takes images (batch, {', '.join(map(str, image))}) and flattens them itself; "
                f"these are flat already, shape {tuple(images.shape)}: images.view(-1, "
                f"{', '.join(map(str, image))})"
            )
        _check_images(images, 1, "MLP", self.in_channels, self.img_size)
        _check_device_and_dtype(images, self.layers[1].weight, "MLP")
        return self.layers(images)


class ResidualBlock(nn.Module):
    """conv 3x3 - batch norm - ReLU - conv 3x3 - batch norm, added to the input (through a
    strided 1x1 convolution where the width or the size changes), then ReLU (He et al. 2016)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _stages(widths: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(in channels, out channels, stride) of each residual block of a `ResNet`."""
    return [(a, b, 1 if i == 0 else 2) for i, (a, b) in enumerate(zip(widths[:1] + widths[:-1], widths))]


class ResNet(nn.Module):
    """A small ResNet: a 3x3 convolution stem, one residual block per entry of `widths`
    (each after the first halves the size), global average pooling, a linear head.
    28x28 -> 28x28 (widths[0]) -> 14x14 -> 7x7 -> one vector of widths[-1]."""

    def __init__(
        self, img_size: int = 28, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128)
    ):
        super().__init__()
        widths = _widths(widths, "widths")
        _check_positive_ints(img_size=img_size, in_channels=in_channels, num_classes=num_classes)
        if not widths:
            raise ValueError("widths must name at least one stage")
        self.img_size, self.in_channels = img_size, in_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        self.stages = nn.Sequential(*(ResidualBlock(a, b, stride) for a, b, stride in _stages(widths)))
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, 1, "ResNet", self.in_channels, self.img_size)
        _check_device_and_dtype(images, self.stem[0].weight, "ResNet")
        features = self.stages(self.stem(images))  # (B, widths[-1], H', W')
        return self.head(features.mean(dim=(2, 3)))  # global average pooling


def resnet_flops(
    img_size: int = 28, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128)
) -> int:
    """FLOPs (2 per multiply-add) of the convolutions and the head of one `ResNet` forward
    pass of one image; batch norm, ReLU, additions and pooling are not counted."""
    widths = _widths(widths, "widths")
    size = img_size
    flops = 2 * size * size * 9 * in_channels * widths[0]  # stem
    for a, b, stride in _stages(widths):
        size = (size - 1) // stride + 1  # 3x3, padding 1
        flops += 2 * size * size * 9 * (a * b + b * b)  # conv1, conv2
        if stride != 1 or a != b:
            flops += 2 * size * size * a * b  # 1x1 shortcut, as ResidualBlock
    return flops + 2 * widths[-1] * num_classes


def mlp_flops(img_size: int = 28, in_channels: int = 1, num_classes: int = 10, hidden: tuple[int, ...] = (256,)) -> int:
    """FLOPs (2 per multiply-add) of the linear layers of one `MLP` forward pass of one image."""
    widths = [in_channels * img_size**2, *_widths(hidden, "hidden"), num_classes]
    return sum(2 * a * b for a, b in zip(widths, widths[1:]))
