"""How well rules for ``sources="auto"`` count the objects of the study's scenes.

``shotoku.spatial.panmask.count_objects`` counts the peaks of the power-weighted pan histogram
whose prominence is at least ``AUTO_PROMINENCE`` of the largest. This script measures that rule
and its variants on the scenes of ``bench/spatial.py`` (4 objects at 10°, 20°, 30° spacing and
20° with delays, 10 s each; and their 3-object versions) for several song seeds: for each rule,
the smallest normalised peak of a real object ("weakest real") and the largest of a spurious one
("strongest spurious") over all scenes, the threshold that counts the most scenes right on the
*tuning* seeds, and how many scenes that threshold counts right on the *bench* seed (seed 0,
the scenes of bench/spatial.py). A rule is safe when its weakest real peak sits well above its
strongest spurious one.

Rules: the histogram's weights, ``power`` (|L|²+|R|², the shipped rule) or ``magnitude`` (its
square root, which gives the many quiet bins more say than a few loud ones), and the threshold:
the shipped ``AUTO_PROMINENCE`` or the one fitted on the tuning seeds.

Usage::

    PYTHONPATH=src .venv/bin/python bench/count.py                   # seeds 0 (bench), 1 and 2 (tuning)
    PYTHONPATH=src .venv/bin/python bench/count.py --tune 1 2 3 --scenes 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spatial  # noqa: E402  (bench/spatial.py: the scenes)

from shotoku import panning  # noqa: E402
from shotoku.datasets import scenes as scenes_mod  # noqa: E402
from shotoku.spatial.panmask import AUTO_PROMINENCE  # noqa: E402
from shotoku.spectral import stft  # noqa: E402

CONDITIONS = ["30", "20", "10", "20d"]
#: name: (histogram weights, threshold: a number, or None for the one fitted on the tuning seeds)
RULES = {
    "power, shipped threshold": ("power", AUTO_PROMINENCE),
    "power, fitted threshold": ("power", None),
    "magnitude, fitted threshold": ("magnitude", None),
}


def peaks(angles: np.ndarray, power: np.ndarray, weights: str) -> np.ndarray:
    """Peak prominences of the pan histogram over the largest one, strongest first."""
    hist = panning.histogram(angles, power if weights == "power" else np.sqrt(power), 1.0)
    _, props = find_peaks(np.concatenate([[0.0], hist, [0.0]]), prominence=0)
    p = props["prominences"]
    return np.sort(p / p.max())[::-1] if p.size else np.zeros(1)


def scene_features(seed: int, n: int, seconds: float) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(seed, objects, bin angles, bin power) of every scene and its 3-object version."""
    tracks = spatial.make_tracks(n, seconds, seed)
    out = []
    for scene in scenes_mod.study_scenes(tracks, CONDITIONS, n, seconds, seed):
        for sc in (scene, spatial.three_object_scene(scene)):
            X = stft(sc.mixture, n_fft=4096, hop=1024)
            power = (np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2).astype(np.float64)
            power[0] = 0.0
            out.append((seed, len(sc.names), panning.bin_angles(X), power))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=int, default=0, help="seed of the bench's scenes (reported, not tuned on)")
    parser.add_argument("--tune", type=int, nargs="+", default=[1, 2], help="seeds of the scenes thresholds are fitted on")
    parser.add_argument("--scenes", type=int, default=5, help="scenes per condition and seed")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    features = []
    for seed in [args.bench, *args.tune]:
        features += scene_features(seed, args.scenes, args.seconds)
    print("| rule | weakest real | strongest spurious | threshold | right, tuning seeds | right, bench seed |")
    print("|---|---|---|---|---|---|")
    for name, (weights, threshold) in RULES.items():
        rows = []
        for seed, k, angles, power in features:
            p = peaks(angles, power, weights)
            rows.append((seed, p[k - 1] if len(p) >= k else 0.0, p[k] if len(p) > k else 0.0))
        tune = [r for r in rows if r[0] != args.bench]
        bench = [r for r in rows if r[0] == args.bench]

        def right(rs, t):
            return sum(real >= t > spurious for _, real, spurious in rs)

        best = threshold if threshold is not None else max(sorted({r[1] for r in tune}), key=lambda t: right(tune, t))
        print(f"| {name} | {min(r[1] for r in rows):.3f} | {max(r[2] for r in rows):.3f} | {best:.3f} | "
              f"{right(tune, best)}/{len(tune)} | {right(bench, best)}/{len(bench)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
