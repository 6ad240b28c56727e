"""The book's sources agree with each other: config, table of contents, notebooks,
README and CI."""

import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

import vitbook.book
from conftest import ROOT
from vitbook.book import (
    INSTALL_TAG,
    cell_timeout,
    chapter_paths,
    colab_url,
    load_config,
    pytest_runtest_setup,
    sync_notebook,
)

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
    assert not sync_notebook(nb, load_config(ROOT), chapter), (
        f"{chapter} disagrees with _config.yml: run `python -m vitbook.book sync`"
    )


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
    assert solved and any(re.search(r"\bcheck_\w+\(", s) for s in sources[solved[0] :]), (
        "a coded exercise with solution markers, followed by a call of its check"
    )
    assert ":class: dropdown" in "\n".join(sources), "a collapsed solution to a conceptual question"
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Exercises"))
    text = "\n".join(c.source for c in nb.cells[start:] if c.cell_type == "markdown")
    numbers = [int(n) for n in re.findall(r"^\*\*(\d+)\. ", text, re.M)]
    assert len(numbers) >= 3 and numbers == list(range(1, len(numbers) + 1)), (
        f"at least 3 exercises, numbered **1. **2. ... in order; found {numbers}"
    )
    assert text.count(":class: dropdown") + len(solved) >= len(numbers), "an answer to every question"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_every_run_a_chapter_shows_is_registered(chapter):
    """A recorded run a chapter shows by name is one that `python -m vitbook.runs run` can make."""
    from vitbook.runs import RUNS
    from vitbook.runs.cli import CHAPTERS as REGISTERING  # noqa: F401 (importing it registers every run)

    code = "\n".join(c.source for c in nbformat.read(ROOT / chapter, as_version=4).cells if c.cell_type == "code")
    shown = set(re.findall(r"(?:show_run|load_run)\((?:name=)?[\"']([\w-]+)[\"']", code))
    assert not {name.replace("-", "_") for name in shown} - set(RUNS), f"{chapter} shows runs no module registers"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_a_run_a_chapter_shows_has_a_gpu_record_or_the_chapter_says_cpu_only(chapter):
    """A recorded run that a chapter shows has its GPU record (NAME-cuda.json) beside the
    CPU's, or a sentence of the chapter's text names it (`name`) and says "CPU only"; and a
    run that a sentence calls CPU only has no GPU record (else the sentence is stale)."""
    from vitbook.runs import RESULTS, RUNS
    from vitbook.runs.cli import CHAPTERS as REGISTERING  # noqa: F401 (importing it registers every run)

    cells = nbformat.read(ROOT / chapter, as_version=4).cells
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    shown = {name for name in RUNS if re.search(rf"[\"']{name}[\"']", code)}
    text = " ".join(" ".join(c.source.split()) for c in cells if c.cell_type == "markdown")
    cpu_only = {
        name
        for sentence in re.split(r"(?<=[.!?])\s+", text)
        if "CPU only" in sentence
        for name in re.findall(r"`(\w+)`", sentence)
        if name in RUNS
    }
    on_gpu = {name for name in RUNS if (RESULTS / f"{name}-cuda.json").exists()}
    unsaid = sorted(shown - on_gpu - cpu_only)
    assert not unsaid, f"{chapter} shows {unsaid} with no GPU record: run them with --device cuda, or say 'CPU only'"
    stale = sorted(cpu_only & on_gpu)
    assert not stale, f"{chapter} calls {stale} CPU only, but they have a GPU record: show it, and say so"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_command("Run all tests") in ci


def requirements(lines: list[str]) -> dict:
    reqs = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            reqs[req.name] = req.specifier
    return reqs


def test_requirements_admit_the_local_torch_and_are_ranges():
    reqs = requirements((ROOT / "requirements.txt").read_text().splitlines())
    import torch  # whichever release is installed (CI takes the newest served): admitted
    import torchvision

    for name, module in (("torch", torch), ("torchvision", torchvision)):
        installed = module.__version__.split("+")[0]
        assert reqs[name].contains(installed), f"{name} {installed} is installed, requirements say {reqs[name]}"
    assert all(not any(s.operator == "==" for s in spec) for spec in reqs.values()), "ranges, not pins"
    assert reqs["jupyter-book"].contains("1.0.4") and not reqs["jupyter-book"].contains("2.0.0")
    assert reqs["ipykernel"].contains("6.31.0") and not reqs["ipykernel"].contains("7.4.0"), (
        "ipykernel 7 can hang a notebook's run (requirements.txt says why)"
    )


def test_the_package_keeps_colabs_packages_as_they_are():
    """Lower bounds only (a cap would make Colab's install cell replace its CUDA torch once
    Colab moves past it), Colab's ipywidgets 7.7 admitted, and requirements.txt agreeing
    with pyproject.toml on every package both name."""
    package = requirements(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    for name, spec in package.items():
        assert all(s.operator == ">=" for s in spec), f"{name}{spec}: lower bounds only"
    assert package["torch"].contains("9.0") and package["torchvision"].contains("1.5")
    assert package["ipywidgets"].contains("7.7.1") and "nbclient" in package
    reqs = requirements((ROOT / "requirements.txt").read_text().splitlines())
    assert {n: str(reqs[n]) for n in package if n in reqs} == {n: str(package[n]) for n in package if n in reqs}


def test_the_wheel_ships_every_recorded_result(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is absent from the `packages` configuration" not in result.stdout + result.stderr
    wheel = zipfile.ZipFile(next(tmp_path.glob("vitbook-*.whl")))
    shipped = {Path(name).name for name in wheel.namelist() if name.startswith("vitbook/results/")}
    results = (ROOT / "utils" / "results").iterdir()  # not the hidden parts files of a run under way
    committed = {p.name for p in results if p.suffix in (".json", ".pt") and not p.name.startswith(".")}
    assert committed and committed <= shipped, f"missing from the wheel: {committed - shipped}"


def install_cell() -> str:
    nb = nbformat.read(ROOT / CHAPTERS[0], as_version=4)
    return next(c.source for c in nb.cells if INSTALL_TAG in c.metadata.get("tags", []))


def run_as_on_colab(source: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run an install cell's code in a fresh Python that looks like Colab to it."""
    fake = tmp_path / "google" / "colab"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    script = "import sys, google.colab\n" + source
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "PIP_NO_INDEX": "1"},
    )


def test_colab_install_cell_stops_with_a_clear_message_when_pip_fails(tmp_path):
    source = install_cell()
    url = load_config(ROOT)["repository"]["url"]
    assert f"git+{url}" in source
    broken = source.replace(f"git+{url}", f"git+file://{tmp_path}/no-such-repository")
    result = run_as_on_colab(broken, tmp_path)
    assert result.returncode != 0
    assert "RuntimeError: Installing the book's helpers from git+file://" in result.stderr
    assert "connected to the internet" in result.stderr


def test_colab_install_cell_does_nothing_elsewhere(tmp_path):
    result = subprocess.run([sys.executable, "-c", install_cell()], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout and not result.stderr


def test_config_keeps_execution_off_and_colab_launch():
    config = load_config(ROOT)
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"].startswith("https://github.com/")


def test_no_notebook_sys_path_edits():
    for chapter in CHAPTERS:
        assert "sys.path" not in json.dumps(nbformat.read(ROOT / chapter, as_version=4)["cells"])


def test_figure_text_is_never_smaller_than_the_books_minimum():
    """The site test measures figures at MIN_FONT points; no figure may use less."""
    from vitbook.plotting import BOOK_STYLE, MIN_FONT

    sizes = [v for k, v in BOOK_STYLE.items() if k.endswith("size") and k != "figure.figsize"]
    assert sizes and min(sizes) >= MIN_FONT
    sources = {p.name: p.read_text() for p in (ROOT / "utils").glob("*.py")}
    sources |= {
        c.name: "\n".join(cell.source for cell in nbformat.read(ROOT / c, as_version=4).cells) for c in CHAPTERS
    }
    for name, text in sources.items():
        small = [float(n) for n in re.findall(r"fontsize=(\d+(?:\.\d+)?)", text) if float(n) < MIN_FONT]
        assert not small and not re.search(r"fontsize=[\"']x+-small", text), f"{name}: {small}"


def test_the_workflow_tests_then_publishes_the_site():
    """.github/workflows/book.yml runs the README's test and build commands and deploys
    the folder the build writes to GitHub Pages, from main only."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    build = workflow["jobs"]["test-and-build"]
    runs = [step.get("run", "") for step in build["steps"]]
    assert readme_command("Run all tests") in runs and readme_command("Build the book") in runs
    assert runs.index(readme_command("Run all tests")) < runs.index(readme_command("Build the book"))
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test-and-build" and "refs/heads/main" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])


@pytest.mark.parametrize("page", ["README.md", "book/teachers.md"])
def test_documented_commands_run_as_written(page):
    """Every `python -m vitbook.book|classroom ...` and `torchrun ... -m vitbook.ddp_train ...`
    line of the page parses as it stands (no `[--option …]` placeholders that fail when pasted)."""
    from vitbook import book, classroom, ddp_train

    parsers = {
        "vitbook.book": book.parser(),
        "vitbook.classroom": classroom.parser(),
        "vitbook.ddp_train": ddp_train.parser(),
    }
    text = (ROOT / page).read_text()
    commands = re.findall(r"(?:python|torchrun[^`\n]*) -m (vitbook\.(?:book|classroom|ddp_train)) ([^`\n]*)", text)
    assert commands
    for module, args in commands:
        args = args.split("&&")[0]
        try:
            parsers[module].parse_args(shlex.split(args))
        except SystemExit:
            pytest.fail(f"{page}: `python -m {module} {args}` does not parse")


def timed_cell(seconds: float) -> nbformat.NotebookNode:
    """A code cell whose recorded run took `seconds` (nbclient's `execution` metadata)."""
    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["execution"] = {
        "iopub.execute_input": "2026-01-01T00:00:00.000000Z",
        "shell.execute_reply": f"2026-01-01T00:{seconds // 60:02.0f}:{seconds % 60:09.6f}Z",
    }
    return cell


@pytest.mark.parametrize(
    "seconds, timeout", [([], 900), ([3.0], 300), ([10.0, 100.0], 1000), ([188.25], 1882), ([1266.0], 3600)]
)
def test_a_cell_may_run_ten_times_its_notebooks_slowest_recorded_cell(seconds, timeout):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t")] + [timed_cell(s) for s in seconds])
    assert cell_timeout(nb) == timeout


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_nbval_gives_each_chapter_its_own_cell_timeout(chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    item = SimpleNamespace(
        parent=SimpleNamespace(nb=nb), config=SimpleNamespace(option=SimpleNamespace(nbval_cell_timeout=2000))
    )
    pytest_runtest_setup(item)
    assert item.config.option.nbval_cell_timeout == cell_timeout(nb) and item.output_timeout == 60
    if chapter.name in ("01_patches.ipynb", "07_inside.ipynb"):  # the widget chapters: quick cells
        assert cell_timeout(nb) == 300, "a hang there should cost 5 minutes, not nbval's 30"
    assert "-p vitbook.book" in (ROOT / "pytest.ini").read_text(), "pytest.ini loads the hook"


def test_a_hung_cell_ends_the_run_naming_the_notebook_and_cell(tmp_path, monkeypatch):
    path = tmp_path / "hangs.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
        ),
        path,
    )
    monkeypatch.setattr(vitbook.book, "cell_timeout", lambda nb: 2)
    with pytest.raises(TimeoutError, match=rf"{re.escape(str(path))}: cell 1 \(counting from 0\) ran longer than 2 s"):
        vitbook.book.execute(nbformat.read(path, as_version=4), path, allow_errors=True)
    monkeypatch.chdir(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import vitbook.book as b; b.cell_timeout = lambda nb: 2; b.main(['--root', '.', 'run', 'hangs.ipynb'])",
        ],
        capture_output=True,
        text=True,
    )
    last = result.stderr.strip().splitlines()[-1]  # (the stopped kernel logs its own traceback above)
    assert result.returncode == 2, result.stderr
    assert last.startswith(
        "python -m vitbook.book: error: hangs.ipynb: cell 1 (counting from 0) ran longer than 2 s"
    ), result.stderr


def test_the_book_commands_need_the_books_root(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for command in (["sync"], ["run"]):
        with pytest.raises(SystemExit) as stop:  # argparse's error: the usage and one line
            vitbook.book.main(command)
        result = SimpleNamespace(returncode=stop.value.code, stderr=capsys.readouterr().err)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert re.search(
            rf"{re.escape(str(tmp_path.resolve()))} is not the book's root folder \(it has no "
            r"_(config|toc)\.yml\)",
            result.stderr,
        ), result.stderr
        assert "or give that folder with --root" in result.stderr
