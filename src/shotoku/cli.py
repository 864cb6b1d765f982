"""The ``shotoku`` command.

Each subcommand lives in its own module under :mod:`shotoku.commands` and exposes::

    NAME: str                      # the subcommand's name
    HELP: str                      # one line for ``shotoku --help``
    def add_arguments(parser)      # its arguments
    def run(args) -> int           # does the work; returns the exit status

User errors (:class:`shotoku.errors.ShotokuError`) are printed as one line on stderr and give
exit status 2; Ctrl-C gives 130 and SIGTERM 143, both after every cleanup has run (no staging
folder or temporary file is left); nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import warnings

from . import __version__
from .errors import EXIT_USER_ERROR, ShotokuError

COMMAND_MODULES = (
    "separate",
    "methods",
    "info",
    "evaluate",
    "synth",
    "simulate",
    "models",
    "train",
    "remix",
    "serve",
    "study",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shotoku",
        description="Audio source separation: spatial methods, neural models, evaluation, remixing.",
    )
    parser.add_argument("--version", action="version", version=f"shotoku {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or stage lines (they show only on a terminal anyway)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"shotoku.commands.{name}"
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:  # subcommand not part of this build
            if exc.name != modname:
                raise
            continue
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that every cleanup (staging folders) runs."""


def _terminate(signum, frame):
    raise Terminated()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one ``shotoku: warning:`` line, without the source line that Python adds."""
    print(f"shotoku: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from . import progress

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USER_ERROR
    progress.set_quiet(args.quiet)
    warnings.showwarning = _show_warning
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args._run(args) or 0)
    except ShotokuError as exc:
        print(f"shotoku: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("shotoku: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # an optional dependency: name the extra that brings it
        from .extras import missing

        error = missing(exc)
        if error is None:
            raise
        print(f"shotoku: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Terminated:
        print("shotoku: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:  # the reader went away (``shotoku methods | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
