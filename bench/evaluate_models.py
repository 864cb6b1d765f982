"""Scores of the shipped models beside the oracles and "mixture as estimate".

Every checkpoint in ``src/shotoku/models/weights/`` (or those given with ``--checkpoint``) is
scored, with and without its Wiener post-filter, on

- ``--songs`` (10) held-out synthetic songs: ``write_dataset(..., split="heldout")`` with the
  dataset seed ``--seed`` (default 90210, never used for training data, whose songs come from
  ``track_seed(training seed, i)``) and held-out soundfonts only, ``--seconds`` (8) each;
- the real MUSDB18 excerpt shipped in stempeg (``shotoku.datasets.example()``), when installed;

beside ``oracle-irm`` and ``oracle-wiener`` (which read the true stems) and the mixture used as
the estimate of every stem (their per-song scores are kept in ``bench/out/evaluate_models-cache.json``
beside the songs, so that scoring a new checkpoint does not recompute them). Every estimate comes from ``shotoku.separation.run`` and is scored
with ``shotoku.evaluation.score`` (BSS Eval v4, 1 s frames). Per stem: the median over songs of
each song's median framewise SDR (silent stems, for which SDR is undefined, are left out); the
"mean" column averages the four stems, and "gain" is that mean minus the mixture's. Each
checkpoint is also scored with its architecture's initial weights (seed 0, no training step):
ratio masks that differ by frequency band already beat the mixture as the estimate of every
stem, so that row is the floor its training is to be read against.

Printed, and appended to the "Trained models" section of docs/benchmarks.md with the date,
machine and command.

Usage::

    PYTHONPATH=src .venv/bin/python bench/evaluate_models.py
    PYTHONPATH=src .venv/bin/python bench/evaluate_models.py --checkpoint runs/x/best.pt --no-record
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlog import cpu_model, record  # noqa: E402

STEMS = ["vocals", "drums", "bass", "other"]
SECTION = "## Trained models"
INTRO = ("Shipped checkpoints (`src/shotoku/models/weights/`) on held-out synthetic songs (held-out seeds "
         "and soundfonts) and on the real stempeg excerpt, beside the oracles and the mixture as the estimate "
         "of every stem. Median over songs of each song's median SDR (dB, BSS Eval v4, 1 s frames), "
         "written by `bench/evaluate_models.py`.")


def song_scores(track, method: str, **params) -> dict:
    """{stem: median framewise SDR} of ``method`` on ``track`` (NaN for a silent stem)."""
    from shotoku import separation
    from shotoku.evaluation import score

    refs = {s: np.asarray(track.stems[s], np.float32) for s in STEMS}
    mix = np.asarray(track.mixture, np.float32)
    if method == "mixture":
        est = {s: mix for s in STEMS}
    else:
        if method.startswith("oracle"):
            params = {**params, "references": refs}
        est = separation.run(mix, int(track.rate), method, **params).images
    medians = score(refs, {s: est[s] for s in STEMS}, int(track.rate), match="name").medians()
    out = {}
    for s in STEMS:
        v = float(medians.get(s, {}).get("SDR", math.nan))
        out[s] = v if math.isfinite(v) else math.nan
    return out


def summarise(per_song: list[dict]) -> dict:
    """{stem: median over songs} and "mean" over the stems."""
    row = {}
    for s in STEMS:
        values = [d[s] for d in per_song if math.isfinite(d[s])]
        row[s] = float(np.median(values)) if values else math.nan
    finite = [row[s] for s in STEMS if math.isfinite(row[s])]
    row["mean"] = float(np.mean(finite)) if finite else math.nan
    return row


def heldout_songs(folder: Path, n: int, seed: int, seconds: float):
    from shotoku.datasets import open_dataset
    from shotoku.datasets.synth import write_dataset

    write_dataset(folder, n, seed=seed, seconds=seconds, split="heldout")
    return list(open_dataset(folder, targets=STEMS).select([f"synth-{i:04d}" for i in range(n)]))


def initial_weights(info: dict, folder: Path, seed: int = 0) -> Path:
    """A checkpoint of the architecture, configuration and targets of ``info`` (a checkpoint as
    :func:`~shotoku.models.checkpoint.read_checkpoint` returns it) with the initial weights that
    ``seed`` gives (no training step): the floor a trained model is to be read against. Written
    once under ``folder``."""
    import torch

    from shotoku.models import build_model
    from shotoku.models.checkpoint import save_checkpoint

    config = info["config"]
    digest = hashlib.sha1(json.dumps([config, info["targets"], info["channels"]], sort_keys=True, default=str).encode())
    key = f"{info['architecture']}-{config.get('preset', 'custom')}-{digest.hexdigest()[:8]}"
    path = Path(folder) / f"initial-{key}-seed{seed}.pt"
    if not path.is_file():
        torch.manual_seed(seed)
        model = build_model(info["architecture"], info["targets"], channels=info["channels"], config=config)
        save_checkpoint(path, model, training={"steps": 0, "seed": seed})
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", action="append", default=[], help="a checkpoint to score (default: the shipped ones)")
    ap.add_argument("--songs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=90210, help="dataset seed of the held-out songs")
    ap.add_argument("--data", default="bench/out/heldout-synth", help="folder for the rendered held-out songs")
    ap.add_argument("--no-example", action="store_true", help="skip the stempeg excerpt")
    ap.add_argument("--no-record", action="store_true", help="print only; do not write docs/benchmarks.md")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    from shotoku.models import get_architecture
    from shotoku.models.catalog import shipped
    from shotoku.models.checkpoint import read_checkpoint

    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    sets = {"held-out synth": heldout_songs(Path(args.data), args.songs, args.seed, args.seconds)}
    if not args.no_example:
        try:
            from shotoku.datasets import example

            sets["stempeg excerpt (real)"] = list(example(targets=STEMS))
        except Exception as exc:  # stempeg missing: the synthetic table alone
            print(f"skipping the stempeg excerpt: {exc}", file=sys.stderr)

    methods = [("mixture as estimate", "mixture", {}), ("oracle-irm", "oracle-irm", {}),
               ("oracle-wiener", "oracle-wiener", {})]
    checkpoints = {Path(c).stem if Path(c).stem not in ("best", "last") else str(c): Path(c) for c in args.checkpoint}
    checkpoints = checkpoints or shipped()
    stored = {name: read_checkpoint(path) for name, path in checkpoints.items()}
    for name, path in checkpoints.items():
        spectral = get_architecture(stored[name]["architecture"]).DOMAIN == "spectrogram"
        for post in (False, True) if spectral else (False,):  # the Wiener post-filter needs a spectrogram model
            methods.append((f"{name}{' + Wiener' if post else ''}", "model", {"checkpoint": str(path), "postfilter": post}))
        # the same network before any training: band-dependent masks already beat the mixture
        initial = initial_weights(stored[name], Path(args.data).parent / "initial-weights")
        methods.append((f"{name}, initial weights (no training)", "model", {"checkpoint": str(initial)}))

    cache_path = Path(args.data).parent / "evaluate_models-cache.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}

    def scores_of(track, label, method, params):
        """Per-song scores; those of the mixture and the oracles are kept between runs."""
        key = f"{track.name}|{track.mixture.shape[-1]}|{label}"
        if method == "model":
            return song_scores(track, method, **params)
        if key not in cache:
            cache[key] = song_scores(track, method, **params)
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_text(json.dumps(cache))
        return cache[key]

    lines = []
    for set_name, tracks in sets.items():
        lines += [f"{set_name} ({len(tracks)} song{'s' if len(tracks) != 1 else ''}):", "",
                  "| method | vocals | drums | bass | other | mean | gain |", "|---|---|---|---|---|---|---|"]
        base = None
        for label, method, params in methods:
            row = summarise([scores_of(t, label, method, params) for t in tracks])
            base = row["mean"] if base is None else base
            cells = " | ".join(f"{row[k]:.2f}" for k in STEMS + ["mean"])
            lines.append(f"| {label} | {cells} | {row['mean'] - base:+.2f} |")
            print(lines[-1], flush=True)
        lines.append("")

    load_end = os.getloadavg()[0]
    details = []
    for name in checkpoints:
        info = stored[name].get("training", {})
        details.append(f"`{name}`: {info.get('steps', '?')} steps, {float(info.get('seconds', 0)) / 3600:.2f} h of "
                       f"training (best validation SDR {float(info.get('best_val_sdr', math.nan)):.2f} dB)")
    entry = "\n".join([
        f"### {date.today().isoformat()}: {', '.join(checkpoints) or 'no shipped checkpoint'}", "",
        f"{cpu_model()}, {os.cpu_count()} cores, load average {load_start:.1f} → {load_end:.1f}; "
        f"{time.perf_counter() - t0:.0f} s. Held-out songs: dataset seed {args.seed}, split heldout, "
        f"{args.seconds:g} s each. " + "; ".join(details), "",
        *lines,
        f"Command: `PYTHONPATH=src .venv/bin/python bench/evaluate_models.py {shlex.join(argv or sys.argv[1:])}".rstrip() + "`",
    ])
    print(entry)
    if not args.no_record:
        record(entry, SECTION, INTRO)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
