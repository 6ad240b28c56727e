"""Where a recorded run ran: the device's name (GPU, or CPU model and cores) and the git
commit of the code, both written into every record."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and its number of cores."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def git_commit() -> str | None:
    """The environment variable VITBOOK_COMMIT where it is set (a copy of a checkout, e.g.
    on a lent GPU machine, whose own .git, if any, may be of another commit); else the
    commit of the checkout this package runs from (+ "-dirty" when tracked files have
    uncommitted changes); else None (an installed wheel)."""
    if os.environ.get("VITBOOK_COMMIT"):
        return os.environ["VITBOOK_COMMIT"]
    here = Path(__file__).parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")
