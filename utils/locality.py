"""Chapter 11: two levers that help a ViT on small data, switched into the book's ViT.

- Locality Self-Attention (Lee, Lee & Song 2021, "Vision Transformer for Small-Size
  Datasets"): a learnable softmax temperature, and no token attends to itself, so each
  token has to look at the others.
- Sequence pooling (Hassani et al. 2021, "Escaping the Big Data Paradigm with Compact
  Transformers", CCT): the classifier reads a learned weighted average of the tokens
  instead of a `<cls>` token or their plain mean.

`with_lsa(model)` and `with_sequence_pooling(model)` change a built ViT; `vitbook.vit`,
`vitbook.blocks` and `vitbook.attention` (chapters 1-10) are left as they are.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention
from .checks import ShapeError
from .vit import ViT, init_vit_weights, vit_config

# The value the reference code (aanna0701/SPT_LSA_ViT, models/vit.py) writes on the
# diagonal of the scaled scores; the paper writes -inf. Both give a weight of exactly 0
# after the softmax, but a finite value keeps a row of one token free of NaN.
MASK_VALUE = -987654321.0


def _check_tokens(x: torch.Tensor, dim: int, name: str) -> None:
    if x.ndim != 3 or x.shape[-1] != dim:
        raise ShapeError(f"{name} expects tokens (batch, tokens, {dim}), got {tuple(x.shape)}")


class LocalitySelfAttention(nn.Module):
    """Locality Self-Attention (LSA; Lee, Lee & Song 2021, "Vision Transformer for
    Small-Size Datasets"): (B, T, D) -> (B, T, D), a drop-in for `MultiHeadAttention`
    (the same `qkv` and `proj` layers and `forward(x, return_attention=False)`).

    Two changes to multi-head attention, each of which can be switched off for an ablation:

    - the temperature is learned: `scale` (one number a head, initialised to
      head_dim ** -0.5) multiplies the scores q k^T in place of the fixed 1/sqrt(head_dim);
    - diagonal masking: the score of each token with itself is set to `MASK_VALUE`
      before the softmax, so its weight is exactly 0 and each row sums to 1 over the others.

    Where the paper and its code differ we follow the code (models/vit.py at commit
    54bd796 of github.com/aanna0701/SPT_LSA_ViT): the paper divides the scores by one
    temperature tau and masks with -inf; the code multiplies by a learnable scale, one per
    head, initialised to dim_head ** -0.5, and masks with -987654321. No choice here takes
    the paper's side against the code. The code has no attention dropout; `attn_drop`
    here acts on the weights as in `MultiHeadAttention`, and the weights returned are those
    before dropout. The scores are written out (no fused kernel), so both calls agree.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        mask_diagonal: bool = True,
        learn_temperature: bool = True,
    ):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}: each head gets dim/num_heads")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.mask_diagonal = mask_diagonal
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.scale = nn.Parameter(torch.full((num_heads,), self.head_dim**-0.5), requires_grad=learn_temperature)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """Output (B, T, D); with ``return_attention=True`` also the weights (B, heads, T, T)."""
        _check_tokens(x, self.num_heads * self.head_dim, "LocalitySelfAttention")
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, T, d)
        scores = (q @ k.transpose(-2, -1)) * self.scale.view(1, -1, 1, 1)  # (B, h, T, T)
        if self.mask_diagonal:
            itself = torch.eye(t, dtype=torch.bool, device=x.device)
            scores = scores.masked_fill(itself, MASK_VALUE)
        weights = scores.softmax(dim=-1)
        out = self.attn_drop(weights) @ v  # (B, h, T, d)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, t, d)))  # merge heads
        return (out, weights) if return_attention else out


class SequencePooling(nn.Module):
    """Sequence pooling (Hassani et al. 2021, "Escaping the Big Data Paradigm with Compact
    Transformers"): (B, T, D) -> (B, D). A linear layer `attention_pool` (CCT's name)
    scores every token, a softmax over the tokens turns the scores into weights, and the
    pooled vector is the weighted sum of the tokens. CCT applies it after the final
    LayerNorm, as `SeqPoolViT` does. A bias added to every score leaves the softmax
    unchanged, so `attention_pool.bias` gets a zero gradient (CCT has it too)."""

    def __init__(self, dim: int):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, not {dim!r}")
        self.attention_pool = nn.Linear(dim, 1)
        init_vit_weights(self)  # as CCT: a weight of std 0.02, a zero bias

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """Pooled (B, D); with ``return_weights=True`` also each token's weight (B, T)."""
        _check_tokens(x, self.attention_pool.in_features, "SequencePooling")
        weights = self.attention_pool(x).softmax(dim=1)  # (B, T, 1), summing to 1 over T
        pooled = (weights.transpose(1, 2) @ x).squeeze(1)  # (B, 1, T) @ (B, T, D) -> (B, D)
        return (pooled, weights.squeeze(-1)) if return_weights else pooled


class SeqPoolViT(ViT):
    """The book's ViT with sequence pooling (Hassani et al. 2021, CCT) in place of mean
    pooling: no `<cls>` token, and `ViT.pool_tokens` replaced by sequence pooling. A
    subclass is the smallest readable way: the rest of `ViT.forward` is used as it is, and
    the model is still a `ViT` (its parts, names and `pool == "mean"`, no `<cls>` token, as
    chapter 7 reads). Takes `ViT`'s arguments; `pool` can only be "mean"."""

    def __init__(self, **config):
        if config.setdefault("pool", "mean") != "mean":
            raise ValueError(f'pool must be "mean" (sequence pooling has no <cls> token), not {config["pool"]!r}')
        super().__init__(**config)
        self.seq_pool = SequencePooling(self.head.in_features)

    def pool_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, D): the tokens weighted by sequence pooling (the one change from `ViT`)."""
        return self.seq_pool(x)


def with_lsa(model: nn.Module, mask_diagonal: bool = True, learn_temperature: bool = True) -> nn.Module:
    """`model` with each encoder block's attention replaced, in place, by a
    `LocalitySelfAttention` (Lee, Lee & Song 2021, "Vision Transformer for Small-Size
    Datasets") holding the same `qkv` and `proj` layers, its dropout and a new temperature
    per head (initialised to head_dim ** -0.5). Blocks that already have one keep it.
    Returns `model`."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or not len(blocks):
        raise ValueError(f"model must have encoder blocks (model.blocks) for LSA; this {type(model).__name__} has none")
    for i, block in enumerate(blocks):
        attn = getattr(block, "attn", None)
        if isinstance(attn, LocalitySelfAttention):
            continue
        if not isinstance(attn, MultiHeadAttention):
            raise TypeError(f"model.blocks[{i}].attn must be a MultiHeadAttention, not a {type(attn).__name__}")
        lsa = LocalitySelfAttention(
            attn.num_heads * attn.head_dim,
            attn.num_heads,
            qkv_bias=attn.qkv.bias is not None,
            attn_drop=attn.attn_drop.p,
            proj_drop=attn.proj_drop.p,
            mask_diagonal=mask_diagonal,
            learn_temperature=learn_temperature,
        )
        lsa.qkv, lsa.proj = attn.qkv, attn.proj  # the same layers, not copies
        block.attn = lsa.to(device=attn.qkv.weight.device, dtype=attn.qkv.weight.dtype).train(attn.training)
    return model


def with_sequence_pooling(model: ViT) -> SeqPoolViT:
    """A `SeqPoolViT` (sequence pooling, Hassani et al. 2021, "Escaping the Big Data
    Paradigm with Compact Transformers") made of `model`'s parts (the same modules, not
    copies: Locality Self-Attention or a convolutional stem stay) and a new
    `SequencePooling`. `model` must be a ViT built with ``pool="mean"``: a `<cls>` token
    would be pooled with the patches. A `SeqPoolViT` is returned as it is."""
    if isinstance(model, SeqPoolViT):
        return model
    if not isinstance(model, ViT):
        raise TypeError(f"model must be a vitbook ViT, not a {type(model).__name__}")
    if model.pool != "mean":
        raise ValueError(f'model must be a ViT built with pool="mean" (no <cls> token), not pool={model.pool!r}')
    pooled = SeqPoolViT(**vit_config(model))
    for name, part in model.named_children():
        setattr(pooled, name, part)
    weight = model.head.weight
    return pooled.to(device=weight.device, dtype=weight.dtype).train(model.training)
