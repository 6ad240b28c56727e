"""Chapter 1: cutting images into patches and embedding each patch as a token."""

from __future__ import annotations

import torch
from torch import nn

from .checks import ShapeError


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _check_positive_ints(**values) -> None:
    """A ValueError naming the first argument that is not a positive integer (bools too)."""
    for arg, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, not {value!r}")


def _shape_hint(shape: tuple, channels: int | None) -> str:
    """What a wrongly shaped image batch most likely is, and how to fix it."""
    want_c = channels or "C"
    if len(shape) == 2:
        return f"A single {shape[0]}x{shape[1]} image needs a channel and a batch dimension: image[None, None]"
    if len(shape) == 3:
        if channels is not None and shape[-1] == channels and shape[0] != channels:
            return "This looks like one channels-last image (H, W, C): image.permute(2, 0, 1).unsqueeze(0)"
        return "A single image (C, H, W) needs a batch dimension: images.unsqueeze(0)"
    if len(shape) == 5:
        return (
            "Five dimensions: is this a batch of batches, or a video? "
            f"Merge the leading dimensions, e.g. images.flatten(0, 1) -> (N, {want_c}, H, W)"
        )
    return f"Give the images as one tensor (batch, {want_c}, height, width)"


def _check_images(images, patch_size: int, who: str, channels: int | None = None, size: int | None = None) -> None:
    """Raise a ShapeError (or TypeError, for the type) that says what is wrong with
    `images` for `who`, and how to fix it."""
    if not isinstance(images, torch.Tensor):
        if hasattr(images, "shape") and hasattr(images, "dtype"):  # a numpy array
            raise TypeError(
                f"{who} expects a torch.Tensor, got a {type(images).__module__}."
                f"{type(images).__name__} of shape {tuple(images.shape)}: "
                "convert it with torch.as_tensor(images)"
            )
        raise TypeError(
            f"{who} expects a torch.Tensor of images (batch, channels, height, width), got {type(images).__name__}"
        )
    shape = tuple(images.shape)
    if images.ndim != 4:
        raise ShapeError(
            f"{who} expects a batch of images (batch, channels, height, width), "
            f"got shape {shape}. {_shape_hint(shape, channels)}"
        )
    _, c, h, w = shape
    if channels is not None and c != channels:
        if shape[-1] == channels and c == h:
            raise ShapeError(
                f"{who} expects channels first (batch, {channels}, height, width), but "
                f"shape {shape} looks channels-last (batch, height, width, {channels}): "
                "images.permute(0, 3, 1, 2)"
            )
        raise ShapeError(
            f"{who} was built for {channels} channel(s) but the images have {c} "
            f"(shape {shape}). Build it with in_channels={c}, "
            "or convert the images (e.g. RGB to grayscale) first"
        )
    if size is not None and (h, w) != (size, size):
        fix = (
            f"resize the images to {size}x{size} (F.interpolate) or build it with img_size={h}"
            if h == w
            else f"the model takes square {size}x{size} images: resize or crop them to {size}x{size} (F.interpolate)"
        )
        raise ShapeError(f"{who} was built for {size}x{size} images but got {h}x{w} (shape {shape}); {fix}")
    for side, n in (("height", h), ("width", w)):
        if n % patch_size:
            raise ShapeError(
                f"image {side} {n} is not divisible by patch size {patch_size} "
                f"({n} = {n // patch_size}*{patch_size} + {n % patch_size}); "
                f"patch sizes that divide {n}: {_divisors(n)}"
            )


def _check_device_and_dtype(images: torch.Tensor, weight: torch.Tensor, who: str) -> None:
    """A clear error where the images' device or dtype is not the model's (images on the
    GPU for a model left on the CPU, uint8 pixels)."""
    if images.device != weight.device:
        raise ValueError(
            f"{who}'s weights are on {weight.device} but the images are on "
            f"{images.device}: move the model with model.to(images.device) "
            f"(or the images with images.to({str(weight.device)!r}))"
        )
    if images.dtype == weight.dtype or torch.is_autocast_enabled(images.device.type):
        return
    if not images.is_floating_point():
        fix = (
            "standardise them with vitbook.data.standardize(images) (what the book's "
            "loaders do with normalize=True), or scale them with images.float() / 255"
        )
    else:
        fix = f"convert them with images.to({weight.dtype}) (or the model with model.to({images.dtype}))"
    raise TypeError(f"{who} has {weight.dtype} weights but the images are {images.dtype}: {fix}")


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping patches and flatten each one.

    (B, C, H, W) -> (B, N, C*p*p) with N = (H/p)*(W/p), patches in row-major order and
    each patch flattened in (channel, row, column) order, the order of a Conv2d weight.
    """
    _check_images(images, patch_size, "patchify")
    b, c, h, w = images.shape
    p = patch_size
    grid = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, H/p, p, W/p, p)
    grid = grid.permute(0, 2, 4, 1, 3, 5)  # (B, H/p, W/p, C, p, p)
    return grid.reshape(b, (h // p) * (w // p), c * p * p)  # (B, N, C*p*p)


class PatchEmbedding(nn.Module):
    """Patchify and project every patch to `embed_dim` with one strided convolution.

    (B, C, img_size, img_size) -> (B, N, embed_dim), N = (img_size / patch_size)**2.
    The same map as `patchify` followed by a linear layer (chapter 1 proves it), and the
    same layout as timm's `PatchEmbed` (`proj` is the convolution).
    """

    def __init__(self, img_size: int = 28, patch_size: int = 4, in_channels: int = 1, embed_dim: int = 64):
        super().__init__()
        _check_positive_ints(img_size=img_size, patch_size=patch_size, in_channels=in_channels, embed_dim=embed_dim)
        if img_size % patch_size:
            raise ValueError(
                f"image size {img_size} is not divisible by patch size {patch_size} "
                f"({img_size} = {img_size // patch_size}*{patch_size} + {img_size % patch_size}); "
                f"patch sizes that divide {img_size}: {_divisors(img_size)}"
            )
        self.img_size, self.patch_size, self.in_channels = img_size, patch_size, in_channels
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size, "PatchEmbedding", self.in_channels, self.img_size)
        _check_device_and_dtype(images, self.proj.weight, "PatchEmbedding")
        tokens = self.proj(images)  # (B, D, H/p, W/p)
        return tokens.flatten(2).transpose(1, 2)  # (B, N, D)
