"""The book's Colab links and install cells, derived from `_config.yml`.

The repository url lives in `_config.yml` alone. Every chapter notebook starts with a
markdown cell holding an "Open in Colab" badge for that chapter and a code cell that,
on Colab only, installs this package from the repository. Both are written from the
config by::

    python -m vitbook.book sync      # rewrite them in every chapter of _toc.yml

`sync` also gives the exercise cells nbgrader's metadata (see `mark_for_nbgrader`).

and `tests/test_book.py` fails when a notebook disagrees with the config.

The committed outputs of the chapters come from::

    python -m vitbook.book run [book/01_patches.ipynb ...]   # default: every chapter

which executes each notebook top to bottom in a fresh kernel and saves it in place
(``--out FOLDER`` saves the executed copies there instead, for grading).
"""

from __future__ import annotations

import argparse
import datetime
import re
from pathlib import Path

import nbformat
import yaml

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_TAG = "colab-install"  # marks the install cell; the book hides it (remove-cell)
CHECK_CALL = re.compile(r"(check_\w+)\(\w+\)")  # a cell that only checks an answer
SOLUTION_CELL = ":::{admonition} Solution"  # a conceptual question's answer


def book_file(root: Path, name: str) -> Path:
    """`root/name` (`_config.yml` or `_toc.yml`), or an error saying that `root` is not the
    book's root folder."""
    path = Path(root) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{Path(root).resolve()} is not the book's root folder (it has no {name}): "
            "run the command from the folder that holds _config.yml and _toc.yml, "
            "or give that folder with --root"
        )
    return path


def load_config(root: Path) -> dict:
    return yaml.safe_load(book_file(root, "_config.yml").read_text())


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at `path`, or one error that names the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat's and json's many ways of saying "not a notebook"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{path} is not a readable notebook ({reason[:160]}); restore it (e.g. "
            f"`git checkout -- {path}`) or fix its JSON, then try again"
        ) from None


def chapter_paths(root: Path) -> list[Path]:
    """The notebooks listed in `_toc.yml`, in reading order, relative to `root`."""
    toc = yaml.safe_load(book_file(root, "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [Path(f + ".ipynb") for f in files if (root / (f + ".ipynb")).is_file()]


def colab_url(config: dict, notebook: Path) -> str:
    """The Colab address that opens `notebook` (a path relative to the book root)."""
    repo = config["repository"]
    owner_repo = repo["url"].removeprefix("https://github.com/").strip("/")
    path = (Path(repo.get("path_to_book") or "") / notebook).as_posix()
    return f"{config['launch_buttons']['colab_url']}/github/{owner_repo}/blob/{repo['branch']}/{path}"


def badge_markdown(config: dict, notebook: Path) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(config, notebook)})"


def install_source(config: dict) -> str:
    """The install cell: on Colab, pip-install `vitbook` from the repository and stop
    right there, with a message saying what to check, if that fails."""
    return (
        "# On Colab, install the book's helpers (`vitbook`); elsewhere, do nothing.\n"
        "import subprocess, sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    source = "git+{config["repository"]["url"]}"\n'
        '    pip = [sys.executable, "-m", "pip", "install", "-q", f"vitbook @ {source}"]\n'
        "    if subprocess.run(pip).returncode:\n"
        "        raise RuntimeError(f\"Installing the book's helpers from {source} failed (pip's \"\n"
        '                           "message is above). Check that the runtime is connected to "\n'
        '                           "the internet and that this address opens in a browser, "\n'
        '                           "then run this cell again. The chapter cannot run without it.")'
    )


def sync_notebook(nb: nbformat.NotebookNode, config: dict, notebook: Path) -> bool:
    """Put the badge, the install cell and the nbgrader metadata of `notebook` in place;
    True if `nb` changed."""
    before = nbformat.writes(nb)
    set_colab_cells(nb, config, notebook)
    mark_for_nbgrader(nb)
    return nbformat.writes(nb) != before


def set_colab_cells(nb: nbformat.NotebookNode, config: dict, notebook: Path) -> None:
    """Point the badge and the install cell at `notebook` in the repository of `config`.

    The badge goes on the line after the title of the first (markdown) cell; the install
    cell comes right after that cell. A notebook that does not start with a markdown cell
    (or has no cells) gets one, holding the badge alone.
    """
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(""))
    title, *body = nb.cells[0].source.split("\n")
    body = [line for line in body if BADGE_IMAGE not in line]
    while body and not body[0].strip():
        body.pop(0)
    head = [title, ""] if title.strip() else []
    nb.cells[0].source = "\n".join(head + [badge_markdown(config, notebook), ""] + body)
    installs = [c for c in nb.cells if INSTALL_TAG in c.metadata.get("tags", [])]
    cell = installs[0] if installs else nbformat.v4.new_code_cell()
    nb.cells[:] = [nb.cells[0], cell] + [c for c in nb.cells[1:] if c is not cell]
    cell.source = install_source(config)
    cell.metadata["tags"] = [INSTALL_TAG, "remove-cell"]


def mark_for_nbgrader(nb: nbformat.NotebookNode) -> None:
    """Give the exercise cells nbgrader's metadata, so `nbgrader generate_assignment` and
    `nbgrader autograde` work on the chapters as they are: a coded answer is a solution
    cell, the cell calling its check an autograded test worth 1 point, and each collapsed
    solution a manually graded answer worth 1 point."""
    answers = 0
    for cell in nb.cells:
        meta = {"schema_version": 3, "locked": False, "solution": False, "grade": False}
        check = CHECK_CALL.fullmatch(cell.source.strip()) if cell.cell_type == "code" else None
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            name = re.search(r"def (\w+)\(", cell.source).group(1)
            meta.update(solution=True, grade_id=name)
        elif check:
            meta.update(grade=True, locked=True, points=1, grade_id=f"test_{check.group(1)}")
        elif cell.cell_type == "markdown" and cell.source.startswith(SOLUTION_CELL):
            answers += 1
            meta.update(solution=True, grade=True, points=1, grade_id=f"answer_{answers}")
        else:
            cell.metadata.pop("nbgrader", None)
            continue
        cell.metadata["nbgrader"] = meta


def sync(root: Path) -> list[Path]:
    """Sync every chapter of the book at `root`; return the notebooks that changed."""
    config, changed = load_config(root), []
    for path in chapter_paths(root):
        nb = read_notebook(root / path)
        if sync_notebook(nb, config, path):
            nbformat.write(nb, root / path)
            changed.append(path)
    return changed


def cell_timeout(nb: nbformat.NotebookNode) -> int:
    """Seconds one cell of `nb` may run before it is taken as hung: ten times the slowest
    cell of the notebook's last recorded run (the `execution` timestamps nbclient leaves in
    each cell's metadata; ten, so that a slower machine or one running other work too is
    not taken for a hang), between five minutes and an hour (a run made on a busy machine
    records slow cells); fifteen minutes when no run is recorded."""
    seconds = []
    for cell in nb.cells:
        times = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in times and "shell.execute_reply" in times:
            start, end = (
                datetime.datetime.fromisoformat(times[k].replace("Z", "+00:00"))
                for k in ("iopub.execute_input", "shell.execute_reply")
            )
            seconds.append((end - start).total_seconds())
    return min(3600, max(300, round(10 * max(seconds)))) if seconds else 900


def execute(nb: nbformat.NotebookNode, path: Path, allow_errors: bool = False) -> None:
    """Run `nb` (read from `path`) top to bottom in a fresh kernel started in its folder. A
    cell that runs past `cell_timeout(nb)` ends the run with an error naming the notebook
    and the cell, never as a pass."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    timeout, current = cell_timeout(nb), {}
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    client.on_cell_execute = lambda cell, cell_index: current.update(index=cell_index)
    try:
        client.execute()
    except CellTimeoutError:
        raise TimeoutError(
            f"{path}: cell {current.get('index')} (counting from 0) ran longer than "
            f"{timeout} s (ten times the notebook's slowest cell in its last run) and was "
            "stopped; run it again, and if it hangs again, look at that cell"
        ) from None


def pytest_runtest_setup(item) -> None:
    """A pytest hook (pytest.ini loads this module with ``-p vitbook.book``): nbval gives a
    cell `cell_timeout` of its notebook, so a hung cell fails in minutes, not half an hour,
    and a minute (not 5 s) for each of its outputs once it has ended."""
    notebook = getattr(item.parent, "nb", None)
    if notebook is not None and hasattr(item.config.option, "nbval_cell_timeout"):
        item.config.option.nbval_cell_timeout = cell_timeout(notebook)
        # nbval reads a cell's outputs once the cell has ended, and gives each of them 5 s:
        # after a long cell with a progress bar there are many to read
        item.output_timeout = max(getattr(item, "output_timeout", 0), 60)


def run(root: Path, notebooks: list[Path], out: Path | None = None, allow_errors: bool = False) -> list[Path]:
    """Execute each notebook top to bottom in a fresh kernel and save it with its outputs:
    in place, or into the folder `out` (for grading a student's copy without touching it).
    With `allow_errors`, a failing cell does not stop the run (its error is saved)."""
    written = []
    for path in notebooks or chapter_paths(root):
        nb = read_notebook(root / path)
        print(f"running {path} ...", flush=True)
        execute(nb, root / path, allow_errors)
        # Widgets need a live kernel; the book shows a static figure beside each one, so
        # their saved state (which would pull the widget manager into every page) goes.
        nb.metadata.pop("widgets", None)
        target = root / path if out is None else out / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    return written


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitbook.book", description="Run from the book's root folder.")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the book's root (default: .)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", help="write badges, install cells and nbgrader metadata from _config.yml")
    runner = commands.add_parser("run", help="execute notebooks top to bottom (default: every chapter)")
    runner.add_argument("notebooks", nargs="*", type=Path)
    runner.add_argument(
        "--out",
        type=Path,
        help="save the executed copies into this folder instead of overwriting the notebooks (for grading)",
    )
    runner.add_argument(
        "--allow-errors", action="store_true", help="keep going past failing cells (a student's unfinished exercise)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    try:
        if args.command == "sync":
            for changed in sync(args.root):
                print(f"updated {changed}")
        else:
            for path in run(args.root, args.notebooks, args.out, args.allow_errors):
                print(f"wrote {path}")
    except (OSError, ValueError) as err:  # a wrong folder, a broken notebook, a hung cell
        cli.error(str(err))


if __name__ == "__main__":
    main()
