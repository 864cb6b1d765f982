"""``shotoku simulate``: pan/delay scenes with known object images (the PROJET study's setup).

Study sets, from a dataset's stems::

    shotoku simulate --dataset data/synth -o data/study --condition all --seconds 10
    shotoku simulate --synth 4 -o data/study --condition 20d
    shotoku simulate --example -o data/example-study

write ``OUT/<condition>/<NNN>/{mixture.wav, drums.wav, bass.wav, other.wav, vocals.wav,
scene.json}`` and an index ``OUT/scenes.json``. One explicit scene::

    shotoku simulate --stems a.wav b.wav c.wav d.wav --angles -30,-10,10,30 --delays 0,2,-3,1.5 -o OUT

writes ``OUT/{mixture.wav, a.wav, ..., scene.json}``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

NAME = "simulate"
HELP = "make pan/delay scenes (mixture + object images + scene.json): the PROJET study sets or one scene"

# lets "--angles -30,-10,10,30" through argparse, which would read "-30,..." as an option
_NUMBERS = re.compile(r"^-\d+$|^-\d*\.\d+$|^-?\d*\.?\d+(,\s*-?\d*\.?\d+)+$")


def add_arguments(p):
    from ..datasets.scenes import CONDITIONS

    if hasattr(p, "_negative_number_matcher"):
        p._negative_number_matcher = _NUMBERS
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="DIR",
                     help="tracks to take stems from: a folder of tracks (DIR/<track>/<stem>.wav, as "
                          "'shotoku synth' writes) or a MUSDB18/MUSDB18-HQ/DSD100 folder")
    src.add_argument("--synth", type=int, metavar="N", help="render N synthetic songs and use their stems")
    src.add_argument("--example", action="store_true",
                     help="use the MUSDB18 excerpt shipped inside the stempeg package")
    src.add_argument("--stems", nargs="+", metavar="FILE",
                     help="one explicit scene from these audio files (each downmixed to mono); "
                          "needs --angles")
    p.add_argument("-o", "--outdir", required=True, metavar="OUT", help="output folder")
    p.add_argument("--condition", default="all", choices=list(CONDITIONS) + ["all"],
                   help="study set: 10, 20, 30 (degrees between 4 objects centred on 0, no delay), "
                        "20d (20 degrees with per-object delays) or all (default)")
    p.add_argument("--scenes", type=int, metavar="K", help="scenes per condition (default: one per track)")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="excerpt length in seconds (default 10; a shorter track is used whole)")
    p.add_argument("--seed", type=int, default=0, help="seed for track order and excerpts (default 0)")
    p.add_argument("--subset", choices=["train", "test"],
                   help="MUSDB18/DSD100 folders: the subset to use (default both)")
    p.add_argument("--angles", metavar="A,B,...",
                   help="--stems: pan angles in degrees, -45 (left) .. 45 (right), one per file")
    p.add_argument("--delays", metavar="D,E,...",
                   help="--stems: inter-channel delays in samples, one per file (default 0; "
                        "positive: the right channel lags)")
    p.add_argument("--no-normalize", action="store_true",
                   help="--stems: keep the files' levels instead of equal-RMS objects")


def _numbers(text: str | None, what: str) -> list[float] | None:
    from ..errors import ParameterError

    if text is None:
        return None
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise ParameterError(f"--{what} must be numbers separated by commas, e.g. -30,-10,10,30; "
                             f"got '{text}'") from None


def _one_scene(args) -> int:
    import numpy as np

    from .. import io
    from ..errors import MismatchError, ParameterError
    from ..datasets.scenes import downmix, scene_from_objects, write_scene

    angles = _numbers(args.angles, "angles")
    if angles is None:
        raise ParameterError("--stems needs --angles, one pan angle per file, e.g. --angles -30,-10,10,30")
    delays = _numbers(args.delays, "delays") or [0.0] * len(angles)
    if len(angles) != len(args.stems) or len(delays) != len(args.stems):
        raise ParameterError(f"{len(args.stems)} files but {len(angles)} angles and {len(delays)} delays; "
                             "give one of each per file")
    objects, rate = [], None
    for f in args.stems:
        audio, r = io.load(f)
        if rate is not None and r != rate:
            raise MismatchError(f"'{f}' is at {r} Hz, '{args.stems[0]}' at {rate} Hz; resample to one rate")
        rate = r
        objects.append(downmix(audio))
    n = min(len(o) for o in objects)
    stems = [Path(f).name for f in args.stems]
    names = [s[: -len(".stem.mp4")] if s.endswith(".stem.mp4") else Path(s).stem for s in stems]
    if len(set(names)) != len(names):
        names = [f"object_{k + 1}" for k in range(len(names))]
    meta = {"stem_files": [str(f) for f in args.stems], "trimmed_to": n}
    scene = scene_from_objects(np.stack([o[:n] for o in objects]), angles, delays, rate=rate, names=names,
                               normalize=None if args.no_normalize else "rms", meta=meta)
    out = write_scene(args.outdir, scene, protect=args.stems)
    print(f"scene of {len(names)} objects, {n / rate:.2f} s, in {out}")
    return 0


def _tracks(args):
    from ..datasets import example, open_dataset

    if args.example:
        return example()
    if args.dataset:
        options = {"subsets": args.subset} if args.subset else {}
        from ..datasets import detect_layout

        if args.subset and detect_layout(Path(args.dataset)) is None:
            options = {}
        return open_dataset(args.dataset, **options)
    from ..datasets.synth import render_song, track_seed
    from ..errors import ParameterError

    if args.synth < 1:
        raise ParameterError(f"--synth needs at least 1 song, got {args.synth}")
    from tqdm import tqdm

    seconds = max(float(args.seconds or 10.0), 1.0)
    return [render_song(track_seed(args.seed, i), seconds=seconds)
            for i in tqdm(range(args.synth), desc="songs", disable=not sys.stderr.isatty())]


def run(args) -> int:
    if args.stems:
        return _one_scene(args)
    from ..errors import ParameterError
    from ..datasets.scenes import study_scenes, write_scene
    from ..io import write_json

    if args.angles or args.delays:
        raise ParameterError("--angles and --delays go with --stems; the study sets fix their own")
    tracks = _tracks(args)
    scenes = study_scenes(tracks, args.condition, n_scenes=args.scenes, seconds=args.seconds,
                          seed=args.seed, progress=True)
    out = Path(args.outdir)
    index = []
    for scene in scenes:
        folder = out / scene.meta["condition"] / scene.meta["scene"]
        write_scene(folder, scene)
        index.append({"path": str(folder.relative_to(out)), "condition": scene.meta["condition"],
                      "track": scene.meta["track"], "offset": scene.meta["offset"],
                      "duration": scene.meta["duration"], "objects": scene.names,
                      "angles": scene.angles, "delays": scene.delays})
    write_json(out / "scenes.json", {"seed": args.seed, "seconds": args.seconds, "scenes": index})
    conditions = sorted({s.meta["condition"] for s in scenes}, key=lambda c: [*"10 20 30 20d".split()].index(c))
    print(f"{len(scenes)} scenes ({', '.join(conditions)}) in {out}; index: {out / 'scenes.json'}")
    return 0
