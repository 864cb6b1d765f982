"""``shotoku separate``: split a recording into source images."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from .. import registry
from ..errors import ParameterError

NAME = "separate"
HELP = "separate a recording into source images (one file per source plus separation.json)"


def add_arguments(p):
    p.add_argument("input", help="audio file (wav, flac, ogg, mp3, .stem.mp4)")
    p.add_argument("-o", "--outdir", required=True, help="folder for the source images")
    p.add_argument("-m", "--method", help="separation method (see 'shotoku methods'); default: adress for stereo")
    p.add_argument("--model", metavar="CHECKPOINT",
                   help="a trained checkpoint: shorthand for --method model --param checkpoint=CHECKPOINT")
    p.add_argument("-n", "--sources", type=int, help="number of sources to extract (spatial methods)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter; repeat for several (see 'shotoku methods')")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--references", metavar="DIR",
                   help="folder of true source files, for the oracle methods")
    p.add_argument("--format", default="wav", choices=["wav", "flac", "ogg", "mp3"],
                   help="output file format (default wav, float32)")
    p.add_argument("--device", default=None, help="torch device for models and PROJET (cpu, cuda, auto)")
    p.add_argument("--wiener", action="store_true",
                   help="shorthand for --param postfilter=true (the Wiener post-filter of a model)")


def parse_params(method, pairs) -> dict:
    """``KEY=VALUE`` strings to a method's typed parameters."""
    params = {}
    for kv in pairs:
        if "=" not in kv:
            raise ParameterError(f"--param expects KEY=VALUE, got '{kv}'")
        k, v = kv.split("=", 1)
        params[k.strip()] = registry.convert_param(method, k.strip(), v.strip())
    return params


def load_references(folder, rate: int, shape) -> tuple[dict, list[Path]]:
    """Reference images of a folder for an oracle: ({name: (C, N)}, files), checked against the mixture."""
    from ..errors import MismatchError
    from ..outputs import image_files, load_images

    refs, r = load_images(folder, "references")
    if r != rate:
        raise MismatchError(f"references in '{folder}' are at {r} Hz, the mixture at {rate} Hz; resample them")
    for name, a in refs.items():
        if a.shape != tuple(shape):
            raise MismatchError(f"reference '{name}' is {a.shape[0]} channel(s) x {a.shape[1]} samples, the mixture "
                                f"{shape[0]} x {shape[1]}; give references that match the mixture")
    return refs, list(image_files(folder, "references").values())


def run(args) -> int:
    from .. import separation
    from ..io import load
    from ..outputs import prepare_folder, versions, write_images

    if args.model and args.method and args.method != "model":
        raise ParameterError("--model CHECKPOINT is --method model; give one of --model and --method")
    method_name = "model" if args.model else args.method
    if method_name:
        method = registry.get(method_name)
        params = parse_params(method, args.param)
    else:
        method, params = None, None  # the default depends on the input's channels
    outdir = prepare_folder(args.outdir)
    timings = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixture, rate = load(args.input)
    for w in caught:
        print(f"shotoku: warning: {w.message}", file=sys.stderr)
    mixture = separation.check_mixture(mixture)
    timings["load_s"] = time.perf_counter() - t0
    if method is None:
        method = registry.get(registry.default_method(mixture.shape[0]))
        params = parse_params(method, args.param)
    if args.model:
        params["checkpoint"] = args.model
    if args.wiener:
        params["postfilter"] = True
    if args.sources is not None:
        params["sources"] = args.sources
    if args.device is not None:
        params["device"] = args.device
    inputs = [Path(args.input)]
    if method.needs_references:
        if not args.references:
            raise ParameterError(f"method '{method.name}' is an oracle: give the true sources with --references DIR")
        params["references"], ref_files = load_references(args.references, rate, mixture.shape)
        inputs += ref_files
    elif args.references:
        raise ParameterError(f"--references goes with the oracle methods; '{method.name}' takes none")

    if sys.stderr.isatty():
        print(f"separating {args.input} with {method.name} ...", file=sys.stderr)
    result = separation.run(mixture, rate, method.name, seed=args.seed, progress=sys.stderr.isatty(), **params)
    timings["separate_s"] = result.seconds
    record = {
        "input": str(Path(args.input).resolve()), "method": result.method, "parameters": result.parameters,
        "seed": args.seed, "channels": mixture.shape[0], "samples": mixture.shape[1],
        "versions": versions(), "timings": timings,
    }
    if method.needs_references:
        record["references"] = str(Path(args.references).resolve())
    t0 = time.perf_counter()
    paths = write_images(outdir, result.images, rate, record, ext="." + args.format, protect=inputs)
    timings["write_s"] = time.perf_counter() - t0
    print(f"{len(paths)} source image(s) in {outdir}/ ({result.method}, {result.seconds:.1f} s):")
    for name, path in paths.items():
        print(f"  {path.name:32s} {name}")
    return 0
