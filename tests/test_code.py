"""The code of `vitbook` (utils/) and its tests: one-way layers, no import circle, small
modules and functions, a training loop that reads like chapter 6's, and ruff clean (its
settings are in pyproject.toml)."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from vitbook.train import train

UTILS = ROOT / "utils"
# Each module may import from its own layer and those before it, never from a later one.
LAYERS = {
    "helpers": ["data", "device", "checks"],
    "model": [
        "patches",
        "tokens",
        "attention",
        "blocks",
        "vit",
        "analysis",
        "baselines",
        "stem",
        "bias",
        "transfer",
        "timm_layout",
        "distributed",
        "locality",
        "tokenizers",
        "compact",
        "deit",
        "plotting",
        "__init__",
    ],
    "training": ["train", "pretrained", "ddp_train"],
    "teaching": ["answers", "exercises", "book", "classroom", "sphinx_fix"],
    "recorded runs": ["runs"],
    "the runs of each chapter": ["experiments"],
    "command line": ["runs.cli", "runs.__main__"],
}
MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_TRAIN_LINES = 300, 60, 40


def module_name(path: Path) -> str:
    parts = path.relative_to(UTILS).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The vitbook modules that `path` imports (a package's `__init__` where a name is not a module)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                candidate = ".".join([*base, alias.name])
                found.add(candidate if candidate in modules else ".".join(base) or "__init__")
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found |= {n.removeprefix("vitbook.") for n in names if n and n.startswith("vitbook.")}
    return found - {name}


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in UTILS.rglob("*.py")}
    return {name: imports(path, set(paths)) for name, path in paths.items()}


def layer_of(module: str) -> int:
    """The index of the layer of `module` (the longest listed prefix decides: runs.cli before runs)."""
    listed = [
        (prefix, i)
        for i, names in enumerate(LAYERS.values())
        for prefix in names
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert listed, f"vitbook.{module} is in no layer: add it to LAYERS in {Path(__file__).name}"
    return max(listed, key=lambda p: len(p[0]))[1]


def test_every_import_goes_down_the_layers():
    names = list(LAYERS)
    upward = [
        f"{a} ({names[layer_of(a)]}) imports {b} ({names[layer_of(b)]})"
        for a, deps in graph().items()
        for b in deps
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def test_no_import_circle():
    edges, state = graph(), {}

    def visit(module, path):
        if state.get(module) == "open":
            raise AssertionError("an import circle: " + " -> ".join([*path[path.index(module) :], module]))
        if module not in state:
            state[module] = "open"
            for dep in sorted(edges.get(module, ())):
                visit(dep, [*path, module])
            state[module] = "done"

    for module in sorted(edges):
        visit(module, [])


def test_the_mechanism_of_recorded_runs_knows_no_run():
    """Each chapter's runs register with `vitbook.runs`; only its command line imports them."""
    edges = graph()
    assert not {d for d in edges["runs"] if d.startswith("experiments")}
    assert {d for d in edges["runs.cli"] if d.startswith("experiments")}


def test_modules_and_functions_stay_small():
    too_long = []
    for path in sorted(UTILS.rglob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                too_long.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
                )
    assert not too_long, (
        f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function "
        "(split it by role):\n" + "\n".join(too_long)
    )


def test_the_training_loop_fits_on_one_screen():
    lines = len(inspect.getsource(train).splitlines())
    assert lines <= MAX_TRAIN_LINES, f"vitbook.train.train is {lines} lines: move what it adds into its pieces"


def test_ruff_finds_nothing_to_fix():
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, (
            f"`ruff {' '.join(command)}` (fix with `ruff check --fix . && ruff format .`):\n"
            + (result.stdout + result.stderr)
        )


def test_records_hold_what_runs_wrote_not_code():
    """records/ keeps what a run wrote (logs, environment, results); the code that made them
    lives in utils/ and runs as project commands (`python -m vitbook.runs run NAME`)."""
    code = sorted(
        str(path.relative_to(ROOT)) for path in (ROOT / "records").rglob("*") if path.suffix in (".py", ".sh", ".ipynb")
    )
    assert not code, "code in records/ (make it a recorded run in utils/experiments/):\n" + "\n".join(code)
