"""Chapter 4: the MLP and the Transformer encoder block."""

from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention
from .attention import torch_equivalent as torch_attention

LAYER_NORM_EPS = 1e-6  # as in the ViT paper's code and timm (PyTorch's default is 1e-5)


class MLP(nn.Module):
    """Two linear layers with a GELU between: (B, N, D) -> (B, N, hidden) -> (B, N, D)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016), as timm's `drop_path`: in training, each
    sample's branch output is zeroed with probability `rate` and the rest scaled by
    1 / (1 - rate), so its expected value is unchanged; the identity in evaluation."""
    if rate == 0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - rate)  # (B, 1, 1)
    return x * (keep / (1 - rate))


class EncoderBlock(nn.Module):
    """One Transformer encoder block: (B, N, D) -> (B, N, D), so blocks stack.

    Pre-norm (``norm_first=True``, ViT and timm's `Block`)::

        x = x + attn(norm1(x));  x = x + mlp(norm2(x))

    Post-norm (the original Transformer)::

        x = norm1(x + attn(x));  x = norm2(x + mlp(x))

    With ``drop_path`` > 0 (chapter 11) each branch is dropped for a random share of the
    samples in training (`drop_path`, stochastic depth).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        norm_first: bool = True,
        drop_path: float = 0.0,
    ):
        super().__init__()
        if not 0 <= drop_path < 1:
            raise ValueError(f"drop_path is a probability in [0, 1), not {drop_path!r}")
        self.norm_first, self.drop_path = norm_first, drop_path
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = MultiHeadAttention(dim, num_heads, attn_drop=attn_dropout, proj_drop=dropout)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = MLP(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        out = self.attn(self.norm1(x) if self.norm_first else x, return_attention=return_attention)
        attended, weights = out if return_attention else (out, None)
        rate, training = self.drop_path, self.training
        if self.norm_first:
            x = x + drop_path(attended, rate, training)
            x = x + drop_path(self.mlp(self.norm2(x)), rate, training)
        else:
            x = self.norm1(x + drop_path(attended, rate, training))
            x = self.norm2(x + drop_path(self.mlp(x), rate, training))
        return (x, weights) if return_attention else x


def torch_equivalent(block: EncoderBlock) -> nn.TransformerEncoderLayer:
    """PyTorch's `nn.TransformerEncoderLayer` (GELU, no dropout, eval mode) holding
    `block`'s weights: `self_attn` is `block.attn` as an `nn.MultiheadAttention`,
    `linear1`/`linear2` are the MLP's `fc1`/`fc2`, `norm1`/`norm2` the LayerNorms."""
    dim, hidden = block.mlp.fc1.in_features, block.mlp.fc1.out_features
    layer = nn.TransformerEncoderLayer(
        dim,
        block.attn.num_heads,
        hidden,
        dropout=0.0,
        activation="gelu",
        layer_norm_eps=LAYER_NORM_EPS,
        batch_first=True,
        norm_first=block.norm_first,
    )
    layer.self_attn.load_state_dict(torch_attention(block.attn).state_dict())
    for ours, theirs in (
        (block.mlp.fc1, layer.linear1),
        (block.mlp.fc2, layer.linear2),
        (block.norm1, layer.norm1),
        (block.norm2, layer.norm2),
    ):
        theirs.load_state_dict(ours.state_dict())
    return layer.to(block.norm1.weight.device).eval()
