"""The checks of chapters 6-10's exercises (training, looking inside, convnets, transfer, scaling out)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..answers import ExerciseError, as_indices, as_number, as_tensor, call, compare
from ..bias import receptive_field_widths
from ..distributed import shard
from ..train import schedule_factor
from ..transfer import resample_positions


def check_lr_schedule(lr_factor: Callable) -> None:
    """Chapter 6: `lr_factor(step, total, warmup)`: linear warm-up over `warmup` steps
    (step 0 gets 1/warmup), then cosine decay from 1 to 0 at `total`."""
    __tracebackhide__ = True
    for total, warmup in ((100, 10), (1000, 0), (50, 50)):
        for step in sorted({0, warmup // 2, max(warmup - 1, 0), warmup, (warmup + total) // 2, total - 1}):
            got = as_number("lr_factor", call("lr_factor", lr_factor, step, total, warmup, package_fn=schedule_factor))
            want = schedule_factor(step, total, warmup, "cosine")
            if abs(got - want) > 1e-6:
                phase = "warm-up" if step < warmup else "cosine decay"
                raise ExerciseError(
                    f"lr_factor({step}, {total}, {warmup}) returned {got:.6f}, expected "
                    f"{want:.6f} (step {step} is in the {phase})"
                )
    print("✓ Correct: your schedule warms up linearly and decays along a cosine.")


def check_attention_entropy(attention_entropy: Callable) -> None:
    """Chapter 7: `attention_entropy(weights)`: (layers, B, heads, T, T) -> (layers, heads),
    the entropy in nats of each query's attention row, averaged over images and queries."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    cases = (
        ("uniform attention over 9 tokens, entropy log(9) everywhere", torch.full((2, 3, 4, 9, 9), 1 / 9)),
        (
            "every token attending only to itself, entropy 0; 0 * log(0) must count as 0 "
            "(torch.special.xlogy(w, w) does that)",
            torch.eye(9).expand(2, 3, 4, 9, 9),
        ),
        ("random attention rows", torch.randn(3, 2, 4, 10, 10, generator=gen).softmax(dim=-1)),
    )
    for label, weights in cases:
        got = call("attention_entropy", attention_entropy, weights)
        want = -torch.special.xlogy(weights, weights).sum(dim=-1).mean(dim=(1, 3)) + 0.0  # no -0
        compare(
            "attention_entropy",
            got,
            want,
            atol=1e-5,
            hint=f" (test case: {label}; weights are (layers, batch, heads, T, T), the "
            "result (layers, heads): sum over keys, then average over batch and queries)",
        )
    print("✓ Correct: your entropy matches for uniform, one-hot and random attention.")


def check_receptive_field(receptive_field: Callable) -> None:
    """Chapter 8: `receptive_field(layers)`: a list of (kernel, stride) pairs -> the width in
    pixels of one unit's input window after each layer (a list of whole numbers)."""
    __tracebackhide__ = True
    cases = (
        (
            "the book's ResNet: 3x3 stem, blocks of two 3x3 convolutions, strides 1, 2, 2",
            [(3, 1), (3, 1), (3, 1), (3, 2), (3, 1), (3, 2), (3, 1)],
        ),
        ("a ViT's patch embedding: one 4x4 convolution of stride 4", [(4, 4)]),
        ("a stack with a 2x2 pooling of stride 2 in the middle", [(3, 1), (3, 1), (2, 2), (3, 1), (5, 3), (3, 1)]),
    )
    for label, layers in cases:
        got = call("receptive_field", receptive_field, list(layers), package_fn=receptive_field_widths)
        want = receptive_field_widths(layers)
        if isinstance(got, torch.Tensor):
            got = got.tolist()
        if not hasattr(got, "__len__") or len(got) != len(want):
            raise ExerciseError(
                f"receptive_field({layers}) returned {got!r}, expected one width per "
                f"layer, {len(want)} in all: {want} (test case: {label})"
            )
        widths = [as_number(f"receptive_field's entry {i}", w, whole=True) for i, w in enumerate(got)]
        wrong = next((i for i, (a, b) in enumerate(zip(widths, want)) if a != b), None)
        if wrong is not None:
            raise ExerciseError(
                f"receptive_field({layers}) returned {got}, expected {want}: layer {wrong} "
                f"(kernel {layers[wrong][0]}, stride {layers[wrong][1]}) should see {want[wrong]} "
                f"pixels, not {widths[wrong]:g} (test case: {label}). A layer adds (kernel - 1) "
                "times the product of the strides of the layers before it, not including its own"
            )
    print("✓ Correct: your receptive fields match for the ResNet, a patch embedding and a pooled stack.")


def check_resample_positions(resample: Callable) -> None:
    """Chapter 9: `resample(table, new_grid)`: a position table (1, 1 + g*g, D), the
    `<cls>` entry first, -> (1, 1 + new_grid**2, D) for a larger square grid. Bicubic (as
    timm and the ViT paper) and bilinear interpolation are both right, with or without
    `antialias` (timm's default; PyTorch's antialiased bicubic uses a slightly different
    kernel, so its values differ a little even when enlarging)."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    for old, new, width in ((7, 14, 8), (4, 6, 16), (7, 10, 4)):
        table = torch.randn(1, 1 + old * old, width, generator=gen)
        label = f" (test case: a {old}x{old} grid to {new}x{new}, width {width})"
        got = as_tensor("resample", call("resample", resample, table.clone(), new, package_fn=resample_positions))
        wants = [
            resample_positions(table, new, mode=mode, antialias=aa)
            for mode in ("bicubic", "bilinear")
            for aa in (True, False)
        ]
        if tuple(got.shape) != (1, 1 + new * new, width):
            raise ExerciseError(
                f"resample returned shape {tuple(got.shape)}, expected {(1, 1 + new * new, width)}: "
                f"the <cls> entry plus one vector per patch of the new grid{label}"
            )
        if not torch.equal(got[:, :1], table[:, :1]):
            raise ExerciseError(
                "the first entry (the <cls> token's) changed: it has no place on the grid, "
                f"so keep it aside and put it back in front unchanged{label}"
            )
        if not any(torch.allclose(got, want, atol=1e-5, rtol=0) for want in wants):
            transposed = got[0, 1:].reshape(new, new, width).transpose(0, 1).reshape(1, -1, width)
            hint = (
                "the grid looks transposed: reshape to (1, rows, cols, D) and permute to (1, D, rows, cols) "
                "before F.interpolate"
                if any(torch.allclose(transposed, want[:, 1:], atol=1e-5) for want in wants)
                else "lay the patch entries out as (1, D, rows, cols), F.interpolate(..., size=(new, new), "
                "mode='bicubic' or 'bilinear', align_corners=False), then flatten back row by row"
            )
            raise ExerciseError(f"resample's patch entries differ from a bicubic or bilinear resampling: {hint}{label}")
    print("✓ Correct: your resampling matches for 7x7 -> 14x14, 4x4 -> 6x6 and 7x7 -> 10x10.")


def check_shard(my_shard: Callable) -> None:
    """Chapter 10: `my_shard(batch, rank, world_size)`: the positions 0 ... batch-1 of a batch
    that rank `rank` trains on. Right answers split every batch among the ranks with nothing
    left out, nothing taken twice and sizes that differ by at most one image (consecutive
    slices, as `vitbook.distributed.shard`, or every world_size-th image, both)."""
    __tracebackhide__ = True
    for batch, world in ((128, 2), (128, 4), (80, 3), (7, 7), (10, 4)):
        label = f" (test case: a batch of {batch} over {world} processes)"
        parts = [
            as_indices("my_shard", call("my_shard", my_shard, batch, rank, world, package_fn=shard), batch)
            for rank in range(world)
        ]
        taken = [i for part in parts for i in part]
        outside = sorted({i for i in taken if not 0 <= i < batch})
        if outside:
            raise ExerciseError(f"positions {outside[:5]} are outside the batch 0 ... {batch - 1}{label}")
        twice = sorted({i for i in taken if taken.count(i) > 1})
        if twice:
            raise ExerciseError(
                f"positions {twice[:5]} go to more than one rank: each image must be trained on "
                f"once per step, or the ranks' average gradient is not the batch's{label}"
            )
        missing = sorted(set(range(batch)) - set(taken))
        if missing:
            raise ExerciseError(
                f"positions {missing[:5]} go to no rank: the ranks together must train on the whole batch{label}"
            )
        sizes = [len(part) for part in parts]
        if max(sizes) - min(sizes) > 1:
            raise ExerciseError(
                f"the ranks get {sizes} images: DDP averages the ranks' gradients with equal "
                f"weights, so their shares must be as equal as possible (differ by at most one)"
                f"{label}"
            )
    print("✓ Correct: your shards split every batch among the ranks, once each, in equal shares.")
