"""The real MUSDB18 excerpt that ships inside the ``stempeg`` wheel, as a one-track dataset.

``stempeg/data/The Easton Ellises - Falcon 69.stem.mp4``: about 6 s of a MUSDB18 song, stereo,
44.1 kHz, with its mixture and four stems (drums, bass, other, vocals) in AAC. The file is found
without importing stempeg (which checks for the ``ffmpeg`` program at import) and decoded with
PyAV. Like every MUSDB18 track, its mixture is the mastered mix, not exactly the sum of the
(lossy-coded) stems.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import InputFileError
from .collection import Dataset
from .musdb import stem_file_entry


def example_path() -> Path:
    """Path of the ``.stem.mp4`` inside the installed stempeg package.

    Raises InputFileError when stempeg is not installed or ships no example.
    """
    spec = importlib.util.find_spec("stempeg")
    if spec is None or not spec.submodule_search_locations:
        raise InputFileError("the stempeg package is not installed; pip install stempeg")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder, "data").glob("*.stem.mp4"))
        if found:
            return found[0]
    raise InputFileError("the installed stempeg package ships no example .stem.mp4; reinstall stempeg")


def example(targets=None, offset: float = 0.0, duration: float | None = None) -> Dataset:
    """The stempeg excerpt as a one-track :class:`~shotoku.datasets.Dataset`.

    targets, offset, duration: as for every dataset (see :func:`shotoku.datasets.musdb18`)

    >>> track = example()[0]                               # doctest: +SKIP
    >>> track.name, sorted(track.stems), track.mixture.shape, track.rate   # doctest: +SKIP
    ('The Easton Ellises - Falcon 69', ['bass', 'drums', 'other', 'vocals'], (2, 268288), 44100)
    """
    entry = stem_file_entry(example_path(), subset="example")
    return Dataset([entry], targets=targets, offset=offset, duration=duration, name="stempeg example")
