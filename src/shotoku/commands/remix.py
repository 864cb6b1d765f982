"""``shotoku remix``: re-balance a recording from its source images."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from ..errors import MismatchError, ParameterError

NAME = "remix"
HELP = "remix a recording: gain, mute, solo, re-pan and width per source (from stems or after separating)"


def add_arguments(p):
    p.add_argument("input", help="the recording (audio file), or a folder written by 'shotoku separate'")
    p.add_argument("-o", "--output", required=True, help="the remix (WAV float32, or .flac/.ogg/.mp3); "
                   "the mix JSON is written beside it as <name>.mix.json")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--stems", metavar="DIR", help="reuse the source images of a 'shotoku separate' folder")
    src.add_argument("-m", "--method", help="separate first with this method (default: adress for stereo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the separation (default 0)")
    p.add_argument("--mix", metavar="MIX.json", help="start from a saved mix; the options below change it")
    p.add_argument("--gain", action="append", default=[], metavar="SOURCE=DB",
                   help="gain in dB, e.g. vocals=+6 (repeat for several sources)")
    p.add_argument("--pan", action="append", default=[], metavar="SOURCE=DEG",
                   help="move a source to an angle: -45 hard left, 0 centre, 45 hard right")
    p.add_argument("--width", action="append", default=[], metavar="SOURCE=W",
                   help="stereo width (side scale): 0 mono, 1 unchanged, 2 twice as wide")
    p.add_argument("--mute", action="append", default=[], metavar="SOURCE", help="silence a source")
    p.add_argument("--solo", action="append", default=[], metavar="SOURCE",
                   help="keep only the soloed sources (repeatable)")
    p.add_argument("--karaoke", action="store_true", help="preset: mute the vocals")
    p.add_argument("--vocals-up", action="store_true", help="preset: vocals +6 dB")
    p.add_argument("--master", type=float, metavar="DB", help="master gain in dB")
    p.add_argument("--strict-mix", action="store_true",
                   help="refuse a --mix that names sources these stems lack (default: ignore them)")
    p.epilog = ("SOURCE is a source's name, its file name, its number (1, 2, ...) or a unique prefix "
                "(object_1 for 'object_1 (-30°)').")


def _pairs(values, option: str) -> list[tuple[str, float]]:
    out = []
    for kv in values:
        if "=" not in kv:
            raise ParameterError(f"{option} expects SOURCE=VALUE, got '{kv}'")
        k, v = kv.rsplit("=", 1)
        try:
            out.append((k, float(v)))
        except ValueError:
            raise ParameterError(f"{option} {k}: '{v}' is not a number") from None
    return out


def build_mix(names: list[str], args):
    """The mix the options describe, on top of ``--mix`` and the presets."""
    from .. import remix

    mix = remix.Mix.load(args.mix) if args.mix else remix.Mix()
    if args.mix:
        extra = [n for n in mix.sources if n not in names]
        if extra and args.strict_mix:
            raise ParameterError(f"mix '{args.mix}' sets {', '.join(extra)}, not among the sources {', '.join(names)}")
        mix = remix.Mix({n: s for n, s in mix.sources.items() if n in names}, mix.master_gain_db)
    for flag, preset in (("karaoke", remix.karaoke), ("vocals_up", remix.vocals_up)):
        if getattr(args, flag):
            for n, s in preset(names).sources.items():
                mix = mix.with_source(n, **{k: v for k, v in vars(s).items() if v != getattr(remix.SourceSettings(), k)})
    for option, key in (("--gain", "gain_db"), ("--pan", "pan"), ("--width", "width")):
        for k, v in _pairs(getattr(args, key.split("_")[0]), option):
            mix = mix.with_source(remix.resolve_name(names, k), **{key: v})
    for k in args.mute:
        mix = mix.with_source(remix.resolve_name(names, k), mute=True)
    for k in args.solo:
        mix = mix.with_source(remix.resolve_name(names, k), solo=True)
    if args.master is not None:
        mix = remix.Mix(mix.sources, remix.Mix.from_dict({"version": remix.MIX_VERSION,
                                                          "master_gain_db": args.master}).master_gain_db)
    return mix


def mix_path(output) -> Path:
    """Where the mix JSON of a remix file goes: ``<folder>/<stem>.mix.json``."""
    output = Path(output)
    return output.with_name(output.stem + ".mix.json")


def run(args) -> int:
    from .. import remix, separation
    from ..io import AUDIO_SUFFIXES, load, save
    from ..outputs import load_images
    from ..progress import enabled as progress_enabled, stage

    out = Path(args.output)
    if out.suffix.lower() not in AUDIO_SUFFIXES[:4]:
        raise ParameterError(f"output '{out}' must end in .wav, .flac, .ogg or .mp3")
    inp = Path(args.input)
    protect = [inp]
    if inp.is_dir() or args.stems:
        folder = inp if inp.is_dir() else Path(args.stems)
        if inp.is_dir() and args.stems:
            raise ParameterError("give the stems once: either a folder as INPUT or --stems DIR")
        if args.method:
            raise ParameterError("--method separates the input; with stems there is nothing to separate")
        images, rate = load_images(folder, "stems")
        protect += [folder / f for f in _stem_files(folder)]
        shapes = {a.shape for a in images.values()}
        if len(shapes) != 1:
            raise MismatchError(f"the stems in '{folder}' differ in length; remix stems of one separation")
        if not inp.is_dir():
            mixture, r = load(inp)
            if r != rate or mixture.shape != next(iter(shapes)):
                raise MismatchError(f"the stems in '{folder}' ({next(iter(shapes))}, {rate} Hz) are not of "
                                    f"'{inp}' ({mixture.shape}, {r} Hz); separate this recording again")
    else:
        mixture, rate = load(inp)
        stage(f"separating {inp} ...")
        images = separation.run(mixture, rate, args.method, seed=args.seed, progress=progress_enabled()).images
    mix = build_mix(list(images), args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", remix.ClippingWarning)
        y = remix.render(images, mix)
    for w in caught:
        print(f"shotoku: warning: {w.message}", file=sys.stderr)
    save(out, y, rate, protect=protect)
    mix.save(mix_path(out))
    changed = ", ".join(n for n, s in mix.sources.items() if not s.is_unity()) or "none"
    print(f"remix of {len(images)} source(s) in {out} (changed: {changed}); mix in {mix_path(out)}")
    return 0


def _stem_files(folder) -> list[str]:
    from ..outputs import image_files

    return [p.name for p in image_files(folder, "stems").values()]
