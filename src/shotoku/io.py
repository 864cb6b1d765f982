"""Reading and writing audio.

Everything in shotoku holds audio as float32 arrays [shape=(channels, samples)] plus a sample rate
in Hz. :func:`load` reads wav, flac, ogg and mp3 through libsndfile (``soundfile``) and MUSDB
``.stem.mp4`` / other containers through FFmpeg's libraries bundled in PyAV (no ``ffmpeg``
program needed). :func:`save` writes atomically: a temporary file in the target folder, renamed
over the target only when complete, so a failed run never leaves a half-written file, and it
refuses to overwrite any path it is told to protect (the inputs).
"""

from __future__ import annotations

import os
import struct
import tempfile
import warnings
from contextlib import contextmanager
from math import gcd
from pathlib import Path

import numpy as np

from .errors import AudioContentError, InputFileError, OutputError

#: Stream names of a MUSDB18 ``.stem.mp4`` file, in stream order.
MUSDB_STEMS = ("mixture", "drums", "bass", "other", "vocals")

_CONTAINER_SUFFIXES = (".mp4", ".m4a", ".aac", ".webm", ".mkv", ".opus")
#: Files read as audio wherever shotoku looks in a folder (sources, tracks, references).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff") + _CONTAINER_SUFFIXES


class TruncatedAudioWarning(UserWarning):
    """The file ends before its header says it should; only the samples present were read."""


def _is_container(path: Path) -> bool:
    return path.name.lower().endswith(_CONTAINER_SUFFIXES)


def _check_path(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"no such file: '{path}'")
    if path.is_dir():
        raise InputFileError(f"'{path}' is a folder, not an audio file")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"cannot read '{path}': permission denied")
    if path.stat().st_size == 0:
        raise InputFileError(f"'{path}' is empty (0 bytes)")
    return path


def _wav_declared_bytes(path: Path) -> tuple[int, int] | None:
    """(declared data bytes, bytes present) of a RIFF/WAVE file's data chunk; None if not RIFF."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            ck = f.read(8)
            cid, csize = ck[:4], struct.unpack("<I", ck[4:])[0]
            if cid == b"data":
                if csize in (0xFFFFFFFF, 0):  # streaming writers leave size unknown
                    return None
                return csize, size - pos - 8
            pos += 8 + csize + (csize & 1)
    return None


#: Frames per read; after a decoding error the reader retries from the last good frame with
#: smaller reads, down to :data:`_SMALLEST_READ`, so a damaged file keeps every decodable frame.
_READ_FRAMES = 1 << 18
_SMALLEST_READ = 256


def _read_decodable(path: Path, keep: bool = True) -> tuple[np.ndarray | None, int, int, bool, int]:
    """Every frame of a libsndfile-readable file up to the first undecodable one.

    Returns (audio float32 [shape=(channels, frames read)] (None unless ``keep``: only counting),
    rate, declared frames, broken, frames read). The samples go straight into one array of the
    declared length (no list of blocks joined at the end: the peak is the file once, not three
    times). After a decoding error libsndfile's handle is unusable, so the file is opened again
    at the last good frame and read in smaller pieces, down to :data:`_SMALLEST_READ` frames.
    """
    import soundfile as sf

    done, size = 0, _READ_FRAMES
    with sf.SoundFile(str(path)) as f:
        rate, declared, channels = f.samplerate, f.frames, f.channels
    # a header can promise more than the file holds: never reserve more than 64 samples per byte
    reserve = min(max(declared, 0), 64 * path.stat().st_size // max(channels, 1))
    out = np.empty((channels, reserve), np.float32) if keep else None

    def finish(broken: bool):
        audio = None
        if keep:
            audio = out if done == out.shape[1] else np.ascontiguousarray(out[:, :done])
        return audio, rate, declared, broken, done

    while True:
        try:
            with sf.SoundFile(str(path)) as f:
                if done:
                    f.seek(done)
                while True:
                    b = f.read(size, dtype="float32", always_2d=True)
                    if b.shape[0] == 0:
                        return finish(False)
                    if keep:
                        if done + b.shape[0] > out.shape[1]:  # more than the header said
                            out = np.concatenate([out[:, :done], np.empty((channels, b.shape[0] + done), np.float32)],
                                                 axis=1)
                        out[:, done:done + b.shape[0]] = b.T
                    done += b.shape[0]
        except (RuntimeError, sf.LibsndfileError):
            if size <= _SMALLEST_READ:
                return finish(True)
            size = max(_SMALLEST_READ, size // 8)


def _warn_truncated(path: Path, frames: int, declared: int, broken: bool) -> None:
    """A :class:`TruncatedAudioWarning` if the file holds fewer samples than its header says."""
    if broken:
        warnings.warn(f"'{path}' is cut off mid-stream; using the {frames} samples before the break",
                      TruncatedAudioWarning, stacklevel=4)
        return
    declared_bytes = _wav_declared_bytes(path) if path.suffix.lower() == ".wav" else None
    if declared_bytes is not None and declared_bytes[1] < declared_bytes[0]:
        warnings.warn(f"'{path}' is cut off mid-stream ({declared_bytes[1]} of {declared_bytes[0]} data bytes); "
                      "using the samples present", TruncatedAudioWarning, stacklevel=4)
    elif 0 < frames < declared:
        warnings.warn(f"'{path}' is cut off mid-stream", TruncatedAudioWarning, stacklevel=4)


def _load_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        audio, rate, declared, broken, frames = _read_decodable(path)
    except sf.LibsndfileError as exc:
        raise _NotReadable(str(exc)) from None
    _warn_truncated(path, frames, declared, broken)
    return audio, rate


class _NotReadable(Exception):
    pass


def _load_av(path: Path, stream: int | None) -> tuple[list[np.ndarray], int]:
    """Decode audio streams with PyAV. ``stream=None`` decodes all of them."""
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:  # av raises many error types for non-media files
        raise _NotReadable(str(exc)) from None
    with container:
        streams = list(container.streams.audio)
        if not streams:
            raise _NotReadable("no audio stream")
        if stream is not None:
            if not 0 <= stream < len(streams):
                raise InputFileError(
                    f"'{path}' has {len(streams)} audio stream(s); stream {stream} does not exist"
                )
            streams = [streams[stream]]
        rate = streams[0].rate
        out = []
        for s in streams:
            container.seek(0)
            chunks = []
            try:
                for frame in container.decode(s):
                    a = frame.to_ndarray()
                    if frame.format.is_planar:
                        a = a.reshape(len(frame.layout.channels), -1)
                    else:
                        a = a.reshape(-1, len(frame.layout.channels)).T
                    chunks.append(_to_float(a))
            except av.error.FFmpegError:
                warnings.warn(
                    f"'{path}' is cut off mid-stream; using the samples before the break",
                    TruncatedAudioWarning,
                    stacklevel=3,
                )
            data = np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)
            if s.rate != rate:
                data = resample(data, s.rate, rate)
            out.append(data)
        n = min(a.shape[1] for a in out)
        return [np.ascontiguousarray(a[:, :n]) for a in out], rate


def _to_float(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=False)
    info = np.iinfo(a.dtype)
    return (a.astype(np.float32) / float(-info.min)).astype(np.float32)


def _validate(audio: np.ndarray, path: Path) -> np.ndarray:
    if audio.shape[-1] == 0:
        raise InputFileError(f"'{path}' has a header but no samples")
    if not np.all(np.isfinite(audio)):
        raise AudioContentError(f"'{path}' contains NaN or infinite samples; repair or re-export it")
    return audio


def load(path, stream: int | None = None, rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file.

    Parameters
    ----------
    path: file to read: wav, flac, ogg, mp3 (libsndfile), or .mp4/.m4a and MUSDB .stem.mp4 (PyAV)
    stream: for multi-stream files (MUSDB .stem.mp4), which audio stream to read: 0 = mixture,
        1 drums, 2 bass, 3 other, 4 vocals. None reads the first stream.
    rate: resample to this rate (Hz) if given and different

    Returns
    -------
    audio: float32 [shape=(channels, samples)], values in [-1, 1] for integer formats
    rate: sample rate in Hz

    A file cut off mid-stream is read as far as it goes, with a :class:`TruncatedAudioWarning`.
    Raises :class:`~shotoku.errors.InputFileError` for a missing, unreadable or non-audio file
    or one with no samples, :class:`~shotoku.errors.AudioContentError` for NaN/Inf samples.

    Example
    -------
    >>> audio, rate = load("song.wav")            # doctest: +SKIP
    >>> audio.shape, rate                         # doctest: +SKIP
    ((2, 441000), 44100)
    """
    path = _check_path(path)
    try:
        if _is_container(path) or stream is not None:
            arrays, sr = _load_av(path, 0 if stream is None else stream)
            audio = arrays[0]
        else:
            try:
                audio, sr = _load_soundfile(path)
            except _NotReadable:
                arrays, sr = _load_av(path, 0)
                audio = arrays[0]
    except _NotReadable:
        raise InputFileError(f"'{path}' is not a readable audio file") from None
    audio = _validate(audio, path)
    if rate is not None and rate != sr:
        audio, sr = resample(audio, sr, rate), rate
    return audio, sr


def load_stems(path, names: tuple[str, ...] = MUSDB_STEMS) -> tuple[dict[str, np.ndarray], int]:
    """Read every audio stream of a multi-stream file (MUSDB18 ``.stem.mp4``).

    Returns
    -------
    stems: {name: float32 [shape=(channels, samples)]}; streams named by ``names`` in order
        (``mixture, drums, bass, other, vocals`` for MUSDB18), extra streams ``stream_<i>``
    rate: sample rate in Hz

    Example
    -------
    >>> import stempeg                                     # doctest: +SKIP
    >>> stems, rate = load_stems(stempeg.example_stem_path())  # doctest: +SKIP
    >>> sorted(stems)                                      # doctest: +SKIP
    ['bass', 'drums', 'mixture', 'other', 'vocals']
    """
    path = _check_path(path)
    try:
        arrays, sr = _load_av(path, None)
    except _NotReadable:
        raise InputFileError(f"'{path}' is not a readable audio file") from None
    out = {}
    for i, a in enumerate(arrays):
        out[names[i] if i < len(names) else f"stream_{i}"] = _validate(a, path)
    return out, sr


def _last_frame_decodes(path: Path, frames: int) -> bool:
    """Whether the last frame a file's header declares can be read (a cut file's cannot)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(frames - 1)
            return f.read(1, dtype="float32").shape[0] == 1
    except (RuntimeError, sf.LibsndfileError):
        return False


def _describe_soundfile(path: Path) -> dict | None:
    """:func:`info` of a file libsndfile reads (None if it cannot), ``declared`` frames added."""
    import soundfile as sf

    try:
        i = sf.info(str(path))
    except sf.LibsndfileError:
        return None
    if i.frames == 0:
        raise InputFileError(f"'{path}' has a header but no samples")
    frames, truncated = i.frames, not _last_frame_decodes(path, i.frames)
    if truncated:  # the header's length is a promise the file does not keep: count
        frames = _read_decodable(path, keep=False)[4]
        if frames == 0:
            raise InputFileError(f"'{path}' has a header but no decodable samples")
    out = {
        "path": str(path), "format": f"{i.format} {i.subtype}", "channels": i.channels,
        "rate": i.samplerate, "samples": frames, "duration": frames / i.samplerate, "declared": i.frames,
    }
    if truncated:
        out["truncated"] = True
    return out


def info(path) -> dict:
    """Describe an audio file without decoding all of it where the format allows.

    Returns a dict with ``path``, ``format``, ``channels``, ``rate`` (Hz), ``samples``,
    ``duration`` (s) and, for multi-stream files, ``streams``. A file cut off mid-stream is
    decoded to count the samples it really holds, and gets ``truncated: True``.
    """
    path = _check_path(path)
    if not _is_container(path):
        out = _describe_soundfile(path)
        if out is not None:
            del out["declared"]
            return out
    try:
        arrays, sr = _load_av(path, None)
    except _NotReadable:
        raise InputFileError(f"'{path}' is not a readable audio file") from None
    a = arrays[0]
    if a.shape[1] == 0:
        raise InputFileError(f"'{path}' has a header but no samples")
    return {
        "path": str(path), "format": path.suffix.lstrip(".").upper(), "channels": a.shape[0],
        "rate": sr, "samples": a.shape[1], "duration": a.shape[1] / sr, "streams": len(arrays),
    }


class AudioFile:
    """An audio file read a range of samples at a time: memory for the range, not the file.

    ``AudioFile(path)`` reads the header (a file cut off mid-stream is counted to its last
    decodable sample, with a :class:`TruncatedAudioWarning`); ``shape`` is (channels, samples),
    ``rate`` in Hz; :meth:`read` returns float32 [shape=(channels, stop − start)], as
    :func:`load` would. Files libsndfile cannot read (MP4 containers, MUSDB ``.stem.mp4``) are
    decoded whole when opened: FFmpeg seeks to packets, not samples. NaN or infinite samples
    raise :class:`~shotoku.errors.AudioContentError` naming the file when they are read.
    :class:`shotoku.metrics.Sources` takes these as tracks.
    """

    def __init__(self, path):
        self.path = _check_path(path)
        self._array, self._file = None, None
        d = None if _is_container(self.path) else _describe_soundfile(self.path)
        if d is None:
            self._array, self.rate = load(self.path)
            self.shape = self._array.shape
            return
        _warn_truncated(self.path, d["samples"], d["declared"], bool(d.get("truncated")))
        self.rate = int(d["rate"])
        self.shape = (int(d["channels"]), int(d["samples"]))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (clipped to the file) [shape=(channels, n)], float32."""
        start, stop = max(int(start), 0), min(int(stop), self.shape[1])
        if self._array is not None:
            return self._array[:, start:max(start, stop)]
        if stop <= start:
            return np.zeros((self.shape[0], 0), np.float32)
        if self._file is None:
            import soundfile as sf

            self._file = sf.SoundFile(str(self.path))
        self._file.seek(start)
        out = self._file.read(stop - start, dtype="float32", always_2d=True).T
        if out.shape[1] < stop - start:
            raise InputFileError(f"'{self.path}' changed while it was read (it ends at sample {start + out.shape[1]})")
        if not np.all(np.isfinite(out)):
            raise AudioContentError(f"'{self.path}' contains NaN or infinite samples; repair or re-export it")
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self):
        return {**self.__dict__, "_file": None}

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, mode: int = 0o666):
    """A temporary path beside ``path`` that becomes ``path`` when the block completes.

    Write the file to the yielded path; on success it is renamed over ``path`` (readers see the
    old file or the new one, never half of it) with permissions ``mode`` under the user's umask;
    on any error, Ctrl-C included, it is removed. Every file shotoku writes goes through here.
    An ``OSError`` becomes :class:`~shotoku.errors.OutputError` naming ``path``.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write to folder '{folder}': {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
        raise


def write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path, record) -> Path:
    """Write a JSON document (indented, UTF-8, arrays and paths made plain) atomically."""
    import json

    return write_text(path, json.dumps(jsonable(record), indent=2, ensure_ascii=False, allow_nan=True) + "\n")


def jsonable(value):
    """Values as JSON values: arrays → lists, numpy scalars → numbers, paths → strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


_SUBTYPES = {".wav": "FLOAT", ".flac": "PCM_24", ".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}
#: What each output format can hold: (highest sample rate in Hz, most channels), as libsndfile writes them.
FORMAT_LIMITS = {".wav": (2 ** 31 - 1, 1024), ".flac": (655_350, 8), ".ogg": (192_000, 255), ".mp3": (48_000, 2)}


def check_format(path_or_suffix, rate: int, channels: int) -> str:
    """The output suffix if audio of ``rate`` Hz and ``channels`` channels can be written to it.

    Checked before any work, so that a run never ends on a format that cannot hold its result:
    :class:`~shotoku.errors.OutputError` says what the format holds and what to use instead.
    """
    text = str(path_or_suffix)
    ext = text.lower() if text.startswith(".") and "/" not in text else Path(text).suffix.lower()
    if ext not in _SUBTYPES:
        raise OutputError(f"cannot write '{text}': unknown format '{ext}' (use .wav, .flac, .ogg or .mp3)")
    max_rate, max_channels = FORMAT_LIMITS[ext]
    if rate > max_rate or (ext == ".mp3" and rate < 8000):
        raise OutputError(f"{ext.lstrip('.')} cannot hold {rate} Hz audio (it holds up to {max_rate} Hz); "
                          "use wav or flac, or resample first")
    if channels > max_channels:
        raise OutputError(f"{ext.lstrip('.')} cannot hold {channels} channels (at most {max_channels}); use wav")
    return ext


class AudioWriter:
    """An audio file written in pieces, the total length known in advance.

    ``AudioWriter(path, rate, channels, frames)``; :meth:`write` the samples in order
    (float [shape=(channels, n)] each, ``frames`` in all), then :meth:`close`. The suffix of
    ``path`` (or ``ext``, for a temporary name) picks the format as in :func:`save`. Float WAV is
    written by our own writer: the ``fmt``, ``fact`` and ``data`` chunks only, sizes from ``frames`` up front (libsndfile adds a
    ``PEAK`` chunk with a time stamp, so the same audio written twice would give different bytes;
    here equal audio gives equal files). The other formats go through libsndfile, clipped to
    [-1, 1]. ``path`` is written in place: callers make it atomic (:func:`save`, a staging folder).
    """

    def __init__(self, path, rate: int, channels: int, frames: int, subtype: str | None = None,
                 ext: str | None = None):
        import soundfile as sf

        self.path, self.channels, self.frames, self.written = Path(path), int(channels), int(frames), 0
        ext = check_format(ext or self.path, int(rate), self.channels)
        st = subtype or _SUBTYPES[ext]
        if self.frames < 1 or self.channels < 1:
            raise AudioContentError(f"cannot write '{path}': audio must be (channels, samples) and non-empty")
        self._raw = ext == ".wav" and st == "FLOAT"
        if self._raw:
            data_bytes = self.frames * self.channels * 4
            if data_bytes > 0xFFFFFFFF - 64:
                raise OutputError(f"cannot write '{path}': more than 4 GiB of samples for a WAV file")
            fmt = struct.pack("<HHIIHH", 3, self.channels, int(rate), int(rate) * self.channels * 4,
                              self.channels * 4, 32)
            chunks = [(b"fmt ", fmt), (b"fact", struct.pack("<I", self.frames))]
            size = 4 + sum(8 + len(body) for _, body in chunks) + 8 + data_bytes
            self._file = open(self.path, "wb")
            self._file.write(b"RIFF" + struct.pack("<I", size) + b"WAVE")
            for tag, body in chunks:
                self._file.write(tag + struct.pack("<I", len(body)) + body)
            self._file.write(b"data" + struct.pack("<I", data_bytes))
        else:
            self._file = sf.SoundFile(self.path, "w", int(rate), self.channels, subtype=st,
                                      format=ext.lstrip(".").upper())

    def write(self, audio: np.ndarray) -> None:
        """Append samples [shape=(channels, n)]; NaN or Inf is refused."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != self.channels or self.written + audio.shape[1] > self.frames:
            raise AudioContentError(f"cannot write '{self.path}': expected ({self.channels}, n) samples, "
                                    f"{self.frames - self.written} left, got {audio.shape}")
        if not np.all(np.isfinite(audio)):
            raise AudioContentError(f"cannot write '{self.path}': audio contains NaN or infinite values")
        if self._raw:
            self._file.write(np.ascontiguousarray(audio.T).astype("<f4").tobytes())
        else:
            self._file.write(np.clip(audio.T, -1.0, 1.0))
        self.written += audio.shape[1]

    def close(self) -> None:
        """Finish the file; :class:`~shotoku.errors.AudioContentError` if samples are missing."""
        self._file.close()
        if self.written != self.frames:
            raise AudioContentError(f"'{self.path}' got {self.written} of its {self.frames} samples")

    def abort(self) -> None:
        """Close the file as it is, after an error (the caller removes it)."""
        try:
            self._file.close()
        except Exception:  # noqa: BLE001  (closing what an error left half-written)
            pass

    def __enter__(self):
        return self

    def __exit__(self, kind, value, trace):
        if kind is None:
            self.close()
        else:
            self.abort()


def save(path, audio: np.ndarray, rate: int, subtype: str | None = None, protect=()) -> Path:
    """Write audio atomically.

    Parameters
    ----------
    path: target file; its suffix picks the format (.wav float32 by default, .flac 24-bit,
        .ogg Vorbis, .mp3). Float WAV files carry no time stamp: equal audio, equal bytes.
    audio: [shape=(channels, samples)] float array, or (samples,) for mono
    rate: sample rate in Hz
    subtype: libsndfile subtype overriding the default (e.g. "PCM_16")
    protect: paths that must never be overwritten (the run's inputs)

    The data go to a temporary file in the same folder, renamed over ``path`` once complete
    (:class:`AudioWriter` writes it). Raises :class:`~shotoku.errors.OutputError` when the
    folder cannot be written or ``path`` is one of ``protect``.
    """
    path = Path(path)
    for p in protect:
        if Path(p).exists() and path.exists() and os.path.samefile(p, path):
            raise OutputError(f"refusing to overwrite the input file '{path}'; choose another output")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    ext = check_format(path, int(rate), audio.shape[0] if audio.ndim == 2 else 1)
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise AudioContentError(f"cannot write '{path}': audio must be (channels, samples) and non-empty")
    if not np.all(np.isfinite(audio)):
        raise AudioContentError(f"cannot write '{path}': audio contains NaN or infinite values")
    with atomic_path(path) as tmp:
        with AudioWriter(tmp, rate, audio.shape[0], audio.shape[1], subtype, ext) as writer:
            writer.write(audio)
    return path


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Change the sample rate with a polyphase filter (``scipy.signal.resample_poly``).

    audio: [shape=(..., samples)] float array
    Returns float32 [shape=(..., round(samples * rate_out / rate_in))].
    """
    if rate_in == rate_out:
        return np.asarray(audio, dtype=np.float32)
    from scipy.signal import resample_poly

    g = gcd(int(rate_in), int(rate_out))
    up, down = int(rate_out) // g, int(rate_in) // g
    y = resample_poly(np.asarray(audio, dtype=np.float64), up, down, axis=-1)
    n = int(round(audio.shape[-1] * rate_out / rate_in))
    return np.ascontiguousarray(y[..., :n], dtype=np.float32)
