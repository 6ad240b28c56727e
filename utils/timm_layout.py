"""What in a timm `VisionTransformer` differs from the layout of the book's ViT, in words:
the reasons `vitbook.transfer.from_timm` gives when it refuses a model (chapter 9)."""

from __future__ import annotations

from torch import nn

from .blocks import LAYER_NORM_EPS


def _which_blocks(blocks: list[int], depth: int) -> str:
    """'block 3', 'blocks 0-11 (all)', 'blocks 0, 2, 5'."""
    if len(blocks) == 1:
        return f"block {blocks[0]}"
    if blocks == list(range(blocks[0], blocks[-1] + 1)):
        return f"blocks {blocks[0]}-{blocks[-1]}" + (" (all)" if len(blocks) == depth else "")
    return "blocks " + ", ".join(map(str, blocks))


def differences_from_book(timm_model: nn.Module) -> list[str]:
    """What in `timm_model` differs from the layout of the book's ViT, in words."""
    m, per_block = timm_model, {}  # a difference -> the blocks that have it
    found = _model_differences(m)
    for i, block in enumerate(m.blocks):
        for difference in _block_differences(block):
            per_block.setdefault(difference, []).append(i)
    for difference, blocks in per_block.items():
        found.append(f"{_which_blocks(blocks, len(m.blocks))}: {difference}")
    if not isinstance(m.head, nn.Linear):
        found.append("no linear classification head (num_classes=0)")
    return found


def _model_differences(m: nn.Module) -> list[str]:
    """What outside the blocks of the timm ViT `m` differs from the book's layout."""
    found = []
    if getattr(m, "dist_token", None) is not None:
        found.append(
            "a distillation token and a second head, head_dist (DeiT's distilled layout; the "
            "book's ViT has one head: load the model without distillation, e.g. "
            "deit_tiny_patch16_224 for deit_tiny_distilled_patch16_224)"
        )
    if m.num_reg_tokens:
        found.append(f"{m.num_reg_tokens} register tokens")
    if m.has_class_token and m.global_pool != "token":
        found.append(f"a class token pooled with global_pool={m.global_pool!r} (the book pools the class token)")
    if not m.has_class_token and m.global_pool != "avg":
        found.append(f"no class token and global_pool={m.global_pool!r} (the book's ViT without <cls> averages)")
    if m.no_embed_class:
        found.append("a position table without the class token's entry (no_embed_class=True, as DeiT III)")
    if m.pos_embed is None:
        found.append("no absolute position embedding (pos_embed='none', or relative/rotary positions)")
    if getattr(m, "attn_pool", None) is not None:
        found.append("attention pooling (global_pool='map')")
    for name in ("norm_pre", "fc_norm"):
        if not isinstance(getattr(m, name), nn.Identity):
            found.append(f"a LayerNorm at {name} ({'before the blocks' if name == 'norm_pre' else 'after pooling'})")
    if not isinstance(m.patch_embed.norm, nn.Identity):
        found.append("a norm after the patch embedding")
    if m.patch_embed.proj.bias is None:
        found.append("a patch embedding without bias")
    sizes = (tuple(m.patch_embed.img_size), tuple(m.patch_embed.patch_size))
    if any(a != b for a, b in sizes):
        found.append(f"non-square images or patches ({sizes[0]}, {sizes[1]})")
    return found


def _block_differences(block: nn.Module) -> list[str]:
    """What in one of timm's blocks differs from the book's encoder block."""
    from timm.layers import Mlp
    from timm.layers.attention import Attention
    from timm.models.vision_transformer import Block

    if type(block) is not Block:
        return [f"a {type(block).__name__} (the book has pre-norm blocks, timm's Block)"]
    found, attn, mlp = [], block.attn, block.mlp
    if not isinstance(block.ls1, nn.Identity) or not isinstance(block.ls2, nn.Identity):
        found.append("LayerScale (init_values)")
    if type(attn) is not Attention:
        found.append(f"attention of type {type(attn).__name__}")
    else:
        if attn.qkv.bias is None:
            found.append("no qkv bias")
        if not (isinstance(attn.q_norm, nn.Identity) and isinstance(attn.k_norm, nn.Identity)):
            found.append("qk_norm")
        if not isinstance(getattr(attn, "norm", nn.Identity()), nn.Identity):
            found.append("a norm inside attention")
        if attn.num_heads * attn.head_dim != attn.qkv.in_features:
            found.append(f"heads of width {attn.head_dim} not dividing the width evenly")
    if (
        type(mlp) is not Mlp
        or not isinstance(mlp.act, nn.GELU)
        or mlp.act.approximate != "none"
        or not isinstance(mlp.norm, nn.Identity)
    ):
        found.append(f"an MLP other than Linear-GELU-Linear ({type(mlp).__name__})")
    for norm in (block.norm1, block.norm2):
        if type(norm).__name__ != "LayerNorm" or norm.eps != LAYER_NORM_EPS:
            found.append(
                f"{type(norm).__name__} with eps {getattr(norm, 'eps', '?')} "
                f"(the book: LayerNorm, eps {LAYER_NORM_EPS})"
            )
            break
    return found
