"""The command line of the recorded runs: `python -m vitbook.runs --list`, or
`python -m vitbook.runs run NAME [--device cpu|cuda] [--out FOLDER] [--replace]`.

The one module that imports every chapter's runs (`vitbook.experiments.chapterNN`, the
speed run `vitbook.experiments.speed` and the exploration `vitbook.experiments.sweep`), so
that they register with the mechanism (`vitbook.runs`) before a name is looked up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..experiments import chapter06, chapter08, chapter09, chapter10, chapter11, chapter11_training, speed, sweep
from . import DEVICE_TYPES, RESULTS, RUNS, prepare, run

# imported, their runs are registered
CHAPTERS = (chapter06, chapter08, chapter09, chapter10, chapter11, chapter11_training, speed, sweep)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitbook.runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the recorded runs")
    commands = parser.add_subparsers(dest="command")
    runner = commands.add_parser("run", help="run one recorded run and write its result")
    runner.add_argument("name", help="the run's name (see --list)")
    runner.add_argument("--device", choices=DEVICE_TYPES, help="default: cuda when there is a GPU")
    runner.add_argument("--out", type=Path, default=RESULTS, help=f"result folder (default {RESULTS})")
    runner.add_argument(
        "--replace",
        action="store_true",
        help="make the run again even if its result exists (the old record is replaced)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    if args.list or not args.command:
        width = max(map(len, RUNS))
        for spec in RUNS.values():
            print(f"{spec.name:<{width}} {spec.description}")
        return
    command = "python -m vitbook.runs " + " ".join(sys.argv[1:] if argv is None else argv)
    try:  # what was typed is checked before any work, and a mistake is said in one line
        *_, path = prepare(args.name, args.device, args.out, args.replace)
    except (KeyError, OSError, ValueError) as err:
        cli.error(err.args[0] if err.args else str(err))
    record = run(args.name, args.device, args.out, command=command, replace=args.replace)
    print(f"wrote {path} ({record['wall_seconds']:.0f} s)")
