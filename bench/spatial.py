"""Spatial methods side by side on the PROJET study scenes: BSS Eval image metrics and speed.

Renders synthetic 4-stem songs (``shotoku.datasets.synth.render_song``), builds the study's scenes
from them (``shotoku.datasets.scenes_mod.study_scenes``: 4 mono objects at equal RMS, constant-power panning at
10°, 20°, 30° spacing, and 20° with inter-channel delays), separates every scene with every method
through ``shotoku.separate``, and scores the images with ``shotoku.metrics.bss_eval_images``
after pairing estimates with references by ``shotoku.metrics.match_sources`` (best permutation).

Printed and appended to the "Spatial methods" section of docs/benchmarks.md (date, machine,
command): per method × condition the median over objects and scenes of the per-object median
over 1 s frames (SiSEC 2018 aggregation) of SDR, ISR, SIR and SAR, the mean SDR over objects
and scenes, and the seconds of compute per second of audio (wall clock of ``shotoku.separate``).

Methods are given as ``name`` or ``name:key=value:key=value`` (the method's own parameters,
e.g. ``projet:max_delay=5``), optionally restricted to some conditions with ``@``
(``projet:max_delay=5@20d``). Every method is asked for as many sources as the scene has objects;
a determined method (ica, auxiva) that cannot give more sources than channels is run with
``sources=channels`` instead, and is scored on SDR only: each estimate is paired with one object
(best pairing), and only those pairs enter its numbers (marked ``*``: "SDR of the objects it
returns", not comparable with a method that returns all four). An estimate that is silent (all
zeros) is dropped the same way.

Usage::

    PYTHONPATH=src .venv/bin/python bench/spatial.py --scenes 3 --seconds 8
    PYTHONPATH=src .venv/bin/python bench/spatial.py --methods projet adress oracle-irm --no-record

With ``--workers N`` and Dask installed, scenes are fanned out over N processes (timings then
include the contention between workers); otherwise everything runs in this process.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import shotoku
from shotoku import registry
from shotoku.datasets import scenes as scenes_mod
from shotoku.errors import ChannelError

from benchlog import record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Spatial methods"
INTRO = (
    "`bench/spatial.py`: every spatial method and the oracle ratio mask on the PROJET study "
    "scenes built from synthetic songs (4 objects, equal RMS, constant-power panning). "
    "Scores from `shotoku.metrics` (BSS Eval v4 images, museval-compatible), estimates "
    "paired with objects by best permutation."
)
CONDITION_TITLES = {"10": "10°", "20": "20°", "30": "30°", "20d": "20° + delays"}
METRICS = ("SDR", "ISR", "SIR", "SAR")


@dataclass
class Spec:
    """One method to run: its registry name, its parameters, and the label shown in the tables."""

    label: str
    name: str
    params: dict = field(default_factory=dict)
    conditions: tuple = ()  # run only on these conditions (empty: all)


@dataclass
class Result:
    """One method on one scene: per-object median-over-frames metrics (NaN where undefined)."""

    label: str
    condition: str
    scene: str
    metrics: dict  # name -> float64 [shape=(objects,)]
    compute_s: float
    audio_s: float
    note: str = ""
    score_s: float = 0.0


def default_methods() -> list[str]:
    """Every registered spatial method, PROJET with a delay grid, and the oracle ratio mask."""
    names = [m.name for m in registry.available() if m.func.__module__.startswith("shotoku.spatial")]
    out = list(names)
    if "projet" in names:
        out.insert(names.index("projet") + 1, "projet:max_delay=5@20d")
    out.append("oracle-irm")
    return out


def parse_spec(text: str) -> Spec:
    """``name[:key=value...][@cond,cond]`` -> :class:`Spec` (values typed by the registry)."""
    body, _, only = text.partition("@")
    name, *pairs = body.split(":")
    method = registry.get(name)
    params = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        params[key] = registry.convert_param(method, key, value)
    conds = tuple(scenes_mod.conditions(only.split(","))) if only else ()
    return Spec(body, name, params, conds)


def make_tracks(n: int, seconds: float, seed: int) -> list:
    """``n`` synthetic songs, long enough for the scene builder to choose an excerpt in.

    Songs whose first four stems include a silent one are skipped (the next seed is taken), so
    that every song makes a 4-object scene."""
    from shotoku.datasets.synth import render_song, track_seed

    length = max(1.5 * seconds, seconds + 4.0)
    tracks, index = [], 0
    while len(tracks) < n:
        track = render_song(track_seed(seed, index), length)
        index += 1
        # a song whose first four stems include a silent one cannot make a 4-object scene
        stems = list(track.stems.values())[:4]
        if len(stems) == 4 and all(np.sqrt(np.mean(np.asarray(s, np.float64) ** 2)) > 1e-6 for s in stems):
            tracks.append(track)
        elif index > 4 * n + 8:
            raise RuntimeError(f"too many songs with silent stems: {index - len(tracks)} of {index}")
    return tracks


def score(refs: np.ndarray, images: dict, rate: int) -> tuple[dict, str]:
    """Per-object BSS Eval medians of one separation.

    refs: float32 [shape=(J, C, N)]; images: {name: (C, N)} from a separator.
    Returns ({metric: float64 [shape=(J,)]}, note). With fewer non-silent estimates than
    references only SDR is given, for the paired objects (NaN for the others).
    """
    from shotoku.metrics import bss_eval_images, match_sources

    ests = np.stack([np.asarray(v, np.float32) for v in images.values()])
    audible = np.flatnonzero(np.any(ests != 0, axis=(1, 2)))
    ests = ests[audible]
    j = refs.shape[0]
    out = {m: np.full(j, np.nan) for m in METRICS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank-deficient references: panned mono objects
        if len(ests) == j:
            order, _ = match_sources(refs, ests, rate)
            med = bss_eval_images(refs, ests[order], rate).median()
            for m in METRICS:
                out[m] = np.asarray(med[m], dtype=np.float64)
            return out, ""
        if len(ests):
            order, sdr = match_sources(refs, ests, rate)
            out["SDR"] = np.where(order >= 0, sdr, np.nan)
    return out, f"{len(ests)} of {j} objects; SDR of those only"


def _separate(scene, name: str, params: dict) -> tuple[dict, float, str]:
    """Separate one scene; a determined method asked for too many sources gets ``sources=channels``.

    Returns (images, seconds of wall clock, note)."""
    start = time.perf_counter()
    try:
        images = shotoku.separate(scene.mixture, scene.rate, method=name, **params)
        return images, time.perf_counter() - start, ""
    except ChannelError:
        channels = scene.mixture.shape[0]
        params = dict(params, sources=channels)
        start = time.perf_counter()
        images = shotoku.separate(scene.mixture, scene.rate, method=name, **params)
        return images, time.perf_counter() - start, f"determined: at most {channels} sources"


def run_scene(scene, specs: list[Spec]) -> list[Result]:
    """Every method on one scene."""
    refs = scene.images
    j, _, n = refs.shape
    results = []
    for spec in specs:
        if spec.conditions and scene.meta["condition"] not in spec.conditions:
            continue
        method = registry.get(spec.name)
        params = dict(spec.params)
        if method.needs_references:
            params["references"] = scene.sources
        if "sources" in method.params and "sources" not in params:
            params["sources"] = j
        try:
            images, elapsed, note = _separate(scene, spec.name, params)
            t_score = time.perf_counter()
            metrics, score_note = score(refs, images, scene.rate)
            t_score = time.perf_counter() - t_score
        except Exception as exc:  # one broken method must not lose the others' numbers
            traceback.print_exc()
            metrics = {m: np.full(j, np.nan) for m in METRICS}
            elapsed, note, score_note = float("nan"), f"failed: {type(exc).__name__}: {exc}"[:120], ""
            t_score = 0.0
        note = "; ".join(x for x in (note, score_note) if x)
        results.append(Result(spec.label, scene.meta["condition"], scene.meta["scene"], metrics,
                              elapsed, n / scene.rate, note, t_score))
    return results


def run_all(scenes, specs: list[Spec], workers: int) -> list[Result]:
    """Run every scene, sequentially or fanned out with Dask when asked and installed."""
    from tqdm import tqdm

    if workers > 1:
        try:
            import dask
        except ImportError:
            print("dask is not installed: running sequentially", file=sys.stderr)
        else:
            tasks = [dask.delayed(run_scene)(s, specs) for s in scenes]
            done = dask.compute(*tasks, scheduler="processes", num_workers=workers)
            return [r for rs in done for r in rs]
    results = []
    for scene in tqdm(scenes, desc="scenes", unit="scene", disable=not sys.stderr.isatty()):
        results.extend(run_scene(scene, specs))
    return results


def summarise(results: list[Result], labels: list[str], conds: list[str]) -> list[dict]:
    """One row per method × condition: medians of per-object medians, mean SDR, speed, notes."""
    rows = []
    for label in labels:
        for cond in conds:
            rs = [r for r in results if r.label == label and r.condition == cond]
            if not rs:
                continue
            row = {"method": label, "condition": cond, "scenes": len(rs)}
            for m in METRICS:
                vals = np.concatenate([r.metrics[m] for r in rs])
                vals = vals[np.isfinite(vals)]
                row[m] = float(np.median(vals)) if vals.size else float("nan")
            sdr = np.concatenate([r.metrics["SDR"] for r in rs])
            row["mean SDR"] = float(np.mean(sdr[np.isfinite(sdr)])) if np.isfinite(sdr).any() else float("nan")
            timed = [r for r in rs if np.isfinite(r.compute_s)]
            row["speed"] = (sum(r.compute_s for r in timed) / sum(r.audio_s for r in timed)
                            if timed else float("nan"))
            row["note"] = "; ".join(sorted({r.note for r in rs if r.note}))
            row["partial"] = any("of those only" in r.note for r in rs)
            rows.append(row)
    return rows


def _fmt(x: float, digits: int = 2) -> str:
    return "–" if not np.isfinite(x) else f"{x:.{digits}f}"


def tables(rows: list[dict], labels: list[str], conds: list[str]) -> str:
    """Markdown: an SDR overview (method × condition) and the full table."""
    head = "| method | " + " | ".join(CONDITION_TITLES.get(c, c) for c in conds) + " | s per s of audio |"
    lines = ["Median SDR (dB), method × condition:", "", head, "|" + "---|" * (len(conds) + 2)]
    for label in labels:
        mine = {r["condition"]: r for r in rows if r["method"] == label}
        if not mine:
            continue
        speed = np.mean([r["speed"] for r in mine.values()])
        cells = [_fmt(mine[c]["SDR"]) + ("*" if mine[c]["partial"] else "") if c in mine else ""
                 for c in conds]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_fmt(speed, 3)} |")
    lines += ["", "All metrics (dB; median over objects × scenes of the median over 1 s frames):", "",
              "| method | condition | SDR | ISR | SIR | SAR | mean SDR | s per s | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {CONDITION_TITLES.get(r['condition'], r['condition'])} | "
            + " | ".join(_fmt(r[m]) + ("*" if r["partial"] and m == "SDR" else "") for m in METRICS)
            + f" | {_fmt(r['mean SDR'])} | {_fmt(r['speed'], 3)} | {r['note']} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """CPU model and count (from lscpu), OS and Python/torch versions, on one line."""
    model = platform.processor() or platform.machine()
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    import torch

    return (f"{model}, {os.cpu_count()} CPUs visible, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=3, help="scenes per condition (one song each)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each scene in seconds")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="methods as name[:key=value...][@conditions] (default: every spatial method, "
                             "projet:max_delay=5@20d and oracle-irm)")
    parser.add_argument("--conditions", nargs="+", default=["all"], help="10 20 30 20d, or all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the songs, excerpts and methods")
    parser.add_argument("--workers", type=int, default=1, help="processes for the Dask fan-out (if installed)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to docs/benchmarks.md")
    args = parser.parse_args(argv)

    specs = [parse_spec(s) for s in (args.methods or default_methods())]
    for spec in specs:
        if "seed" in registry.get(spec.name).params:
            spec.params.setdefault("seed", args.seed)
    conds = scenes_mod.conditions(args.conditions)
    labels = [s.label for s in specs]

    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    tracks = make_tracks(args.scenes, args.seconds, args.seed)
    scenes = scenes_mod.study_scenes(tracks, conds, args.scenes, args.seconds, args.seed)
    t_data = time.perf_counter() - t0
    results = run_all(scenes, specs, args.workers)
    rows = summarise(results, labels, conds)
    t_total = time.perf_counter() - t0

    rate = scenes[0].rate
    command = "PYTHONPATH=src .venv/bin/python bench/spatial.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    entry = "\n".join([
        f"### {datetime.date.today().isoformat()}: {args.scenes} scenes × {args.seconds:g} s per condition, "
        f"{rate} Hz",
        "",
        f"- Machine: {machine()}",
        f"- Command: `{command.strip()}`",
        f"- Wall time: {t_total:.0f} s in all ({t_data:.0f} s rendering songs and building scenes, "
        f"{sum(r.score_s for r in results):.0f} s scoring); "
        f"seed {args.seed}; {'Dask, ' + str(args.workers) + ' processes' if args.workers > 1 else 'one process'}; "
        f"load average (1 min) {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        f"(other work on the machine inflates the timings)",
        "",
        tables(rows, labels, conds),
        "",
        "Notes: methods run with their defaults except `sources` = number of objects "
        "(ica/auxiva are determined methods and give at most as many sources as channels: 2 of the "
        "4 objects; `*`: SDR of the 2 objects paired with its 2 outputs only, ISR/SIR/SAR not defined). "
        "`projet:max_delay=5` adds a delay grid of ±5 samples (run on the delayed scenes only). "
        "SDR is a plain framewise signal-to-error ratio; ISR/SIR/SAR come from BSS Eval's 512-tap "
        "projections, which are ill-conditioned here (every reference is one mono object panned, and "
        "on the delayed scenes delayed, into stereo): read the low SIR/SAR on 20° + delays, the oracle's "
        "included, as a property of the metric on these references rather than of the methods.",
    ])
    print(entry)
    if not args.no_record:
        record(entry, SECTION, INTRO)
        print(f"\nappended to {BENCHMARKS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
