import pytest
import torch

from vitbook.checks import MismatchError, ShapeError, check_close, check_shape


def test_check_shape_passes_and_prints_the_shape(capsys):
    check_shape(torch.zeros(8, 49, 16), (8, None, 16), "patches")
    assert capsys.readouterr().out == "✓ patches: (8, 49, 16)\n"
    check_shape(torch.zeros(3), (3,), "v", quiet=True)
    assert capsys.readouterr().out == ""


def test_check_shape_names_the_wrong_dimension():
    with pytest.raises(ShapeError) as err:
        check_shape(torch.zeros(8, 49, 17), (8, 49, 16), "patches")
    assert str(err.value) == "patches has shape (8, 49, 17), expected (8, 49, 16): dim 2 is 17, expected 16"


def test_check_shape_wrong_number_of_dimensions():
    with pytest.raises(ShapeError, match=r"has 2 dimensions, shape \(8, 49\), but should have 3: \(8, \*, 16\)"):
        check_shape(torch.zeros(8, 49), (8, None, 16), "patches")


def test_check_shape_on_something_that_is_not_a_tensor():
    with pytest.raises(ShapeError, match="should be a tensor of shape \\(2, 3\\), but it is NoneType"):
        check_shape(None, (2, 3), "answer")


def test_check_close_passes_without_device_dependent_numbers(capsys):
    a = torch.arange(6.0).reshape(2, 3)
    check_close(a + 1e-7, a, "tokens")
    assert capsys.readouterr().out == "✓ tokens: equal within atol=1e-05, rtol=1e-05\n"


def test_check_close_reports_max_difference_and_where():
    expected = torch.zeros(2, 3, 4)
    actual = expected.clone()
    actual[1, 2, 3] = 0.5
    actual[0, 0, 0] = 0.01
    with pytest.raises(MismatchError) as err:
        check_close(actual, expected, "tokens")
    msg = str(err.value)
    assert "max |difference| = 0.5 at index (1, 2, 3)" in msg
    assert "got 0.5, expected 0" in msg and "2 of 24 elements" in msg


def test_check_close_exact_comparison_and_shapes():
    with pytest.raises(MismatchError):
        check_close(torch.tensor([1.0]), torch.tensor([1.0 + 1e-6]), atol=0, rtol=0)
    with pytest.raises(ShapeError, match=r"has shape \(2, 3\), expected \(3, 2\)"):
        check_close(torch.zeros(2, 3), torch.zeros(3, 2), "x")


def test_check_close_nan_and_inf():
    nan, inf = float("nan"), float("inf")
    check_close(torch.tensor([nan, inf, 1.0]), torch.tensor([nan, inf, 1.0]), quiet=True)
    with pytest.raises(MismatchError, match="at index \\(0,\\)"):
        check_close(torch.tensor([nan, 1.0]), torch.tensor([0.0, 1.0]))


def test_show_error_prints_the_message_and_insists_on_an_error(capsys):
    from vitbook.checks import show_error

    def fail():
        raise ShapeError("bad shape")

    show_error(fail)
    assert capsys.readouterr().out == "ShapeError: bad shape\n\n"
    show_error(lambda: [][0])
    assert capsys.readouterr().out == "IndexError: list index out of range\n\n"
    show_error(lambda: None + 1)  # a wrong type is an error the book demonstrates too
    assert capsys.readouterr().out.startswith("TypeError: unsupported operand")
    with pytest.raises(AssertionError, match="expected a ValueError, TypeError or IndexError"):
        show_error(lambda: None)
    with pytest.raises(KeyError):  # other errors are not swallowed
        show_error(lambda: {}["missing"])


def test_show_error_wraps_long_messages_to_the_page(capsys):
    from vitbook.checks import show_error

    def fail():
        raise ValueError("word " * 100 + "\nsecond line")

    show_error(fail, width=60)
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 60 and len(lines) > 8 and "second line" in lines[-2]
    assert all(line.startswith("    ") for line in lines[1:-2]), "continuations are indented"
