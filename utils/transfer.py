"""Chapter 9: transfer. A trained ViT at a new image size, and timm's weights in the book's ViT.

A ViT's weights do not depend on the number of patches, except the position table: one
learned vector per patch of the grid it was trained on. To use the model on larger images
(more patches of the same size), the ViT paper (§3.2) resamples that table as what it
is, a 2-D grid of vectors, by interpolation; the `<cls>` entry has no place on the grid
and is kept aside.

    resample_positions(table, new_grid)   # = timm.layers.resample_abs_pos_embed
    vit_config(model)                     # the arguments that build a ViT of the same shape (vitbook.vit)
    at_image_size(model, img_size)        # a new ViT for img_size, weights copied, positions resampled
    with_new_head(model, num_classes)     # a fresh head, for other classes
    freeze_all_but_head(model)            # a linear probe: only the head trains
    to_grayscale(model)                   # an RGB model for grey images
    from_timm(timm_model)                 # a timm VisionTransformer of the standard layout as a book ViT
                                          # (the other way: vitbook.vit.timm_equivalent)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .checks import ShapeError, as_int
from .patches import _check_positive_ints
from .stem import ConvStem, conv_stem_vit
from .timm_layout import differences_from_book
from .vit import ViT, init_vit_weights, vit_config

MODES = ("bicubic", "bilinear")


def _grid(value, name: str) -> tuple[int, int]:
    if not isinstance(value, (tuple, list)):
        return (as_int(value, name, least=1),) * 2
    if len(value) != 2:
        raise ValueError(f"{name} is a grid (rows, columns) or one number for a square grid, not {value!r}")
    return as_int(value[0], f"{name}[0]", least=1), as_int(value[1], f"{name}[1]", least=1)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'bicubic' or 'bilinear', not {mode!r}")


def _check_model(model, who: str, need: str = "vit") -> None:
    """A TypeError unless `model` is a vitbook ViT (`need="vit"`) or any model whose
    classifier is a linear layer named `head` (`need="head"`: the ViT, the ResNet)."""
    if need == "vit" and not isinstance(model, ViT):
        raise TypeError(f"{who} expects a vitbook ViT, got a {type(model).__name__}")
    if need == "head" and not isinstance(getattr(model, "head", None), nn.Linear):
        raise TypeError(
            f"{who} expects a model whose classifier is a linear layer `head` (a vitbook "
            f"ViT or ResNet); this {type(model).__name__} has none"
        )


def resample_positions(
    table: torch.Tensor, new_grid, old_grid=None, num_prefix: int = 1, mode: str = "bicubic", antialias: bool = True
) -> torch.Tensor:
    """Resample a position table (1, num_prefix + rows * cols, D) to `new_grid`.

    The first `num_prefix` entries (the `<cls>` token's) are kept as they are; the others
    are laid out as the (rows, cols) grid of patches they belong to (`old_grid`; square when
    not given), interpolated to `new_grid` (an int for a square grid, or (rows, cols)) with
    `F.interpolate` (`mode` "bicubic", as timm and the ViT paper's code, or "bilinear";
    `antialias` smooths when shrinking), and flattened back in row-major order.
    The result equals `timm.layers.resample_abs_pos_embed`."""
    if not isinstance(table, torch.Tensor) or table.ndim != 3 or table.shape[0] != 1:
        got = tuple(table.shape) if isinstance(table, torch.Tensor) else type(table).__name__
        raise ShapeError(f"expected a position table of shape (1, tokens, width), got {got}")
    _check_mode(mode)
    num_prefix = as_int(num_prefix, "num_prefix", least=0)
    patches = table.shape[1] - num_prefix
    if old_grid is None:
        side = math.isqrt(max(patches, 0))
        if side * side != patches:
            raise ShapeError(
                f"a table of {table.shape[1]} entries with {num_prefix} for the prefix leaves "
                f"{patches} patch positions, which is not a square grid: " + _prefix_hint(table.shape[1], num_prefix)
            )
        old_grid = side
    old_grid, new_grid = _grid(old_grid, "old_grid"), _grid(new_grid, "new_grid")
    if old_grid[0] * old_grid[1] != patches:
        raise ShapeError(
            f"old_grid {old_grid} has {old_grid[0] * old_grid[1]} patches, but the table holds "
            f"{patches} patch positions (after {num_prefix} prefix entries)"
        )
    prefix, grid = table[:, :num_prefix], table[:, num_prefix:]
    width = table.shape[-1]
    grid = grid.float().reshape(1, *old_grid, width).permute(0, 3, 1, 2)  # (1, D, rows, cols)
    grid = F.interpolate(grid, size=new_grid, mode=mode, antialias=antialias)  # (1, D, new rows, new cols)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, width).to(table.dtype)  # (1, new patches, D)
    return torch.cat([prefix, grid], dim=1)


def _prefix_hint(entries: int, num_prefix: int) -> str:
    """What to give when a table's patch entries are not a square grid: old_grid, or
    num_prefix=0 when all its entries make a square (a mean-pooled ViT's table, no <cls>)."""
    side = math.isqrt(entries)
    if num_prefix and side * side == entries:
        return (
            f"give old_grid=(rows, cols), or num_prefix=0 if all {entries} entries are patches' "
            f"(a {side}x{side} grid: the table of a ViT without <cls>, pool='mean')"
        )
    return "give old_grid=(rows, cols)"


def at_image_size(model: ViT, img_size: int, mode: str = "bicubic") -> ViT:
    """A new ViT for `img_size` x `img_size` images with `model`'s weights: the same patch
    size, so more (or fewer) patches, and the learned position table resampled to the new
    grid (`resample_positions`); a sin-cos table is simply computed for the new grid.
    `model` itself is left as it was, so the two can be compared. A convolutional stem
    (`vitbook.stem`) does not depend on the image size and is copied as it is."""
    _check_model(model, "at_image_size")
    _check_mode(mode)
    config = vit_config(model)
    patch = config["patch_size"]
    if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < patch or img_size % patch:
        raise ValueError(
            f"the new image size must be a whole number of {patch}x{patch} patches (the "
            f"patch size stays), e.g. {2 * config['img_size']}; {img_size!r} is not"
        )
    kind = conv_stem_vit if isinstance(model.patch_embed, ConvStem) else ViT
    resized = kind(**dict(config, img_size=img_size))
    state = model.state_dict()
    if model.tokens.position == "learned":
        state["tokens.pos_embed"] = resample_positions(
            state["tokens.pos_embed"], img_size // patch, num_prefix=model.tokens.num_prefix, mode=mode
        )
    resized.load_state_dict(state)
    return resized.to(next(model.parameters()).device).train(model.training)


def with_new_head(model: ViT, num_classes: int) -> ViT:
    """`model`, in place, with a new linear head for `num_classes` classes, initialised as
    the ViT's are (`init_vit_weights`): what fine-tuning on other classes starts from."""
    _check_model(model, "with_new_head", need="head")
    _check_positive_ints(num_classes=num_classes)
    head = nn.Linear(model.head.in_features, num_classes).to(model.head.weight)  # its device and dtype
    model.head = init_vit_weights(head)
    return model


def freeze_all_but_head(model: ViT) -> ViT:
    """`model`, in place, with every parameter frozen (`requires_grad=False`) except the
    head's: training then fits a linear classifier on fixed features, a *linear probe*.
    The optimiser of `vitbook.train.train` takes only the parameters left trainable."""
    _check_model(model, "freeze_all_but_head", need="head")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in model.head.parameters():
        parameter.requires_grad_(True)
    return model


def to_grayscale(model: ViT) -> ViT:
    """`model`, in place, taking 1-channel images instead of 3-channel ones: the patch
    embedding's filters summed over the colour channels. A grey image then gives exactly
    the logits the 3-channel model gives for that image copied into all three channels,
    which is how an RGB-pretrained model sees Fashion-MNIST. The filters that read the
    image are those of the first convolution (the patch embedding's, or a convolutional
    stem's first); they stay frozen if they were (a linear probe stays one)."""
    _check_model(model, "to_grayscale")
    embed = model.patch_embed
    if embed.in_channels != 3:
        raise ValueError(
            f"to_grayscale turns a 3-channel model into a 1-channel one; this one takes {embed.in_channels} channel(s)"
        )
    name, first = next((n, m) for n, m in embed.named_modules() if isinstance(m, nn.Conv2d))
    grey = nn.Conv2d(
        1,
        first.out_channels,
        first.kernel_size,
        first.stride,
        first.padding,
        bias=first.bias is not None,
        device=first.weight.device,
        dtype=first.weight.dtype,
    )
    with torch.no_grad():
        grey.weight.copy_(first.weight.sum(dim=1, keepdim=True))
        if first.bias is not None:
            grey.bias.copy_(first.bias)
    grey.requires_grad_(first.weight.requires_grad)
    parent, _, child = name.rpartition(".")
    setattr(embed.get_submodule(parent), child, grey)
    embed.in_channels = 1
    return model


def from_timm(timm_model: nn.Module) -> ViT:
    """The book's `ViT` holding the weights of a timm `VisionTransformer` of the standard
    layout (class token or mean pooling, learned absolute positions that include the class
    token's entry, pre-norm blocks with qkv bias, GELU MLPs, LayerNorm eps 1e-6, a linear
    head): the same logits. Any other layout is refused with an error naming what differs."""
    from timm.models.vision_transformer import VisionTransformer

    if not isinstance(timm_model, VisionTransformer):
        raise TypeError(f"from_timm converts a timm VisionTransformer, not a {type(timm_model).__name__}")
    differences = differences_from_book(timm_model)
    if differences:
        raise ValueError("this timm model's layout differs from the book's ViT: " + "; ".join(differences))
    embed, block = timm_model.patch_embed, timm_model.blocks[0] if len(timm_model.blocks) else None
    dim = timm_model.embed_dim
    model = ViT(
        img_size=embed.img_size[0],
        patch_size=embed.patch_size[0],
        in_channels=embed.proj.in_channels,
        num_classes=timm_model.head.out_features,
        dim=dim,
        depth=len(timm_model.blocks),
        num_heads=block.attn.num_heads if block else 1,
        mlp_dim=block.mlp.fc1.out_features if block else 4 * dim,
        dropout=timm_model.pos_drop.p,
        pool="cls" if timm_model.has_class_token else "mean",
    )
    state = {("tokens." + k if k in ("cls_token", "pos_embed") else k): v for k, v in timm_model.state_dict().items()}
    extra = sorted({k.split(".")[0] for k in state.keys() - model.state_dict().keys()})
    if extra:  # a layout differences_from_book does not know yet
        raise ValueError(
            f"this timm model's layout differs from the book's ViT: it has parts the book's "
            f"ViT has not ({', '.join(extra)})"
        )
    model.load_state_dict(state)
    return model.to(next(timm_model.parameters()).device).train(timm_model.training)
