"""Chapter 8: a convolutional stem for the ViT (Xiao et al. 2021, "Early convolutions
help transformers see better").

The patch embedding (chapter 1) cuts p x p patches and projects each with one linear
map. The convolutional stem reaches the same grid of tokens with log2(p) 3x3
convolutions of stride 2 (each with batch norm and ReLU) and a final 1x1 convolution to
the model's width: neighbouring pixels are combined a little at a time, with
overlapping windows, as a CNN's first layers do. Everything after the stem is the ViT.
"""

from __future__ import annotations

import torch
from torch import nn

from .patches import _check_device_and_dtype, _check_images, _check_positive_ints
from .vit import ViT


class ConvStem(nn.Module):
    """(B, C, img_size, img_size) -> (B, N, embed_dim) tokens, N = (img_size / patch_size)**2,
    the shape `PatchEmbedding` gives; `patch_size` must be a power of 2. The widths
    double up to embed_dim (28x28, patch 4, width 64: 1 -> 32 channels at 14x14 ->
    64 at 7x7, then a 1x1 convolution, 64 -> 64)."""

    def __init__(self, img_size: int = 28, patch_size: int = 4, in_channels: int = 1, embed_dim: int = 64):
        super().__init__()
        _check_positive_ints(img_size=img_size, patch_size=patch_size, in_channels=in_channels, embed_dim=embed_dim)
        steps = patch_size.bit_length() - 1
        if patch_size < 2 or 2**steps != patch_size:
            raise ValueError(
                f"a convolutional stem halves the size per stride-2 convolution, so "
                f"the patch size must be a power of 2 (2, 4, 8, 16), not {patch_size}"
            )
        if img_size % patch_size:
            raise ValueError(f"image size {img_size} is not divisible by patch size {patch_size}")
        if embed_dim % patch_size:
            raise ValueError(
                f"the stem's widths are embed_dim / 2**k: embed_dim {embed_dim} must be "
                f"divisible by the patch size {patch_size}"
            )
        self.img_size, self.patch_size, self.in_channels = img_size, patch_size, in_channels
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        widths = [in_channels] + [embed_dim * 2**k // patch_size for k in range(1, steps + 1)]
        layers = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(widths[-1], embed_dim, 1)  # the last layer: a 1x1 convolution

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size, "ConvStem", self.in_channels, self.img_size)
        _check_device_and_dtype(images, self.proj.weight, "ConvStem")
        tokens = self.proj(self.convs(images))  # (B, D, H/p, W/p)
        return tokens.flatten(2).transpose(1, 2)  # (B, N, D)


def conv_stem_vit(**config) -> ViT:
    """A `ViT(**config)` whose patch embedding is a `ConvStem` of the same image size,
    patch size, channels and width; every other part is unchanged."""
    model = ViT(**config)
    embed = model.patch_embed
    model.patch_embed = ConvStem(embed.img_size, embed.patch_size, embed.in_channels, model.head.in_features)
    return model
