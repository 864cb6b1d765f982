"""A list of multitrack recordings, read lazily.

Every reader in :mod:`shotoku.datasets` (MUSDB18/DSD100 folders, generic folders of tracks, the
stempeg example) builds a :class:`Dataset`: a sequence of :class:`Entry` records that know where
a track's files are but hold no audio. Audio is read when a track is asked for — by index
(``ds[0]``), by name (``ds["Song"]``), by iteration — and then only the files the requested
targets need, and only the requested excerpt where the format allows it (soundfile reads
``frames`` samples from ``start`` without decoding the rest; compressed containers such as
``.stem.mp4`` are decoded whole and then cut).

Targets follow the musdb convention: a target is a stem name, ``"accompaniment"`` (the sum of
every stem but ``vocals``), or, given as a dict, any named sum of stems
(``{"rhythm": ["drums", "bass"]}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import AudioContentError, InputFileError, MismatchError, ParameterError
from ..io import AUDIO_SUFFIXES
from .track import Track

#: Extensions of files read with libsndfile, which can seek to a sample without decoding.
SEEKABLE_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")

#: Marks an argument left out (``None`` has a meaning of its own).
DEFAULT = object()

#: ``load(names, start, frames) -> ({name: float32 (C, n)}, rate)``; ``frames=None`` reads to the end.
Loader = Callable[[Sequence[str], int, "int | None"], "tuple[dict[str, np.ndarray], int]"]


@dataclass(frozen=True)
class Entry:
    """Where one track's audio lives; holds no samples.

    name: track name, unique within the dataset
    stems: names of the stems on disk (without the mixture), in their canonical order
    has_mixture: whether a mixture file exists; without one the mixture is the sum of the stems
    load: reads ``names`` (stem names and/or ``"mixture"``) from sample ``start`` for ``frames``
        samples (None: to the end); returns ({name: float32 (C, n)}, rate)
    info: returns ``(samples, rate)`` of the track without reading its audio where possible
    meta: JSON-serialisable metadata copied into every :class:`Track` (path, subset, ...)
    """

    name: str
    stems: tuple[str, ...]
    has_mixture: bool
    load: Loader
    info: Callable[[], "tuple[int, int]"]
    meta: dict = field(default_factory=dict)


def resolve_targets(targets, stems: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Map each requested target to the stems it sums.

    targets: None (every stem as itself), a list of names (stem names or ``"accompaniment"``),
        or a dict {target name: [stem names]}
    stems: the stems a track has

    Returns {target: (stem, ...)}, in the order requested. Raises ParameterError for an unknown
    target.

    >>> resolve_targets(["vocals", "accompaniment"], ["drums", "bass", "other", "vocals"])
    {'vocals': ('vocals',), 'accompaniment': ('drums', 'bass', 'other')}
    """
    stems = tuple(stems)
    if targets is None:
        return {s: (s,) for s in stems}
    if isinstance(targets, str):
        targets = [targets]
    if isinstance(targets, Mapping):
        items = [(str(k), tuple(v) if not isinstance(v, str) else (v,)) for k, v in targets.items()]
    else:
        items = []
        for t in targets:
            if t == "accompaniment":
                items.append((t, tuple(s for s in stems if s != "vocals")))
            else:
                items.append((str(t), (str(t),)))
    out = {}
    for name, parts in items:
        missing = [p for p in parts if p not in stems]
        if missing or not parts:
            raise ParameterError(
                f"target '{name}' needs stem(s) {', '.join(missing) or '(none)'} that the track does not "
                f"have; choose among {', '.join(stems)} or 'accompaniment'"
            )
        out[name] = parts
    return out


def read_file_excerpt(path: Path, start: int = 0, frames: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``frames`` samples of an audio file from sample ``start``.

    path: audio file; wav/flac/ogg/aiff are read with soundfile's seek (only the excerpt is
        decoded), other formats through :func:`shotoku.io.load` then cut
    start: first sample (>= 0)
    frames: number of samples, None for everything to the end; shorter at the end of the file

    Returns float32 [shape=(channels, n)] and the rate in Hz.
    """
    from .. import io

    path = Path(path)
    if path.suffix.lower() in SEEKABLE_SUFFIXES and start >= 0:
        import soundfile as sf

        try:
            with sf.SoundFile(str(path)) as f:
                rate = f.samplerate
                if start > 0:
                    f.seek(min(start, f.frames))
                data = f.read(-1 if frames is None else int(frames), dtype="float32", always_2d=True)
        except FileNotFoundError:
            raise InputFileError(f"no such file: '{path}'") from None
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputFileError(f"'{path}' is not a readable audio file ({exc})") from None
        audio = np.ascontiguousarray(data.T)
        if not np.all(np.isfinite(audio)):
            raise AudioContentError(f"'{path}' contains NaN or infinite samples; repair or re-export it")
        return audio, rate
    audio, rate = io.load(path)
    stop = None if frames is None else start + int(frames)
    return np.ascontiguousarray(audio[:, start:stop]), rate


def files_loader(files: Mapping[str, Path]) -> Loader:
    """A :data:`Loader` over one file per name (stems and mixture in separate files)."""

    def load(names, start, frames):
        out, rate = {}, None
        for name in names:
            audio, r = read_file_excerpt(files[name], start, frames)
            if rate is not None and r != rate:
                raise MismatchError(f"'{files[name]}' is at {r} Hz but the other files of its track at "
                                    f"{rate} Hz; resample the track's files to one rate")
            out[name], rate = audio, r
        return out, rate

    return load


def files_info(path: Path) -> Callable[[], tuple[int, int]]:
    """An :attr:`Entry.info` reading the length and rate of one file's header."""

    def info():
        from .. import io

        i = io.info(path)
        return int(i["samples"]), int(i["rate"])

    return info


class Dataset(Sequence):
    """A sequence of tracks, read lazily.

    ``len(ds)``; ``ds[i]`` or ``ds["name"]`` -> :class:`~shotoku.datasets.Track`;
    ``ds[1:3]`` or ``ds.select(names)`` -> a smaller Dataset; iteration yields Tracks.

    targets: which stems each Track carries (see :func:`resolve_targets`); None: all
    offset: start of the excerpt in seconds (default 0)
    duration: length of the excerpt in seconds (None: to the end of the track); an excerpt
        reaching past the end is cut short
    name: a label for messages (the dataset's folder)
    """

    def __init__(self, entries: Sequence[Entry], targets=None, offset: float = 0.0,
                 duration: float | None = None, name: str = "dataset"):
        self.entries = list(entries)
        self.targets = targets
        self.offset = float(offset)
        self.duration = None if duration is None else float(duration)
        self.name = name
        if self.offset < 0 or (self.duration is not None and self.duration <= 0):
            raise ParameterError(f"excerpt offset must be >= 0 and duration > 0 seconds, "
                                 f"got offset={offset}, duration={duration}")
        self._index = {e.name: i for i, e in enumerate(self.entries)}
        if len(self._index) != len(self.entries):
            raise MismatchError(f"{name} has two tracks with the same name; rename one of them")
        for e in self.entries:  # a bad target fails now, not in the middle of a loop
            resolve_targets(targets, e.stems)

    # -- sequence protocol ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._with(self.entries[key])
        return self.load(key)

    def __iter__(self) -> Iterator[Track]:
        for i in range(len(self)):
            yield self.load(i)

    def __repr__(self) -> str:
        return f"<Dataset {self.name!r}: {len(self)} tracks>"

    @property
    def names(self) -> list[str]:
        """Track names, in order."""
        return [e.name for e in self.entries]

    def entry(self, key) -> Entry:
        """The :class:`Entry` of a track given by index or name."""
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise ParameterError(f"track index {key} is out of range: {self.name} has {len(self)} tracks")
            return self.entries[int(key)]
        if key not in self._index:
            near = ", ".join(self.names[:5]) + (" ..." if len(self) > 5 else "")
            raise ParameterError(f"no track named '{key}' in {self.name}; tracks: {near}")
        return self.entries[self._index[key]]

    def select(self, names: Sequence[str]) -> "Dataset":
        """The tracks named, in the order given."""
        return self._with([self.entry(n) for n in names])

    def with_options(self, **options) -> "Dataset":
        """The same tracks with other ``targets``, ``offset`` or ``duration``."""
        kw = dict(targets=self.targets, offset=self.offset, duration=self.duration, name=self.name)
        kw.update(options)
        return Dataset(self.entries, **kw)

    def _with(self, entries) -> "Dataset":
        return Dataset(entries, targets=self.targets, offset=self.offset, duration=self.duration,
                       name=self.name)

    # -- reading -------------------------------------------------------------------------------

    def info(self, key) -> dict:
        """Length and rate of a track without reading its audio where the format allows.

        Returns {"name", "samples", "rate", "duration" (s), "stems"}.
        """
        e = self.entry(key)
        samples, rate = e.info()
        return {"name": e.name, "samples": samples, "rate": rate, "duration": samples / rate,
                "stems": list(e.stems)}

    def load(self, key, offset: float | None = None, duration=DEFAULT, targets=None) -> Track:
        """Read a track (or an excerpt of it).

        key: index or name
        offset: excerpt start in seconds; None uses the dataset's own setting
        duration: excerpt length in seconds, None for the whole rest of the track; left out,
            the dataset's own setting
        targets: stems to return; None uses the dataset's own setting

        Returns a :class:`Track` whose ``mixture`` and ``stems`` are float32
        [shape=(channels, samples)], all of one shape; ``meta`` gains ``offset`` and ``duration``.
        """
        e = self.entry(key)
        offset = self.offset if offset is None else float(offset)
        duration = self.duration if duration is DEFAULT else None if duration is None else float(duration)
        if offset < 0 or (duration is not None and duration <= 0):
            raise ParameterError(f"excerpt offset must be >= 0 and duration > 0 seconds, "
                                 f"got offset={offset}, duration={duration}")
        plan = resolve_targets(self.targets if targets is None else targets, e.stems)
        needed = sorted({s for parts in plan.values() for s in parts}, key=e.stems.index)
        if e.has_mixture:
            read = ["mixture"] + needed
        else:
            read = list(e.stems)
        # the rate is needed to turn seconds into samples; take it from the header first
        rate = e.info()[1] if (offset or duration is not None) else None
        start = int(round(offset * rate)) if rate else 0
        frames = None if duration is None else int(round(duration * rate))
        audio, rate = e.load(read, start, frames)
        n = min(a.shape[-1] for a in audio.values())
        if n == 0:
            raise ParameterError(f"excerpt at {offset:g} s is past the end of '{e.name}'; "
                                 "choose a smaller offset")
        channels = {a.shape[0] for a in audio.values()}
        if len(channels) > 1:
            raise MismatchError(f"the files of '{e.name}' have different channel counts "
                                f"({sorted(channels)}); give every stem the mixture's channels")
        lengths = {a.shape[-1] for a in audio.values()}
        if len(lengths) > 1 and frames is None and max(lengths) - n > 0:
            raise MismatchError(f"the files of '{e.name}' have different lengths ({min(lengths)} to "
                                f"{max(lengths)} samples); make every stem as long as the mixture")
        audio = {k: v[:, :n] for k, v in audio.items()}
        if e.has_mixture:
            mixture = audio["mixture"]
        else:
            mixture = np.sum([audio[s].astype(np.float64) for s in e.stems], axis=0).astype(np.float32)
        stems = {}
        for target, parts in plan.items():
            if len(parts) == 1:
                stems[target] = audio[parts[0]]
            else:
                stems[target] = np.sum([audio[p].astype(np.float64) for p in parts], axis=0).astype(np.float32)
        meta = dict(e.meta)
        meta.update(offset=start / rate, duration=n / rate)
        return Track(name=e.name, mixture=mixture, stems=stems, rate=int(rate), meta=meta)


def require_folder(root) -> Path:
    """``root`` as a Path, or InputFileError when it is not an existing folder."""
    root = Path(root).expanduser()
    if not root.exists():
        raise InputFileError(f"dataset folder '{root}' does not exist; check the path")
    if not root.is_dir():
        raise InputFileError(f"'{root}' is a file, not a dataset folder")
    return root
