"""``shotoku separate``: split a recording into source images."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .. import registry
from ..errors import ParameterError

NAME = "separate"
HELP = "separate a recording into source images (one file per source plus separation.json)"


def add_arguments(p):
    p.add_argument("input", help="audio file (wav, flac, ogg, mp3, .stem.mp4)")
    p.add_argument("-o", "--outdir", required=True, help="folder for the source images")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-m", "--method", help="separation method (see 'shotoku methods'); default: projet for stereo")
    g.add_argument("--model", metavar="CHECKPOINT", help="separate with a trained model checkpoint")
    p.add_argument("-n", "--sources", type=int, help="number of sources to extract (spatial methods)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter; repeat for several (see 'shotoku methods')")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--references", metavar="DIR",
                   help="folder of true source files, for the oracle methods")
    p.add_argument("--format", default="wav", choices=["wav", "flac", "ogg", "mp3"],
                   help="output file format (default wav, float32)")
    p.add_argument("--device", default="cpu", help="torch device for models and PROJET (cpu, cuda, auto)")
    p.add_argument("--wiener", action="store_true", help="multichannel Wiener post-filter for models")


def _load_references(folder, rate, shape):
    from ..errors import InputFileError, MismatchError
    from ..io import load

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"references folder '{folder}' does not exist")
    refs, paths = {}, []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3") and f.stem != "mixture":
            a, r = load(f)
            if r != rate:
                raise MismatchError(f"reference '{f.name}' is at {r} Hz, the mixture at {rate} Hz")
            if a.shape[0] != shape[0]:
                raise MismatchError(f"reference '{f.name}' has {a.shape[0]} channel(s), the mixture {shape[0]}")
            n = shape[1]
            a = a[:, :n] if a.shape[1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[1])))
            refs[f.stem] = a
            paths.append(f)
    if not refs:
        raise InputFileError(f"no reference audio files in '{folder}'")
    return refs, paths


def run(args) -> int:
    from .. import separation
    from ..io import load
    from ..outputs import prepare_folder, versions, write_images

    timings = {}
    outdir = prepare_folder(args.outdir)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixture, rate = load(args.input)
    for w in caught:
        print(f"shotoku: warning: {w.message}", file=sys.stderr)
    mixture = separation.check_mixture(mixture)
    timings["load_s"] = time.perf_counter() - t0

    params: dict = {}
    inputs = [Path(args.input)]
    if args.model:
        if args.param or args.sources:
            raise ParameterError("--param and --sources apply to --method, not to --model")
        from ..models.apply import load_separator

        separator = load_separator(args.model, device=args.device, wiener=args.wiener)
        method_name = f"model:{Path(args.model).name}"
        run_sep = lambda: separator(mixture, rate)  # noqa: E731
    else:
        method_name = args.method or registry.default_method(mixture.shape[0])
        method = registry.get(method_name)
        method.check_channels(mixture.shape[0])
        for kv in args.param:
            if "=" not in kv:
                raise ParameterError(f"--param expects KEY=VALUE, got '{kv}'")
            k, v = kv.split("=", 1)
            params[k.strip()] = registry.convert_param(method, k.strip(), v.strip())
        if args.sources is not None:
            if "sources" not in method.params:
                raise ParameterError(f"method '{method_name}' does not take a number of sources")
            if args.sources < 1:
                raise ParameterError("--sources must be at least 1")
            params["sources"] = args.sources
        if "seed" in method.params:
            params["seed"] = args.seed
        if "device" in method.params and args.device != "cpu":
            params["device"] = args.device
        call = dict(params)
        if method.needs_references:
            if not args.references:
                raise ParameterError(f"method '{method_name}' is an oracle: give the true sources with --references DIR")
            call["references"], ref_paths = _load_references(args.references, rate, mixture.shape)
            inputs += ref_paths
        run_sep = lambda: separation.separate(mixture, rate, method=method_name, **call)  # noqa: E731

    if sys.stderr.isatty():
        print(f"separating {args.input} with {method_name} ...", file=sys.stderr)
    t0 = time.perf_counter()
    images = run_sep()
    timings["separate_s"] = time.perf_counter() - t0

    record = {
        "input": str(Path(args.input).resolve()), "method": method_name, "parameters": params,
        "seed": args.seed, "rate": rate, "channels": mixture.shape[0], "samples": mixture.shape[1],
        "versions": versions(), "timings": timings,
    }
    t0 = time.perf_counter()
    paths = write_images(outdir, images, rate, record, ext="." + args.format, protect=inputs)
    timings["write_s"] = time.perf_counter() - t0
    print(f"{len(paths)} source image(s) in {outdir}/ ({method_name}, {timings['separate_s']:.1f} s):")
    for name, path in paths.items():
        print(f"  {path.name:32s} {name}")
    return 0
