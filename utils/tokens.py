"""Chapter 2: the `<cls>` token and position embeddings."""

from __future__ import annotations

import math

import torch
from torch import nn

from .checks import ShapeError

POSITIONS = ("learned", "sincos", "none")


def sincos_1d(positions: torch.Tensor, dim: int, temperature: float = 10_000.0) -> torch.Tensor:
    """The Transformer paper's fixed embedding of 1-D positions: (P,) -> (P, dim).

    Channel i < dim/2 is sin(pos * w_i), channel dim/2 + i is cos(pos * w_i), with
    frequencies w_i = temperature ** (-i / (dim/2)) from 1 down to about 1/temperature.
    """
    if dim % 2:
        raise ValueError(f"the sin-cos embedding needs an even width, got {dim}")
    half = dim // 2
    freqs = temperature ** (-torch.arange(half, dtype=torch.float64) / half)  # (dim/2,)
    angles = positions.double().flatten()[:, None] * freqs[None, :]  # (P, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_position_embedding(grid_size: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embedding of a `grid_size` x `grid_size` patch grid.

    Returns (grid_size**2, dim), patches in row-major order: the first half of the
    channels is `sincos_1d` of the patch's row, the second half of its column (as in MAE
    and big_vision). `dim` must be divisible by 4.
    """
    if dim % 4:
        raise ValueError(f"the 2-D sin-cos embedding needs a width divisible by 4, got {dim}")
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    return torch.cat([sincos_1d(rows, dim // 2), sincos_1d(cols, dim // 2)], dim=1).float()


class ClassTokenAndPositions(nn.Module):
    """Prepend a learnable `<cls>` token and add position embeddings.

    (B, N, D) -> (B, N+1, D), or (B, N, D) with ``cls_token=False``. `position` is
    "learned" (a parameter, truncated-normal init with std `pos_std`, 0.02 as in timm),
    "sincos" (fixed, `sincos_position_embedding`, zero for `<cls>`), or "none".
    Parameter names and layout match timm's VisionTransformer (`cls_token`, `pos_embed`).
    """

    def __init__(
        self, num_patches: int, dim: int, position: str = "learned", cls_token: bool = True, pos_std: float = 0.02
    ):
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, not {position!r}")
        grid = math.isqrt(num_patches)
        if position == "sincos" and grid * grid != num_patches:
            raise ValueError(f"the sin-cos embedding needs a square grid, but {num_patches} patches is not one")
        self.num_patches, self.dim, self.position = num_patches, dim, position
        self.num_prefix = int(cls_token)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None
        length = num_patches + self.num_prefix
        if position == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, length, dim))
            nn.init.trunc_normal_(self.pos_embed, std=pos_std, a=-2 * pos_std, b=2 * pos_std)
        elif position == "sincos":
            table = torch.cat([torch.zeros(self.num_prefix, dim), sincos_position_embedding(grid, dim)])
            self.register_buffer("pos_embed", table[None], persistent=False)
        else:
            self.pos_embed = None
        if cls_token:
            nn.init.normal_(self.cls_token, std=1e-6)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Weights saved for another grid get an error that says so and what to do."""
        table = state_dict.get(prefix + "pos_embed")
        if self.position == "learned" and table is not None and table.shape != self.pos_embed.shape:
            raise ShapeError(
                f"the saved position table has shape {tuple(table.shape)}, this model's "
                f"{tuple(self.pos_embed.shape)}: {table.shape[1] - self.num_prefix} patch positions against "
                f"{self.num_patches}. The weights are for another image size, patch size or width; to use "
                "them at another image size, load them into a model of their own size and move it with "
                "vitbook.transfer.at_image_size"
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3 or tokens.shape[1:] != (self.num_patches, self.dim):
            raise ShapeError(
                f"expected patch tokens of shape (batch, {self.num_patches}, {self.dim}), got "
                f"{tuple(tokens.shape)}: the position table has {self.num_patches} patch positions "
                f"of width {self.dim}. Build it with num_patches={tokens.shape[1] if tokens.ndim == 3 else '?'}, "
                "or check the image and patch size"
            )
        if self.cls_token is not None:
            cls = self.cls_token.expand(len(tokens), -1, -1)  # (B, 1, D)
            tokens = torch.cat([cls, tokens], dim=1)  # (B, N+1, D)
        if self.pos_embed is not None:
            tokens = tokens + self.pos_embed  # broadcast over the batch
        return tokens
