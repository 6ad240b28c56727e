"""The checks of chapter 11's exercises (the levers that help a ViT on small data)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..answers import ExerciseError, as_number, as_tensor, call, compare
from ..locality import SequencePooling
from ..tokenizers import ConvTokenizer
from ..train.augment import mix


def check_sequence_pool(sequence_pool: Callable) -> None:
    """Chapter 11: `sequence_pool(tokens, weight, bias)`: tokens (B, T, D), the scoring
    layer's weight (1, D) and bias (1,) -> (B, D), the tokens averaged with the softmax
    (over the tokens) of their scores."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    for batch, tokens, dim in ((2, 5, 8), (3, 16, 64)):
        pool = SequencePooling(dim)
        with torch.no_grad():
            pool.attention_pool.weight.normal_(generator=gen)
            pool.attention_pool.bias.normal_(generator=gen)
        x = torch.randn(batch, tokens, dim, generator=gen)
        weight, bias = pool.attention_pool.weight.detach(), pool.attention_pool.bias.detach()
        got = call("sequence_pool", sequence_pool, x, weight.clone(), bias.clone())
        compare(
            "sequence_pool",
            got,
            pool(x).detach(),
            atol=1e-5,
            hint=f" (test case: {batch} images of {tokens} tokens of width {dim}; score each token "
            "with tokens @ weight.T + bias, softmax over the tokens (dim=1), then weight and sum them)",
        )
    print("✓ Correct: your sequence pooling equals vitbook's SequencePooling.")


def check_mask_diagonal(mask_diagonal: Callable) -> None:
    """Chapter 11: `mask_diagonal(scores)`: attention scores (..., T, T) -> the same scores
    with each token's score for itself masked, so that the softmax gives it weight 0 (LSA).
    -inf and any value low enough that the softmax gives exactly 0 are both right."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    for shape in ((5, 5), (2, 4, 17, 17)):
        scores = torch.randn(*shape, generator=gen) * 3
        got = as_tensor("mask_diagonal", call("mask_diagonal", mask_diagonal, scores.clone()))
        if tuple(got.shape) != shape:
            raise ExerciseError(f"mask_diagonal returned shape {tuple(got.shape)}, expected the scores' {shape}")
        eye = torch.eye(shape[-1], dtype=torch.bool)
        weights = got.softmax(dim=-1)
        if weights[..., eye].abs().max() > 0:
            raise ExerciseError(
                "after the softmax a token still attends to itself: set each score on the diagonal "
                f"(row i, column i) to -inf, e.g. with scores.masked_fill(mask, float('-inf')) (test case: {shape})"
            )
        if not torch.equal(got[..., ~eye], scores[..., ~eye]):
            raise ExerciseError(f"scores off the diagonal changed: mask only token i's score for itself ({shape})")
    print("✓ Correct: no token attends to itself, and every other score is left as it was.")


def check_token_count(token_count: Callable) -> None:
    """Chapter 11: `token_count(img_size, conv_layers)`: the number of tokens CCT's
    tokenizer (`ConvTokenizer`'s defaults: 3x3 convolutions of stride 1 and padding 1,
    each followed by a 3x3 max-pooling of stride 2 and padding 1) gives for square images."""
    __tracebackhide__ = True
    for size, layers in ((28, 1), (28, 2), (28, 3), (32, 2), (96, 4), (7, 3)):
        got = as_number("token_count", call("token_count", token_count, size, layers), whole=True)
        want = ConvTokenizer(size, 1, 8, layers, in_planes=4).num_patches
        if got != want:
            raise ExerciseError(
                f"token_count({size}, {layers}) returned {got:g}, expected {want}: each block keeps the "
                "size through the convolution and the pooling gives floor((size + 2 - 3) / 2) + 1, "
                "which rounds an odd size up; the tokens are the final side squared"
            )
    print("✓ Correct: your token counts match the convolutional tokenizer for every image size.")


def check_mixup(mixup: Callable) -> None:
    """Chapter 11: `mixup(x, labels, lam, num_classes)`: images (B, C, H, W), labels (B,)
    -> (images, targets): image i blended with image B-1-i, weights `lam` and 1 - `lam`,
    and the targets (B, num_classes) their one-hot vectors blended the same way (the
    pairing of timm's Mixup in batch mode, `vitbook.train.augment.mix`)."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    for batch, classes, lam in ((4, 10, 0.7), (7, 3, 0.25)):
        x = torch.randn(batch, 1, 5, 5, generator=gen)
        labels = torch.randint(classes, (batch,), generator=gen)
        got = call("mixup", mixup, x.clone(), labels.clone(), lam, classes, package_fn=mix)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise ExerciseError(
                "mixup should return two things, the mixed images and their targets: `return images, targets`"
            )
        images, targets = (as_tensor("mixup", t).double() for t in got)
        want_images, want_targets = (t.double() for t in mix(x, labels, classes, lam))
        x = x.double()
        case = f" (test case: {batch} images, {classes} classes, lam = {lam})"
        if tuple(images.shape) == tuple(x.shape):
            for shift in (1, -1):
                if torch.allclose(images, x * lam + x.roll(shift, 0) * (1 - lam)):
                    raise ExerciseError(
                        f"each image is mixed with its neighbour: pair image i with image B-1-i, x.flip(0){case}"
                    )
            if torch.allclose(images, x * (1 - lam) + x.flip(0) * lam):
                raise ExerciseError(
                    f"the weights are swapped: image i keeps weight lam, its partner gets 1 - lam{case}"
                )
        compare("mixup's images", images, want_images, hint=case, atol=1e-5)
        swapped = want_targets.flip(0)  # lam on the partner's label: what swapped weights give
        shaped = tuple(targets.shape) == tuple(swapped.shape)
        if shaped and torch.allclose(targets, swapped) and not torch.allclose(swapped, want_targets):
            raise ExerciseError(f"the targets' weights are swapped: image i's own label gets lam{case}")
        compare(
            "mixup's targets",
            targets,
            want_targets,
            atol=1e-5,
            hint=f"{case}: one-hot vectors (B, num_classes), e.g. F.one_hot(labels, num_classes).float(), "
            "blended with the same weights and the same partners as the images; each row sums to 1",
        )
    print("✓ Correct: your images and targets are mixup's, paired as timm pairs them.")
