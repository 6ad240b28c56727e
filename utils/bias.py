"""Chapter 8: what a CNN is given and a ViT must learn, measured.

A convolution slides one small filter over the image: a shifted input gives a shifted
feature map (translation equivariance), and a unit sees only a window that grows layer by
layer (locality). A ViT gets neither: it cuts the image into patches at fixed places and
must learn from data which positions are near which.

    shift(images, dy, dx)                   # images moved by whole pixels, the uncovered border 0
    translation_change(model, images, d)    # how much logits and predictions move under a shift
    receptive_field_widths(layers)          # the window after each of a stack of (kernel, stride) layers
    receptive_fields(resnet)                # the same for each conv layer of a ResNet, by name
"""

from __future__ import annotations

import torch
from torch import nn

from .baselines import ResNet
from .checks import ShapeError, as_int
from .data import standardize


def _check_uint8_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.dtype != torch.uint8:
        got = (
            f"a {images.dtype} tensor of shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else f"a {type(images).__name__}"
        )
        raise ShapeError(
            f"expected uint8 images (B, C, H, W) as load_fashion_mnist(normalize=False) gives them, got {got}"
        )


def shift(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """`images` (B, C, H, W) moved down by `dy` and right by `dx` whole pixels (negative:
    up, left); what moves out is lost and the uncovered border is 0, Fashion-MNIST's
    background."""
    _check_uint8_images(images)
    dy, dx = as_int(dy, "dy"), as_int(dx, "dx")
    h, w = images.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        raise ValueError(f"a shift of ({dy}, {dx}) moves a {h}x{w} image out of the frame")
    out = torch.zeros_like(images)
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


@torch.no_grad()
def translation_change(model: nn.Module, images: torch.Tensor, pixels: int) -> dict[str, float]:
    """How much `model`'s output moves when the uint8 `images` are shifted right by `pixels`
    (the model in eval mode, its mode restored afterwards):

    - "logit change": the mean distance between the logits of each image and of its
      shifted copy, divided by the mean distance between the logits of two different
      images (the batch against itself rolled by one): 0 means the shift changes nothing,
      1 means it changes as much as swapping the garment for another one. Being a ratio,
      it compares trained and untrained models, whatever the scale of their logits;
    - "changed predictions": the fraction of images whose predicted class changes.
    """
    _check_uint8_images(images)
    shifted = shift(images, 0, as_int(pixels, "pixels"))  # a shift out of the frame fails before any work
    if len(images) < 2:
        raise ValueError("translation_change needs at least 2 images (it compares different images)")
    if torch.equal(images, images.roll(1, dims=0)):
        raise ValueError(
            f"the {len(images)} images are all the same: translation_change compares the "
            "change under a shift with the distance between different images; give it "
            "different images"
        )
    was_training = model.training
    model.eval()
    try:
        logits = model(standardize(images))
        moved = model(standardize(shifted))
    finally:
        model.train(was_training)
    other = (logits - logits.roll(1, dims=0)).norm(dim=1).mean()
    if other == 0:
        raise ValueError(
            "the model gives the same logits for every image, so there is no distance "
            "between different images to compare the shift with (is its head zeroed?)"
        )
    return {
        "logit change": ((moved - logits).norm(dim=1).mean() / other).item(),
        "changed predictions": (moved.argmax(1) != logits.argmax(1)).float().mean().item(),
    }


def receptive_field_widths(layers: list[tuple[int, int]]) -> list[int]:
    """The width in pixels of the input window that one output unit sees after each layer of
    a stack of convolutions (or poolings), given as (kernel size, stride) pairs: each layer
    adds (kernel - 1) x (the product of the strides before it)."""
    if not all(isinstance(layer, (tuple, list)) and len(layer) == 2 for layer in layers):
        raise ValueError(f"layers must be (kernel size, stride) pairs, e.g. [(3, 1), (3, 2)], not {layers!r}")
    width, jump, widths = 1, 1, []
    for i, (kernel, stride) in enumerate(layers):
        kernel, stride = as_int(kernel, f"layers[{i}]'s kernel size", 1), as_int(stride, f"layers[{i}]'s stride", 1)
        width += (kernel - 1) * jump
        jump *= stride
        widths.append(width)
    return widths


def receptive_fields(model: ResNet) -> list[tuple[str, int]]:
    """The receptive field of each 3x3 convolution of the ResNet's main path, in order:
    (layer name, width in pixels). The 1x1 shortcuts see less and do not count. Widths can
    exceed the image: the window is then cut off by it."""
    if not isinstance(model, ResNet):
        raise TypeError(f"receptive_fields expects a vitbook ResNet, got a {type(model).__name__}")
    convs = [("stem", model.stem[0])]
    for i, block in enumerate(model.stages, start=1):
        convs += [(f"block {i}, conv 1", block.conv1), (f"block {i}, conv 2", block.conv2)]
    widths = receptive_field_widths([(conv.kernel_size[0], conv.stride[0]) for _, conv in convs])
    return [(name, width) for (name, _), width in zip(convs, widths)]
