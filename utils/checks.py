"""Shape and closeness checks whose errors read well in a notebook.

Success prints one short, device-independent line (so a chapter's stored output is the
same on CPU and GPU); failure raises an error that says what was expected and what came.
"""

from __future__ import annotations

import operator
import textwrap
from collections.abc import Sequence

import torch


class ShapeError(ValueError):
    """A tensor does not have the shape it should."""


class MismatchError(AssertionError):
    """Two tensors that should be equal are not."""


def as_int(value, name: str, least: int | None = None) -> int:
    """`value` as an int when it is a whole number of integer type (Python's, numpy's, a
    0-d integer tensor; not a bool) and at least `least`; else a ValueError naming `name`
    (a float gets a hint: 56 / 4 is 14.0, 56 // 4 is 14)."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or least is not None and number < least:
        kind = {None: "an integer", 1: "a positive integer"}.get(least, f"an integer >= {least}")
        hint = (
            "; it is a float: use int(...), or divide with // (56 // 4 is 14, 56 / 4 is 14.0)"
            if isinstance(value, float) or type(value).__name__.startswith("float")
            else ""
        )
        raise ValueError(f"{name} must be {kind}, not {value!r}{hint}")
    return number


def _fmt_shape(shape: Sequence) -> str:
    return "(" + ", ".join("*" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def check_shape(x, expected: Sequence[int | None], name: str = "tensor", *, quiet: bool = False) -> None:
    """Raise ShapeError unless `x.shape` matches `expected`; `None` matches any size.

    >>> check_shape(torch.zeros(8, 49, 16), (None, 49, 16), "patches")
    ✓ patches: (8, 49, 16)
    """
    __tracebackhide__ = True  # pytest and IPython show the caller's line, not this one
    expected = tuple(expected)
    if not hasattr(x, "shape"):
        raise ShapeError(
            f"{name} should be a tensor of shape {_fmt_shape(expected)}, but it is {type(x).__name__}: {x!r:.60}"
        )
    shape = tuple(x.shape)
    if len(shape) != len(expected):
        raise ShapeError(
            f"{name} has {len(shape)} dimensions, shape {_fmt_shape(shape)}, "
            f"but should have {len(expected)}: {_fmt_shape(expected)}"
        )
    wrong = [
        f"dim {i} is {got}, expected {want}"
        for i, (got, want) in enumerate(zip(shape, expected))
        if want is not None and got != want
    ]
    if wrong:
        raise ShapeError(f"{name} has shape {_fmt_shape(shape)}, expected {_fmt_shape(expected)}: " + "; ".join(wrong))
    if not quiet:
        print(f"✓ {name}: {_fmt_shape(shape)}")


def check_close(
    actual, expected, name: str = "actual", *, atol: float = 1e-5, rtol: float = 1e-5, quiet: bool = False
) -> None:
    """Raise MismatchError unless `actual` equals `expected` within atol + rtol * |expected|.

    The error names the largest absolute difference, where it is, both values there, and
    how many elements are off. Success prints no difference: it depends on the device.
    """
    __tracebackhide__ = True
    actual = torch.as_tensor(actual).detach()
    expected = torch.as_tensor(expected, device=actual.device).detach()
    if actual.shape != expected.shape:
        raise ShapeError(
            f"{name} has shape {_fmt_shape(actual.shape)}, expected "
            f"{_fmt_shape(expected.shape)}; they cannot be compared"
        )
    a, e = actual.double(), expected.double()
    diff = (a - e).abs()
    diff[(a == e) | (torch.isnan(a) & torch.isnan(e))] = 0  # same inf, or NaN in the same place
    diff = torch.nan_to_num(diff, nan=float("inf"))
    bad = diff > atol + rtol * e.abs()
    if bad.any():
        max_diff = float(diff.max())
        flat = int(diff.argmax())
        where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))
        raise MismatchError(
            f"{name} differs from the expected values: max |difference| = {max_diff:.3g} at index "
            f"{where} (got {a.flatten()[flat].item():.6g}, expected {e.flatten()[flat].item():.6g}); "
            f"{int(bad.sum()):,} of {bad.numel():,} elements are outside atol={atol:g}, rtol={rtol:g}"
        )
    if not quiet:
        print(f"✓ {name}: equal within atol={atol:g}, rtol={rtol:g}")


def show_error(make_it_fail, width: int = 72) -> None:
    """Call `make_it_fail()` and print the ValueError, TypeError (a wrong type or dtype) or
    IndexError (an index out of range) it raises, wrapped to the page's width, so that a
    notebook can show an error message and go on. A call that does not fail is itself an
    error."""
    try:
        make_it_fail()
    except (ValueError, TypeError, IndexError) as err:
        message = f"{type(err).__name__}: {err}"
        print(
            "\n".join(
                textwrap.fill(line, width, subsequent_indent="    ") if line.strip() else line
                for line in message.splitlines()
            )
            + "\n"
        )
        return
    raise AssertionError("expected a ValueError, TypeError or IndexError, but the call succeeded")
