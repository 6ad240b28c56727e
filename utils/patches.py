"""Chapter 1: cutting images into patches and embedding each patch as a token."""

from __future__ import annotations

import torch
from torch import nn

from .checks import ShapeError


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _check_images(images: torch.Tensor, patch_size: int, who: str,
                  channels: int | None = None, size: int | None = None) -> None:
    """Raise a ShapeError that says what is wrong with `images` for `who`."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        got = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ShapeError(f"{who} expects a batch of images (batch, channels, height, width), got {got}. "
                         "A single image needs a batch dimension: images.unsqueeze(0)")
    _, c, h, w = images.shape
    if channels is not None and c != channels:
        raise ShapeError(f"{who} was built for {channels} channel(s) but the images have {c} "
                         f"(shape {tuple(images.shape)}). Build it with in_channels={c}, "
                         "or convert the images (e.g. RGB to grayscale) first")
    if size is not None and (h, w) != (size, size):
        raise ShapeError(f"{who} was built for {size}x{size} images but got {h}x{w} "
                         f"(shape {tuple(images.shape)}); resize the images or build it with img_size={h}")
    for side, n in (("height", h), ("width", w)):
        if n % patch_size:
            raise ShapeError(f"image {side} {n} is not divisible by patch size {patch_size} "
                             f"({n} = {n // patch_size}*{patch_size} + {n % patch_size}); "
                             f"patch sizes that divide {n}: {_divisors(n)}")


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping patches and flatten each one.

    (B, C, H, W) -> (B, N, C*p*p) with N = (H/p)*(W/p), patches in row-major order and
    each patch flattened in (channel, row, column) order, the order of a Conv2d weight.
    """
    _check_images(images, patch_size, "patchify")
    b, c, h, w = images.shape
    p = patch_size
    grid = images.reshape(b, c, h // p, p, w // p, p)       # (B, C, H/p, p, W/p, p)
    grid = grid.permute(0, 2, 4, 1, 3, 5)                    # (B, H/p, W/p, C, p, p)
    return grid.reshape(b, (h // p) * (w // p), c * p * p)   # (B, N, C*p*p)


class PatchEmbedding(nn.Module):
    """Patchify and project every patch to `embed_dim` with one strided convolution.

    (B, C, img_size, img_size) -> (B, N, embed_dim), N = (img_size / patch_size)**2.
    The same map as `patchify` followed by a linear layer (chapter 1 proves it), and the
    same layout as timm's `PatchEmbed` (`proj` is the convolution).
    """

    def __init__(self, img_size: int = 28, patch_size: int = 4, in_channels: int = 1, embed_dim: int = 64):
        super().__init__()
        for arg, value in (("img_size", img_size), ("patch_size", patch_size),
                           ("in_channels", in_channels), ("embed_dim", embed_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer, not {value!r}")
        if img_size % patch_size:
            raise ValueError(f"image size {img_size} is not divisible by patch size {patch_size} "
                             f"({img_size} = {img_size // patch_size}*{patch_size} + {img_size % patch_size}); "
                             f"patch sizes that divide {img_size}: {_divisors(img_size)}")
        self.img_size, self.patch_size, self.in_channels = img_size, patch_size, in_channels
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size ** 2
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size, "PatchEmbedding", self.in_channels, self.img_size)
        tokens = self.proj(images)                   # (B, D, H/p, W/p)
        return tokens.flatten(2).transpose(1, 2)     # (B, N, D)
