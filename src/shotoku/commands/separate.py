"""``shotoku separate``: split a recording into source images.

One file: its images go into ``--outdir``. Several files or a folder (a catalogue): each input
gets ``OUTDIR/<name>/`` and the run is resumable (an input whose folder already holds a
complete ``separation.json`` with the same method, parameters, seed and version is skipped);
with ``--scheduler tcp://HOST:PORT`` the catalogue is separated on a Dask cluster, with
``--workers N`` on a local one (:mod:`shotoku.experiments.batch`).
"""

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
    from .study import add_runner_arguments

    p.add_argument("input", nargs="+",
                   help="audio file (wav, flac, ogg, mp3, .stem.mp4); several files or a folder: one output "
                        "folder per input under OUTDIR, skipping inputs already separated")
    p.add_argument("-o", "--outdir", required=True, help="folder for the source images")
    p.add_argument("-m", "--method", help="separation method (see 'shotoku methods'); default: adress for stereo")
    p.add_argument("--model", metavar="CHECKPOINT",
                   help="a trained checkpoint: shorthand for --method model --param checkpoint=CHECKPOINT")
    p.add_argument("-n", "--sources", type=sources_value,
                   help="number of sources to extract, or auto: found from the mixture (spatial methods)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter; repeat for several (see 'shotoku methods')")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--references", metavar="DIR",
                   help="folder of true source files, for the oracle methods")
    p.add_argument("--format", default="wav", choices=["wav", "flac", "ogg", "mp3"],
                   help="output file format (default wav, float32)")
    p.add_argument("--device", default=None, help="torch device for models and PROJET (cpu, cuda, auto)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of an earlier run in the output folder (else: refuse)")
    p.add_argument("--wiener", action="store_true",
                   help="shorthand for --param postfilter=true (the Wiener post-filter of a model)")
    add_runner_arguments(p)


def sources_value(text: str):
    """``--sources``: a whole number of at least 1, or ``auto``."""
    import argparse

    if text.strip().lower() == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of sources or 'auto', got '{text}'") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 source, got {n}")
    return n


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
    """Reference images of a folder for an oracle, checked against the mixture: ({name:
    :class:`~shotoku.io.AudioFile`}, files); a long separation reads them a block at a time."""
    from ..errors import MismatchError
    from ..outputs import image_files, open_images

    refs, r = open_images(folder, "references")
    if r != rate:
        raise MismatchError(f"references in '{folder}' are at {r} Hz, the mixture at {rate} Hz; resample them")
    for name, a in refs.items():
        if tuple(a.shape) != tuple(shape):
            raise MismatchError(f"reference '{name}' is {a.shape[0]} channel(s) x {a.shape[1]} samples, the mixture "
                                f"{shape[0]} x {shape[1]}; give references that match the mixture")
    return refs, list(image_files(folder, "references").values())


def resolve(method_name, pairs, channels: int, model=None, wiener=False, sources=None, device=None):
    """The method and its typed parameters for an input of ``channels`` channels.

    method_name: a registered method, or None for the default of that channel count
    pairs: ``KEY=VALUE`` strings (``--param``); the other arguments are the command's shorthands
    Returns ``(Method, params)``.
    """
    method = registry.get(method_name or registry.default_method(channels))
    params = parse_params(method, pairs)
    if model:
        params["checkpoint"] = model
    if wiener:
        params["postfilter"] = True
    if sources is not None:
        params["sources"] = sources
    if device is not None:
        params["device"] = device
    return method, params


def separate_file(source, outdir, method_name=None, pairs=(), seed: int = 0, fmt: str = "wav", model=None,
                  wiener: bool = False, sources=None, device=None, references=None, progress: bool = False,
                  overwrite: bool | None = None):
    """Separate one audio file into ``outdir``: the images and ``separation.json``, all or nothing.

    source: the input file; outdir: its output folder (created)
    method_name, pairs, model, wiener, sources, device: as :func:`resolve`
    references: folder of true sources, for the oracles
    progress: show progress and what runs on a terminal
    overwrite: False refuses an output folder holding another run's files, True replaces them,
        None (batch jobs, which decide before) replaces them without asking
    Returns ``(Separation, {source name: path})``. Everything that can be checked before the
    separation is: the output folder, the method and its parameters, the output format against
    the input's rate and channels.
    """
    from .. import separation
    from ..io import check_format, load
    from ..outputs import StagedImages, prepare_folder, versions
    from ..progress import stage

    outdir = prepare_folder(outdir, overwrite)
    timings = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixture, rate = load(source)
    for w in caught:
        print(f"shotoku: warning: {w.message}", file=sys.stderr)
    mixture = separation.check_mixture(mixture)
    timings["load_s"] = time.perf_counter() - t0
    check_format("." + fmt, rate, mixture.shape[0])
    method, params = resolve(method_name, pairs, mixture.shape[0], model, wiener, sources, device)
    inputs = [Path(source)]
    if method.needs_references:
        if not references:
            raise ParameterError(f"method '{method.name}' is an oracle: give the true sources with --references DIR")
        params["references"], ref_files = load_references(references, rate, mixture.shape)
        inputs += ref_files
    elif references:
        raise ParameterError(f"--references goes with the oracle methods; '{method.name}' takes none")

    if progress:
        stage(f"separating {source} with {method.name} ...")
    staged = []

    def sink(piece):  # the images go to the staging folder as the separation makes them
        if not staged:
            staged.append(StagedImages(outdir, list(piece), rate, mixture.shape[0], mixture.shape[1],
                                       ext="." + fmt, protect=inputs))
        staged[0].write(piece)

    try:
        result = separation.run(mixture, rate, method.name, seed=seed, progress=progress, sink=sink, **params)
        timings["separate_s"] = result.seconds
        record = {
            "input": str(Path(source).resolve()), "method": result.method, "parameters": result.parameters,
            "blocks": result.blocks, "seed": seed, "channels": mixture.shape[0], "samples": mixture.shape[1],
            "versions": versions(), "timings": timings,
        }
        if method.needs_references:
            record["references"] = str(Path(references).resolve())
        t0 = time.perf_counter()
        paths = staged[0].commit(record)
    except BaseException:
        if staged:
            staged[0].abort()
        raise
    timings["write_s"] = time.perf_counter() - t0
    return result, paths


def run(args) -> int:
    from ..progress import enabled as progress_enabled

    if args.model and args.method and args.method != "model":
        raise ParameterError("--model CHECKPOINT is --method model; give one of --model and --method")
    method_name = "model" if args.model else args.method
    if method_name:
        parse_params(registry.get(method_name), args.param)  # a bad name or value fails before any work
    if len(args.input) > 1 or Path(args.input[0]).is_dir() or args.scheduler or args.workers:
        from ..experiments.batch import run_batch

        return run_batch(args, method_name)
    result, paths = separate_file(args.input[0], args.outdir, method_name, args.param, args.seed, args.format,
                                  args.model, args.wiener, args.sources, args.device, args.references,
                                  progress=progress_enabled(), overwrite=args.overwrite)
    outdir = next(iter(paths.values())).parent
    print(f"{len(paths)} source image(s) in {outdir}/ ({result.method}, {result.seconds:.1f} s):")
    for name, path in paths.items():
        print(f"  {path.name:32s} {name}")
    return 0
