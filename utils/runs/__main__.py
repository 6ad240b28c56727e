"""`python -m vitbook.runs`: see `vitbook.runs.cli`."""

from .cli import main

main()
