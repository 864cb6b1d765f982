"""The main workflow on every song of a synthetic set, through the CLI as a user runs it.

``shotoku synth -n N -o DIR --seed S``, then for every song: ``shotoku separate`` (the default
method) on its mixture, ``shotoku evaluate`` of its true stems against those images (paired by
best SDR, the stems being vocals/drums/bass/other and the images objects), and ``shotoku
evaluate`` of the true stems against themselves, which must give SDR +inf for every stem (as
museval does). Every command must exit 0 with no traceback.

Printed as a Markdown table and appended to the "Synth, separate, evaluate" section of
docs/benchmarks.md.

Usage::

    PYTHONPATH=src .venv/bin/python bench/workflow.py                 # -n 8 --seed 0
    PYTHONPATH=src .venv/bin/python bench/workflow.py --songs 2 --seconds 5 --no-record
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlog import cpu_model, record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "workflow"
SECTION = "## Synth, separate, evaluate"
INTRO = ("`bench/workflow.py`: `shotoku synth`, then `separate` (default method) and `evaluate` on every "
         "song through the CLI, and the true stems scored against themselves (SDR must be +inf).")


def shotoku(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shotoku", "-q", *map(str, args)], capture_output=True, text=True)


def checked(r: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if r.returncode != 0 or "Traceback" in r.stderr:
        raise SystemExit(f"{what} failed (exit {r.returncode}):\n{r.stderr}")
    return r


def medians(r: subprocess.CompletedProcess) -> dict[str, float]:
    """{source: median SDR} from the table ``shotoku evaluate`` prints (museval's JSON stores +inf as NaN)."""
    lines = r.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["source", "SDR"])
    return {line.split()[0]: float(line.split()[1]) for line in lines[start + 1:] if line.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=None, help="song length (default: synth's own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    synth = ["synth", "-n", args.songs, "-o", OUT / "songs", "--seed", args.seed]
    if args.seconds:
        synth += ["--seconds", args.seconds]
    checked(shotoku(*synth), "synth")
    rows = []
    for song in sorted((OUT / "songs").iterdir()):
        if not song.is_dir():
            continue
        stems = OUT / "stems" / song.name
        stems.mkdir(parents=True)
        for f in song.iterdir():  # the true stems alone (the song folder also holds the mixture)
            if f.suffix == ".wav" and f.stem != "mixture":
                shutil.copy(f, stems / f.name)
        t = time.perf_counter()
        checked(shotoku("separate", song / "mixture.wav", "-o", OUT / "separated" / song.name), f"separate {song.name}")
        sep_s = time.perf_counter() - t
        sep = medians(checked(shotoku("evaluate", stems, OUT / "separated" / song.name), f"evaluate {song.name}"))
        self_run = checked(shotoku("evaluate", stems, stems), f"evaluate {song.name} (self)")
        # a silent stem (the generator leaves some out) is NaN, as museval refuses it; the rest +inf
        own = {k: ("silent" if f"reference '{k}' is silent" in self_run.stderr else v)
               for k, v in medians(self_run).items()}
        record_ = json.loads((OUT / "separated" / song.name / "separation.json").read_text())
        rows.append({"song": song.name, "objects": len(record_["sources"]), "separate_s": sep_s,
                     "sdr": sep, "self": own})
        print(f"{song.name}: {len(record_['sources'])} objects, {sep_s:.1f} s; SDR "
              + ", ".join(f"{k} {v:.1f}" for k, v in sep.items()) + "; self "
              + ", ".join(f"{k} {v}" for k, v in own.items()), flush=True)
    lines = ["| song | objects found | separate | SDR per stem (median over frames, dB) | true stems vs themselves |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['song']} | {r['objects']} | {r['separate_s']:.1f} s | "
                     + ", ".join(f"{k} {v:.1f}" for k, v in r["sdr"].items()) + " | "
                     + ", ".join(f"{k} {v}" for k, v in r["self"].items()) + " |")
    table = "\n".join(lines)
    all_inf = all(v == "silent" or v == float("inf") for r in rows for v in r["self"].values())
    summary = (f"{len(rows)} songs, every command exited 0; true stems against themselves: "
               f"{'SDR +inf for every stem that sounds' if all_inf else 'NOT +inf everywhere'}; "
               f"{time.perf_counter() - t0:.0f} s in all.")
    print(table + "\n\n" + summary)
    if not args.no_record:
        command = "PYTHONPATH=src .venv/bin/python bench/workflow.py " + shlex.join(sys.argv[1:])
        entry = (f"### {datetime.date.today().isoformat()}: `{command.strip()}`\n\n"
                 f"{cpu_model()}, {len(os.sched_getaffinity(0))} usable cores, load average {load:.1f} at start.\n\n"
                 f"{table}\n\n{summary}")
        record(entry, SECTION, INTRO)
    return 0 if all_inf else 1


if __name__ == "__main__":
    sys.exit(main())
