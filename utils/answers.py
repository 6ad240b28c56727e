"""How an exercise check reads a student's answer: it runs it and turns every way it can
fail (not written yet, an error inside it, no `return`, the wrong type, vitbook's own
solution handed back) into an `ExerciseError` whose message says what is wrong.
`vitbook.exercises` holds the checks themselves."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from .checks import MismatchError, ShapeError, check_close, check_shape


class ExerciseError(AssertionError):
    """The answer is not right yet; the message says why."""


def own_code(name: str, fn: Callable, package_fn: Callable | None) -> None:
    """Refuse an answer that is the package's own solution, or that just calls it."""
    __tracebackhide__ = True
    target = getattr(fn, "func", fn)  # functools.partial
    module = getattr(target, "__module__", None) or ""
    calls_it = False
    if package_fn is not None and hasattr(target, "__code__"):
        names = target.__code__.co_names
        enclosed = [getattr(cell, "cell_contents", None) for cell in target.__closure__ or ()]
        calls_it = (
            any(target.__globals__.get(n) is package_fn for n in names)
            or any(obj is package_fn for obj in enclosed)
            or (package_fn.__name__ in names and "vitbook" in names)
        )
    if module.startswith("vitbook") or target is package_fn or calls_it:
        own = f"vitbook's `{public_name(package_fn)}`" if package_fn else "vitbook's own code"
        raise ExerciseError(
            f"{name} {'calls' if calls_it else 'is'} {own}: the exercise asks for your "
            "own code. Write the computation yourself (the package's version is "
            "what the check compares with)"
        )


def call(name: str, fn: Callable, *args, package_fn: Callable | None = None, **kwargs):
    """Run the student's `fn`, turning every way it can fail into an ExerciseError."""
    __tracebackhide__ = True
    if not callable(fn):
        raise ExerciseError(f"{name} should be a function, but it is {type(fn).__name__}")
    own_code(name, fn, package_fn)
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError(
            f"{name} is not written yet: replace `raise NotImplementedError` "
            "with your code, run that cell, then run this check again"
        ) from None
    except Exception as err:
        arg_shapes = ", ".join(str(tuple(a.shape)) if hasattr(a, "shape") else repr(a) for a in args)
        raise ExerciseError(f"{name}({arg_shapes}) raised {type(err).__name__}: {err}") from None
    if result is None:
        raise ExerciseError(f"{name} returned None: did you forget the `return`?")
    return result


def as_tensor(name: str, result) -> torch.Tensor:
    """`result` as a floating-point tensor, or an ExerciseError saying what type came."""
    __tracebackhide__ = True
    if not isinstance(result, torch.Tensor):
        raise ExerciseError(f"{name} returned a {type(result).__name__}, expected a torch.Tensor")
    if not result.is_floating_point() or result.dtype in (torch.float16, torch.bfloat16):
        raise ExerciseError(
            f"{name} returned a tensor of dtype {result.dtype}, expected float32 "
            "(float64 is fine too): the values need full floating-point precision. "
            "Compute in float32, e.g. convert integer positions with .float()"
        )
    return result


def as_number(name: str, result, *, whole: bool = False) -> float:
    """`result` as a number, whatever its Python type (int, float, a numpy scalar, a
    one-element tensor), or an ExerciseError; `whole` numbers must have no fraction."""
    __tracebackhide__ = True
    kind = "a whole number" if whole else "a number"
    if isinstance(result, (bool, str, bytes)) or (hasattr(result, "numel") and result.numel() != 1):
        shape = f" of shape {tuple(result.shape)}" if hasattr(result, "shape") else ""
        raise ExerciseError(f"{name} returned a {type(result).__name__}{shape}, expected {kind}")
    try:
        value = float(result)
    except (TypeError, ValueError):
        raise ExerciseError(f"{name} returned a {type(result).__name__}, expected {kind}") from None
    if whole and value != int(value):
        raise ExerciseError(f"{name} returned {value}, expected a whole number (a count has no fraction)")
    return value


def compare(name: str, got, want: torch.Tensor, hint: str = "", atol: float = 1e-6) -> None:
    __tracebackhide__ = True
    got = as_tensor(name, got)
    try:
        check_shape(got, tuple(want.shape), f"the result of {name}", quiet=True)
        check_close(got.double(), want.double(), f"the result of {name}", atol=atol, rtol=0, quiet=True)
    except (ShapeError, MismatchError) as err:
        raise ExerciseError(f"{err}{hint}") from None


def as_indices(name: str, result, batch: int) -> list[int]:
    """The batch positions an answer names: a slice, a range, a list or a tensor of indices."""
    __tracebackhide__ = True
    if isinstance(result, slice):
        return list(range(batch))[result]
    if isinstance(result, torch.Tensor):
        result = result.tolist()
    if isinstance(result, (range, list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in result):
        return list(result)
    raise ExerciseError(
        f"{name} returned {result!r}, expected the positions in the batch that this rank "
        "trains on: a slice, a range, or a list or tensor of whole numbers"
    )


def public_name(fn: Callable) -> str:
    """The shortest import path that gives `fn`, e.g. `vitbook.train.schedule_factor` for the
    function defined in `vitbook.train.optim`."""
    parts = fn.__module__.split(".")
    while len(parts) > 1 and getattr(sys.modules.get(".".join(parts[:-1])), fn.__name__, None) is fn:
        parts.pop()
    return ".".join([*parts, fn.__name__])
