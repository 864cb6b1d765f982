"""MUSDB18, MUSDB18-HQ and DSD100 folders.

Three layouts are recognised (``layout=None`` picks the one found under ``root``):

- ``"hq"`` — MUSDB18-HQ: ``root/{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav``
- ``"stems"`` — MUSDB18: ``root/{train,test}/<track>.stem.mp4``, audio streams in the order
  mixture, drums, bass, other, vocals (AAC; decoded with PyAV through :func:`shotoku.io.load_stems`)
- ``"dsd100"`` — DSD100: ``root/Mixtures/{Dev,Test}/<track>/mixture.wav`` and
  ``root/Sources/{Dev,Test}/<track>/{bass,drums,other,vocals}.wav``; ``Dev`` is the train subset,
  ``Test`` the test subset

Subsets and splits follow the ``musdb`` package: ``subsets`` is ``"train"``, ``"test"`` or both;
``split="valid"`` keeps the 14 validation tracks of :data:`VALIDATION_TRACKS` from the train
subset and ``split="train"`` the other 86 (the split Open-Unmix trains with). DSD100's names carry
a number (``"051 - AM Contra - Heart Peripheral"``); it is ignored when matching the split.

Excerpts of wav files are read without decoding the rest of the file; a ``.stem.mp4`` is decoded
whole (AAC cannot be cut at an exact sample without decoding from a key frame), then cut.

``backend="musdb"`` reads through the ``musdb`` package instead (imported only then; it needs
the ``ffmpeg`` program), with the same subsets, split, targets and excerpts.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ParameterError
from .collection import Dataset, Entry, files_info, files_loader, require_folder
from .folder import STEM_ORDER, track_entry

#: The 14 tracks of MUSDB18's train subset that musdb's ``split="valid"`` holds out
#: (``musdb/configs/mus.yaml`` in sigsep-mus-db; the same list Open-Unmix validates on).
VALIDATION_TRACKS = (
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)

#: Stream order of a MUSDB18 ``.stem.mp4``.
STEM_STREAMS = ("mixture", "drums", "bass", "other", "vocals")

_DSD_SUBSETS = {"train": "Dev", "test": "Test"}
_NUMBER = re.compile(r"^\d+\s*-\s*")


def _subsets(subsets, split) -> tuple[str, ...]:
    if subsets is None:
        subsets = ("train",) if split is not None else ("train", "test")
    if isinstance(subsets, str):
        subsets = (subsets,)
    subsets = tuple(subsets)
    for s in subsets:
        if s not in ("train", "test"):
            raise ParameterError(f"unknown subset '{s}'; use 'train', 'test' or both")
    if split not in (None, "train", "valid"):
        raise ParameterError(f"unknown split '{split}'; use 'train', 'valid' or None")
    if split is not None and subsets != ("train",):
        raise ParameterError("a split ('train' or 'valid') divides the train subset only; "
                             "use subsets='train' with it")
    return subsets


def detect_layout(root: Path) -> str | None:
    """``"hq"``, ``"stems"``, ``"dsd100"`` or None for a folder that is none of them."""
    if (root / "Mixtures").is_dir() and (root / "Sources").is_dir():
        return "dsd100"
    for sub in ("train", "test"):
        d = root / sub
        if not d.is_dir():
            continue
        if any(p.name.endswith(".stem.mp4") for p in d.iterdir()):
            return "stems"
        if any(p.is_dir() for p in d.iterdir()):
            return "hq"
    return None


def in_split(name: str, split: str | None) -> bool:
    """Whether a track of the train subset belongs to ``split`` (None: always)."""
    if split is None:
        return True
    valid = _NUMBER.sub("", name) in VALIDATION_TRACKS or name in VALIDATION_TRACKS
    return valid if split == "valid" else not valid


def stem_file_entry(path: Path, subset: str) -> Entry:
    from .. import io

    def load(names, start, frames):
        stems, rate = io.load_stems(path, names=STEM_STREAMS)
        stop = None if frames is None else start + frames
        return {n: np.ascontiguousarray(stems[n][:, start:stop]) for n in names}, rate

    def info():
        import av

        try:
            with av.open(str(path)) as c:
                s = c.streams.audio[0]
                samples = int(round(float(s.duration * s.time_base) * s.rate)) if s.duration else None
                rate = int(s.rate)
        except Exception as exc:  # PyAV raises many error types for non-media files
            raise InputFileError(f"'{path}' is not a readable audio file ({exc})") from None
        if samples is None:
            samples = next(iter(io.load_stems(path)[0].values())).shape[-1]
        return samples, rate

    return Entry(name=path.name[: -len(".stem.mp4")], stems=STEM_ORDER, has_mixture=True, load=load,
                 info=info, meta={"path": str(path), "subset": subset})


def _dsd_entry(mix_dir: Path, src_dir: Path, subset: str) -> Entry | None:
    mixture = mix_dir / "mixture.wav"
    if not mixture.is_file() or not src_dir.is_dir():
        return None
    files = {"mixture": mixture}
    files.update({p.stem: p for p in sorted(src_dir.glob("*.wav"))})
    stems = tuple(s for s in STEM_ORDER if s in files) + tuple(sorted(
        s for s in files if s not in STEM_ORDER and s != "mixture"))
    if not stems:
        return None
    return Entry(name=mix_dir.name, stems=stems, has_mixture=True, load=files_loader(files),
                 info=files_info(mixture), meta={"path": str(mix_dir), "subset": subset})


def _folder_entries(root: Path, layout: str, subsets, split) -> list[Entry]:
    entries = []
    for subset in subsets:
        if layout == "dsd100":
            mixtures = root / "Mixtures" / _DSD_SUBSETS[subset]
            if not mixtures.is_dir():
                continue
            for d in sorted(p for p in mixtures.iterdir() if p.is_dir()):
                e = _dsd_entry(d, root / "Sources" / _DSD_SUBSETS[subset] / d.name, subset)
                if e is not None:
                    entries.append(e)
            continue
        folder = root / subset
        if not folder.is_dir():
            continue
        if layout == "stems":
            entries += [stem_file_entry(p, subset) for p in sorted(folder.glob("*.stem.mp4"))]
        else:
            for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
                e = track_entry(d, meta={"subset": subset})
                if e is not None:
                    entries.append(e)
    return [e for e in entries if e.meta["subset"] != "train" or in_split(e.name, split)]


def _musdb_package_entries(root: Path, layout: str, subsets, split) -> list[Entry]:
    try:
        import musdb as musdb_package
    except ImportError:
        raise ParameterError("backend='musdb' needs the musdb package: pip install musdb") from None
    except Exception as exc:  # stempeg raises at import when the ffmpeg program is missing
        raise ParameterError(f"the musdb package cannot start ({exc}); install ffmpeg "
                             "or use backend='folder'") from None
    db = musdb_package.DB(root=str(root), subsets=list(subsets), split=split, is_wav=layout == "hq")
    entries = []
    for t in db.tracks:
        def load(names, start, frames, t=t):
            t.chunk_start = start / t.rate
            t.chunk_duration = None if frames is None else frames / t.rate
            out = {}
            for n in names:
                audio = t.audio if n == "mixture" else t.sources[n].audio
                out[n] = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).T)
            return out, int(t.rate)

        def info(t=t):
            return int(round(t.duration * t.rate)), int(t.rate)

        stems = tuple(s for s in STEM_ORDER if s in t.sources)
        entries.append(Entry(name=t.name, stems=stems, has_mixture=True, load=load, info=info,
                             meta={"path": str(t.path), "subset": t.subset}))
    return entries


def musdb18(root, subsets=None, split: str | None = None, targets=None, offset: float = 0.0,
            duration: float | None = None, layout: str | None = None,
            backend: str = "folder") -> Dataset:
    """Open a MUSDB18, MUSDB18-HQ or DSD100 folder.

    root: the dataset folder (holding ``train``/``test``, or ``Mixtures``/``Sources``)
    subsets: ``"train"``, ``"test"``, or both (None: both; only ``"train"`` when ``split`` is given)
    split: None, ``"train"`` (86 tracks) or ``"valid"`` (the 14 of :data:`VALIDATION_TRACKS`)
    targets: None (drums, bass, other, vocals), a list of names (``"accompaniment"`` = the sum of
        every stem but vocals), or a dict {target: [stems]}
    offset, duration: excerpt in seconds (duration None: to the end)
    layout: ``"hq"``, ``"stems"``, ``"dsd100"``; None detects it
    backend: ``"folder"`` (our readers) or ``"musdb"`` (the musdb package)

    Returns a :class:`~shotoku.datasets.Dataset` whose Tracks carry ``meta["subset"]`` and
    ``meta["path"]``. Raises InputFileError for a missing folder or one without tracks,
    ParameterError for an unknown subset, split, target, layout or backend.

    >>> ds = musdb18("~/data/musdb18hq", subsets="train", split="valid",
    ...              targets=["vocals", "accompaniment"], duration=6.0)   # doctest: +SKIP
    >>> len(ds), ds[0].stems["vocals"].shape                              # doctest: +SKIP
    (14, (2, 264600))
    """
    root = require_folder(root)
    subsets = _subsets(subsets, split)
    found = detect_layout(root)
    if layout is None:
        layout = found
    if layout not in ("hq", "stems", "dsd100"):
        if layout is None:
            raise InputFileError(f"'{root}' is not a MUSDB18 or DSD100 folder (no train/ or test/ with "
                                 "tracks, no Mixtures/ and Sources/); check the path")
        raise ParameterError(f"unknown layout '{layout}'; use 'hq', 'stems' or 'dsd100'")
    if backend == "folder":
        entries = _folder_entries(root, layout, subsets, split)
    elif backend == "musdb":
        if layout == "dsd100":
            raise ParameterError("the musdb package does not read DSD100; use backend='folder'")
        entries = _musdb_package_entries(root, layout, subsets, split)
    else:
        raise ParameterError(f"unknown backend '{backend}'; use 'folder' or 'musdb'")
    if not entries:
        raise InputFileError(f"'{root}' holds no tracks for subsets {', '.join(subsets)}"
                             + (f" and split '{split}'" if split else "") + "; check the path")
    return Dataset(entries, targets=targets, offset=offset, duration=duration, name=str(root))
