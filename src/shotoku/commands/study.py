"""``shotoku study spatial``: the PROJET study (every method on every pan/delay scene) on Dask.

    shotoku study spatial --out runs/study --scenes-per-condition 4 --duration 30
    shotoku study spatial --data ~/musdb18 --out runs/musdb --scheduler tcp://HOST:8786

Writes ``results.csv``, ``summary.md``, figures and ``study.json`` in the output folder (see
:mod:`shotoku.experiments.study`); a rerun skips the tasks already done.
"""

from __future__ import annotations

import shlex
import sys

NAME = "study"
HELP = "run a study: every method on every scene, scored, on Dask (resumable): tables and figures"


def add_runner_arguments(p) -> None:
    """``--scheduler``, ``--workers``, ``--memory-limit`` (shared with ``shotoku separate``)."""
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster (tcp://HOST:PORT of 'dask scheduler'); default: a local one")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes of the local Dask cluster (default: one per core)")
    p.add_argument("--memory-limit", default="auto", metavar="SIZE",
                   help="memory limit per local worker, e.g. 4GB (default auto: the machine's memory shared)")


def add_arguments(p):
    from ..experiments.study import DEFAULT_METHODS

    sub = p.add_subparsers(dest="design", metavar="DESIGN", required=True)
    s = sub.add_parser("spatial", help="the PROJET study: 4 objects at 10/20/30 degrees spacing and 20 with delays",
                       description="Every method on every pan/delay scene of the PROJET study, scored "
                                   "with SDR/ISR/SIR/SAR; writes results.csv, summary.md, figures and study.json.")
    s.add_argument("--data", metavar="SOURCE",
                   help="MUSDB18/MUSDB18-HQ/DSD100 folder or any folder of 4-stem tracks (DIR/<track>/<stem>.wav); "
                        "default: synthetic songs rendered into OUT/songs")
    s.add_argument("--subset", choices=["train", "test"], help="MUSDB18/DSD100: the subset to use (default both)")
    s.add_argument("-o", "--out", required=True, metavar="DIR", help="study folder (created; reruns resume in it)")
    s.add_argument("--methods", default=",".join(DEFAULT_METHODS), metavar="LIST",
                   help="comma-separated methods, each name[:key=value...] (default: %(default)s); "
                        "a method with a Wiener post-filter runs with (+wiener) and without it")
    s.add_argument("--scenes-per-condition", type=int, default=4, metavar="N", help="scenes per condition (default 4)")
    s.add_argument("--duration", type=float, default=30.0, metavar="S", help="excerpt length in seconds (default 30)")
    s.add_argument("--conditions", default="all", metavar="LIST",
                   help="comma-separated conditions: 10, 20, 30, 20d, or all (default)")
    s.add_argument("--seed", type=int, default=0, help="seed of songs, excerpts and methods (default 0)")
    add_runner_arguments(s)
    s.add_argument("--inline", action="store_true", help="run every task in this process (no Dask)")
    s.add_argument("--report-only", action="store_true",
                   help="run nothing: write the tables and figures of the tasks done so far")
    s.add_argument("--no-figures", action="store_true", help="write the tables only (no matplotlib needed)")


def run(args) -> int:
    from ..experiments.study import run_study

    command = "shotoku " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = run_study(args.out, data=args.data, methods=args.methods, n_scenes=args.scenes_per_condition,
                       duration=args.duration, seed=args.seed, conditions=args.conditions.split(","),
                       scheduler=args.scheduler, workers=args.workers, memory_limit=args.memory_limit,
                       inline=args.inline, subset=args.subset, figures=not args.no_figures,
                       report_only=args.report_only,
                       command=command, progress=True)
    run_ = result.outcome
    print(f"{run_['total']} tasks: {run_['done_before']} done before, {run_.get('computed', 0)} computed, "
          f"{len(result.failures)} failed" + (f", {run_['pending']} not run" if run_.get("pending") else ""))
    for name, path in result.files.items():
        print(f"  {name:12s} {path}")
    return 1 if result.failures else 0
