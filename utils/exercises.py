"""Checks that students call on their exercise answers.

Each check runs the answer on known inputs and either prints a short "correct" line or
raises ExerciseError with a message that says what is wrong and what was expected. An
unfinished answer (`NotImplementedError`, `None`, an error inside it) gets a message too,
never a traceback from inside the check.
"""

from __future__ import annotations

from typing import Callable

import torch

from .checks import MismatchError, ShapeError, check_close, check_shape
from .patches import patchify


class ExerciseError(AssertionError):
    """The answer is not right yet; the message says why."""


def _call(name: str, fn: Callable, *args, **kwargs):
    """Run the student's `fn`, turning every way it can fail into an ExerciseError."""
    __tracebackhide__ = True
    if not callable(fn):
        raise ExerciseError(f"{name} should be a function, but it is {type(fn).__name__}")
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError(f"{name} is not written yet: replace `raise NotImplementedError` "
                            "with your code, run that cell, then run this check again") from None
    except Exception as err:
        arg_shapes = ", ".join(str(tuple(a.shape)) if hasattr(a, "shape") else repr(a) for a in args)
        raise ExerciseError(f"{name}({arg_shapes}) raised {type(err).__name__}: {err}") from None
    if result is None:
        raise ExerciseError(f"{name} returned None: did you forget the `return`?")
    if not isinstance(result, torch.Tensor):
        raise ExerciseError(f"{name} returned a {type(result).__name__}, expected a torch.Tensor")
    return result


def _compare(name: str, got: torch.Tensor, want: torch.Tensor, hint: str = "") -> None:
    __tracebackhide__ = True
    try:
        check_shape(got, tuple(want.shape), f"the result of {name}", quiet=True)
        check_close(got, want, f"the result of {name}", atol=1e-6, rtol=0, quiet=True)
    except (ShapeError, MismatchError) as err:
        raise ExerciseError(f"{err}{hint}") from None


def check_unpatchify(unpatchify: Callable) -> None:
    """Chapter 1: `unpatchify(patches, patch_size, channels)` must undo `patchify`."""
    __tracebackhide__ = True
    gen = torch.Generator().manual_seed(0)
    for channels, size, p in ((1, 28, 4), (1, 28, 7), (3, 12, 4)):
        images = torch.rand(2, channels, size, size, generator=gen)
        patches = patchify(images, p)
        got = _call("unpatchify", unpatchify, patches, p, channels)
        _compare("unpatchify", got, images,
                 hint=f" (test case: {channels} channel(s), {size}x{size} images, patch size {p}; "
                      "remember each patch is flattened in (channel, row, column) order)")
    print("✓ Correct: unpatchify(patchify(x)) == x in every test case.")
