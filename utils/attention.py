"""Chapter 3: scaled dot-product attention and multi-head self-attention."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .checks import ShapeError


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, written out: softmax(q k^T / sqrt(d)) v.

    q: (..., N, d), k: (..., M, d), v: (..., M, d_v) -> output (..., N, d_v) and the
    attention weights (..., N, M), each row summing to 1.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., N, M)
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: (B, N, D) -> (B, N, D).

    One linear layer `qkv` makes queries, keys and values for all heads at once (its
    weight stacks W_q, W_k, W_v, the layout of `nn.MultiheadAttention.in_proj_weight`
    and of timm's `Attention`), each head attends over D/num_heads channels, and `proj`
    mixes the heads' outputs. The forward pass uses PyTorch's fused kernel
    (`F.scaled_dot_product_attention`); `return_attention=True` takes the written-out
    path instead and also returns the weights (B, num_heads, N, N).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            options = [h for h in range(1, dim + 1) if dim % h == 0]
            raise ValueError(
                f"width {dim} is not divisible by {num_heads} heads: each head gets "
                f"width/heads channels. Head counts that divide {dim}: {options}"
            )
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N, D) -> queries, keys, values, each (B, heads, N, D/heads)."""
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim)  # (B, N, 3, h, d)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, N, d)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        if x.ndim != 3 or x.shape[-1] != self.num_heads * self.head_dim:
            raise ShapeError(
                f"MultiHeadAttention expects tokens (batch, tokens, "
                f"{self.num_heads * self.head_dim}), got {tuple(x.shape)}"
            )
        b, n, d = x.shape
        q, k, v = self.split_heads(x)
        if return_attention:
            out, weights = attention(q, k, v)  # (B, h, N, d)
            out = self.attn_drop(weights) @ v if self.training and self.attn_drop.p else out
        else:
            drop = self.attn_drop.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, h, N, d)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))  # merge heads
        return (out, weights) if return_attention else out


def torch_equivalent(mha: MultiHeadAttention) -> nn.MultiheadAttention:
    """PyTorch's `nn.MultiheadAttention` (batch first, eval mode) holding `mha`'s weights:
    its packed `in_proj_weight` stacks W_q, W_k, W_v exactly as `mha.qkv.weight` does
    (without a `qkv` bias, its `in_proj_bias` is zero)."""
    dim = mha.num_heads * mha.head_dim
    ref = nn.MultiheadAttention(dim, mha.num_heads, batch_first=True)
    qkv_bias = mha.qkv.bias if mha.qkv.bias is not None else torch.zeros(3 * dim)
    ref.load_state_dict(
        {
            "in_proj_weight": mha.qkv.weight,
            "in_proj_bias": qkv_bias,
            "out_proj.weight": mha.proj.weight,
            "out_proj.bias": mha.proj.bias,
        }
    )
    return ref.to(mha.qkv.weight.device).eval()
