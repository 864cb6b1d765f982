"""Inference speed of the neural models: seconds of compute per second of stereo 44.1 kHz audio.

Every architecture is built at its ``paper`` configuration (untrained weights from a fixed seed:
speed does not depend on their values) for four targets (vocals, drums, bass, other), and
separates a stereo 44.1 kHz noise signal through the one inference path
(``shotoku.models.apply.separate_with_model``: resampling to the model's rate and back, chunking
with context, fades, default chunk length and batch), each in a fresh process so that its peak
resident memory can be reported. One short warm-up run precedes the timed run.
The figure is wall-clock seconds divided by seconds of audio (lower is faster; below 1 is faster
than real time), with ``torch.set_num_threads(THREADS)``.

Printed, and appended to the "Neural models" section of docs/benchmarks.md with the date, the
machine (lscpu model name, cores, load average at start) and the command.

Usage::

    PYTHONPATH=src .venv/bin/python bench/models.py                 # 4 paper models, 20 s of audio
    PYTHONPATH=src .venv/bin/python bench/models.py --models wavenet --seconds 5 --no-record
    PYTHONPATH=src .venv/bin/python bench/models.py --configs paper small
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from benchlog import cpu_model, record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Neural models"
INTRO = (
    "`bench/models.py`: seconds of compute per second of stereo 44.1 kHz audio for each architecture "
    "(4 targets, untrained weights) through `shotoku.models.apply.separate_with_model` with its "
    "defaults (chunk length and batch from `auto_chunking`, 25 % overlap, resampling to the model's "
    "rate and back included), on the CPU with `torch.set_num_threads(2)`, each model in a fresh "
    "process (peak RSS is that process's). Lower is faster; below 1 is faster than real time. "
    "With a load average above the core count (a shared machine) wall time overstates the cost; "
    "CPU seconds per second is then the steadier figure."
)
RATE = 44100


def measure(name: str, config: str, seconds: float, targets: list[str], threads: int, seed: int = 0) -> dict:
    """Time one architecture/configuration on ``seconds`` of stereo noise; returns a result row.

    Meant to run in a fresh process, so that the peak resident memory is this model's.
    """
    import torch

    from shotoku.models import build_model, parameter_count
    from shotoku.models.apply import auto_chunking, separate_with_model

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = build_model(name, targets, channels=2, config=config).eval()
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((2, int(seconds * RATE)))).astype(np.float32)
    separate_with_model(net, x[:, :RATE], RATE)  # warm-up
    cpu0, wall0 = time.process_time(), time.perf_counter()
    images = separate_with_model(net, x, RATE)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert all(y.shape == x.shape for y in images.values())
    chunk, batch = auto_chunking(net)
    return {
        "model": name, "config": config, "parameters": parameter_count(net), "rate": net.sample_rate,
        "chunk": chunk, "batch": batch, "seconds": seconds, "wall": wall, "cpu": cpu,
        "speed": wall / seconds, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | config | parameters | model rate (Hz) | chunk (s) × batch | s per s of audio | CPU s per s | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['config']} | {r['parameters']:,} | {r['rate']} | {r['chunk']:.3g} × {r['batch']} "
            f"| **{r['speed']:.3g}** | {r['cpu'] / r['seconds']:.3g} | {r['rss']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mmdensenet", "wavenet", "deepconvsep", "waveunet"])
    parser.add_argument("--configs", nargs="+", default=["paper"])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of audio per run (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--targets", default="vocals,drums,bass,other")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write docs/benchmarks.md")
    args = parser.parse_args(argv)

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    targets = [t for t in args.targets.split(",") if t]
    load = os.getloadavg()[0]
    started = datetime.date.today().isoformat()
    rows = []
    for name in args.models:
        for config in args.configs:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                row = pool.submit(measure, name, config, args.seconds, targets, args.threads).result()
            rows.append(row)
            print(f"{name:12s} {config:6s} {row['parameters']:>11,} params  {row['speed']:.3g} s per s "
                  f"(wall {row['wall']:.1f} s, CPU {row['cpu']:.1f} s for {args.seconds:g} s)", flush=True)
    command = "PYTHONPATH=src .venv/bin/python bench/models.py" + (
        " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])) if (argv or sys.argv[1:]) else ""
    )
    entry = (
        f"- {started}, {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({args.threads} threads), load average {load:.1f} at start; `{command}`; "
        f"{args.seconds:g} s of audio, {len(targets)} targets:\n\n{table(rows)}"
    )
    print()
    print(entry)
    if not args.no_record:
        record(entry, SECTION, INTRO)
        print(f"\nrecorded in {BENCHMARKS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
