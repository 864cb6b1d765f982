"""A folder of tracks: ``DIR/<track>/<stem>.<wav|flac|ogg|...>``.

Each sub-folder of ``DIR`` that holds audio files is a track; each audio file in it is a stem
named after the file (``drums.wav`` -> ``drums``). A file named ``mixture.*`` is the mixture;
without one the mixture is the sum of the stems. A ``track.json`` beside the stems (as the
synthetic generator writes) is read into ``Track.meta``. This is the layout of MUSDB18-HQ's
``train``/``test`` folders and of ``shotoku synth``'s output.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputFileError
from ..io import AUDIO_SUFFIXES
from .collection import Dataset, Entry, files_info, files_loader, require_folder

#: Canonical stem order: MUSDB's stems first, then any other name alphabetically.
STEM_ORDER = ("drums", "bass", "other", "vocals")


def stem_order(names) -> tuple[str, ...]:
    """Sort stem names: drums, bass, other, vocals first, then the rest alphabetically."""
    known = [s for s in STEM_ORDER if s in names]
    return tuple(known + sorted(s for s in names if s not in STEM_ORDER))


def track_entry(folder: Path, meta: dict | None = None, mixture: str = "mixture") -> Entry | None:
    """The :class:`Entry` of one track folder, or None when it holds no audio file.

    folder: DIR/<track>/ holding ``<stem>.<ext>`` files
    meta: extra metadata for the track (e.g. its subset)
    mixture: file name (without extension) of the mixture
    """
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES:
            name = p.name[: -len(p.suffix)]
            if name.endswith(".stem"):  # a MUSDB .stem.mp4 is a track, not a stem
                continue
            if name in files:
                raise InputFileError(f"'{folder}' has two files for stem '{name}' "
                                     f"({files[name].name}, {p.name}); keep one")
            files[name] = p
    stems = stem_order([n for n in files if n != mixture])
    if not stems:
        return None
    if mixture in files:
        files["mixture"] = files.pop(mixture)
    info = dict(meta or {})
    info["path"] = str(folder)
    info_file = folder / "track.json"
    if info_file.is_file():
        try:
            info.update(json.loads(info_file.read_text()))
        except (OSError, ValueError) as exc:
            raise InputFileError(f"'{info_file}' is not valid JSON ({exc}); fix or delete it") from None
    return Entry(name=folder.name, stems=stems, has_mixture="mixture" in files,
                 load=files_loader(files), info=files_info(files.get("mixture", files[stems[0]])),
                 meta=info)


def track_folder(root, targets=None, offset: float = 0.0, duration: float | None = None,
                 mixture: str = "mixture") -> Dataset:
    """Open a folder of tracks.

    root: DIR holding one sub-folder per track, each with one audio file per stem
    targets: stems each Track carries: None (all), a list (stem names, ``"accompaniment"``), or
        a dict {target: [stems]} (see :func:`shotoku.datasets.resolve_targets`)
    offset, duration: excerpt in seconds (duration None: to the end)
    mixture: the file name (without extension) of the mixture; a track without it gets the sum
        of its stems

    Returns a :class:`~shotoku.datasets.Dataset` sorted by track name. Raises InputFileError
    when ``root`` is missing or holds no track.

    >>> ds = track_folder("data/synth")           # doctest: +SKIP
    >>> track = ds[0]; sorted(track.stems)        # doctest: +SKIP
    ['bass', 'drums', 'other', 'vocals']
    """
    root = require_folder(root)
    entries = [e for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
               for e in [track_entry(d, mixture=mixture)] if e is not None]
    if not entries:
        raise InputFileError(f"'{root}' holds no track folders (expected {root}/<track>/<stem>.wav)")
    return Dataset(entries, targets=targets, offset=offset, duration=duration, name=str(root))
