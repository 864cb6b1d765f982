"""Spatial methods side by side on the PROJET study scenes: BSS Eval image metrics and speed.

Renders synthetic 4-stem songs (``shotoku.datasets.synth.render_song``), builds the study's scenes
from them (``shotoku.datasets.scenes.study_scenes``: 4 mono objects at equal RMS, constant-power
panning at 10°, 20°, 30° spacing, and 20° with inter-channel delays), separates every scene with
every method through ``shotoku.separate``, and scores the images with ``shotoku.evaluation.score``
(estimates paired with objects by best SDR).

Printed and appended to the "Spatial methods" section of docs/benchmarks.md (date, machine,
command): per method × condition the median over objects and scenes of the per-object median
over 1 s frames (SiSEC 2018 aggregation) of SDR, ISR, SIR and SAR, the mean SDR over objects
and scenes, and the seconds of compute per second of audio (wall clock of ``shotoku.separate``,
and the process's CPU time). By default every spatial method runs with each post-filter stage
(``postfilter=mnmf``, ``wiener``, ``none``), beside both oracles (``oracle-irm``,
``oracle-wiener``). A last table gives the number of objects ``sources=auto`` finds
(:func:`shotoku.spatial.panmask.count_objects`) on every 4-object scene and on 3-object scenes
made from the same songs' first three stems (at -s, 0, +s degrees for spacing s, with the
condition's first three delays).

Methods are given as ``name`` or ``name:key=value:key=value`` (the method's own parameters,
e.g. ``projet:max_delay=5``), optionally restricted to some conditions with ``@``
(``projet:max_delay=5@20d``). Every method is asked for as many sources as the scene has objects.

Usage::

    PYTHONPATH=src .venv/bin/python bench/spatial.py --scenes 5 --seconds 10
    PYTHONPATH=src .venv/bin/python bench/spatial.py --methods projet adress oracle-irm --no-record
    # render once, then bench on a machine without the song generator's dependencies:
    PYTHONPATH=src .venv/bin/python bench/spatial.py --scenes 5 --save-scenes scenes.npz --methods oracle-irm --no-record
    PYTHONPATH=src python3 bench/spatial.py --load-scenes scenes.npz --workers 16

With ``--workers N`` scenes are fanned out over N processes, one thread each (timings then
include the contention between workers).
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

from benchlog import record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Spatial methods"
INTRO = (
    "`bench/spatial.py`: every spatial method with each post-filter stage, and both oracles, on "
    "the PROJET study scenes built from synthetic songs (4 objects, equal RMS, constant-power "
    "panning). Scores from `shotoku.evaluation.score` (BSS Eval v4 images, museval-compatible), "
    "estimates paired with objects by SDR."
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
    cpu_s: float = float("nan")


STAGES = ("mnmf", "wiener", "none")


def default_methods() -> list[str]:
    """Every registered spatial method that has post-filter stages, with each stage (PROJET also
    with a delay grid on the delayed scenes), and both oracles. ICA and AuxIVA are left out: they
    are determined methods (at most as many outputs as channels, 2 of the 4 objects)."""
    out = []
    for m in registry.available():
        if not m.func.__module__.startswith("shotoku.spatial") or "postfilter" not in m.params:
            continue
        for stage in STAGES:
            out.append(f"{m.name}:postfilter={stage}")
            if m.name == "projet":
                out.append(f"projet:max_delay=5:postfilter={stage}@20d")
    return out + ["oracle-irm", "oracle-wiener"]


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


def score(scene, images: dict) -> tuple[dict, str]:
    """Per-object BSS Eval medians of one separation (``shotoku.evaluation.score``).

    Returns ({metric: float64 [shape=(J,)]} in the order of ``scene.names``, note).
    """
    from shotoku.evaluation import score as evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank-deficient references: panned mono objects
        result = evaluate(scene.references, images, scene.rate, match="sdr")
    med = result.medians()
    out = {m: np.array([med[n][m] for n in scene.names], dtype=np.float64) for m in METRICS}
    return out, "; ".join(result.warnings) if getattr(result, "warnings", None) else ""


def _separate(scene, name: str, params: dict) -> tuple[dict, float, float]:
    """Separate one scene. Returns (images, seconds of wall clock, seconds of CPU time)."""
    start, cpu = time.perf_counter(), time.process_time()
    images = shotoku.separate(scene.mixture, scene.rate, method=name, **params)
    return images, time.perf_counter() - start, time.process_time() - cpu


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
            params["references"] = scene.references
        if "sources" in method.params and "sources" not in params:
            params["sources"] = j
        note = ""
        try:
            images, elapsed, cpu = _separate(scene, spec.name, params)
            t_score = time.perf_counter()
            metrics, note = score(scene, images)
            t_score = time.perf_counter() - t_score
        except Exception as exc:  # one broken method must not lose the others' numbers
            traceback.print_exc()
            metrics = {m: np.full(j, np.nan) for m in METRICS}
            elapsed, cpu, note = float("nan"), float("nan"), f"failed: {type(exc).__name__}: {exc}"[:120]
            t_score = 0.0
        results.append(Result(spec.label, scene.meta["condition"], scene.meta["scene"], metrics,
                              elapsed, n / scene.rate, note, t_score, cpu))
    return results


def _worker_start():
    """One thread per worker process: the workers share the machine's cores."""
    import torch

    torch.set_num_threads(1)


def run_all(scenes, specs: list[Spec], workers: int) -> list[Result]:
    """Run every scene, sequentially or fanned out over ``workers`` processes."""
    from tqdm import tqdm

    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_start) as pool:
            done = list(pool.map(run_scene, scenes, [specs] * len(scenes)))
        return [r for rs in done for r in rs]
    results = []
    for scene in tqdm(scenes, desc="scenes", unit="scene", disable=not sys.stderr.isatty()):
        results.extend(run_scene(scene, specs))
    return results


def three_object_scene(scene):
    """The scene's first three objects at -s, 0, +s degrees (s: the scene's spacing), with the
    condition's first three delays: the 3-object scenes of the ``sources=auto`` check."""
    spacing = scene.angles[1] - scene.angles[0]
    mono = scene.images[:3].sum(axis=1)  # panned mono objects: L + R is the object times a gain
    return scenes_mod.scene_from_objects(mono, [-spacing, 0.0, spacing], scene.delays[:3], rate=scene.rate,
                                         names=scene.names[:3], meta=dict(scene.meta, objects=3))


def auto_counts(scenes) -> list[dict]:
    """``sources=auto``'s count on every scene and on its 3-object version."""
    from shotoku.spatial.panmask import count_objects
    from shotoku.spectral import stft

    rows = []
    for scene in scenes:
        for sc in (scene, three_object_scene(scene)):
            found = count_objects(stft(sc.mixture, n_fft=4096, hop=1024))
            rows.append({"condition": scene.meta["condition"], "scene": scene.meta["scene"],
                         "objects": len(sc.names), "found": found})
    return rows


def count_table(rows: list[dict], conds: list[str]) -> str:
    """Markdown: how often ``sources=auto`` found the right number, per condition."""
    lines = ["`sources=auto` (objects found / scenes where the count was right):", "",
             "| objects | " + " | ".join(CONDITION_TITLES.get(c, c) for c in conds) + " |",
             "|" + "---|" * (len(conds) + 1)]
    for j in (4, 3):
        cells = []
        for c in conds:
            mine = [r for r in rows if r["condition"] == c and r["objects"] == j]
            right = sum(r["found"] == j for r in mine)
            cells.append(f"{','.join(str(r['found']) for r in mine)} ({right}/{len(mine)})")
        lines.append(f"| {j} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_scenes(path, tracks_scenes) -> None:
    """Write the scenes' objects (one excerpt per scene index) and metadata to an .npz file."""
    first = {}
    for sc in tracks_scenes:
        if not any(sc.delays):  # L + R of a panned, undelayed object is the object times a gain
            first.setdefault(sc.meta["index"], sc)
    arrays = {f"objects_{k}": sc.images.sum(axis=1) for k, sc in sorted(first.items())}
    import json

    meta = {str(k): {"names": sc.names, "meta": sc.meta, "rate": sc.rate, "angles": sc.angles}
            for k, sc in first.items()}
    np.savez(path, meta=json.dumps(meta), **arrays)


def load_scenes(path, conds: list[str]) -> list:
    """Scenes of every condition from a file written by :func:`save_scenes`."""
    import json

    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    out = []
    for c in conds:
        angles, delays = scenes_mod.CONDITIONS[c]
        for k in sorted(meta, key=int):
            m = meta[k]
            info = dict(m["meta"], condition=c)
            out.append(scenes_mod.scene_from_objects(data[f"objects_{k}"], angles, delays, rate=m["rate"],
                                                     names=m["names"], meta=info))
    return out


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
            row["cpu"] = (sum(r.cpu_s for r in timed) / sum(r.audio_s for r in timed)
                          if timed else float("nan"))
            row["note"] = "; ".join(sorted({r.note for r in rs if r.note}))
            row["partial"] = False
            rows.append(row)
    return rows


def _fmt(x: float, digits: int = 2) -> str:
    return "–" if not np.isfinite(x) else f"{x:.{digits}f}"


def tables(rows: list[dict], labels: list[str], conds: list[str]) -> str:
    """Markdown: an SDR overview (method × condition) and the full table."""
    head = ("| method | " + " | ".join(CONDITION_TITLES.get(c, c) for c in conds)
            + " | mean | s per s of audio (wall) | CPU s per s |")
    lines = ["Mean SDR over objects and scenes (dB), method × condition (the issue's measure; medians in "
             "the next table):", "", head, "|" + "---|" * (len(conds) + 4)]
    for label in labels:
        mine = {r["condition"]: r for r in rows if r["method"] == label}
        if not mine:
            continue
        speed = np.mean([r["speed"] for r in mine.values()])
        cpu = np.mean([r["cpu"] for r in mine.values()])
        cells = [_fmt(mine[c]["mean SDR"]) if c in mine else "" for c in conds]
        mean = np.mean([mine[c]["mean SDR"] for c in conds if c in mine])
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_fmt(mean)} | {_fmt(speed, 3)} | {_fmt(cpu, 3)} |")
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
    parser.add_argument("--workers", type=int, default=1, help="processes that share the scenes")
    parser.add_argument("--save-scenes", default=None, help="write the scenes' objects to this .npz file")
    parser.add_argument("--load-scenes", default=None, help="read the scenes' objects from this .npz file "
                        "(written by --save-scenes) instead of rendering songs")
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
    if args.load_scenes:
        scenes = load_scenes(args.load_scenes, conds)
        args.scenes = len(scenes) // len(conds)
        args.seconds = scenes[0].mixture.shape[1] / scenes[0].rate
    else:
        tracks = make_tracks(args.scenes, args.seconds, args.seed)
        scenes = scenes_mod.study_scenes(tracks, conds, args.scenes, args.seconds, args.seed)
    if args.save_scenes:
        save_scenes(args.save_scenes, scenes)
    t_data = time.perf_counter() - t0
    counts = auto_counts([s for s in scenes])
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
        f"seed {args.seed}; {str(args.workers) + ' processes of one thread each' if args.workers > 1 else 'one process'}; "
        f"load average (1 min) {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        f"(other work on the machine inflates the timings)",
        "",
        tables(rows, labels, conds),
        "",
        count_table(counts, conds),
        "",
        "Notes: methods run with their defaults except `sources` = number of objects and the "
        "parameters in the label (`postfilter`: the stage after the spatial method: `mnmf` the "
        "multichannel NMF of `shotoku.spatial.mnmf`, `wiener` the Wiener post-filter, `none`). "
        "`projet:max_delay=5` adds a delay grid of ±5 samples (run on the delayed scenes only). "
        "Scores: `shotoku.evaluation.score` (BSS Eval v4, 1 s frames, estimates paired by SDR). "
        "SDR is a plain framewise signal-to-error ratio; ISR/SIR/SAR come from BSS Eval's 512-tap "
        "projections, which are ill-conditioned here (every reference is one mono object panned, and "
        "on the delayed scenes delayed, into stereo).",
    ])
    print(entry)
    if not args.no_record:
        record(entry, SECTION, INTRO)
        print(f"\nappended to {BENCHMARKS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
