"""Progress on a terminal: one switch for every bar and stage line shotoku shows.

Progress goes to stderr, only when stderr is a terminal and ``--quiet`` was not given (the CLI
calls :func:`set_quiet`), so piped output stays clean. Bars are tqdm's (stage, percent, time
left).
"""

from __future__ import annotations

import sys

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress bar and stage line of this process."""
    global _QUIET
    _QUIET = bool(quiet)


def enabled() -> bool:
    """Whether progress should show: stderr is a terminal and ``--quiet`` is off."""
    return not _QUIET and sys.stderr.isatty()


def stage(message: str) -> None:
    """One line naming what starts now (``loading``, ``separating``, ``writing``), when enabled."""
    if enabled():
        print(message, file=sys.stderr, flush=True)


def bar(iterable=None, *, desc: str, total: int | None = None, unit: str = "it", show: bool | None = None):
    """A tqdm progress bar over ``iterable`` (or a manual one with ``total``), hidden unless enabled.

    show: force on or off (a library caller's ``progress`` argument); None: :func:`enabled`
    """
    from tqdm import tqdm

    on = enabled() and (show is None or bool(show))
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not on, leave=False, dynamic_ncols=True)
