"""What every benchmark script shares: the machine it ran on, and its entry in docs/benchmarks.md."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


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


BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def record(entry: str, section: str, intro: str, path: Path = BENCHMARKS) -> None:
    """Append ``entry`` at the end of ``section`` of ``path``, atomically.

    section: the heading line, e.g. ``"## PROJET"``; created with ``intro`` below it if missing
    (and the file with a ``# Benchmarks`` title if it does not exist).
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if section not in text.splitlines():
        text = text.rstrip("\n") + f"\n\n{section}\n\n{intro}\n"
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip("\n") == section)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    if not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    block = "\n" + entry.rstrip("\n") + "\n" + ("\n" if end < len(lines) else "")
    text = "".join(lines[:end]) + block + "".join(lines[end:]).lstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".benchmarks-", suffix=".md")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
