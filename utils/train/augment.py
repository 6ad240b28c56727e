"""Batch augmentation on the device, chapter 11's AugReg levers (Steiner et al. 2021):
random erasing (Zhong et al. 2020), mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019).

Each is timm's on the same random draws (`timm.data.RandomErasing` with its defaults,
mode "const"; `timm.data.Mixup` in its "batch" mode: one mixing weight a batch, each
image mixed with the batch's mirror image), but drawn from the trainer's generator, so a
resumed training draws what it would have drawn. The tests hold them to timm's.

`augment_batch(x, labels, recipe, generator)` applies what the recipe asks for, erasing
first (timm erases each image as it loads), then mixing. It returns the images and the
targets: the labels, or with mixing their mixed one-hot vectors, which the loss reads
as class probabilities (label smoothing is then applied to the mix, as timm does).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .recipe import Recipe

ERASE_AREA = (0.02, 1 / 3)  # share of the image an erased rectangle covers (timm's default)
ERASE_ASPECT = (0.3, 1 / 0.3)  # its height / width, drawn uniformly on a log scale
ERASE_ATTEMPTS = 10  # draws until a rectangle fits in the image; none fits: not erased


def erasing_boxes(n: int, height: int, width: int, probability: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 4) integer boxes (top, left, box height, box width), one an image, drawn as
    timm's RandomErasing draws them; an image left alone has a box of height 0."""
    u = torch.rand(n, ERASE_ATTEMPTS, 2, generator=generator, dtype=torch.float64)
    area = (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * u[..., 0]) * height * width
    low, high = (math.log(a) for a in ERASE_ASPECT)
    aspect = torch.exp(low + (high - low) * u[..., 1])
    box_h, box_w = (area * aspect).sqrt().round().long(), (area / aspect).sqrt().round().long()
    fits = (box_h < height) & (box_w < width)
    first = fits.long().argmax(dim=1)  # the first attempt that fits
    chosen = torch.arange(n)
    keep = fits.any(dim=1) & (torch.rand(n, generator=generator) < probability)
    box_h, box_w = box_h[chosen, first] * keep, box_w[chosen, first] * keep
    corner = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = (corner[:, 0] * (height - box_h + 1)).floor().long()
    left = (corner[:, 1] * (width - box_w + 1)).floor().long()
    return torch.stack([top, left, box_h, box_w], dim=1)


def inside(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(n, height, width) True on the pixels inside each image's box (top, left, h, w)."""
    boxes = boxes.long()
    rows, cols = torch.arange(height, device=boxes.device), torch.arange(width, device=boxes.device)
    top, left, h, w = (boxes[:, i, None] for i in range(4))
    in_rows = (rows >= top) & (rows < top + h)  # (n, height)
    in_cols = (cols >= left) & (cols < left + w)  # (n, width)
    return in_rows[:, :, None] & in_cols[:, None, :]


def erase(x: torch.Tensor, boxes: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """`x` (B, C, H, W) with each image's box set to `value` (0 in standardised images: the
    data set's mean, as timm's "const" mode)."""
    mask = inside(boxes.to(x.device), x.shape[-2], x.shape[-1])
    return x.masked_fill(mask[:, None], value)


def mixing_weight(alpha: float, generator: torch.Generator) -> float:
    """lambda ~ Beta(alpha, alpha), drawn through numpy from a seed the generator gives."""
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator) -> tuple[int, int, int, int]:
    """timm's CutMix rectangle (top, bottom, left, right) for weight `lam`: sides of
    sqrt(1 - lam) times the image's, centred on a random pixel, clipped to the image."""
    ratio = math.sqrt(1 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (1,), generator=generator))
    cx = int(torch.randint(width, (1,), generator=generator))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + (cut_h + 1) // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + (cut_w + 1) // 2, width)
    return top, bottom, left, right


def mix(
    x: torch.Tensor, labels: torch.Tensor, num_classes: int, lam: float, box: tuple[int, int, int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image mixed with the batch's mirror image (image i with image B-1-i): blended
    with weight `lam` (mixup) or, with `box`, the box pasted from it (CutMix, `lam`
    then corrected to the share of pixels kept). Returns the images and the mixed one-hot
    targets (B, num_classes)."""
    if box is None:
        mixed = x * lam + x.flip(0) * (1 - lam)
    else:
        top, bottom, left, right = box
        mixed = x.clone()
        mixed[:, :, top:bottom, left:right] = x.flip(0)[:, :, top:bottom, left:right]
        lam = 1 - (bottom - top) * (right - left) / (x.shape[-2] * x.shape[-1])
    one_hot = F.one_hot(labels, num_classes).float()
    return mixed, one_hot * lam + one_hot.flip(0) * (1 - lam)


def augment_batch(
    x: torch.Tensor, labels: torch.Tensor, recipe: Recipe, generator: torch.Generator, num_classes: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """The recipe's erasing, then its mixup or CutMix (one of the two a batch, with equal
    odds, when both are on: timm's switch); returns (images, targets)."""
    if recipe.erase:
        x = erase(x, erasing_boxes(len(x), x.shape[-2], x.shape[-1], recipe.erase, generator))
    if not (recipe.mixup or recipe.cutmix):
        return x, labels
    use_cutmix = recipe.cutmix > 0 and (not recipe.mixup or bool(torch.rand(1, generator=generator) < 0.5))
    lam = mixing_weight(recipe.cutmix if use_cutmix else recipe.mixup, generator)
    box = cutmix_box(x.shape[-2], x.shape[-1], lam, generator) if use_cutmix else None
    return mix(x, labels, num_classes, lam, box)
