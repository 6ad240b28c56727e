"""Chapter 5: the whole Vision Transformer, assembled from chapters 1-4."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import LAYER_NORM_EPS, EncoderBlock
from .patches import PatchEmbedding
from .tokens import ClassTokenAndPositions

# D2L's configuration: Fashion-MNIST resized to 96x96, 16x16 patches, 36 tokens.
D2L_CONFIG = dict(img_size=96, patch_size=16, dim=512, depth=2, num_heads=8, mlp_dim=2048, dropout=0.1)
# The book's, for a GPU: native 28x28, 4x4 patches, 49 tokens. No dropout: the model
# underfits in its budget (on an H200, 40 epochs without dropout reached 90.7% validation
# accuracy; 20 epochs with dropout 0.1, 87.0%).
BOOK_CONFIG = dict(img_size=28, patch_size=4, dim=128, depth=6, num_heads=4, mlp_dim=256, dropout=0.0)
# The book's model on its reference machine, a 2-core CPU (the shipped checkpoint): the
# same 4x4 patches and 7x7 grid at half the width, and no dropout, whose random masks
# are among the largest costs of a training step on a CPU.
CPU_CONFIG = dict(img_size=28, patch_size=4, dim=64, depth=6, num_heads=4, mlp_dim=128, dropout=0.0)
# The book's quick setting for CPUs: 7x7 patches (16 tokens), a smaller model.
QUICK_CONFIG = dict(img_size=28, patch_size=7, dim=64, depth=4, num_heads=4, mlp_dim=128, dropout=0.0)
POOLS = ("cls", "mean")


def init_vit_weights(module: nn.Module) -> nn.Module:
    """The ViT's initialisation (timm's), in place: every linear layer's weight from a
    normal distribution with std 0.02 truncated at +-2 std, its bias zero. Convolutions
    (the patch embedding) keep PyTorch's default; the `<cls>` token and the position
    table have their own (chapter 2). Returns `module`."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=0.02, a=-0.04, b=0.04)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class ViT(nn.Module):
    """A Vision Transformer: (B, C, H, W) images -> (B, num_classes) logits.

    patch embedding -> `<cls>` + positions -> dropout -> `depth` pre-norm encoder blocks
    -> LayerNorm -> pool (`<cls>` token, or the mean of the patch tokens with
    ``pool="mean"``, which then has no `<cls>` token) -> linear head. With ``drop_path``
    > 0 (chapter 11), block i drops its branches at the rate drop_path * i / (depth - 1),
    rising from 0 at the first block (timm's rule).

    Parameter names follow timm's VisionTransformer, except that the `<cls>` token and the
    position table live in `tokens` (see `timm_state_dict`).
    """

    def __init__(
        self,
        img_size: int = 28,
        patch_size: int = 4,
        in_channels: int = 1,
        num_classes: int = 10,
        dim: int = 128,
        depth: int = 6,
        num_heads: int = 4,
        mlp_dim: int = 256,
        dropout: float = 0.1,
        pool: str = "cls",
        position: str = "learned",
        pos_std: float = 0.02,
        drop_path: float = 0.0,
    ):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, not {pool!r}")
        for arg, value, least in (
            ("num_classes", num_classes, 1),
            ("dim", dim, 1),
            ("depth", depth, 0),
            ("num_heads", num_heads, 1),
            ("mlp_dim", mlp_dim, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                kind = "a positive integer" if least else "an integer >= 0 (0: no encoder blocks)"
                raise ValueError(f"{arg} must be {kind}, not {value!r}")
        for arg, value in (("dropout", dropout), ("drop_path", drop_path)):
            if not 0 <= value < 1:
                raise ValueError(f"{arg} is a probability in [0, 1), not {value!r}")
        self.pool = pool
        self.patch_embed = PatchEmbedding(img_size, patch_size, in_channels, dim)
        self.tokens = ClassTokenAndPositions(
            self.patch_embed.num_patches, dim, position, cls_token=pool == "cls", pos_std=pos_std
        )
        self.pos_drop = nn.Dropout(dropout)
        rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(EncoderBlock(dim, num_heads, mlp_dim, dropout, drop_path=r) for r in rates)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(dim, num_classes)
        init_vit_weights(self)

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        """Logits (B, num_classes); with ``return_attention=True`` also a list with each
        block's attention weights (B, heads, T, T)."""
        x = self.pos_drop(self.tokens(self.patch_embed(images)))  # (B, T, D)
        maps = []
        for block in self.blocks:
            if return_attention:
                x, weights = block(x, return_attention=True)
                maps.append(weights)
            else:
                x = block(x)
        x = self.norm(x)
        logits = self.head(self.pool_tokens(x))  # (B, D) -> (B, num_classes)
        return (logits, maps) if return_attention else logits

    def pool_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, D): the `<cls>` token, or the mean of the patch tokens."""
        return x[:, 0] if self.pool == "cls" else x.mean(dim=1)


def parameter_counts(model: ViT) -> dict[str, int]:
    """Parameters per part of the model, in forward order."""

    def count(*modules):
        return sum(p.numel() for m in modules for p in m.parameters())

    blocks = model.blocks
    return {
        "patch embedding": count(model.patch_embed),
        "<cls> + positions": count(model.tokens),
        "attention (all blocks)": count(*(b.attn for b in blocks)),
        "MLP (all blocks)": count(*(b.mlp for b in blocks)),
        "LayerNorms (blocks + final)": count(*(b.norm1 for b in blocks), *(b.norm2 for b in blocks), model.norm),
        "head": count(model.head),
        "total": count(model),
    }


def matmul_flops(
    img_size: int = 28,
    patch_size: int = 4,
    in_channels: int = 1,
    num_classes: int = 10,
    dim: int = 128,
    depth: int = 6,
    num_heads: int = 4,
    mlp_dim: int = 256,
    pool: str = "cls",
    **_,
) -> dict[str, int]:
    """FLOPs of the matrix products of one forward pass of one image (2 per multiply-add;
    softmax, LayerNorm, GELU and additions, a few percent more, are not counted), per part.
    The attention scores and weighted sums do not depend on the number of heads."""
    n = (img_size // patch_size) ** 2
    t = n + (pool == "cls")
    flops = {
        "patch embedding": 2 * n * in_channels * patch_size**2 * dim,
        "attention projections": depth * 2 * t * dim * 4 * dim,  # q, k, v and output
        "attention scores + sums": depth * 2 * 2 * t * t * dim,
        "MLP": depth * 2 * 2 * t * dim * mlp_dim,
        "head": 2 * dim * num_classes,
    }
    flops["total"] = sum(flops.values())
    return flops


def vit_config(model: ViT) -> dict:
    """The arguments of `ViT(...)` that build a model of `model`'s shape (its dropout too,
    and its stochastic depth `drop_path` when it has any; the initial scale of the
    positions, `pos_std`, is not kept by a model and is left out)."""
    if not isinstance(model, ViT):
        raise TypeError(f"vit_config expects a vitbook ViT, got a {type(model).__name__}")
    embed = model.patch_embed
    block = model.blocks[0] if len(model.blocks) else None
    dim = model.head.in_features
    config = dict(
        img_size=embed.img_size,
        patch_size=embed.patch_size,
        in_channels=embed.in_channels,
        num_classes=model.head.out_features,
        dim=dim,
        depth=len(model.blocks),
        num_heads=block.attn.num_heads if block else 1,
        mlp_dim=block.mlp.fc1.out_features if block else 4 * dim,
        dropout=model.pos_drop.p,
        pool=model.pool,
        position=model.tokens.position,
    )
    rate = model.blocks[-1].drop_path if block else 0.0
    return config | ({"drop_path": rate} if rate else {})


def timm_state_dict(model: ViT) -> dict[str, torch.Tensor]:
    """`model`'s weights under the names of timm's VisionTransformer."""
    return {k.removeprefix("tokens."): v for k, v in model.state_dict().items()}


def timm_equivalent(model: ViT):
    """A timm VisionTransformer of the same shape and dropout, holding `model`'s weights."""
    from timm.models.vision_transformer import VisionTransformer

    if model.tokens.position == "sincos":
        raise ValueError("timm's VisionTransformer has no fixed sin-cos table to compare with")
    if not model.blocks:
        raise ValueError("a ViT with depth 0 has no blocks to compare")
    config = vit_config(model)
    dim, mlp_dim = config["dim"], config["mlp_dim"]
    ref = VisionTransformer(
        img_size=config["img_size"],
        patch_size=config["patch_size"],
        in_chans=config["in_channels"],
        num_classes=config["num_classes"],
        embed_dim=dim,
        depth=config["depth"],
        num_heads=config["num_heads"],
        # timm's hidden width is int(dim * mlp_ratio); +0.5 makes it exactly mlp_dim even
        # when mlp_dim / dim has no exact binary fraction (dim 56, mlp_dim 115)
        mlp_ratio=(mlp_dim + 0.5) / dim,
        qkv_bias=True,
        class_token=config["pool"] == "cls",
        global_pool="token" if config["pool"] == "cls" else "avg",
        fc_norm=False,
        pos_embed="learn" if config["position"] == "learned" else "none",
        pos_drop_rate=config["dropout"],
        proj_drop_rate=config["dropout"],
        drop_path_rate=config.get("drop_path", 0.0),
    )  # the same dropout and stochastic depth
    assert ref.blocks[0].mlp.fc1.out_features == mlp_dim
    ref.load_state_dict(timm_state_dict(model))
    return ref.to(next(model.parameters()).device)
