"""``shotoku demo``: the whole flow on a built-in example, in under a minute of compute.

1. compose and render a short song with known stems (:mod:`shotoku.datasets.synth`);
2. place its four stems as mono objects in the stereo field at −45°, −15°, 15°, 45° (the PROJET
   study's 30° condition, :mod:`shotoku.mixing`) and write the mixture and the true images;
3. separate the mixture with the default method (PROJET for stereo) and write the images;
4. score the images against the truth (BSS Eval v4, best permutation) next to the oracle IRM.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

NAME = "demo"
HELP = "build an example song, separate it with the default method and score it"

ANGLES = (-45.0, -15.0, 15.0, 45.0)


def add_arguments(p):
    p.add_argument("--outdir", default="demo-output", help="folder for everything the demo writes")
    p.add_argument("--seconds", type=float, default=12.0, help="length of the example song (s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the example song")
    p.add_argument("--method", default=None, help="method to demonstrate (default: the stereo default)")


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(args) -> int:
    from .. import metrics, registry, separate
    from ..datasets.synth import render_song
    from ..mixing import make_scene
    from ..outputs import prepare_folder, versions, write_images

    out = prepare_folder(args.outdir)
    t0 = time.perf_counter()
    _say(f"1/4 composing and rendering a {args.seconds:g} s song (seed {args.seed}) ...")
    track = render_song(args.seed, seconds=args.seconds)
    names = list(track.stems)
    objects = np.stack([track.stems[k].mean(axis=0) for k in names])
    mixture, images = make_scene(objects, ANGLES[: len(names)])
    rate = track.rate
    meta = {k: track.meta.get(k) for k in ("tempo", "key") if k in track.meta}
    _say(f"    {', '.join(f'{k}: {v}' for k, v in meta.items())}; stems {', '.join(names)} "
         f"at {', '.join(f'{a:+g}°' for a in ANGLES[: len(names)])}")
    refs = {f"{k} ({a:+g}°)": images[j] for j, (k, a) in enumerate(zip(names, ANGLES))}
    scene_dir = out / "example"
    write_images(scene_dir, refs, rate, {"seed": args.seed, "song": track.meta, "angles": ANGLES,
                                         "versions": versions()}, record_name="scene.json")
    from ..io import save

    save(scene_dir / "mixture.wav", mixture, rate)

    method = args.method or registry.default_method(mixture.shape[0])
    _say(f"2/4 separating {scene_dir / 'mixture.wav'} with '{method}' ...")
    t1 = time.perf_counter()
    est = separate(mixture, rate, method=method, seed=args.seed) if "seed" in registry.get(method).params \
        else separate(mixture, rate, method=method)
    sep_s = time.perf_counter() - t1
    sep_dir = out / "separated"
    paths = write_images(sep_dir, est, rate, {"method": method, "seed": args.seed,
                                              "timings": {"separate_s": sep_s}, "versions": versions()})

    _say("3/4 oracle ideal ratio mask (the upper bound of masking) ...")
    oracle = separate(mixture, rate, method="oracle-irm", references=refs)

    _say("4/4 scoring (BSS Eval v4 image metrics, 1 s frames, median over frames) ...")
    ref_arr = np.stack(list(refs.values()))
    rows = []
    for label, images_ in ((method, est), ("oracle-irm", oracle)):
        est_names = list(images_)
        est_arr = np.stack([images_[k] for k in est_names])
        order, _ = metrics.match_sources(ref_arr, est_arr, rate)
        with warnings.catch_warnings():
            # panned mono objects have rank-1 images: ISR/SIR/SAR are regularised (see metrics)
            warnings.simplefilter("ignore", metrics.RankDeficientWarning)
            scores = metrics.bss_eval_images(ref_arr, est_arr[order], rate)
        for j, ref_name in enumerate(refs):
            med = {m: float(np.nanmedian(scores.metric(m)[j])) for m in ("SDR", "ISR", "SIR", "SAR")}
            rows.append((label, ref_name, est_names[order[j]], med))

    _say("")
    _say(f"separated stems ({method}, {sep_s:.1f} s for {mixture.shape[1] / rate:.1f} s of audio):")
    for name, path in paths.items():
        _say(f"  {path}")
    _say(f"true stems and mixture: {scene_dir}/")
    _say("")
    header = f"{'method':<12} {'reference':<18} {'estimate':<22} {'SDR':>6} {'ISR':>6} {'SIR':>6} {'SAR':>6}"
    _say(header)
    _say("-" * len(header))
    for label, ref_name, est_name, m in rows:
        _say(f"{label:<12} {ref_name:<18} {est_name:<22} " + " ".join(f"{m[k]:6.2f}" for k in ("SDR", "ISR", "SIR", "SAR")))
    for label in (method, "oracle-irm"):
        mean_sdr = np.mean([m["SDR"] for lab, _, _, m in rows if lab == label])
        _say(f"mean SDR {label}: {mean_sdr:.2f} dB")
    _say(f"(dB, higher is better; the objects are panned mono sources, so ISR/SIR/SAR use the "
         f"regularised projection documented in shotoku.metrics; total {time.perf_counter() - t0:.0f} s)")
    return 0
