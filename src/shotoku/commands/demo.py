"""``shotoku demo``: the whole flow on a built-in example, in under a minute of compute.

1. compose and render a short song with known stems (:mod:`shotoku.datasets.synth`);
2. place its four stems as mono objects in the stereo field at −45°, −15°, 15°, 45° (the PROJET
   study's 30° condition, :mod:`shotoku.datasets.scenes`) and write the scene: the mixture and
   the true images, with ``scene.json``;
3. separate the mixture with the default method and write the images;
4. score them against the truth with :func:`shotoku.evaluation.score` — the same call and the
   same table as ``shotoku evaluate`` — next to the oracle ideal ratio mask.
"""

from __future__ import annotations

import time

import numpy as np

NAME = "demo"
HELP = "build an example song, separate it with the default method and score it"


def add_arguments(p):
    p.add_argument("--outdir", default="demo-output", help="folder for everything the demo writes")
    p.add_argument("--seconds", type=float, default=12.0, help="length of the example song (s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the example song")
    p.add_argument("--method", default=None, help="method to demonstrate (default: the stereo default)")


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(args) -> int:
    from .. import registry, separation
    from ..datasets.scenes import CONDITIONS, scene_from_objects, write_scene
    from ..datasets.synth import render_song
    from ..evaluation import score
    from ..outputs import prepare_folder, versions, write_images
    from .evaluate import report

    method = registry.get(args.method or registry.default_method(2)).name
    out = prepare_folder(args.outdir)
    t0 = time.perf_counter()
    _say(f"1/4 composing and rendering a {args.seconds:g} s song (seed {args.seed}) ...")
    track = render_song(args.seed, seconds=args.seconds)
    names = list(track.stems)
    angles = CONDITIONS["30"][0][: len(names)]
    scene = scene_from_objects(np.stack([track.stems[k].mean(axis=0) for k in names]), angles,
                               rate=track.rate, names=names,
                               meta={"seed": args.seed, "song": track.meta, "condition": "30", "versions": versions()})
    meta = {k: track.meta.get(k) for k in ("tempo", "key") if k in track.meta}
    _say(f"    {', '.join(f'{k}: {v}' for k, v in meta.items())}; stems {', '.join(names)} "
         f"at {', '.join(f'{a:+g}°' for a in angles)}")
    scene_dir = write_scene(out / "example", scene)

    _say(f"2/4 separating {scene_dir / 'mixture.wav'} with '{method}' ...")
    result = separation.run(scene.mixture, scene.rate, method, seed=args.seed)
    sep_dir = out / "separated"
    paths = write_images(sep_dir, result.images, scene.rate,
                         {"input": str((scene_dir / "mixture.wav").resolve()), "method": method,
                          "parameters": result.parameters, "seed": args.seed,
                          "timings": {"separate_s": result.seconds}, "versions": versions()})

    _say("3/4 oracle ideal ratio mask (the upper bound of masking) ...")
    oracle = separation.separate(scene.mixture, scene.rate, "oracle-irm", references=scene.references)

    _say("4/4 scoring (BSS Eval v4 image metrics, 1 s frames, median over frames) ...")
    scored = {method: score(scene.references, result.images, scene.rate),
              "oracle-irm": score(scene.references, oracle, scene.rate)}
    samples = scene.mixture.shape[1]
    _say("")
    _say(f"separated stems ({method}, {result.seconds:.1f} s for {samples / scene.rate:.1f} s of audio):")
    for path in paths.values():
        _say(f"  {path}")
    _say(f"true stems and mixture: {scene_dir}/")
    _say("")
    _say(f"== {method} (the same as: shotoku evaluate {scene_dir} {sep_dir})")
    report(scored[method], str(scene_dir), str(sep_dir), samples)
    _say("")
    _say("== oracle-irm")
    _say(scored["oracle-irm"].table())
    _say("")
    for label, evaluation in scored.items():
        _say(f"mean SDR {label}: {evaluation.mean('SDR'):.2f} dB")
    _say(f"(dB, higher is better; the objects are panned mono sources, scored in their own channel space "
         f"as documented in shotoku.metrics; total {time.perf_counter() - t0:.0f} s)")
    return 0
