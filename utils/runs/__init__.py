"""Recorded runs: the experiments too heavy for a notebook test, each started by name.

    python -m vitbook.runs --list                     # every run, with what it measures
    python -m vitbook.runs run NAME [--device cpu]    # run it, write its result

This package is the mechanism, which knows no run: each chapter's runs register with it
(`recorded_run`) from their own module in `vitbook.experiments`, and the command line
(`vitbook.runs.cli`, the only module that imports them all) starts them by name.

A run writes ``results/NAME-DEVICE.json`` (DEVICE: ``cpu`` or ``cuda``) beside this
module, so the file ships with `vitbook` and Colab has it too. The record holds the
device (CPU model and cores, or GPU name), torch and Python versions, date, command, git
commit, wall seconds, and every number the run measured. The parts of a run (one seed,
one variant) are saved as they finish, in a hidden ``.partial`` file beside the result,
so an interrupted run restarts where it stopped, from any clone the file is committed in
(a part that takes hours also keeps a per-epoch checkpoint there, `Parts.scratch`, which
git ignores); the result itself is written in one atomic step at the end, so it is never
half-written.

Chapters show a recorded run with `show_run(name)`, which prints which run it is, and
the variants of a comparison with `show_variants`, and two models seed by seed with
`paired_differences`.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import platform
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..device import get_device
from ..pretrained import RESULTS  # results/, shipped with the package
from ..train import write_atomically
from .compare import (  # noqa: F401 (re-exported: chapters read records with them)
    best_minus_final,
    final_mean,
    first_reaching,
    paired_differences,
    show_variants,
)
from .provenance import device_name, git_commit


@dataclass(frozen=True)
class Run:
    name: str
    description: str
    measure: Callable  # measure(device, parts: Parts, progress: bool) -> dict of numbers


RUNS: dict[str, Run] = {}
DEVICE_TYPES = ("cpu", "cuda")


def run_command(name: str, device_type: str) -> str:
    """The command that makes the recorded run `name` on a device of `device_type`."""
    return f"python -m vitbook.runs run {name} --device {device_type}"


def recorded_run(name: str, description: str):
    """Register `measure(device, parts, progress)` as the recorded run `name`."""

    def register(measure):
        RUNS[name] = Run(name, description, measure)
        return measure

    return register


def write_json(path: Path, data) -> None:
    """Write `data` as JSON to `path` atomically: an interrupted write leaves the old file."""
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1) + "\n"))


def read_json(path: Path, what_to_do: str):
    """The JSON in `path`, or one error that names the file, what is wrong with it and
    `what_to_do`."""
    text = path.read_text()
    if "\n<<<<<<< " in "\n" + text:
        raise ValueError(
            f"{path} holds git merge-conflict markers (<<<<<<<): resolve the conflict "
            f"(keep one side, e.g. `git checkout --theirs -- {path}`), then try again"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}): {what_to_do}") from None


def run_name(name: str, runs=None) -> str:
    """The registered run `name` (a hyphen may stand for an underscore), or an error that
    suggests the closest names."""
    runs = RUNS if runs is None else runs
    key = name.replace("-", "_")
    if key in runs:
        return key
    close = difflib.get_close_matches(key, runs, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    raise KeyError(f"no recorded run {name!r}; {hint}the runs are: {', '.join(sorted(runs))}")


def check_device_type(device_type: str) -> str:
    if device_type not in DEVICE_TYPES:
        raise ValueError(f"device must be 'cpu' or 'cuda' (a GPU is 'cuda'), not {device_type!r}")
    return device_type


class Parts:
    """The finished parts of one run, kept on disk as they finish."""

    def __init__(self, path: Path):
        self.path = path
        self.prefix = path.name.removesuffix("partial.json")  # ".NAME-DEVICE."
        self.done = (
            read_json(path, "it holds the finished parts of an interrupted run; delete it to start the run afresh")
            if path.is_file()
            else {}
        )

    def get(self, key: str, compute: Callable[[], dict]) -> dict:
        """The part `key`: from an earlier, interrupted run if it finished there, else
        computed now and saved at once."""
        if key not in self.done:
            start = time.perf_counter()
            self.done[key] = dict(compute(), part_wall_seconds=time.perf_counter() - start)
            write_json(self.path, self.done)
        return self.done[key]

    def scratch(self, key: str) -> Path:
        """A hidden file beside the run's parts where a long part keeps its own state
        (a per-epoch checkpoint), so that it too restarts where it stopped."""
        slug = "".join(c if c.isalnum() else "-" for c in key)
        return self.path.with_name(f"{self.prefix}{slug}.pt")

    def clear(self) -> None:
        for path in self.path.parent.glob(self.prefix + "*"):
            path.unlink()


def result_path(name: str, device_type: str, folder: Path = RESULTS) -> Path:
    return folder / f"{name}-{device_type}.json"


def check_output(path: Path, replace: bool) -> None:
    """Refuse, before any work, a result path that cannot be written or would overwrite a
    finished run (unless `replace`)."""
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"the output folder {folder} is a file: give --out a folder (the result is written there as {path.name})"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write into the output folder {folder}: choose another with --out")
    if path.exists() and not replace:
        raise FileExistsError(
            f"{path} holds a finished run already: pass --replace to make it again "
            "(the old record is then replaced), or --out FOLDER to write elsewhere"
        )


def prepare(
    name: str, device: torch.device | str | None, folder: Path, replace: bool
) -> tuple[Run, torch.device, Path]:
    """The run, device and result path of a run about to start, every one checked."""
    spec, device = RUNS[run_name(name)], get_device(device)
    path = result_path(spec.name, device.type, Path(folder))
    check_output(path, replace)
    return spec, device, path


def run(
    name: str,
    device: torch.device | str | None = None,
    folder: Path = RESULTS,
    progress: bool = True,
    command: str | None = None,
    replace: bool = False,
) -> dict:
    """Run the recorded run `name` on `device` and write its result; return the record.
    An existing result is replaced only with `replace`."""
    spec, device, path = prepare(name, device, folder, replace)
    parts = Parts(path.with_name(f".{path.stem}.partial.json"))
    commit, start = git_commit(), time.perf_counter()  # the code as it was when the run began
    earlier = sum(p["part_wall_seconds"] for p in parts.done.values())  # an interrupted run's
    results = spec.measure(device, parts, progress)
    record = {
        "name": spec.name,
        "description": spec.description,
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "command": command or run_command(spec.name, device.type),
        "commit": commit,
        "wall_seconds": earlier + time.perf_counter() - start,
        "results": results,
    }
    write_json(path, record)
    parts.clear()
    return record


def load_run(name: str, device_type: str = "cpu", folder: Path = RESULTS) -> dict:
    """The record of a recorded run, or an error that says how to make it (or which name
    was meant)."""
    check_device_type(device_type)
    known = set(RUNS) | {p.name.removesuffix(".json").rsplit("-", 1)[0] for p in Path(folder).glob("*-*.json")}
    name = run_name(name, known) if known else name
    path = result_path(name, device_type, folder)
    if not path.is_file():
        others = [d for d in DEVICE_TYPES if d != device_type and result_path(name, d, folder).is_file()]
        elsewhere = f" (it is recorded on {', '.join(others)})" if others else ""
        raise FileNotFoundError(
            f"no recorded run {name!r} on {device_type}{elsewhere}; make it with `{run_command(name, device_type)}`"
        )
    return read_json(path, "restore the file from git (`git checkout -- FILE`) or make the run again")


def show_run(name: str, device_type: str = "cpu", folder: Path = RESULTS) -> dict:
    """Load a recorded run and print which one it is (device, date, command, commit)."""
    record = load_run(name, device_type, folder)
    commit = (record["commit"] or "no git checkout")[:12]
    print(
        f"recorded run '{name}': {record['device']}; torch {record['torch']}; {record['date']}; "
        f"`{record['command']}` at commit {commit}; {record['wall_seconds'] / 60:.1f} min"
    )
    if record.get("note"):  # how a run was made, where that differs from its command
        print(textwrap.fill(f"note: {record['note']}", 88, subsequent_indent="  "))
    return record
