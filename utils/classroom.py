"""Student copies of the chapters, for handing them out as assignments.

    python -m vitbook.classroom students/                  # every chapter of _toc.yml
    python -m vitbook.classroom students/ --repository-url https://github.com/me/course
    python -m vitbook.classroom release/vit --relink --repository-url https://github.com/me/course

writes one notebook per chapter into the folder, in which

- every code region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
  markers) is replaced by a stub that raises `NotImplementedError`;
- every collapsed solution (a ``:::{admonition} Solution`` block) is replaced by a
  place for the student's answer;
- all outputs and execution counts are cleared, and the book's hide tags are dropped;
- the Colab badge and install cell point at the student copy's own path (in this
  repository, or in the one given with ``--repository-url``).

With ``--relink``, the folder already holds student versions (nbgrader's
``release/ASSIGNMENT`` folder, whose notebooks still point at the chapters *with* the
solutions): only their badges and install cells are rewritten to point at themselves,
and nothing else in them changes (nbgrader's metadata and checksums stay valid).
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import nbformat

from .book import chapter_paths, load_config, read_notebook, set_colab_cells, sync_notebook

SOLUTION_CODE = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
SOLUTION_TEXT = re.compile(r"^:::\{admonition\} Solution[ \t]*\n.*?^:::[ \t]*$", re.S | re.M)
STUB = 'raise NotImplementedError("your code here")'
ANSWER = "**Your answer:** *(write it here)*"
BOOK_TAGS = {"hide-input", "hide-output", "remove-output", "remove-input"}


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of chapter `nb` with solutions replaced and outputs cleared."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = SOLUTION_CODE.sub(lambda m: m.group(1) + STUB, cell.source)
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source = SOLUTION_TEXT.sub(ANSWER, cell.source)
        tags = [t for t in cell.metadata.get("tags", []) if t not in BOOK_TAGS]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    nb.metadata.pop("widgets", None)
    return nb


def holds_solutions(nb: nbformat.NotebookNode) -> bool:
    """Whether `nb` still holds solutions (a chapter, not a student copy)."""
    return any((SOLUTION_CODE if c.cell_type == "code" else SOLUTION_TEXT).search(c.source) for c in nb.cells)


def check_no_solutions_lost(root: Path, out: Path, names: list[str]) -> None:
    """Refuse, before writing anything, an output folder that holds the book's chapters (or
    a folder above them), and any notebook in it that holds solutions: writing there would
    replace the chapters, and their solutions would be gone."""
    out = out.resolve()
    for chapter in chapter_paths(root):
        source = (root / chapter).resolve()
        if out == source.parent or out in source.parents:
            raise ValueError(
                f"{out} holds the book's chapters ({chapter}): student copies written "
                "there would replace them and their solutions. Choose another folder, "
                "e.g. students/"
            )
    for name in names:
        if (out / name).is_file() and holds_solutions(read_notebook(out / name)):
            raise ValueError(
                f"{out / name} holds solutions (it is a chapter, not a student copy): "
                "it would be lost. Choose another folder, e.g. students/"
            )


def _target(root: Path, out: Path, repository_url: str | None, path_in_repository: str | None) -> tuple[dict, Path]:
    """The config with the copies' repository, and the copies' folder inside it."""
    config = load_config(root)
    if repository_url:
        config["repository"]["url"] = repository_url.rstrip("/")
        config["repository"]["path_to_book"] = ""
    if path_in_repository is not None:
        return config, Path(path_in_repository)
    try:
        return config, out.resolve().relative_to(root.resolve())
    except ValueError:
        return config, Path(out.name)  # outside the book: assume it becomes a top-level folder


def relink(
    root: Path, folder: Path, repository_url: str | None = None, path_in_repository: str | None = None
) -> list[Path]:
    """Point the badge and install cell of every notebook in `folder` (e.g. nbgrader's
    release/ASSIGNMENT) at that notebook itself; nothing else in them changes."""
    config, prefix = _target(root, folder, repository_url, path_in_repository)
    notebooks = sorted(folder.glob("*.ipynb"))
    check_no_solutions_lost(root, folder, [path.name for path in notebooks])
    if not notebooks:
        raise FileNotFoundError(f"{folder} holds no notebooks to relink")
    for path in notebooks:
        nb = read_notebook(path)
        set_colab_cells(nb, config, prefix / path.name)
        nbformat.write(nb, path)
    return notebooks


def write_student_copies(
    root: Path, out: Path, repository_url: str | None = None, path_in_repository: str | None = None
) -> list[Path]:
    """Write a student copy of every chapter of the book at `root` into `out`."""
    config, prefix = _target(root, out, repository_url, path_in_repository)
    check_no_solutions_lost(root, out, [chapter.name for chapter in chapter_paths(root)])
    out = out.resolve()
    written = []
    for chapter in chapter_paths(root):
        nb = student_notebook(read_notebook(root / chapter))
        sync_notebook(nb, config, prefix / chapter.name)  # badge -> the student copy
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / chapter.name)
        written.append(out / chapter.name)
    return written


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vitbook.classroom", description="Write student copies of every chapter."
    )
    parser.add_argument("out", type=Path, help="folder for the student notebooks, e.g. students/")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the book's root (default: .)")
    parser.add_argument(
        "--repository-url", help="GitHub repository the copies will live in (default: the book's, from _config.yml)"
    )
    parser.add_argument(
        "--path-in-repository",
        help="the copies' folder inside that repository (default: OUT's path relative to the book, or its name)",
    )
    parser.add_argument(
        "--relink",
        action="store_true",
        help="OUT already holds student versions "
        "(nbgrader's release/ASSIGNMENT): only point their Colab badges at them",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    make = relink if args.relink else write_student_copies
    try:
        written = make(args.root, args.out, args.repository_url, args.path_in_repository)
    except (OSError, ValueError) as err:  # a wrong folder or a broken notebook: one line
        cli.error(str(err))
    for path in written:
        print(f"{'relinked' if args.relink else 'wrote'} {path}")


if __name__ == "__main__":
    main()
