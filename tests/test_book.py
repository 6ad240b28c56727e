"""The book's sources agree with each other: config, table of contents, notebooks,
README and CI."""

import json
import re
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from conftest import ROOT
from vitbook.book import chapter_paths, colab_url, load_config, sync_notebook

CHAPTERS = chapter_paths(ROOT)


def readme_command(heading: str) -> str:
    """The one-line shell command in the ```sh block under `## heading` in the README."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {re.escape(heading)}\n.*?```sh\n(.*?)\n```", readme, re.S | re.M)
    assert match, f"README has no ```sh block under '## {heading}'"
    return match.group(1).strip()


def test_every_notebook_is_a_chapter_in_the_toc():
    assert CHAPTERS, "_toc.yml lists no chapter notebooks"
    assert sorted(CHAPTERS) == sorted(p.relative_to(ROOT) for p in (ROOT / "book").glob("*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_badge_and_install_cell_come_from_config(chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    assert not sync_notebook(nb, load_config(ROOT), chapter), \
        f"{chapter} disagrees with _config.yml: run `python -m vitbook.book sync`"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_colab_url_points_at_the_chapter_in_the_repository(chapter):
    config = load_config(ROOT)
    url = colab_url(config, chapter)
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    prefix = f"https://colab.research.google.com/github/{repo}/blob/{config['repository']['branch']}/"
    assert url.startswith(prefix) and (ROOT / url.removeprefix(prefix)).is_file()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_chapter_is_committed_run_top_to_bottom_with_outputs(chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "run it with `python -m vitbook.book run`"
    outputs = [o for c in code for o in c.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "a chapter shows at least one figure"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_chapter_has_exercises_with_a_checked_solution(chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    sources = [c.source for c in nb.cells]
    assert any(c.cell_type == "markdown" and c.source.startswith("## Exercises") for c in nb.cells)
    solved = [i for i, s in enumerate(sources) if "### BEGIN SOLUTION" in s and "### END SOLUTION" in s]
    assert solved and any(re.search(r"\bcheck_\w+\(", s) for s in sources[solved[0]:]), \
        "a coded exercise with solution markers, followed by a call of its check"
    assert ":class: dropdown" in "\n".join(sources), "a collapsed solution to a conceptual question"
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Exercises"))
    text = "\n".join(c.source for c in nb.cells[start:] if c.cell_type == "markdown")
    numbers = [int(n) for n in re.findall(r"^\*\*(\d+)\. ", text, re.M)]
    assert len(numbers) >= 3 and numbers == list(range(1, len(numbers) + 1)), \
        f"at least 3 exercises, numbered **1. **2. ... in order; found {numbers}"
    assert text.count(":class: dropdown") + len(solved) >= len(numbers), "an answer to every question"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_command("Run all tests") in ci


def test_requirements_admit_the_local_torch_and_are_ranges():
    reqs = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            reqs[req.name] = req.specifier
    assert reqs["torch"].contains("2.14.1") and reqs["torchvision"].contains("0.29.1")
    assert all(not any(s.operator == "==" for s in spec) for spec in reqs.values()), "ranges, not pins"
    assert reqs["jupyter-book"].contains("1.0.4") and not reqs["jupyter-book"].contains("2.0.0")


def test_config_keeps_execution_off_and_colab_launch():
    config = load_config(ROOT)
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"].startswith("https://github.com/")


def test_no_notebook_sys_path_edits():
    for chapter in CHAPTERS:
        assert "sys.path" not in json.dumps(nbformat.read(ROOT / chapter, as_version=4)["cells"])
