"""Chapter 11: two tokenizers that help a ViT on small data.

The patch embedding (chapter 1) sees each p x p patch alone. Two papers on training
ViTs from scratch on small data sets replace it:

* Lee, Lee & Song 2021, "Vision Transformer for Small-Size Datasets": Shifted Patch
  Tokenization (SPT). Each patch also sees the pixels around it, taken from four copies
  of the image moved half a patch along the diagonals.
* Hassani et al. 2021, "Escaping the Big Data Paradigm with Compact Transformers" (CCT):
  a convolutional tokenizer, a few Conv -> ReLU -> MaxPool blocks whose feature map is
  read as the tokens.

Both give (B, N, embed_dim) tokens and the attributes of `PatchEmbedding`, so they drop
into the book's ViT in place of its patch embedding (`with_tokenizer`;
`vitbook.compact.compact_vit` builds such ViTs by name).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .patches import _check_device_and_dtype, _check_images, _check_positive_ints, _divisors
from .tokens import ClassTokenAndPositions
from .vit import ViT

# Where each shifted copy's content moves, as (right, down) in units of the shift, in the
# order of the reference code (aanna0701/SPT_LSA_ViT, models/SPT.py), which names each copy
# by where its crop window sits on the zero-padded image (x_lu, x_ru, x_lb, x_rb): the
# window at the top left shows the image moved right and down.
SHIFTS = ((1, 1), (-1, 1), (1, -1), (-1, -1))


def shifted_copies(images: torch.Tensor, shift: int) -> torch.Tensor:
    """The images and their four diagonally shifted copies, concatenated along the channels,
    (B, C, H, W) -> (B, 5C, H, W): SPT's first step (Lee, Lee & Song 2021). Pixels moved in
    from outside the image are zero; the copies come in the order of `SHIFTS`."""
    copies = [images]
    for right, down in SHIFTS:
        # a negative pad crops: pad `shift` on one side and crop it on the other
        copies.append(F.pad(images, (right * shift, -right * shift, down * shift, -down * shift)))
    return torch.cat(copies, dim=1)


class ShiftedPatchTokenization(nn.Module):
    """Shifted Patch Tokenization (Lee, Lee & Song 2021, "Vision Transformer for Small-Size
    Datasets"): (B, C, img_size, img_size) -> (B, N, embed_dim), N = (img_size / patch_size)**2.

    The image and four copies shifted by patch_size // 2 pixels along the diagonals
    (`shifted_copies`) are cut into patches; each patch, 5*C*p*p numbers flattened in
    (row, column, channel) order as the reference's Rearrange does, goes through a
    LayerNorm (`norm`, PyTorch's eps 1e-5 as the reference) and a linear map (`proj`).
    """

    def __init__(self, img_size: int = 28, patch_size: int = 4, in_channels: int = 1, embed_dim: int = 64):
        super().__init__()
        _check_positive_ints(img_size=img_size, patch_size=patch_size, in_channels=in_channels, embed_dim=embed_dim)
        if patch_size < 2:
            raise ValueError(f"patch_size must be at least 2 for SPT, whose shift is patch_size // 2, not {patch_size}")
        if img_size % patch_size:
            raise ValueError(
                f"img_size {img_size} is not divisible by patch_size {patch_size}; "
                f"patch sizes that divide {img_size}: {_divisors(img_size)}"
            )
        self.img_size, self.patch_size, self.in_channels = img_size, patch_size, in_channels
        self.shift = patch_size // 2
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        patch_dim = 5 * in_channels * patch_size**2
        self.norm = nn.LayerNorm(patch_dim)
        self.proj = nn.Linear(patch_dim, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size, "ShiftedPatchTokenization", self.in_channels, self.img_size)
        _check_device_and_dtype(images, self.proj.weight, "ShiftedPatchTokenization")
        x = shifted_copies(images, self.shift)  # (B, 5C, H, W)
        b, c, h, w = x.shape
        p = self.patch_size
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)  # (B, H/p, W/p, p, p, 5C)
        patches = x.reshape(b, self.num_patches, p * p * c)  # (B, N, 5C*p*p)
        return self.proj(self.norm(patches))  # (B, N, D)


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """The side of a convolution's or pooling's output (dilation 1, rounding down)."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_tokenizer_args(
    img_size: int,
    conv_layers: int,
    conv: tuple[int, int, int],
    pool: tuple[int, int, int],
) -> int:
    """One-line errors for ConvTokenizer arguments that are wrong together; returns the side
    of the token grid. `conv` and `pool` are (kernel size, stride, padding)."""
    for arg, value in (("padding", conv[2]), ("pooling_padding", pool[2])):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{arg} must be an integer >= 0, not {value!r}")
    if pool[2] > pool[0] // 2:
        raise ValueError(f"pooling_padding {pool[2]} is more than half of pooling_kernel_size {pool[0]}")
    side = img_size
    for layer in range(1, conv_layers + 1):
        side = _conv_out(_conv_out(side, *conv), *pool)
        if side < 1:
            raise ValueError(
                f"conv_layers {conv_layers} is too many for {img_size}x{img_size} images with these "
                f"kernels and strides: nothing is left after block {layer}"
            )
    return side


class ConvTokenizer(nn.Module):
    """The convolutional tokenizer of CCT (Hassani et al. 2021, "Escaping the Big Data
    Paradigm with Compact Transformers"): (B, C, img_size, img_size) -> (B, N, embed_dim).

    `conv_layers` blocks of Conv2d (no bias, Kaiming-normal weights) -> ReLU -> MaxPool2d,
    of widths in_channels -> in_planes ... -> embed_dim (the reference's `Tokenizer` as
    its `CCT` builds it), the final feature map's pixels read as tokens in row-major order.
    On 28x28 images with the defaults each block halves the side, rounding up: 1 block
    gives 14x14 = 196 tokens, 2 give 7x7 = 49, 3 give 4x4 = 16. `patch_size` is the total
    downsampling, (stride * pooling_stride) ** conv_layers: the pixels between neighbouring
    tokens (with 3 blocks 8, while 28 / 8 = 3.5 rounds up to a 4x4 grid).
    """

    def __init__(
        self,
        img_size: int = 28,
        in_channels: int = 1,
        embed_dim: int = 64,
        conv_layers: int = 2,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        pooling_kernel_size: int = 3,
        pooling_stride: int = 2,
        pooling_padding: int = 1,
        in_planes: int = 64,
    ):
        super().__init__()
        _check_positive_ints(
            img_size=img_size,
            in_channels=in_channels,
            embed_dim=embed_dim,
            conv_layers=conv_layers,
            kernel_size=kernel_size,
            stride=stride,
            pooling_kernel_size=pooling_kernel_size,
            pooling_stride=pooling_stride,
            in_planes=in_planes,
        )
        conv, pool = (kernel_size, stride, padding), (pooling_kernel_size, pooling_stride, pooling_padding)
        self.grid_size = _check_tokenizer_args(img_size, conv_layers, conv, pool)
        self.num_patches = self.grid_size**2
        self.img_size, self.in_channels = img_size, in_channels
        self.patch_size = (stride * pooling_stride) ** conv_layers
        widths = [in_channels] + [in_planes] * (conv_layers - 1) + [embed_dim]
        self.convs = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Conv2d(a, b, kernel_size, stride=stride, padding=padding, bias=False),
                    nn.ReLU(),
                    nn.MaxPool2d(pooling_kernel_size, stride=pooling_stride, padding=pooling_padding),
                )
                for a, b in zip(widths, widths[1:])
            )
        )
        for module in self.convs.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)  # as the reference's init_weight

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, 1, "ConvTokenizer", self.in_channels, self.img_size)
        _check_device_and_dtype(images, self.convs[0][0].weight, "ConvTokenizer")
        features = self.convs(images)  # (B, D, grid, grid)
        return features.flatten(2).transpose(1, 2)  # (B, N, D)


def with_tokenizer(model: ViT, tokenizer: nn.Module) -> ViT:
    """`model` with `tokenizer` in place of its patch embedding, in place. Where the
    tokenizer gives another number of tokens, `tokens` is rebuilt for it (the same
    position kind and `<cls>` token or none, a new table of the initial std 0.02)."""
    model.patch_embed = tokenizer
    if tokenizer.num_patches != model.tokens.num_patches:
        model.tokens = ClassTokenAndPositions(
            tokenizer.num_patches, model.head.in_features, model.tokens.position, cls_token=model.pool == "cls"
        )
    return model


def forward_flops(module: nn.Module, in_channels: int, img_size: int, **kwargs) -> tuple[int, torch.Tensor]:
    """One image of zeros through `module` (with `kwargs`), without gradients: the FLOPs
    `FlopCounterMode` counts (2 per multiply-add) and the output."""
    weight = next(module.parameters())
    images = torch.zeros(1, in_channels, img_size, img_size, device=weight.device, dtype=weight.dtype)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        output = module(images, **kwargs)
    return counter.get_total_flops(), output


def tokenizer_costs(model: nn.Module, img_size: int | None = None) -> dict[str, int]:
    """What a tokenizer costs for one image: the tokens it gives, its parameters, and its
    FLOPs as `FlopCounterMode` counts them (2 per multiply-add, the book's FLOPs: linear
    layers and convolutions only, no LayerNorm, ReLU or pooling), with "macs" = flops / 2.

    `model` is a ViT (its `patch_embed` is measured) or a tokenizer itself: a
    `PatchEmbedding`, a `ShiftedPatchTokenization` (Lee, Lee & Song 2021), a `ConvTokenizer`
    (Hassani et al. 2021), or anything with `in_channels` and `img_size`. `img_size` is the
    tokenizer's own unless given.
    """
    tokenizer = getattr(model, "patch_embed", model)
    for attr in ("in_channels", "img_size"):
        if not hasattr(tokenizer, attr):
            raise TypeError(f"tokenizer_costs needs a ViT or a tokenizer with `{attr}`, got {type(model).__name__}")
    size = tokenizer.img_size if img_size is None else img_size
    flops, tokens = forward_flops(tokenizer, tokenizer.in_channels, size)
    return {
        "tokens": tokens.shape[1],
        "parameters": sum(p.numel() for p in tokenizer.parameters()),
        "flops": flops,
        "macs": flops // 2,
    }
