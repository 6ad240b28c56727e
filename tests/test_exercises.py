import re

import nbformat
import pytest
import torch

from conftest import ROOT
from vitbook.exercises import ExerciseError, check_unpatchify
from vitbook.patches import patchify

SOLUTION = re.compile(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION", re.S)


def solution_cell(notebook: str, name: str) -> str:
    """The source of the code cell in `notebook` that defines `name` with a solution region."""
    nb = nbformat.read(ROOT / "book" / notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and f"def {name}(" in cell.source and "### BEGIN SOLUTION" in cell.source:
            return cell.source
    raise AssertionError(f"{notebook} has no solution cell defining {name}")


def define(source: str, name: str):
    namespace = {"torch": torch}
    exec(source, namespace)
    return namespace[name]


def test_reference_solution_passes(capsys):
    check_unpatchify(define(solution_cell("01_patches.ipynb", "unpatchify"), "unpatchify"))
    assert capsys.readouterr().out.startswith("✓ Correct")


def test_stub_says_it_is_not_written_yet():
    stub = SOLUTION.sub(r"\1raise NotImplementedError", solution_cell("01_patches.ipynb", "unpatchify"))
    with pytest.raises(ExerciseError, match="not written yet: replace `raise NotImplementedError`"):
        check_unpatchify(define(stub, "unpatchify"))


@pytest.mark.parametrize("answer, message", [
    (lambda patches, p, c: None, "returned None: did you forget the `return`"),
    (lambda patches, p, c: [1, 2], "returned a list, expected a torch.Tensor"),
    (lambda patches, p, c: patches, r"shape \(2, 49, 16\), but should have 4: \(2, 1, 28, 28\)"),
    (lambda patches, p, c: patches.reshape(2, 1, 28, 28), "max \\|difference\\| = .* at index .*patch size 4"),
    (lambda patches, p, c: patches[7], "raised IndexError: index 7 is out of bounds"),
    (42, "should be a function, but it is int"),
])
def test_wrong_answers_get_a_clear_message(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_unpatchify(answer)


def test_channel_last_answer_fails_on_the_rgb_case():
    def channel_last(patches, p, c):
        b, n, _ = patches.shape
        s = int(n ** 0.5)
        return patches.reshape(b, s, s, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, s * p, s * p)
    with pytest.raises(ExerciseError, match="3 channel"):
        check_unpatchify(channel_last)
    assert channel_last(patchify(torch.rand(1, 1, 8, 8), 4), 4, 1).shape == (1, 1, 8, 8)
