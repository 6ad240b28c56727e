"""The checks of chapters 1-5's exercises (the model, part by part)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..answers import ExerciseError, as_number, call, compare
from ..patches import patchify
from ..tokens import sincos_1d
from ..vit import ViT


def check_unpatchify(unpatchify: Callable) -> None:
    """Chapter 1: `unpatchify(patches, patch_size, channels)` must undo `patchify`."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    for channels, size, p in ((1, 28, 4), (1, 28, 7), (3, 12, 4)):
        images = torch.rand(2, channels, size, size, generator=gen)
        patches = patchify(images, p)
        got = call("unpatchify", unpatchify, patches, p, channels)
        compare(
            "unpatchify",
            got,
            images,
            hint=f" (test case: {channels} channel(s), {size}x{size} images, patch size {p}; "
            "remember each patch is flattened in (channel, row, column) order)",
        )
    print("✓ Correct: unpatchify(patchify(x)) == x in every test case.")


def check_sincos_1d(sincos: Callable) -> None:
    """Chapter 2: `sincos(positions, dim)` -> (P, dim), sines then cosines."""
    __tracebackhide__ = True
    for n, dim in ((7, 16), (50, 64)):
        positions = torch.arange(n)
        got = call("sincos", sincos, positions, dim, package_fn=sincos_1d)
        compare(
            "sincos",
            got,
            sincos_1d(positions, dim),
            atol=1e-5,
            hint=f" (test case: {n} positions, width {dim}; channel i < dim/2 is "
            "sin(pos * 10000 ** (-i / (dim/2))), channel dim/2 + i the matching cos)",
        )
    print("✓ Correct: your sin-cos table matches for widths 16 and 64.")


def check_masked_attention(masked_attention: Callable) -> None:
    """Chapter 3: `masked_attention(q, k, v, mask)`; mask (N, M) is True where a query
    may attend to a key."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=gen) for _ in range(3))
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    banded = causal & ~torch.ones(5, 5, dtype=torch.bool).tril(-2)
    for label, mask in (("causal mask", causal), ("band mask", banded)):
        got = call("masked_attention", masked_attention, q, k, v, mask)
        want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        compare(
            "masked_attention",
            got,
            want,
            atol=1e-5,
            hint=f" (test case: {label}; masked scores must become -inf before the softmax)",
        )
    print("✓ Correct: your masked attention equals F.scaled_dot_product_attention with attn_mask.")


def check_layer_norm(layer_norm: Callable) -> None:
    """Chapter 4: `layer_norm(x, weight, bias, eps)` over the last dimension."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 16, generator=gen) * 3 + 1
    weight, bias = torch.randn(16, generator=gen), torch.randn(16, generator=gen)
    for eps in (1e-6, 1e-1):
        got = call("layer_norm", layer_norm, x, weight, bias, eps)
        compare(
            "layer_norm",
            got,
            F.layer_norm(x, (16,), weight, bias, eps),
            atol=1e-5,
            hint=f" (test case: eps={eps:g}; use the biased variance, "
            "x.var(dim=-1, unbiased=False), and add eps inside the square root)",
        )
    print("✓ Correct: your LayerNorm equals F.layer_norm.")


def check_count_parameters(count_parameters: Callable) -> None:
    """Chapter 5: `count_parameters(**config)` -> the number of parameters of ViT(**config)."""
    __tracebackhide__ = True
    configs = (
        dict(img_size=28, patch_size=4, dim=64, depth=2, num_heads=4, mlp_dim=128),
        dict(img_size=32, patch_size=8, in_channels=3, num_classes=100, dim=96, depth=3, num_heads=3, mlp_dim=384),
    )
    for config in configs:
        got = as_number("count_parameters", call("count_parameters", count_parameters, **config), whole=True)
        want = sum(p.numel() for p in ViT(**config).parameters())
        if got != want:
            raise ExerciseError(
                f"count_parameters({config}) returned {got:,.0f}, but that ViT has "
                f"{want:,} parameters (off by {got - want:+,.0f}). Count each part: "
                "patch conv, <cls>, positions, per block 2 LayerNorms + qkv + proj "
                "+ MLP, final LayerNorm, head; every layer has a bias"
            )
    print("✓ Correct: your formula matches both models.")
