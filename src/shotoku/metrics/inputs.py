"""Checks shared by every metric: array layout, sample rate, finite samples, equal lengths.

:func:`prepare_pair` is what :func:`~shotoku.metrics.bss_eval_images`,
:func:`~shotoku.metrics.bss_eval_sources`, :func:`~shotoku.metrics.framewise_sdr`,
:func:`~shotoku.metrics.match_sources` and :func:`~shotoku.metrics.si_sdr` run on their inputs;
the errors are :mod:`shotoku.errors` classes with one-line messages.

:class:`Sources` is how BSS Eval and the framewise SDR read their inputs: a range of samples at a
time, from arrays or from files (:class:`shotoku.io.AudioFile`), so that scoring a long track
holds a group of frames, never the track (:func:`prepare_sources`).

Lengths: references and estimates of different lengths are refused with a
:class:`~shotoku.errors.MismatchError` naming both lengths, unless ``pad=True`` asks for
museval's rule (``museval.evaluate(..., padding=True)``): the estimates are cut to the
references' length, or zero-padded at the end up to it.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext

import numpy as np

from ..errors import AudioContentError, MismatchError, ParameterError

__all__ = ["Sources", "as_sources", "check_finite", "check_rate", "prepare_pair", "prepare_sources"]

#: Samples per read when a whole track is scanned or correlated piece by piece (24 s at 44.1 kHz).
PIECE = 1 << 20


def check_rate(rate) -> float:
    """The sample rate in Hz, or :class:`~shotoku.errors.ParameterError` unless it is positive.

    >>> check_rate(8000)
    8000
    """
    if rate is None or not rate > 0:
        raise ParameterError(f"rate must be a positive sample rate in Hz (got {rate})")
    return rate


def as_sources(x, what: str) -> np.ndarray:
    """``x`` as a float array [shape=(sources, channels, samples)].

    x: array-like [shape=(sources, channels, samples)], or [shape=(sources, samples)] for mono
    sources (a channel axis of 1 is added); float32 and float64 are kept, anything else becomes
    float64. what: the name used in error messages ("references", "estimates").

    Raises :class:`~shotoku.errors.AudioContentError` for another number of dimensions or an
    empty axis.

    >>> as_sources(np.zeros((2, 5)), "references").shape
    (2, 1, 5)
    """
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise AudioContentError(f"{what} must be an array (sources, channels, samples); got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[-1] == 0:
        raise AudioContentError(f"{what} is empty (shape {x.shape})")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return x


def check_finite(values, what: str = "references or estimates") -> None:
    """:class:`~shotoku.errors.AudioContentError` if ``values`` (any array) holds NaN or ±inf."""
    if not np.all(np.isfinite(values)):
        raise AudioContentError(f"{what} contain NaN or infinite samples; repair the audio")


def _check_shapes(refs: tuple, ests: tuple, pad: bool, same_count: bool) -> None:
    """The checks of :func:`prepare_pair` on shapes (sources, channels, samples)."""
    if same_count and refs[0] != ests[0]:
        raise MismatchError(f"{refs[0]} references but {ests[0]} estimates; give one estimate per reference")
    if refs[1] != ests[1]:
        raise MismatchError(
            f"references have {refs[1]} channels but estimates {ests[1]}; "
            "give estimates with the references' channel count"
        )
    if refs[-1] != ests[-1] and not pad:
        raise MismatchError(
            f"references are {refs[-1]} samples long but estimates {ests[-1]}; cut or pad them to one length "
            "first (or pass pad=True: estimates cut or zero-padded to the references' length, as museval)"
        )


def prepare_pair(
    references, estimates, *, pad: bool = False, same_count: bool = True, finite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Validated references and estimates for a metric.

    Parameters
    ----------
    references: [shape=(J, channels, samples)] (or [shape=(J, samples)] for mono)
    estimates: [shape=(K, channels, samples)] (or [shape=(K, samples)])
    pad: cut or zero-pad the estimates to the references' length (museval's ``padding=True``)
        instead of refusing different lengths
    same_count: require K == J (one estimate per reference)
    finite: also scan every sample for NaN/inf (metrics that find them on the way skip this)

    Returns
    -------
    refs [shape=(J, C, N)], ests [shape=(K, C, N)]: float32 or float64 arrays (see
    :func:`as_sources`), the estimates of the references' length N.

    Raises :class:`~shotoku.errors.MismatchError` when source counts (if ``same_count``), channel
    counts or (unless ``pad``) lengths differ; :class:`~shotoku.errors.AudioContentError` for a
    bad layout, an empty array or (if ``finite``) NaN/inf samples.

    Example
    -------
    >>> refs, ests = prepare_pair(np.ones((2, 2, 10)), np.ones((2, 2, 8)), pad=True)
    >>> ests.shape, float(ests[0, 0, -1])
    ((2, 2, 10), 0.0)
    >>> prepare_pair(np.ones((2, 2, 10)), np.ones((2, 2, 8)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shotoku.errors.MismatchError: references are 10 samples long but estimates 8; ...
    """
    refs = as_sources(references, "references")
    ests = as_sources(estimates, "estimates")
    _check_shapes(refs.shape, ests.shape, pad, same_count)
    n, k = refs.shape[-1], ests.shape[-1]
    if k != n:
        if k > n:
            ests = ests[..., :n]
        else:
            ests = np.concatenate([ests, np.zeros(ests.shape[:2] + (n - k,), dtype=ests.dtype)], axis=-1)
    if finite:
        check_finite(refs, "references")
        check_finite(ests, "estimates")
    return refs, ests


class Sources:
    """S sources of C channels and N samples, read a range of samples at a time.

    tracks: per source, an array [shape=(channels, samples)] (1-D: mono), an object with
        ``shape`` (channels, samples) and ``read(start, stop)`` -> float [shape=(channels, n)]
        (:class:`shotoku.io.AudioFile`: a file read piece by piece), or ``None`` for silence
    length: N, the length the sources are read at (default: the first track's); a shorter track
        reads as zeros past its end and a longer one is cut, which is museval's padding rule
    channels: C (default: the first track's)

    Nothing is copied on construction; :meth:`read` converts to float64 the range it is asked
    for. Reads of file-backed tracks are serialised (one lock), so threads may share a
    ``Sources``.

    >>> s = Sources([np.ones((2, 4)), None], length=6)
    >>> out = np.empty((2, 2, 3))
    >>> s.read(3, 3, out)
    >>> out[0, 0].tolist(), out[1, 0].tolist(), s.shape
    ([1.0, 0.0, 0.0], [0.0, 0.0, 0.0], (2, 2, 6))
    """

    def __init__(self, tracks, length: int | None = None, channels: int | None = None):
        self.tracks = []
        for t in tracks:
            if t is not None and not hasattr(t, "read"):
                t = np.asarray(t)
                t = t[None] if t.ndim == 1 else t
                if t.ndim != 2:
                    raise AudioContentError(f"a source must be (channels, samples); got shape {t.shape}")
            self.tracks.append(t)
        given = [t.shape for t in self.tracks if t is not None]
        if not given and (length is None or channels is None):
            raise AudioContentError("every source is silent (None) and no shape is given")
        self.channels = int(given[0][0] if channels is None else channels)
        self.length = int(given[0][-1] if length is None else length)
        lazy = any(t is not None and not isinstance(t, np.ndarray) for t in self.tracks)
        self._lock = threading.Lock() if lazy else nullcontext()

    @classmethod
    def of(cls, x, what: str = "sources") -> "Sources":
        """``x`` if it is a :class:`Sources`, else the rows of :func:`as_sources` (views, no copy)."""
        if isinstance(x, Sources):
            return x
        arr = as_sources(x, what)
        return cls(list(arr))

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.tracks), self.channels, self.length

    def lengths(self) -> list[int]:
        """Each track's own length in samples (0 for silence)."""
        return [0 if t is None else int(t.shape[-1]) for t in self.tracks]

    def read(self, start: int, length: int, out: np.ndarray) -> None:
        """out[s, c, :length] = sample ``start + t`` of source s, channel c, in float64; zeros before
        0 and from N (or a track's own end) on. out: [shape=(S, C, >= length)]."""
        lo, hi = max(start, 0), min(start + length, self.length)
        with self._lock:
            for s, t in enumerate(self.tracks):
                row = out[s]
                stop = min(hi, t.shape[-1]) if t is not None else lo
                if stop <= lo:
                    row[..., :length] = 0.0
                    continue
                row[..., : lo - start] = 0.0
                row[..., lo - start : stop - start] = t[..., lo:stop] if isinstance(t, np.ndarray) else t.read(lo, stop)
                row[..., stop - start : length] = 0.0

    def blocks(self, size: int | None = None):
        """(start, float64 [shape=(S, C, n)]) over the whole length, ``size`` (default
        :data:`PIECE`) samples at a time (the array is reused between blocks)."""
        size = PIECE if size is None else size
        buf = np.empty(self.shape[:2] + (min(size, self.length),))
        for start in range(0, self.length, size):
            n = min(size, self.length - start)
            self.read(start, n, buf)
            yield start, buf[..., :n]

    def active(self) -> np.ndarray:
        """bool [shape=(S,)]: the channel sum is non-zero somewhere (museval's silence test)."""
        out = np.zeros(len(self.tracks), dtype=bool)
        for _, x in self.blocks():
            out |= np.any(x.sum(axis=1) != 0, axis=-1)
        return out


def prepare_sources(references, estimates, *, pad: bool = False, same_count: bool = True) -> tuple[Sources, Sources]:
    """:func:`prepare_pair`'s checks, for inputs read a range at a time: arrays (as there) or
    :class:`Sources`; the estimates are read at the references' length (cut or zero-padded,
    allowed only with ``pad``). NaN/inf samples are found where they are read."""
    refs = Sources.of(references, "references")
    ests = Sources.of(estimates, "estimates")
    for x, what in ((refs, "references"), (ests, "estimates")):
        if 0 in x.shape:
            raise AudioContentError(f"{what} is empty (shape {x.shape})")
    _check_shapes(refs.shape, ests.shape, pad, same_count)
    if ests.length != refs.length:
        ests = Sources(ests.tracks, length=refs.length, channels=refs.channels)
    return refs, ests
