"""Chapter 11: DeiT's distillation token (Touvron et al. 2021, "Training data-efficient
image transformers & distillation through attention").

A second learned token, `<dist>`, sits beside `<cls>`; it goes through the encoder like
any token, and a head of its own reads it. In training the model gives two sets of
logits: the `<cls>` head's, learned from the labels, and the `<dist>` head's, learned
from a teacher's predicted classes (hard distillation, `vitbook.train`'s loss); at test
time it predicts with their mean. Chapter 8 distilled through the `<cls>` token alone.

The layout is timm's `VisionTransformerDistilled` (`cls_token`, `dist_token`, one
position table for both and the patches, `head`, `head_dist`): `timm_distilled` builds
timm's model with the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import ShapeError
from .vit import ViT, init_vit_weights, timm_state_dict, vit_config


class DistillationTokens(nn.Module):
    """(B, N, D) -> (B, N+2, D): `<cls>`, `<dist>`, then the patch tokens, plus learned
    positions (truncated normal, std `pos_std`) for all N+2."""

    def __init__(self, num_patches: int, dim: int, pos_std: float = 0.02):
        super().__init__()
        self.num_patches, self.dim, self.position, self.num_prefix = num_patches, dim, "learned", 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 2, dim))
        nn.init.normal_(self.cls_token, std=1e-6)  # as ClassTokenAndPositions and timm
        nn.init.trunc_normal_(self.dist_token, std=0.02)  # as timm
        nn.init.trunc_normal_(self.pos_embed, std=pos_std, a=-2 * pos_std, b=2 * pos_std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3 or tokens.shape[1:] != (self.num_patches, self.dim):
            raise ShapeError(
                f"expected patch tokens of shape (batch, {self.num_patches}, {self.dim}), got {tuple(tokens.shape)}"
            )
        prefix = torch.cat([self.cls_token, self.dist_token], dim=1).expand(len(tokens), -1, -1)  # (B, 2, D)
        return torch.cat([prefix, tokens], dim=1) + self.pos_embed  # (B, N+2, D)


class DistilledHead(nn.Module):
    """(B, 2, D) -> logits: the `<cls>` head on token 0 and the `<dist>` head on token 1;
    in training both, as a pair, at evaluation their mean (B, num_classes)."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.in_features, self.out_features = dim, num_classes
        self.head, self.head_dist = nn.Linear(dim, num_classes), nn.Linear(dim, num_classes)

    def forward(self, pooled: torch.Tensor):
        logits, dist_logits = self.head(pooled[:, 0]), self.head_dist(pooled[:, 1])
        return (logits, dist_logits) if self.training else (logits + dist_logits) / 2


class DistilledViT(ViT):
    """The book's ViT with DeiT's distillation token: `ViT`'s arguments (learned
    positions and a `<cls>` token: `pool="cls"`, `position="learned"`). Train it with a
    teacher (`vitbook.train.train(..., teacher=...)`)."""

    def __init__(self, **config):
        for arg, only in (("pool", "cls"), ("position", "learned")):
            if config.setdefault(arg, only) != only:
                raise ValueError(f"a distilled ViT has {arg}={only!r} (timm's layout), not {config[arg]!r}")
        super().__init__(**config)
        dim = self.head.in_features
        self.tokens = DistillationTokens(self.patch_embed.num_patches, dim, config.get("pos_std", 0.02))
        self.head = init_vit_weights(DistilledHead(dim, self.head.out_features))

    def pool_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, 2, D): the `<cls>` and `<dist>` tokens, for the two heads."""
        return x[:, :2]


def timm_distilled(model: DistilledViT):
    """timm's VisionTransformerDistilled of the same shape holding `model`'s weights (in
    training it gives both heads' logits, as `model` does)."""
    from timm.models.deit import VisionTransformerDistilled

    config = vit_config(model)
    ref = VisionTransformerDistilled(
        img_size=config["img_size"],
        patch_size=config["patch_size"],
        in_chans=config["in_channels"],
        num_classes=config["num_classes"],
        embed_dim=config["dim"],
        depth=config["depth"],
        num_heads=config["num_heads"],
        mlp_ratio=(config["mlp_dim"] + 0.5) / config["dim"],  # exactly mlp_dim, as timm_equivalent
        qkv_bias=True,
        drop_rate=config["dropout"],
        drop_path_rate=config.get("drop_path", 0.0),
    )
    names = {"head.head.": "head.", "head.head_dist.": "head_dist."}
    weights = {
        next((name.replace(a, b, 1) for a, b in names.items() if name.startswith(a)), name): value
        for name, value in timm_state_dict(model).items()
    }
    ref.load_state_dict(weights)
    ref.set_distilled_training(True)
    return ref.to(next(model.parameters()).device)
