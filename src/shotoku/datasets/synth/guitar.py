"""Recorded electric guitar for the "other" stem: excerpts of the Frets on Fire guitar tracks.

The ``fretsonfire-songs-*`` packages ship each song as separate Ogg Vorbis files: ``guitar.ogg``
(the guitar alone) and ``song.ogg`` (everything else). Only ``guitar.ogg`` is used, so the stem
holds nothing but guitar. An excerpt starts at a seeded position inside the stretch where the
guitar plays (half-second windows above -40 dB of the track's loudest window) and loops when
the song is longer than that stretch.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=4)
def _track(path: str, rate: int) -> tuple[np.ndarray, np.ndarray]:
    import soundfile as sf

    from ...io import resample

    x, r = sf.read(path, dtype="float32", always_2d=True)
    x = x.T[:2] if x.shape[1] >= 2 else np.repeat(x.T, 2, axis=0)
    if r != rate:
        x = resample(x, r, rate)
    win = rate // 2
    n = x.shape[1] // win
    rms = np.sqrt((x[:, : n * win].astype(np.float64) ** 2).reshape(2, n, win).mean(axis=(0, 2)))
    active = rms > 0.01 * rms.max() if n and rms.max() > 0 else np.zeros(n, bool)
    x = np.ascontiguousarray(x, dtype=np.float32)
    x.setflags(write=False)
    return x, active


def excerpt(path: str, rng: np.random.Generator, samples: int, rate: int) -> tuple[np.ndarray, float]:
    """``samples`` samples of the guitar at ``path``: float32 [shape=(2, samples)], start in seconds."""
    x, active = _track(path, rate)
    win = rate // 2
    idx = np.flatnonzero(active)
    first, last = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, max(x.shape[1] // win, 1))
    body = x[:, first * win: last * win]
    span = max(body.shape[1] - samples, 0)
    start = int(rng.integers(span // win + 1)) * win if span > 0 else 0
    seg = body[:, start: start + samples]
    if seg.shape[1] < samples:
        seg = np.tile(body, (1, int(np.ceil(samples / body.shape[1])) + 1))[:, start: start + samples]
    return np.ascontiguousarray(seg, dtype=np.float32), (first * win + start) / rate
