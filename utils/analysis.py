"""Chapter 7: looking inside a trained ViT, with the analyses of the ViT paper (§4.5).

Every function takes plain tensors or a `ViT` and returns tensors, so each can be
tested on inputs with a known answer and applied to the trained and the untrained
model alike.

    weights = attention_weights(model, images)      # (layers, B, heads, T, T)
    attention_maps(weights, query)                   # (layers, B, heads, grid, grid): a query's attention
    attention_map(weights, layer, head, query)       # (B, grid, grid): the same, one layer and head
    attention_rollout(weights)                       # (B, T, T): attention through all layers
    position_similarity(model)                       # (grid, grid, grid, grid): Fig. 7, centre
    mean_attention_distance(weights, patch_size)     # (layers, heads) in pixels: Fig. 7, right
    filter_components(model.patch_embed.proj.weight) # principal filters: Fig. 7, left
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checks import ShapeError
from .vit import ViT

HEAD_FUSIONS = {"mean": torch.mean, "max": torch.amax, "min": torch.amin}


def _check_index(name: str, value: int, size: int, plural: str = "") -> None:
    if not 0 <= value < size:
        raise IndexError(
            f"{name} {value} is out of range: there are {size} {plural or name + 's'}, numbered 0 to {size - 1}"
        )


def _check_weights(weights: torch.Tensor) -> None:
    if weights.ndim != 5 or weights.shape[-1] != weights.shape[-2]:
        raise ShapeError(
            "expected attention weights (layers, batch, heads, tokens, tokens) as "
            f"returned by attention_weights, got {tuple(weights.shape)}"
        )


def grid_of(weights: torch.Tensor) -> tuple[int, int]:
    """(patch grid side, number of prefix tokens such as `<cls>`) of attention weights over
    T tokens: T is grid**2 (mean pooling) or grid**2 + 1 (a `<cls>` token)."""
    tokens = weights.shape[-1]
    for prefix in (1, 0):
        side = math.isqrt(tokens - prefix)
        if side > 1 and side * side == tokens - prefix:
            return side, prefix
    raise ShapeError(f"{tokens} tokens are neither a square grid of patches nor one plus a square grid")


@torch.no_grad()
def attention_weights(model: ViT, images: torch.Tensor) -> torch.Tensor:
    """Every block's attention weights for `images` (B, C, H, W), in eval mode:
    a tensor (layers, B, heads, T, T) whose rows (last dimension) sum to 1."""
    was_training = model.training
    model.eval()
    _, maps = model(images, return_attention=True)
    model.train(was_training)
    return torch.stack(maps)


def _query_row(weights: torch.Tensor, query: int | str) -> tuple[int, int, int]:
    """(row of `query` among the tokens, grid side, number of prefix tokens)."""
    side, prefix = grid_of(weights)
    if query == "cls":
        if not prefix:
            raise ValueError("this model has no <cls> token (mean pooling): choose a patch index as query")
        return 0, side, prefix
    if isinstance(query, int) and not isinstance(query, bool):
        _check_index("patch", query, side * side, "patches")
        return prefix + query, side, prefix
    raise TypeError(f"query must be 'cls' or a patch index, not {query!r}")


def attention_maps(weights: torch.Tensor, query: int | str = "cls") -> torch.Tensor:
    """How strongly one query token attends to each patch, in every layer and head, as
    images: (layers, B, heads, T, T) -> (layers, B, heads, grid, grid).

    `query` is "cls" for the `<cls>` token or a patch index (row-major, 0 = top left).
    Attention to the `<cls>` token itself is left out of the maps."""
    _check_weights(weights)
    row, side, prefix = _query_row(weights, query)
    return weights[..., row, prefix:].unflatten(-1, (side, side))


def attention_map(weights: torch.Tensor, layer: int, head: int, query: int | str = "cls") -> torch.Tensor:
    """`attention_maps` of one layer and head: (B, grid, grid)."""
    _check_weights(weights)
    layers, _, heads, _, _ = weights.shape
    _check_index("layer", layer, layers)
    _check_index("head", head, heads)
    return attention_maps(weights, query)[layer, :, head]


def attention_rollout(weights: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): (layers, B, heads, T, T) -> (B, T, T).

    Per layer the heads are fused (mean, max or min), the identity is added for the
    residual connection and the rows are renormalised to sum to 1; the layers' matrices
    are then multiplied, first layer rightmost. Row i of the result says how much each
    input token flows into token i at the output of the last layer."""
    _check_weights(weights)
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {tuple(HEAD_FUSIONS)}, not {head_fusion!r}")
    fused = HEAD_FUSIONS[head_fusion](weights, dim=2)  # (L, B, T, T)
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    rollout = eye.expand_as(fused[0])
    for layer in fused:
        mixed = layer + eye
        rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
    return rollout


def rollout_map(weights: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """The `<cls>` token's row of the rollout over the patches, as images (B, grid, grid)."""
    side, prefix = grid_of(weights)
    if not prefix:
        raise ValueError("rollout maps are read from the <cls> token, and this model has none")
    return attention_rollout(weights, head_fusion)[:, 0, prefix:].reshape(-1, side, side)


@torch.no_grad()
def position_similarity(model: ViT) -> torch.Tensor:
    """Cosine similarity of every patch's position embedding with every other patch's:
    (grid, grid, grid, grid), entry [r, c] is the grid of patch (r, c)'s similarities."""
    tokens = model.tokens
    if tokens.pos_embed is None:
        raise ValueError("this model has no position embedding (position='none')")
    table = tokens.pos_embed[0, tokens.num_prefix :]  # (N, D), patches only
    side = math.isqrt(len(table))
    unit = F.normalize(table.float(), dim=-1)
    return (unit @ unit.T).reshape(side, side, side, side)


def patch_distances(grid: int, patch_size: int) -> torch.Tensor:
    """Euclidean distances in pixels between the centres of all patch pairs: (N, N)."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size
    return torch.cdist(centres, centres)


def mean_attention_distance(weights: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The ViT paper's "attention distance": per layer and head, the attention-weighted
    distance in pixels between a query patch and the patches it attends to, averaged over
    query patches and images: (layers, B, heads, T, T) -> (layers, heads).

    Only patch-to-patch attention counts; each query's weights on the patches are
    renormalised to sum to 1, so attention parked on `<cls>` does not shrink the distance
    (a query whose weights on the patches are all exactly 0 counts as distance 0)."""
    _check_weights(weights)
    side, prefix = grid_of(weights)
    patch_weights = weights[..., prefix:, prefix:].double()
    patch_weights = patch_weights / patch_weights.sum(dim=-1, keepdim=True).clamp_min(1e-300)
    distances = patch_distances(side, patch_size).to(weights.device)  # (N, N)
    per_query = (patch_weights * distances).sum(dim=-1)  # (L, B, H, N)
    return per_query.mean(dim=(1, 3)).float()


@torch.no_grad()
def filter_components(filters: torch.Tensor, k: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of the patch embedding's filters (D, C, p, p).

    Returns the first `k` components as filters (k, C, p, p), each of unit norm and
    signed so that its largest entry is positive, and the fraction of the filters'
    variance each one explains (k,)."""
    if filters.ndim != 4:
        raise ShapeError(f"expected convolution filters (out, in, p, p), got {tuple(filters.shape)}")
    flat = filters.detach().flatten(1).double()  # (D, C*p*p)
    centred = flat - flat.mean(dim=0)
    _, singular, components = torch.linalg.svd(centred, full_matrices=False)
    k = min(k, len(components))
    signs = torch.sign(components[:k].gather(1, components[:k].abs().argmax(dim=1, keepdim=True)))
    variance = singular**2 / (singular**2).sum()
    return (components[:k] * signs).reshape(k, *filters.shape[1:]).float(), variance[:k].float()
