"""Writing a set of source images to a folder, all or nothing.

Files are first written into a hidden staging folder inside the output folder and moved into place
only when every file and the JSON record are complete; on any error the staging folder is removed,
so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import AudioContentError, OutputError


def source_filename(name: str, ext: str = ".wav") -> str:
    """A portable file name for a source: ``object_1 (-30°)`` → ``object_1_-30deg.wav``."""
    s = name.replace("°", "deg")
    s = re.sub(r"[()\[\]]", "", s)
    s = re.sub(r"[^A-Za-z0-9_.+-]+", "_", s).strip("_.") or "source"
    return s + ext


#: Staging folders are named ``.shotoku-<pid>-<random>`` inside the output folder.
STAGING_PREFIX = ".shotoku-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(folder) -> list[Path]:
    """Remove staging folders that an interrupted run left in ``folder`` (their process is gone)."""
    removed = []
    for p in Path(folder).glob(STAGING_PREFIX + "*"):
        parts = p.name[len(STAGING_PREFIX):].split("-", 1)
        if p.is_dir() and (not parts[0].isdigit() or not _alive(int(parts[0]))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def previous_files(folder) -> list[Path]:
    """The files of an earlier run in ``folder``: its records and the files they list, other audio."""
    from .io import AUDIO_SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")
                  and (f.suffix.lower() in AUDIO_SUFFIXES or f.name in (SEPARATION_RECORD, SCENE_RECORD)))


def prepare_folder(folder, overwrite: bool | None = None) -> Path:
    """Create ``folder`` if needed and check it can be written; :class:`OutputError` otherwise.

    Staging folders of interrupted runs are removed. ``overwrite=False`` refuses a folder that
    already holds audio or a record from another run (the message says how to go on);
    ``True`` lets :func:`write_images` replace them (files of the old run that the new one does
    not write are removed, so two runs never mix); ``None`` (library callers) does not check.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output '{folder}' exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder '{folder}': {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder '{folder}' is not writable")
    remove_stale_staging(folder)
    if overwrite is False:
        old = previous_files(folder)
        if old:
            shown = ", ".join(f.name for f in old[:3]) + (f" and {len(old) - 3} more" if len(old) > 3 else "")
            raise OutputError(f"output folder '{folder}' already holds files ({shown}); "
                              "use --overwrite to replace them or choose another folder")
    return folder


def code_digest() -> str:
    """12 hex digits of SHA-256 over shotoku's Python sources (path and content, sorted by path).

    Two results with the same digest come from the same code, whatever the version string says
    (a working tree between releases keeps its version). Computed once per process, when the
    package is imported (``shotoku/__init__.py`` asks for it), so that it describes the files the
    process loaded even if they are edited while it runs.
    """
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
            h.update(path.read_bytes() + b"\0")
        _CODE_DIGEST = h.hexdigest()[:12]
    return _CODE_DIGEST


_CODE_DIGEST: str | None = None


def versions() -> dict:
    """Versions of shotoku (and its code digest) and of the libraries that shape its numbers."""
    import scipy
    import torch

    from . import __version__

    return {
        "shotoku": __version__, "code": code_digest(), "python": platform.python_version(),
        "numpy": np.__version__, "scipy": scipy.__version__, "torch": torch.__version__,
    }


#: Every folder of images shotoku writes carries a JSON record with this format tag and version.
RECORD_FORMAT = "shotoku-images"
RECORD_VERSION = 1
#: Record file names: a separation's output folder, a scene (mixture plus true images).
SEPARATION_RECORD = "separation.json"
SCENE_RECORD = "scene.json"


class StagedImages:
    """A folder of images written piece by piece, moved in all at once (what :func:`write_images` uses).

    ``StagedImages(folder, names, rate, channels, frames, ...)`` opens one file per image (and
    ``mixture<ext>`` when ``mixture=True``) in a hidden staging folder inside ``folder``;
    :meth:`write` appends samples to them, in order; :meth:`commit` writes the record and moves
    every file in, then removes images of an earlier record of the same name that this run does
    not replace, so a folder never mixes two runs (a command asks the user first:
    :func:`prepare_folder`). Leaving a ``with`` block by an error, Ctrl-C included, removes the
    staging folder and leaves ``folder`` as it was. Memory does not grow with the length: a long
    separation hands its images over block by block.

    names: source names, in order; rate: Hz; channels, frames: every image's shape
    ext: audio format of the files (``.wav`` float32, ``.flac``, ``.ogg``, ``.mp3``)
    protect: paths never to overwrite (the run's inputs)
    record_name: :data:`SEPARATION_RECORD` or :data:`SCENE_RECORD`
    """

    def __init__(self, folder, names, rate: int, channels: int, frames: int, ext: str = ".wav", protect=(),
                 record_name: str = SEPARATION_RECORD, mixture: bool = False):
        from .io import AudioWriter, check_format

        check_format(ext, int(rate), int(channels))
        self.folder = prepare_folder(folder)
        self.rate, self.record_name = int(rate), record_name
        found = read_record(self.folder)
        found_record = found[1] if found is not None and found[0] == record_name else None
        files = {str(name): source_filename(str(name), ext) for name in names}
        if len(set(files.values())) != len(files) or ("mixture" + ext) in files.values():
            files = {name: f"{i + 1:02d}_{f}" for i, (name, f) in enumerate(files.items())}
        self.files = files
        self.extra = {"mixture": "mixture" + ext} if mixture else {}
        protected = [Path(p).resolve() for p in protect]
        for f in self._all():
            if (self.folder / f).resolve() in protected:
                raise OutputError(f"refusing to overwrite the input file '{self.folder / f}'; "
                                  "choose another output folder")
        listed = (found_record or {}).get("sources")
        self.stale = [self.folder / str(f) for f in listed.values()] if isinstance(listed, dict) else []
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=self.folder))
        except OSError as exc:
            raise OutputError(f"cannot write to output folder '{self.folder}': {exc.strerror or exc}") from None
        self.writers = {}
        try:
            for key, f in [*((("image", n), f) for n, f in files.items()), *((("mixture",), f) for f in self.extra.values())]:
                self.writers[key] = AudioWriter(self.staging / f, rate, channels, frames, ext=ext)
        except BaseException:
            self.abort()
            raise

    def _all(self) -> list[str]:
        return list(self.files.values()) + list(self.extra.values()) + [self.record_name]

    def write(self, images: dict[str, np.ndarray], mixture: np.ndarray | None = None) -> None:
        """Append the next samples of every image (and of the mixture, when it has a file)."""
        for key, writer in self.writers.items():
            writer.write(images[key[1]] if key[0] == "image" else mixture)

    def commit(self, record: dict) -> dict[str, Path]:
        """Write the record (``format``, ``version``, ``rate``, ``sources`` and ``mixture`` added)
        and move every file in; returns {source name: final path}."""
        from .io import write_json

        try:
            for writer in self.writers.values():
                writer.close()
            rec = {"format": RECORD_FORMAT, "version": RECORD_VERSION, **dict(record), "rate": self.rate,
                   **self.extra, "sources": dict(self.files)}
            write_json(self.staging / self.record_name, rec)
            for f in self._all():
                os.replace(self.staging / f, self.folder / f)
            written = {self.folder / f for f in list(self.files.values()) + list(self.extra.values())}
            for old in self.stale:  # an earlier run's images that this run does not replace
                if old not in written and old.parent == self.folder and old.is_file():
                    old.unlink()
        finally:
            self.abort()
        return {name: self.folder / f for name, f in self.files.items()}

    def abort(self) -> None:
        """Close every file and remove the staging folder (``folder`` keeps what it had)."""
        for writer in getattr(self, "writers", {}).values():
            writer.abort()
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, trace):
        if kind is not None:
            self.abort()


def write_images(folder, images: dict[str, np.ndarray], rate: int, record: dict,
                 ext: str = ".wav", protect=(), record_name: str = SEPARATION_RECORD,
                 mixture: np.ndarray | None = None) -> dict[str, Path]:
    """Write each image to ``folder/<source_filename(name)>`` and ``record`` as JSON, all or nothing.

    images: {source name: float32 [shape=(channels, samples)]}
    rate: sample rate in Hz
    record: JSON-serialisable description of the run; ``format``, ``version``, ``rate`` and
        ``sources`` (each source name mapped to its file name, in order) are added, and
        ``mixture`` (its file name) when a mixture is given
    ext: audio format of the files (``.wav`` float32, ``.flac``, ``.ogg``, ``.mp3``)
    protect: paths never to overwrite (the run's inputs)
    record_name: :data:`SEPARATION_RECORD` or :data:`SCENE_RECORD`
    mixture: float32 [shape=(channels, samples)] written as ``mixture<ext>`` beside the images
    Returns {source name: final path}; see :class:`StagedImages` (all or nothing, no mixing runs).
    """
    if not images:
        raise AudioContentError("there are no images to write")
    shapes = {np.shape(v) for v in images.values()} | ({np.shape(mixture)} if mixture is not None else set())
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] == 0:
        raise AudioContentError(f"images must share one (channels, samples) shape, got {sorted(shapes)}")
    channels, frames = next(iter(shapes))
    with StagedImages(folder, list(images), rate, channels, frames, ext, protect, record_name,
                      mixture=mixture is not None) as staged:
        staged.write(images, mixture)
        return staged.commit(record)


def read_record(folder) -> tuple[str, dict] | None:
    """``(record file name, record)`` of a folder of images, or ``None`` when it has none."""
    from .errors import InputFileError

    folder = Path(folder)
    for name in (SCENE_RECORD, SEPARATION_RECORD):
        path = folder / name
        if path.is_file():
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise InputFileError(f"cannot read '{path}': {exc}") from None
            if not isinstance(record, dict):
                raise InputFileError(f"'{path}' is not a shotoku record; rewrite the folder")
            return name, record
    return None


def image_files(folder, what: str = "sources") -> dict[str, Path]:
    """{source name: file} of a folder of per-source audio files, in order.

    A folder written by shotoku (``separate``, ``simulate``, ``demo``) names its sources in its
    record (``sources``: name → file; older scene records: ``objects`` and ``files``); any other
    folder: every audio file but ``mixture.*`` and hidden files, named by file stem, sorted.
    Raises :class:`~shotoku.errors.InputFileError` for a missing folder, a missing file, or no
    audio at all.
    """
    from .errors import InputFileError
    from .io import AUDIO_SUFFIXES

    folder = Path(folder)
    if not folder.exists():
        raise InputFileError(f"{what} folder '{folder}' does not exist")
    if not folder.is_dir():
        raise InputFileError(f"{what} '{folder}' is not a folder; give a folder of per-source audio files")
    found = read_record(folder)
    files: dict[str, Path] = {}
    if found is not None:
        record = found[1]
        if isinstance(record.get("sources"), dict):
            files = {str(k): folder / str(v) for k, v in record["sources"].items()}
        elif isinstance(record.get("objects"), list) and isinstance(record.get("files"), list):
            files = {str(k): folder / str(v) for k, v in zip(record["objects"], record["files"])}
        for name, path in files.items():
            if not path.is_file():
                raise InputFileError(f"{what} file '{path}' for source '{name}' is missing; the folder is incomplete")
    if not files:
        files = {f.stem: f for f in sorted(folder.iterdir())
                 if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES and f.stem.lower() != "mixture"
                 and not f.name.startswith(".")}
    if not files:
        raise InputFileError(f"{what} folder '{folder}' holds no audio files (.wav, .flac, .ogg, .mp3)")
    return files


def open_images(folder, what: str = "sources") -> tuple[dict, int]:
    """Open a folder of per-source files (:func:`image_files`) to be read a range at a time:
    ({name: :class:`~shotoku.io.AudioFile`}, rate); nothing is decoded yet but the headers.

    Every file must have the same rate and channel count (:class:`~shotoku.errors.MismatchError`
    names the odd one out); lengths may differ (the caller decides).
    """
    from .errors import MismatchError
    from .io import AudioFile

    images: dict = {}
    rate, first = None, None
    for name, path in image_files(folder, what).items():
        audio = AudioFile(path)
        if rate is not None and audio.rate != rate:
            raise MismatchError(f"{what} file '{path.name}' is at {audio.rate} Hz but '{first.name}' at {rate} Hz; "
                                "resample them to one rate")
        if images and audio.shape[0] != next(iter(images.values())).shape[0]:
            raise MismatchError(f"{what} file '{path.name}' has {audio.shape[0]} channel(s) but '{first.name}' "
                                f"{next(iter(images.values())).shape[0]}; give all the same channel count")
        rate, first = audio.rate, first or path
        images[name] = audio
    return images, int(rate)


def load_images(folder, what: str = "sources") -> tuple[dict[str, np.ndarray], int]:
    """Read a folder of per-source files (:func:`open_images`), whole: ({name: float32 (C, N)}, rate)."""
    files, rate = open_images(folder, what)
    images = {}
    for name, f in files.items():
        images[name] = f.read(0, f.shape[1])
        f.close()
    return images, rate
