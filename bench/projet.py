"""PROJET speed and memory on a 30 s, 44.1 kHz, 4-object stereo scene.

The scene: the 4 stems of a synthetic song (``shotoku.datasets.synth.render_song``), each
downmixed to mono, at equal RMS, panned at 20° spacing (``shotoku.datasets.scenes.CONDITIONS``; the
"20d" condition adds the study's delays). Each configuration of PROJET runs in a fresh process
with ``torch.set_num_threads(threads)`` (2 by default: the target is under 60 s on 2 cores and
under 4 GB of memory), so that its peak resident memory (``getrusage`` ru_maxrss, which includes
the interpreter and torch, about 0.3 GB) is its own. Reported per configuration: wall time, CPU
time of the process, peak RSS, RSS just before the call, and the mean SDR of the 4 objects
(``shotoku.metrics.match_sources``) as a check that the fast setting still separates.

Printed, and appended to the "PROJET" section of docs/benchmarks.md with the date, the machine
(lscpu model name, cores, load average at start) and the command.

Usage::

    PYTHONPATH=src .venv/bin/python bench/projet.py                 # defaults, 30 s, 20° scene
    PYTHONPATH=src .venv/bin/python bench/projet.py --tradeoffs     # plus other settings
    PYTHONPATH=src .venv/bin/python bench/projet.py --condition 20d --params max_delay=5 --no-record
    PYTHONPATH=src .venv/bin/python bench/projet.py --quality 8      # SDR per condition, 8 songs

``--quality N`` measures separation instead: mean SDR of the 4 objects per study condition on
N synthetic songs (seeds 0..N-1, 6 s each), for the default blind start, the paper's random
start, and the random start with 4 restarts; the delayed condition is run with a ±5-sample
delay grid and without one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlog import cpu_model, record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
SECTION = "## PROJET"
INTRO = (
    "`bench/projet.py`: PROJET (`shotoku.spatial.projet`) on a 30 s, 44.1 kHz stereo scene of 4 "
    "objects (the stems of synthetic song 0, equal RMS, constant-power panning at 20° spacing), each "
    "setting in a fresh process with `torch.set_num_threads(2)` (PROJET then shares its blocks of "
    "frequency bins among 2 worker threads). Targets with the default settings: "
    "under 60 s wall and under 4 GB peak memory on 2 cores. Peak RSS is the process's `ru_maxrss` "
    "(interpreter and torch included); SDR is the mean over the 4 objects of the median framewise "
    "image SDR (`shotoku.metrics.match_sources`). On a shared machine (load average above the "
    "core count) wall time overstates the cost; CPU time is then the steadier figure."
)
RATE = 44100
# Settings compared by --tradeoffs: label -> PROJET parameters (beyond --params).
TRADEOFFS = {
    "defaults": {},
    "n_fft 2048": {"n_fft": 2048},
    "50 iterations": {"iterations": 50},
    "200 iterations": {"iterations": 200},
    "20 projections": {"projections": 20},
    "delay grid ±5": {"max_delay": 5.0},
}


def rss_mib() -> float:
    """Current resident memory of this process in MiB (from /proc; NaN where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def make_scene_file(seconds: float, condition: str, seed: int, folder: Path) -> Path:
    """Render the scene and save mixture and images to ``folder/scene.npz``."""
    from shotoku.datasets.synth import render_song
    from shotoku.datasets.scenes import CONDITIONS, make_scene

    track = render_song(seed, seconds, rate=RATE)
    objects = np.stack([track.stems[k].mean(axis=0) for k in ("drums", "bass", "other", "vocals")])
    angles, delays = CONDITIONS[condition]
    mixture, images = make_scene(objects, angles, delays)
    path = folder / "scene.npz"
    np.savez(path, mixture=mixture, images=images)
    return path


def child(scene: str, params: dict, threads: int) -> dict:
    """Run PROJET once on the saved scene in this process; return the measurements."""
    import torch

    from shotoku.metrics import match_sources
    from shotoku.spatial.projet import projet

    torch.set_num_threads(threads)
    data = np.load(scene)
    mixture, images = data["mixture"], data["images"]
    before = rss_mib()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = projet(mixture, RATE, **params)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    _, sdr = match_sources(images, np.stack(list(out.values())), RATE)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": peak, "rss_before_mib": before,
            "sdr_db": float(np.mean(sdr)), "names": list(out)}


def run_child(scene: Path, params: dict, threads: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(scene),
           "--child-params", json.dumps(params), "--threads", str(threads)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"PROJET run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


QUALITY_SETTINGS = {
    "histogram start (default)": {},
    "random start": {"init": "random"},
    "random start, 4 restarts": {"init": "random", "restarts": 4},
}


def quality(n_songs: int, seconds: float, threads: int) -> str:
    """Mean SDR (dB) per condition and start over ``n_songs`` songs; returns a markdown table."""
    import torch

    from shotoku.datasets.synth import render_song
    from shotoku.metrics import match_sources
    from shotoku.datasets.scenes import CONDITIONS, make_scene
    from shotoku.spatial.projet import projet

    torch.set_num_threads(threads)
    songs = []
    for seed in range(n_songs):
        track = render_song(seed, seconds, rate=RATE)
        songs.append(np.stack([track.stems[k].mean(axis=0) for k in ("drums", "bass", "other", "vocals")]))
    columns = [("30", {}), ("20", {}), ("10", {}), ("20d", {"max_delay": 5.0}), ("20d", {})]
    heads = ["30°", "20°", "10°", "20° delays, grid ±5", "20° delays, no grid"]
    lines = ["| start | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    for label, params in QUALITY_SETTINGS.items():
        cells = []
        for condition, extra in columns:
            scores = []
            for objects in songs:
                mixture, images = make_scene(objects, *CONDITIONS[condition])
                out = projet(mixture, RATE, **params, **extra)
                scores.append(float(np.mean(match_sources(images, np.stack(list(out.values())), RATE)[1])))
            cells.append(f"{np.mean(scores):.2f} (min {np.min(scores):.2f})")
            print(f"{label:28s} {condition:4s} {extra} {np.round(scores, 2)}", flush=True)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(rows: list[tuple[str, dict, dict]]) -> str:
    lines = ["| setting | parameters | wall (s) | CPU (s) | peak RSS (MiB) | SDR (dB) |",
             "|---|---|---:|---:|---:|---:|"]
    for label, params, r in rows:
        p = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        lines.append(f"| {label} | {p} | **{r['wall_s']:.1f}** | {r['cpu_s']:.1f} | "
                     f"**{r['peak_rss_mib']:.0f}** | {r['sdr_db']:.2f} |")
    return "\n".join(lines)


def parse_params(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        for kind in (int, float):
            try:
                out[key] = kind(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="scene length in seconds (default 30)")
    parser.add_argument("--condition", default="20", help="study condition: 10, 20, 30 or 20d (default 20)")
    parser.add_argument("--song", type=int, default=0, help="seed of the synthetic song (default 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--params", nargs="*", default=[], help="PROJET parameters key=value for every run")
    parser.add_argument("--tradeoffs", action="store_true", help="also run the settings in TRADEOFFS")
    parser.add_argument("--quality", type=int, default=0, metavar="N",
                        help="measure SDR per condition on N songs (6 s) instead of speed")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write docs/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, json.loads(args.child_params), args.threads)))
        return 0

    load = os.getloadavg()[0]
    argv_used = argv if argv is not None else sys.argv[1:]
    command = "PYTHONPATH=src .venv/bin/python bench/projet.py" + (
        " " + " ".join(shlex.quote(a) for a in argv_used) if argv_used else "")
    if args.quality:
        result = quality(args.quality, 6.0, args.threads)
        entry = (f"- {datetime.date.today().isoformat()}, quality; `{command}`: mean over songs of the "
                 f"mean SDR (dB) of the 4 objects, {args.quality} synthetic songs (seeds 0–{args.quality - 1}, "
                 f"6 s), default settings otherwise:\n\n{result}\n")
        print()
        print(entry)
        if not args.no_record:
            record(entry, SECTION, INTRO)
            print(f"recorded in {BENCHMARKS.relative_to(ROOT)}")
        return 0
    base = parse_params(args.params)
    settings = TRADEOFFS if args.tradeoffs else {"defaults": {}}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        scene = make_scene_file(args.seconds, args.condition, args.song, Path(folder))
        for label, extra in settings.items():
            params = {**base, **extra}
            result = run_child(scene, params, args.threads)
            rows.append((label, params, result))
            print(f"{label:16s} wall {result['wall_s']:6.1f} s  CPU {result['cpu_s']:6.1f} s  "
                  f"peak RSS {result['peak_rss_mib']:6.0f} MiB  SDR {result['sdr_db']:5.2f} dB  "
                  f"{result['names']}", flush=True)
    import torch

    entry = (
        f"- {datetime.date.today().isoformat()}, {cpu_model()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} ({args.threads} threads), load average {load:.1f} at start; `{command}`; "
        f"{args.seconds:g} s scene, condition {args.condition}, song {args.song}:\n\n" + table(rows) + "\n"
    )
    print()
    print(entry)
    if not args.no_record:
        record(entry, SECTION, INTRO)
        print(f"recorded in {BENCHMARKS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
