"""``shotoku separate`` over a catalogue: many inputs, one output folder each, on the study's runner.

Each input file is a task; its images go to ``OUTDIR/<name>/`` (``name``: the file's stem, or
its path inside a folder given as input, without the suffix). A task is done when its folder
holds a complete ``separation.json`` (every source file present) with the same method,
parameters, seed and shotoku version: a rerun skips it (:func:`complete`). Tasks run in this
process one by one, on a local Dask cluster (``--workers N``) or on an existing one
(``--scheduler tcp://HOST:PORT``: the workers read the inputs and write the outputs themselves,
so the paths must be on a file system they share). A failing input is reported and the others
go on.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import __version__, registry
from ..errors import InputFileError, ParameterError


@dataclass(frozen=True)
class Job:
    """One input to separate: paths and settings, never audio."""

    key: str
    input: str
    outdir: str
    method: str | None
    pairs: tuple
    options: tuple   # (("model", ...), ("wiener", ...), ("sources", ...), ("device", ...))
    seed: int
    format: str


def _name(path: Path, root: Path | None) -> str:
    rel = path.relative_to(root) if root is not None else Path(path.name)
    text = rel.as_posix()
    for suffix in (".stem.mp4", path.suffix):
        if text.lower().endswith(suffix.lower()):
            return text[: -len(suffix)]
    return text


def find_inputs(paths, outdir) -> list[tuple[Path, str]]:
    """The audio files of a catalogue: ``[(file, name)]``, sorted within each folder.

    paths: files and folders (a folder is searched recursively for audio files, skipping
        hidden ones and anything under ``outdir``)
    Raises :class:`~shotoku.errors.InputFileError` for a missing path or a folder without
    audio, :class:`~shotoku.errors.ParameterError` when two inputs would share an output folder.
    """
    from ..io import AUDIO_SUFFIXES

    out = Path(outdir).resolve()
    found: list[tuple[Path, str]] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES
                     and not any(part.startswith(".") for part in f.relative_to(p).parts)
                     and out not in f.resolve().parents]
            if not files:
                raise InputFileError(f"folder '{p}' holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
            found += [(f, _name(f, p)) for f in files]
        elif p.is_file():
            found.append((p, _name(p, None)))
        else:
            raise InputFileError(f"input '{p}' does not exist")
    seen: dict[str, Path] = {}
    for f, name in found:
        if name in seen:
            raise ParameterError(f"'{seen[name]}' and '{f}' would both be written to '{name}/'; "
                                 "separate them in two runs or rename one")
        seen[name] = f
    return found


def expected(job: Job) -> tuple[str, dict]:
    """The method name and every parameter (defaults filled in) a job's record must show."""
    from ..commands.separate import resolve
    from ..io import info, jsonable

    options = dict(job.options)
    channels = info(job.input)["channels"] if job.method is None else 2
    method, params = resolve(job.method, job.pairs, channels, **options)
    arguments = method.arguments({**params, "seed": job.seed, "references": None} if method.needs_references
                                 else {**params, "seed": job.seed})
    return method.name, json.loads(json.dumps(jsonable(method.settings(arguments))))


def complete(job: Job) -> bool:
    """Whether ``job.outdir`` already holds this job's separation, whole."""
    from ..outputs import SEPARATION_RECORD

    folder = Path(job.outdir)
    try:
        record = json.loads((folder / SEPARATION_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or not isinstance(record.get("sources"), dict):
        return False
    try:
        name, parameters = expected(job)
    except Exception:  # an input that cannot be read now: let the task say why
        return False
    return (record.get("method") == name and record.get("parameters") == parameters
            and record.get("seed") == job.seed and (record.get("versions") or {}).get("shotoku") == __version__
            and all((folder / str(f)).is_file() for f in record["sources"].values()))


def separate_job(job: Job) -> dict:
    """What a worker does for one input: separate it into its folder. Returns a short record."""
    from ..commands.separate import separate_file

    result, paths = separate_file(job.input, job.outdir, job.method, job.pairs, job.seed, job.format,
                                  **dict(job.options))
    return {"input": job.input, "outdir": job.outdir, "method": result.method, "seconds": result.seconds,
            "sources": list(paths)}


def plan(inputs: list[tuple[Path, str]], outdir, method, pairs, options: dict, seed: int, fmt: str,
         single: bool = False) -> list[Job]:
    """A job per input; ``single``: one file whose images go straight into ``outdir``."""
    jobs = []
    for path, name in inputs:
        folder = Path(outdir) if single else Path(outdir) / name
        identity = json.dumps([str(path.resolve()), method, list(pairs), sorted(options.items()), seed, fmt,
                               __version__], default=str)
        key = hashlib.sha1(identity.encode("utf-8")).hexdigest()[:16]
        jobs.append(Job(key, str(path.resolve()), str(folder.resolve()), method, tuple(pairs),
                        tuple(sorted(options.items())), int(seed), fmt))
    return jobs


def run_batch(args, method_name: str | None, log=print) -> int:
    """``shotoku separate`` with several inputs, a folder, ``--scheduler`` or ``--workers``.

    Returns the exit status: 0 when every input is separated, 1 when some failed.
    """
    from ..outputs import prepare_folder
    from .runner import Runner

    if args.references:
        raise ParameterError("--references goes with one input file (the true sources of that mixture)")
    method = registry.get(method_name) if method_name else None
    if method is not None and method.needs_references:
        raise ParameterError(f"method '{method.name}' is an oracle: separate one file with --references DIR")
    prepare_folder(args.outdir)
    inputs = find_inputs(args.input, args.outdir)
    single = len(args.input) == 1 and not Path(args.input[0]).is_dir()
    options = {"model": args.model, "wiener": args.wiener, "sources": args.sources, "device": args.device}
    jobs = plan(inputs, args.outdir, method_name, args.param, options, args.seed, args.format, single)
    todo = [j for j in jobs if not complete(j)]
    log(f"{len(jobs)} input(s): {len(jobs) - len(todo)} already separated, {len(todo)} to run")
    failed: list[tuple[Job, str]] = []
    if not args.overwrite:  # another run's files are never replaced without asking
        from ..outputs import previous_files

        for job in [j for j in todo if previous_files(j.outdir)]:
            message = f"'{job.outdir}' holds files of another run; use --overwrite to replace them"
            failed.append((job, message))
            print(f"shotoku: error: {job.input}: {message}", file=sys.stderr)
            todo.remove(job)

    def on_result(job, record):
        log(f"  {record['outdir']}/ ({record['method']}, {record['seconds']:.1f} s)")

    def on_error(job, error, trace):
        failed.append((job, error))
        print(f"shotoku: error: {job.input}: {error}", file=sys.stderr)

    if todo:
        inline = not (args.scheduler or args.workers)
        with Runner(scheduler=args.scheduler, workers=args.workers, memory_limit=args.memory_limit,
                    inline=inline) as runner:
            if not inline:
                log(f"running on {runner.where}")
            runner.map(separate_job, todo, on_result, on_error, desc="separate", progress=True)
    log(f"{len(jobs) - len(failed)} of {len(jobs)} input(s) separated in {Path(args.outdir)}/"
        + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0
