"""Peak memory and time of ``shotoku separate`` (and ``evaluate``) against the length of the song.

One 60 s scene (a synthetic song, seed 0, its four stems panned at 20° spacing as in the study)
is tiled to each length (every repeat at another gain, so no two minutes are identical) and
written as float WAV with its four true images. Each method then separates it through the CLI in
a fresh process, ``shotoku -q separate SONG -o OUT --overwrite -m METHOD``: reading, separation
and writing included. The peak resident memory of that process (``ru_maxrss`` from ``wait4``,
taken by a small launcher so that this script's own memory never counts) and its wall and CPU
time are recorded. ``evaluate`` scores the true images against themselves.

Printed as a Markdown table and appended to the "Memory against song length" section of
docs/benchmarks.md with the date, the machine and the command. The goal (long inputs separated
block by block): at most 2 GB at 10 minutes for every method's defaults, and at most 0.1 GB more
per extra minute.

Usage::

    PYTHONPATH=src .venv/bin/python bench/memory.py                        # 1, 4, 10 min, every method
    PYTHONPATH=src .venv/bin/python bench/memory.py --minutes 1 4 --methods adress --no-record
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

import numpy as np

from benchlog import cpu_model, record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "memory"
SECTION = "## Memory against song length"
INTRO = (
    "`bench/memory.py`: peak resident memory (`ru_maxrss` of the process) and wall time of "
    "`shotoku -q separate SONG -o OUT --overwrite -m METHOD` (reading, separation and writing) on a "
    "60 s study scene (20° spacing) tiled to each length, stereo 44.1 kHz float WAV; `evaluate` "
    "scores the true images against themselves. Goal: at most 2 GB at 10 minutes, at most 0.1 GB "
    "more per extra minute."
)
METHODS = ("adress", "duet", "projet", "ica", "auxiva", "oracle-irm", "mmdensenet", "evaluate")


def scene_files(minutes: float, folder: Path) -> tuple[Path, Path]:
    """The tiled scene of ``minutes`` under ``folder``: (mixture.wav, folder of true images)."""
    import soundfile as sf

    from shotoku.datasets.scenes import CONDITIONS, _track_objects, scene_from_objects
    from shotoku.datasets.synth import render_song

    target = folder / f"{minutes:g}min"
    mixture = target / "mixture.wav"
    if mixture.is_file():
        return mixture, target / "truth"
    base = folder / "base.npz"
    if not base.is_file():
        track = render_song(0, seconds=60.0)
        names, objects = _track_objects(track)
        angles, delays = CONDITIONS["20"]
        scene = scene_from_objects(objects, angles, delays, rate=track.rate, names=names)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(base, images=scene.images, names=np.array(scene.names), rate=scene.rate)
    data = np.load(base)
    images, names, rate = data["images"], [str(n) for n in data["names"]], int(data["rate"])
    n = int(round(minutes * 60 * rate))
    reps = int(np.ceil(n / images.shape[-1]))
    gains = 0.6 + 0.4 * np.random.default_rng(0).random((reps, len(names)))
    (target / "truth").mkdir(parents=True, exist_ok=True)
    for j, name in enumerate(names):
        with sf.SoundFile(target / "truth" / f"{name}.wav", "w", rate, 2, subtype="FLOAT") as f:
            for r in range(reps):
                f.write((gains[r, j] * images[j]).T[: max(n - r * images.shape[-1], 0)])
    with sf.SoundFile(mixture, "w", rate, 2, subtype="FLOAT") as f:
        for r in range(reps):
            f.write(np.einsum("j,jcn->cn", gains[r], images).T[: max(n - r * images.shape[-1], 0)])
    return mixture, target / "truth"


# Linux keeps the larger of a process's peak before and after exec in ru_maxrss, and a process
# spawned from this one starts with this one's memory mapped (the rendered scene, synth's
# imports: up to about 1 GB). So the command runs under this small launcher, a fresh interpreter
# that spawns it and reports the command's own ru_maxrss, CPU time and exit status on a pipe.
_LAUNCHER = """
import os, sys
fd = int(sys.argv[1])
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, u = os.wait4(pid, 0)
os.write(fd, ("%d %r %d" % (u.ru_maxrss, u.ru_utime + u.ru_stime, os.waitstatus_to_exitcode(status))).encode())
"""


def measure(argv: list[str]) -> dict:
    """Run ``argv`` to the end: wall s, CPU s (user + sys), peak RSS in GB, exit status.

    The peak is the command's own (``ru_maxrss`` through :data:`_LAUNCHER`), not this process's.
    """
    read, write = os.pipe()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-I", "-c", _LAUNCHER, str(write), *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, pass_fds=(write,))
    os.close(write)
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.wait()
    wall = time.perf_counter() - t0
    with os.fdopen(read) as f:
        report = f.read().split()
    proc.stderr.close()
    if len(report) != 3:
        return {"wall_s": wall, "cpu_s": float("nan"), "peak_gb": float("nan"), "status": proc.returncode,
                "error": err.splitlines()[-1] if err else "launcher failed"}
    maxrss_kb, cpu_s, status = int(report[0]), float(report[1]), int(report[2])
    return {"wall_s": wall, "cpu_s": cpu_s, "peak_gb": maxrss_kb * 1024 / 1e9,
            "status": status, "error": err.splitlines()[-1] if err else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 4.0, 10.0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to docs/benchmarks.md")
    args = parser.parse_args()
    shotoku = [sys.executable, "-m", "shotoku", "-q"]
    load = os.getloadavg()[0]
    rows = []
    for minutes in args.minutes:
        mixture, truth = scene_files(minutes, OUT)
        for method in args.methods:
            out = OUT / f"{minutes:g}min" / f"out-{method}"
            if method == "evaluate":
                argv = shotoku + ["evaluate", str(truth), str(truth), "--json", str(out / "scores.json")]
                out.mkdir(parents=True, exist_ok=True)
            else:
                argv = shotoku + ["separate", str(mixture), "-o", str(out), "--overwrite", "-m", method]
                if method.startswith("oracle"):
                    argv += ["--references", str(truth)]
            result = measure(argv)
            blocks = ""
            record_path = out / "separation.json"
            if record_path.is_file():
                blocks = json.loads(record_path.read_text()).get("blocks", {}).get("count", "")
            rows.append({"method": method, "minutes": minutes, "blocks": blocks, **result})
            print(f"{method:>12} {minutes:5g} min: {result['peak_gb']:.2f} GB, {result['wall_s']:.1f} s wall, "
                  f"{result['cpu_s']:.1f} s CPU, blocks {blocks or '-'}, exit {result['status']} {result['error']}",
                  flush=True)
            shutil.rmtree(out, ignore_errors=True)
    lines = ["| method | minutes | blocks | peak RSS | wall | s per s of audio | CPU (user + sys) | exit |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['method']}` | {r['minutes']:g} | {r['blocks'] or '-'} | {r['peak_gb']:.2f} GB | "
                     f"{r['wall_s']:.1f} s | {r['wall_s'] / (60 * r['minutes']):.2f} | {r['cpu_s']:.1f} s | "
                     f"{r['status']}{' (' + r['error'] + ')' if r['status'] else ''} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        command = "PYTHONPATH=src .venv/bin/python bench/memory.py " + shlex.join(sys.argv[1:])
        entry = (f"### {datetime.date.today().isoformat()}: `{command.strip()}`\n\n"
                 f"{cpu_model()}, {len(os.sched_getaffinity(0))} usable cores, load average {load:.1f} at start.\n\n"
                 + table)
        record(entry, SECTION, INTRO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
