"""Rendering speed of the synthetic song generator, in seconds of stereo audio per second of wall time.

Renders songs one by one in this (fresh) process as ``shotoku.datasets.synth.write_dataset``
does with its default (varied, ``split="train"``) recipe: composing or an MMA groove, sources
drawn from the catalogue (FluidSynth renders of the soundfont stems side by side, sampled drum
kits, drum loops, recorded guitar), the sung line (espeak-ng or Festival + WORLD, syllable
analyses cached across songs), per-stem effects and reverb, levelling, and writing the five float
WAV files and track.json of each song. Early songs pay for syllable analyses, decoded samples
and MMA's groove list that later songs find cached; the per-song times show it.

Printed, and appended to the "Synthetic songs" section of docs/benchmarks.md with the date,
the machine (lscpu model name, usable cores, load average at start) and the command. The goal
is at least 3 s of audio per second of wall time on 2 cores.

Usage::

    PYTHONPATH=src .venv/bin/python bench/synth.py                   # 8 songs x 20 s
    PYTHONPATH=src .venv/bin/python bench/synth.py --songs 5 --seconds 10 --no-record
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

from benchlog import cpu_model, record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Synthetic songs"
INTRO = (
    "`bench/synth.py`: wall time of rendering and writing songs as `shotoku.datasets.synth.write_dataset` "
    "does (compose or an MMA groove; sources drawn per song and per stem: FluidSynth renders of "
    "the soundfont stems in parallel processes, sampled drum kits, drum loops, recorded guitar; the "
    "sung line with espeak-ng or Festival + WORLD; per-stem effects and reverb with pedalboard; float "
    "WAV files), in a fresh process, so early songs also pay for cold caches. Speed is "
    "seconds of 44.1 kHz stereo audio per second of wall time; the goal is at least 3 on 2 cores "
    "(it was 2 before the varied recipe; the lines up to 2026-11-24 measured the plain recipe). "
    "CPU time counts this process and its children (FluidSynth, espeak-ng, Festival, mma)."
)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=8, help="number of songs (default 8)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each song (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    ap.add_argument("--no-record", action="store_true", help="print only; do not touch docs/benchmarks.md")
    args = ap.parse_args(argv)

    from shotoku.datasets import synth

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    per_song = []
    with tempfile.TemporaryDirectory(prefix="shotoku-bench-synth-") as tmp:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        for i in range(args.songs):
            # one song per call, so the per-song times show the cold syllable cache
            t = time.perf_counter()
            s = synth.track_seed(args.seed, i)
            track = synth.render_song(s, args.seconds)
            folder = Path(tmp) / f"synth-{i:04d}"
            folder.mkdir()
            synth._write_track(track, folder)
            per_song.append(time.perf_counter() - t)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    audio = args.songs * args.seconds
    speed = audio / wall
    songs = ", ".join(f"{x:.2f}" for x in per_song)
    print(f"{args.songs} songs x {args.seconds:g} s = {audio:g} s of audio in {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU: {speed:.2f} s of audio per s ({'meets' if speed >= 3 else 'BELOW'} the 3x goal)")
    print(f"per song (s): {songs}")
    if not args.no_record:
        cmd = "PYTHONPATH=src .venv/bin/python bench/synth.py" + (
            " " + shlex.join(argv if argv is not None else sys.argv[1:]) if (argv or sys.argv[1:]) else "")
        entry = (f"- {datetime.date.today().isoformat()}, {cpu_model()}, {cores} cores, load average "
                 f"{load:.1f} at start; `{cmd}`: {args.songs} songs x {args.seconds:g} s = {audio:g} s of "
                 f"audio in {wall:.1f} s wall ({cpu:.1f} s CPU, {audio / cpu:.1f} s of audio per CPU s) = "
                 f"**{speed:.1f} s of audio per s**; "
                 f"per song {songs} s (early songs with cold caches).")
        record(entry, SECTION, INTRO)
        print(f"appended to {BENCHMARKS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
