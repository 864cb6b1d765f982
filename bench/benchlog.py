"""What every benchmark script records beside its numbers: the machine it ran on."""

from __future__ import annotations

import subprocess


def cpu_model() -> str:
    """The CPU's model name as lscpu reports it."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"
