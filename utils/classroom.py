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

from .book import chapter_paths, load_config, set_colab_cells, sync_notebook

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


def _target(root: Path, out: Path, repository_url: str | None,
            path_in_repository: str | None) -> tuple[dict, Path]:
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


def relink(root: Path, folder: Path, repository_url: str | None = None,
           path_in_repository: str | None = None) -> list[Path]:
    """Point the badge and install cell of every notebook in `folder` (e.g. nbgrader's
    release/ASSIGNMENT) at that notebook itself; nothing else in them changes."""
    config, prefix = _target(root, folder, repository_url, path_in_repository)
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{folder} holds no notebooks to relink")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        set_colab_cells(nb, config, prefix / path.name)
        nbformat.write(nb, path)
    return notebooks


def write_student_copies(root: Path, out: Path, repository_url: str | None = None,
                         path_in_repository: str | None = None) -> list[Path]:
    """Write a student copy of every chapter of the book at `root` into `out`."""
    config, prefix = _target(root, out, repository_url, path_in_repository)
    out = out.resolve()
    written = []
    for chapter in chapter_paths(root):
        nb = student_notebook(nbformat.read(root / chapter, as_version=4))
        sync_notebook(nb, config, prefix / chapter.name)  # badge -> the student copy
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / chapter.name)
        written.append(out / chapter.name)
    return written


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitbook.classroom",
                                     description="Write student copies of every chapter.")
    parser.add_argument("out", type=Path, help="folder for the student notebooks, e.g. students/")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the book's root (default: .)")
    parser.add_argument("--repository-url", help="GitHub repository the copies will live in "
                        "(default: the book's, from _config.yml)")
    parser.add_argument("--path-in-repository", help="the copies' folder inside that repository "
                        "(default: OUT's path relative to the book, or its name)")
    parser.add_argument("--relink", action="store_true", help="OUT already holds student versions "
                        "(nbgrader's release/ASSIGNMENT): only point their Colab badges at them")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    make = relink if args.relink else write_student_copies
    for path in make(args.root, args.out, args.repository_url, args.path_in_repository):
        print(f"{'relinked' if args.relink else 'wrote'} {path}")


if __name__ == "__main__":
    main()
