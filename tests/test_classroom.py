"""Student copies: no solution left, outputs cleared, badges moved, and every copy runs
with only its exercise checks failing, each with the 'not written yet' message (a few
heavy cells that nbval runs in the chapters are left out of the copies' runs: SKIP)."""

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from vitbook.book import BADGE_IMAGE, chapter_paths, colab_url, execute, load_config
from vitbook.book import run as book_run
from vitbook.classroom import ANSWER, SOLUTION_CODE, SOLUTION_TEXT, STUB, relink, write_student_copies
from vitbook.classroom import main as classroom_main

CHAPTERS = chapter_paths(ROOT)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("course") / "students"
    written = write_student_copies(ROOT, out, "https://github.com/teacher/course")
    assert [p.name for p in written] == [c.name for c in CHAPTERS]
    return {p.name: nbformat.read(p, as_version=4) for p in written}


def solution_lines(nb) -> set[str]:
    """Every meaningful line of every solution region and collapsed solution."""
    lines = set()
    for cell in nb.cells:
        pattern = SOLUTION_CODE if cell.cell_type == "code" else SOLUTION_TEXT
        for region in pattern.finditer(cell.source):
            lines |= {line.strip() for line in region.group(0).splitlines()[1:-1]}
    return {line for line in lines if len(line) > 3 and not line.startswith(":class:")}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_no_solution_line_survives(copies, chapter):
    source = nbformat.read(ROOT / chapter, as_version=4)
    secret = solution_lines(source)
    assert secret, f"{chapter} has no solutions to hide"
    student = copies[chapter.name]
    text = "\n".join(cell.source for cell in student.cells)
    assert not [line for line in secret if line in text]
    assert "### BEGIN SOLUTION" not in text and ":::{admonition} Solution" not in text
    assert text.count(STUB) == sum(len(SOLUTION_CODE.findall(c.source)) for c in source.cells)
    assert ANSWER in text


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_outputs_cleared_and_badge_points_at_the_copy(copies, chapter):
    student = copies[chapter.name]
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in student.metadata
    assert not any("hide-input" in c.metadata.get("tags", []) for c in student.cells)
    config = load_config(ROOT)
    config["repository"]["url"] = "https://github.com/teacher/course"
    expected = colab_url(config, Path("students") / chapter.name)
    badge = re.search(rf"\[!\[Open In Colab\]\({re.escape(BADGE_IMAGE)}\)\]\(([^)]+)\)", student.cells[0].source)
    assert badge and badge.group(1) == expected
    assert "git+https://github.com/teacher/course" in student.cells[1].source


# A heavy cell that the student-copy run may leave out (chapter 6's training, chapter 4's
# 24-block experiment, chapter 10's two-process runs): nbval runs it in the chapter in the
# same test run, and in the copy it would run the same code on the same state, since no
# exercise comes before it (the copy's install cell differs only in its address, and runs
# on Colab only). The test checks both conditions; a later cell that needs what a skipped
# cell computes fails with a NameError, so a wrong tag cannot pass unnoticed.
SKIP = "student-copy-test-skip"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_student_copy_runs_with_only_the_exercise_checks_failing(copies, chapter, tmp_path):
    nb = copies[chapter.name]
    first_stub = next(i for i, c in enumerate(nb.cells) if STUB in c.source)
    source = nbformat.read(ROOT / chapter, as_version=4)
    for i, cell in enumerate(nb.cells):
        if SKIP in cell.metadata.get("tags", []):
            assert i < first_stub and cell.source == source.cells[i].source, f"cell {i} cannot be skipped"
    run = copy.deepcopy(nb)
    run.cells = [c for c in nb.cells if SKIP not in c.metadata.get("tags", [])]
    execute(run, tmp_path / chapter.name, allow_errors=True)  # a hung cell fails, naming itself
    failed = [c for c in run.cells if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)]
    assert failed, "the stubs should make the exercise checks fail"
    for cell in failed:
        error = next(o for o in cell.outputs if o.output_type == "error")
        assert re.match(r"\s*check_\w+\(\w+\)\s*$", cell.source), f"a non-exercise cell failed:\n{cell.source}"
        assert error.ename == "ExerciseError" and "not written yet" in error.evalue, error.evalue


def test_nbgrader_generates_the_same_assignments(tmp_path):
    source = tmp_path / "source" / "vit"
    source.mkdir(parents=True)
    for chapter in CHAPTERS:
        shutil.copy(ROOT / chapter, source / chapter.name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            "vit",
            "--force",
            f"--CourseDirectory.root={tmp_path}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for chapter in CHAPTERS:
        released = nbformat.read(tmp_path / "release" / "vit" / chapter.name, as_version=4)
        text = "\n".join(cell.source for cell in released.cells)
        secret = solution_lines(nbformat.read(ROOT / chapter, as_version=4))
        assert not [line for line in secret if line in text], chapter
        assert "YOUR CODE HERE" in text and "YOUR ANSWER HERE" in text
        graded = [c.metadata.nbgrader for c in released.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert any(g.get("locked") for g in graded), "the autograded check cell"
    # nbgrader copies the chapters' badges, which open the chapters *with* the solutions:
    # --relink points them at the released copies, and changes nothing else.
    release = tmp_path / "release" / "vit"
    before = {p.name: nbformat.read(p, as_version=4) for p in release.glob("*.ipynb")}
    classroom_main(
        [
            str(release),
            "--relink",
            "--root",
            str(ROOT),
            "--repository-url",
            "https://github.com/teacher/course",
            "--path-in-repository",
            "release/vit",
        ]
    )
    config = load_config(ROOT)
    config["repository"]["url"] = "https://github.com/teacher/course"
    for chapter in CHAPTERS:
        old, new = before[chapter.name], nbformat.read(release / chapter.name, as_version=4)
        expected = colab_url(config, Path("release/vit") / chapter.name)
        assert expected in new.cells[0].source and colab_url(load_config(ROOT), chapter) not in new.cells[0].source
        assert "git+https://github.com/teacher/course" in new.cells[1].source
        assert [c.metadata for c in new.cells] == [c.metadata for c in old.cells], "nbgrader's metadata"
        assert [c.source for c in new.cells[2:]] == [c.source for c in old.cells[2:]]
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "validate", str(release / CHAPTERS[0].name)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "checksum" not in result.stdout.lower() + result.stderr.lower(), result.stdout[-2000:]


def test_a_students_notebook_is_graded_into_another_folder(tmp_path):
    """`vitbook.book run --out` leaves the submission as it is and saves the executed copy,
    with every check's verdict, beside it; --allow-errors runs past an unfinished answer."""
    submitted = tmp_path / "submitted" / CHAPTERS[0].name
    write_student_copies(ROOT, submitted.parent)
    original = submitted.read_text()
    written = book_run(ROOT, [submitted], out=tmp_path / "graded", allow_errors=True)
    assert written == [tmp_path / "graded" / CHAPTERS[0].name] and submitted.read_text() == original
    graded = nbformat.read(written[0], as_version=4)
    errors = [o for c in graded.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and all(e.ename == "ExerciseError" for e in errors)


def chapter_bytes() -> dict[Path, bytes]:
    return {chapter: (ROOT / chapter).read_bytes() for chapter in CHAPTERS}


@pytest.mark.parametrize("out", ["book", ".", "book/.."])
def test_student_copies_never_replace_the_chapters(out, capsys):
    before = chapter_bytes()
    with pytest.raises(ValueError, match="holds the book's chapters .*: student copies written there would replace"):
        write_student_copies(ROOT, ROOT / out)
    with pytest.raises(SystemExit) as stop:
        classroom_main([str(ROOT / out), "--root", str(ROOT)])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in error and "Choose another folder" in error
    with pytest.raises(ValueError, match="holds the book's chapters"):
        relink(ROOT, ROOT / out)
    assert chapter_bytes() == before


def test_a_notebook_that_holds_solutions_is_never_overwritten(tmp_path):
    shutil.copy(ROOT / CHAPTERS[0], tmp_path / CHAPTERS[0].name)
    kept = (tmp_path / CHAPTERS[0].name).read_bytes()
    for make in (write_student_copies, relink):
        with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / CHAPTERS[0].name))} holds solutions"):
            make(ROOT, tmp_path)
    assert (tmp_path / CHAPTERS[0].name).read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHAPTERS[0].name], "nothing written"


def test_the_classroom_commands_name_a_wrong_folder_or_a_broken_notebook(tmp_path):
    def command(*args):
        result = subprocess.run(
            [sys.executable, "-m", "vitbook.classroom", *args], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        error = result.stderr.strip().splitlines()[-1]
        assert error.startswith("python -m vitbook.classroom: error: "), "the usage, then one line of error"
        return error

    assert f"{tmp_path.resolve()} is not the book's root folder (it has no _config.yml)" in command("students")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "01.ipynb").write_text('{"cells": [')
    error = command("broken", "--relink", "--root", str(ROOT))
    assert f"{tmp_path / 'broken' / '01.ipynb'} is not a readable notebook" in error
    assert "restore it (e.g. `git checkout --" in error


def test_relink_puts_the_badge_in_a_markdown_cell_of_its_own(tmp_path):
    code_first = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(code_first, tmp_path / "a.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "b.ipynb")
    relink(ROOT, tmp_path)
    for name in ("a.ipynb", "b.ipynb"):
        nb = nbformat.read(tmp_path / name, as_version=4)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("[![Open In Colab]")
        assert nb.cells[1].cell_type == "code" and "colab-install" in nb.cells[1].metadata.tags
        assert [c.source for c in nb.cells[2:]] == (["x = 1"] if name == "a.ipynb" else [])
