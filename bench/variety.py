"""What training-data variety buys: the same model and budget on more songs and more timbres.

Each condition trains the `cpu` MMDenseNet with one fixed budget (``--steps``, batch 4, 1.5 s
excerpts, seed 0, one thread) through ``shotoku train`` on a folder of synthetic songs (8 s each,
the last 2 held out for its validation), then scores its last checkpoint (same number of steps
for every condition, no selection) on the held-out songs of ``bench/evaluate_models.py``: 10
songs of dataset seed 90210 rendered only with the FluidR3 soundfonts, which no condition ever
hears. The score is the gain over "mixture as estimate" of the mean over the four stems of the
median over songs of each song's median framewise SDR (dB), and the validation SDR the run
reported at its last step. The same architecture with its initial weights (seed 0, no step) is
scored first: ratio masks that differ by band already beat the mixture as the estimate of every
stem, so that row is the floor a training run starts from.

Conditions:

- **songs**: 6, 24 and 72 songs drawn from the whole catalogue (6 soundfonts, sampled drum kits,
  drum loops, recorded guitars, every voice, effects);
- **soundfonts**: 24 songs whose instrument stems (drums, bass, other) all come from 1, 3 or 6
  General MIDI soundfonts (song ``i`` uses soundfont ``i mod k``; voices and effects stay varied),
  beside the catalogue's 24 songs.

Song ``i`` is always composed from ``track_seed(0, i)`` (the songs of ``synth:N`` with seed 0), so
the conditions differ only in what renders the notes. Printed, and appended to the "Training data
variety" section of docs/benchmarks.md.

Usage::

    PYTHONPATH=src .venv/bin/python bench/variety.py                  # every condition, 150 steps
    PYTHONPATH=src .venv/bin/python bench/variety.py --steps 40 --conditions songs-6 fonts-1 --no-record
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import subprocess
import sys
import time
from datetime import date
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlog import cpu_model, record  # noqa: E402
from evaluate_models import STEMS, heldout_songs, initial_weights, song_scores, summarise  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "variety"
SECTION = "## Training data variety"
INTRO = ("`bench/variety.py`: the `cpu` MMDenseNet trained with one fixed budget on more songs and on more "
         "timbres, scored on 10 held-out songs rendered with soundfonts no condition hears (FluidR3). "
         "Gain over \"mixture as estimate\" (dB, mean over the four stems of the median over songs of "
         "each song's median SDR), and the validation SDR of the run's last step.")
FONTS = ("TimGM6mb", "MuseScore General Lite", "OPL3 FM", "csound GM bank", "A320U", "MuseScore General Full")
CONDITIONS = {"songs-6": ("catalogue", 6), "songs-24": ("catalogue", 24), "songs-72": ("catalogue", 72),
              "fonts-1": (1, 24), "fonts-3": (3, 24), "fonts-6": (6, 24)}


def songs_folder(kind, n: int, seconds: float, out: Path) -> Path:
    """A folder of ``n`` track folders for a condition (rendered once, then linked)."""
    from shotoku.datasets.synth import _write_track, render_song, track_seed
    from shotoku.datasets.synth import sources

    pool = out / ("songs-catalogue" if kind == "catalogue" else "songs-fonts")
    folder = out / f"data-{kind}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    fonts = {s.name: s.path for s in sources.family("train", "soundfont")}
    for i in range(n):
        font = None if kind == "catalogue" else FONTS[i % kind]
        name = f"synth-{i:04d}" + ("" if font is None else "-" + font.replace(" ", "_"))
        track_folder = pool / name
        if not (track_folder / "track.json").is_file():
            if font is not None and font not in fonts:
                raise SystemExit(f"soundfont {font!r} is not installed (make install-test installs it)")
            track = render_song(track_seed(0, i), seconds=seconds, soundfont=None if font is None else fonts[font])
            staging = pool / f".{name}.part"
            staging.mkdir(parents=True, exist_ok=True)
            _write_track(track, staging)
            os.replace(staging, track_folder)
        link = folder / f"synth-{i:04d}"
        if not link.exists():
            link.symlink_to(track_folder.resolve(), target_is_directory=True)
    return folder


def train(condition: str, data: Path, steps: int, out: Path) -> tuple[Path, float, float]:
    """Train (or resume) the condition's run; returns (last checkpoint, validation SDR at its end,
    minutes of training as the run recorded them)."""
    run = out / f"run-{condition}-{steps}"
    argv = [sys.executable, "-m", "shotoku", "train", "--model", "mmdensenet", "--config", "cpu",
            "--data", str(data), "--val-tracks", "2", "--batch-size", "4", "--excerpt-seconds", "1.5",
            "--steps", str(steps), "--val-every", str(steps), "--patience", "100", "--threads", "1",
            "--accelerator", "cpu", "--seed", "0", "--out", str(run), "--no-progress"]
    finished = False
    if (run / "last.pt").is_file():
        from shotoku.models.checkpoint import read_checkpoint

        finished = int(read_checkpoint(run / "last.pt").get("training", {}).get("steps", 0)) >= steps
    if not finished:
        if (run / "last.ckpt").is_file():
            argv.append("--resume")
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"training {condition} failed: {done.stderr.strip().splitlines()[-1:]}")
    val = math.nan
    for metrics in sorted((run / "logs").glob("version_*/metrics.csv")):
        with open(metrics, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("val/sdr"):
                    val = float(row["val/sdr"])
    from shotoku.models.checkpoint import read_checkpoint

    seconds = float(read_checkpoint(run / "last.pt").get("training", {}).get("seconds", math.nan))
    return run / "last.pt", val, seconds / 60


def fmt(value: float, spec: str) -> str:
    return format(value, spec) if math.isfinite(value) else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="optimiser steps of every condition (a run that has "
                    "them already is scored, not trained again)")
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument("--seconds", type=float, default=8.0, help="length of every training song")
    ap.add_argument("--heldout", default="bench/out/heldout-synth", help="folder of the held-out songs")
    ap.add_argument("--out", default=str(OUT), help="folder for the songs and runs (reused by a later call)")
    ap.add_argument("--no-record", action="store_true", help="print only; do not write docs/benchmarks.md")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    tracks = heldout_songs(Path(args.heldout), 10, 90210, 8.0)
    mixture = summarise([song_scores(t, "mixture") for t in tracks])["mean"]
    rows = []
    shipped = ROOT / "src" / "shotoku" / "models" / "weights" / "mmdensenet.pt"  # its architecture and config
    from shotoku.models.checkpoint import read_checkpoint

    untrained = initial_weights(read_checkpoint(shipped), Path(args.out))
    row = summarise([song_scores(t, "model", checkpoint=str(untrained)) for t in tracks])
    rows.append({"condition": "untrained", "songs": 0, "sources": "-", "val": math.nan, "gain": row["mean"] - mixture,
                 "minutes": 0.0, **{s: row[s] for s in STEMS}})
    print(f"untrained: held-out gain {rows[-1]['gain']:+.2f} dB", flush=True)
    for condition in args.conditions:
        kind, n = CONDITIONS[condition]
        data = songs_folder(kind, n, args.seconds, Path(args.out))
        checkpoint, val, minutes = train(condition, data, args.steps, Path(args.out))
        row = summarise([song_scores(t, "model", checkpoint=str(checkpoint)) for t in tracks])
        sources = "catalogue" if kind == "catalogue" else f"{kind} soundfont{'s' if kind > 1 else ''}"
        rows.append({"condition": condition, "songs": n - 2, "sources": sources, "val": val,
                     "gain": row["mean"] - mixture, "minutes": minutes, **{s: row[s] for s in STEMS}})
        r = rows[-1]
        print(f"{condition}: {r['songs']} training songs, {sources}: validation SDR {val:.2f} dB, "
              f"held-out gain {r['gain']:+.2f} dB ({minutes:.1f} min)", flush=True)
    lines = ["| condition | training songs | instrument sources | held-out gain (dB) | vocals | drums | bass | "
             "other | validation SDR (dB) | training minutes |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['condition']} | {r['songs']} | {r['sources']} | **{r['gain']:+.2f}** | "
                     + " | ".join(f"{r[s]:.2f}" for s in STEMS) + f" | {fmt(r['val'], '.2f')} | {fmt(r['minutes'] or math.nan, '.1f')} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        command = "PYTHONPATH=src .venv/bin/python bench/variety.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        entry = (f"### {date.today().isoformat()}: `{command.strip()}`\n\n"
                 f"{cpu_model()}, {len(os.sched_getaffinity(0))} usable cores, one torch thread, load average "
                 f"{load:.1f} at start; {args.steps} steps of batch 4 per condition; mixture as estimate on the "
                 f"held-out songs: {mixture:.2f} dB; {(time.perf_counter() - t0) / 60:.0f} minutes in all.\n\n" + table)
        record(entry, SECTION, INTRO)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
