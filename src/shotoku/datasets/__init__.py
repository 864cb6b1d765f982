"""Multitrack datasets: recordings with known stems.

Every reader returns a :class:`Dataset` — a sequence of :class:`Track` read lazily, indexable by
position or by name — with the same options: ``targets`` (stems to return, ``"accompaniment"``
for the sum of every stem but vocals), ``offset`` and ``duration`` (an excerpt, in seconds).

- :func:`musdb18` — MUSDB18 (``.stem.mp4``), MUSDB18-HQ (wav folders) and DSD100, with musdb's
  subsets and its 14-track validation split (:data:`VALIDATION_TRACKS`)
- :func:`track_folder` — any ``DIR/<track>/<stem>.wav`` folder (mixture optional)
- :func:`open_dataset` — either of the two, whichever layout ``DIR`` has
- :func:`example` — the real 6 s MUSDB18 excerpt shipped inside the stempeg wheel
- :func:`render_song`, :func:`write_dataset` — synthetic songs (:mod:`shotoku.datasets.synth`,
  imported on first use)

    >>> from shotoku import datasets
    >>> track = datasets.example()[0]                       # doctest: +SKIP
    >>> sorted(track.stems), track.mixture.shape           # doctest: +SKIP
    (['bass', 'drums', 'other', 'vocals'], (2, 268288))
"""

from __future__ import annotations

from .collection import Dataset, Entry, resolve_targets
from .folder import track_folder
from .musdb import VALIDATION_TRACKS, detect_layout, musdb18
from .stempeg_example import example, example_path
from .track import Track

__all__ = [
    "Dataset", "Entry", "Track", "VALIDATION_TRACKS", "example", "example_path", "musdb18",
    "open_dataset", "remix", "render_song", "resolve_targets", "track_folder", "write_dataset",
]

_SYNTH = ("render_song", "write_dataset", "remix")


def open_dataset(root, **options) -> Dataset:
    """Open ``root`` as MUSDB18/MUSDB18-HQ/DSD100 when it has that layout, else as a folder of tracks.

    options: passed on (targets, offset, duration; subsets and split for MUSDB-style folders)
    """
    from pathlib import Path

    from .collection import require_folder

    root = require_folder(root)
    if detect_layout(Path(root)) is not None:
        return musdb18(root, **options)
    return track_folder(root, **options)


def __getattr__(name):
    if name in _SYNTH:
        from . import synth

        return getattr(synth, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
