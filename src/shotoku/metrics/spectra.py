"""Frame spectra and lag correlations for BSS Eval, batched over frequencies.

Internal to :mod:`shotoku.metrics`. Everything here works in float64 and, where the work splits
over frequency blocks or groups of frames, in a few threads (numpy and scipy release the GIL in
the transforms and matrix products).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft

from . import inputs

#: Threads for the FFTs and the per-frequency products (numpy and scipy release the GIL there);
#: all the cores this process may use, at most 8. Set it to 1 for strictly serial work.
THREADS = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def workers() -> int:
    """``workers`` for scipy.fft calls: :data:`THREADS`."""
    return THREADS


def split(fn, n: int, parts: int | None = None) -> list:
    """[fn(lo, hi, i) for the i-th of ``parts`` (default :data:`THREADS`) contiguous slices lo:hi
    of range(n)], in threads."""
    parts = max(1, min(THREADS if parts is None else parts, n))
    bounds = np.linspace(0, n, parts + 1).astype(int)
    if parts == 1:
        return [fn(0, n, 0)]
    with ThreadPoolExecutor(parts) as pool:
        return list(pool.map(lambda i: fn(bounds[i], bounds[i + 1], i), range(parts)))


def lag_correlations(u: np.ndarray, v: np.ndarray, lags: int) -> np.ndarray:
    """``r[k, p, q] = Σ_n u[p, n] v[q, n + k]`` for k = 0..lags-1 (zero outside the signals).

    u: [shape=(P, N)], v: [shape=(Q, N)] -> float64 [shape=(lags, P, Q)]. Blocks of the signals
    are correlated in the frequency domain (overlap-save) and summed before one inverse transform.
    """
    n = u.shape[-1]
    nfft = min(8192, scipy.fft.next_fast_len(n + lags - 1, real=True))
    nfft = max(nfft, scipy.fft.next_fast_len(2 * lags, real=True))
    block = nfft - lags + 1
    n_blocks = -(-n // block)
    u_pad = np.zeros((u.shape[0], n_blocks * block))
    u_pad[:, :n] = u
    v_pad = np.zeros((v.shape[0], n_blocks * block + nfft - block))
    v_pad[:, : v.shape[-1]] = v
    acc = np.zeros((nfft // 2 + 1, u.shape[0], v.shape[0]), dtype=np.complex128)
    for b0 in range(0, n_blocks, 64):
        b1 = min(n_blocks, b0 + 64)
        ub = u_pad[:, b0 * block : b1 * block].reshape(u.shape[0], b1 - b0, block)
        vb = np.lib.stride_tricks.sliding_window_view(v_pad[:, b0 * block :], nfft, axis=-1)
        vb = vb[:, : (b1 - b0) * block : block]
        uf = scipy.fft.rfft(ub, n=nfft, axis=-1, workers=workers()).transpose(2, 0, 1)  # (bins, P, blocks)
        vf = scipy.fft.rfft(vb, n=nfft, axis=-1, workers=workers()).transpose(2, 1, 0)  # (bins, blocks, Q)
        acc += np.conj(uf) @ vf
    return scipy.fft.irfft(acc, n=nfft, axis=0, workers=workers())[:lags]


def boundary_correlations(signals: list, m: int, ends: np.ndarray, lags: int) -> np.ndarray:
    """Lag correlations of pairs that straddle segment boundaries (``n < end <= n + k``).

    signals: :class:`~shotoku.metrics.inputs.Sources` [shape=(S_i, C, N)] (references first; the
    first ``m`` channels in all are the left factor), ends: boundary positions -> float64
    [shape=(lags, m, Q)] summed over boundaries. Only the last ``lags − 1`` samples before and
    the first ``lags − 1`` after each boundary take part.
    """
    h = lags - 1
    nfft = scipy.fft.next_fast_len(2 * h + 1, real=True)
    Q = sum(x.shape[0] * x.shape[1] for x in signals)
    tails = np.zeros((len(ends), Q, nfft))
    heads = np.zeros((len(ends), Q, nfft))
    for i, end in enumerate(ends):
        q = 0
        for x in signals:
            rows = x.shape[0] * x.shape[1]
            x.read(end - h, h, tails[i, q : q + rows].reshape(x.shape[0], x.shape[1], nfft))
            x.read(end, h, heads[i, q : q + rows, h:].reshape(x.shape[0], x.shape[1], nfft - h))
            q += rows
    tf = scipy.fft.rfft(tails[:, :m], axis=-1).transpose(2, 1, 0)  # (bins, m, boundaries)
    hf = scipy.fft.rfft(heads, axis=-1).transpose(2, 0, 1)  # (bins, boundaries, Q)
    return scipy.fft.irfft(np.conj(tf) @ hf, n=nfft, axis=0)[:lags]


def track_correlations(refs, ests, lags: int) -> np.ndarray:
    """``r[k, p, q] = Σ_n x[p, n] y[q, n + k]`` over whole tracks, p over the reference channels
    and q over [references, estimates] (:class:`~shotoku.metrics.inputs.Sources`), k < lags ->
    float64 [shape=(lags, J·C, (J+K)·C)]. Read and correlated ``inputs.PIECE`` samples at a time
    (:func:`lag_correlations`), plus the pairs across the pieces' boundaries
    (:func:`boundary_correlations`): memory for a piece, not the track."""
    (J, C, N), K = refs.shape, ests.shape[0]
    m = J * C
    piece = inputs.PIECE
    r = np.zeros((lags, m, (J + K) * C))
    buf = np.empty((J + K, C, min(piece, N)))
    for start in range(0, N, piece):
        n = min(piece, N - start)
        refs.read(start, n, buf[:J])
        ests.read(start, n, buf[J:])
        flat = buf[..., :n].reshape((J + K) * C, n)
        r += lag_correlations(flat[:m], flat, lags)
    ends = np.arange(piece, N, piece)
    if len(ends):
        r += boundary_correlations([refs, ests], m, ends, lags)
    return r


class FrameSpectra:
    """Frame spectra and framewise time-domain statistics of references and estimates.

    Frames ``[start, start + length)`` of references and estimates
    (:class:`~shotoku.metrics.inputs.Sources`, read a frame at a time) are zero-padded to
    ``nfft`` and transformed a few at a time (in threads); the spectra stay in the transform's own layout, one chunk
    [shape=(frames_in_chunk, S, C, bins)] per call, so that nothing is transposed across the
    whole array. :meth:`Spectra.block` gathers a block of bins for all frames into the layout of
    the per-frequency matrix products, [shape=(bins_in_block, frames, S, C)], small enough to
    stay in cache while it is used.
    """

    _SUB = 2  # frames per FFT call (keeps temporaries small and reused)

    def __init__(self, refs, ests, length: int, nfft: int):
        self.refs, self.ests = refs, ests
        self.J, self.C = refs.shape[:2]
        self.S = self.J + ests.shape[0]
        self.length, self.nfft = length, nfft
        self.bins = nfft // 2 + 1
        self.sqrt_w = np.sqrt(parseval_weights(nfft))
        self._bufs: list[np.ndarray] = []

    def transform(self, starts: np.ndarray, stats: bool) -> tuple["Spectra", dict[str, np.ndarray] | None]:
        """:class:`Spectra` of the frames at ``starts`` and, if asked, per-frame time-domain
        statistics: ``energy`` [shape=(S, F)] Σ x², ``error`` [shape=(J, F)] Σ (ŝ_j − s_j)²,
        ``active`` [shape=(S, F)] bool (channel sum non-zero somewhere in the frame)."""
        J, S, C = self.J, self.S, self.C
        F = len(starts)
        st = None
        if stats:
            st = {
                "energy": np.empty((S, F)),
                "error": np.empty((J, F)) if S == 2 * J else None,
                "active": np.empty((S, F), dtype=bool),
            }
        n_sub = -(-F // self._SUB)
        chunks: list[np.ndarray | None] = [None] * n_sub
        parts = max(1, min(THREADS, n_sub))
        while len(self._bufs) < parts:  # per thread: the FFT input and scratch for the statistics
            self._bufs.append(
                (
                    np.zeros((self._SUB, S, C, self.nfft)),
                    np.empty((self._SUB, S, self.length)),
                    np.empty((self._SUB, J, C, self.length)),
                )
            )

        def work(lo: int, hi: int, part: int) -> None:
            for k in range(lo, hi):
                i0 = k * self._SUB
                chunks[k] = self._transform_sub(starts[i0 : i0 + self._SUB], i0, self._bufs[part], st)

        split(work, n_sub, parts)
        return Spectra(chunks, self.bins, self.sqrt_w), st

    def _transform_sub(self, sub: np.ndarray, i0: int, bufs: tuple[np.ndarray, ...], st) -> np.ndarray:
        J, S, C, length = self.J, self.S, self.C, self.length
        n = len(sub)
        buf, scratch, diff = (b[:n] for b in bufs)
        for i, start in enumerate(sub):
            self.refs.read(start, length, buf[i, :J])
            self.ests.read(start, length, buf[i, J:])
        if st is not None:
            x = buf[..., :length]
            fr = slice(i0, i0 + n)
            st["energy"][:, fr] = np.einsum("fsct,fsct->sf", x, x)
            st["active"][:, fr] = _active(x, scratch)
            if st["error"] is not None:
                np.subtract(x[:, J:], x[:, :J], out=diff)
                st["error"][:, fr] = np.einsum("fjct,fjct->jf", diff, diff)
        return scipy.fft.rfft(buf, axis=-1)  # (n, S, C, bins)


class Spectra:
    """Spectra of a group of frames, as :meth:`FrameSpectra.transform` made them.

    chunks: complex128 arrays [shape=(frames_in_chunk, S, C, bins)], consecutive frames;
    sqrt_w: float64 [shape=(bins,)], √ of the Parseval weights.
    """

    #: Values per gathered block (2 MB): 128 bins of 60 frames of 16 channels; more bins when
    #: there are fewer frames, so that short tracks are not all per-block overhead.
    BLOCK_VALUES = 128 * 60 * 16

    def __init__(self, chunks: list[np.ndarray], bins: int, sqrt_w: np.ndarray):
        self.chunks = chunks
        self.bins = bins
        self.sqrt_w = sqrt_w
        self.frames = sum(c.shape[0] for c in chunks)
        self.S, self.C = chunks[0].shape[1:3]

    def block(self, b0: int, b1: int, weighted: bool = False, out: np.ndarray | None = None) -> np.ndarray:
        """Bins b0:b1 of every frame [shape=(b1−b0, frames, S, C)], times √w if ``weighted`` (so
        that a plain sum of products over bins is a time-domain inner product)."""
        nb = b1 - b0
        if out is None or out.shape[0] < nb:
            out = np.empty((nb, self.frames, self.S, self.C), dtype=np.complex128)
        out = out[:nb]
        rows = self.S * self.C
        flat = out.reshape(nb, self.frames * rows)
        i0 = 0
        for c in self.chunks:  # one 2-D transpose per chunk: (frames·S·C, bins) -> (bins, frames·S·C)
            n = c.shape[0] * rows
            flat[:, i0 : i0 + n] = c[..., b0:b1].reshape(n, nb).T
            i0 += n
        if weighted:
            out *= self.sqrt_w[b0:b1, None, None, None]
        return out

    def first(self, n: int) -> "Spectra":
        """The spectra of the first ``n`` frames only (views of the same chunks)."""
        chunks, left = [], n
        for c in self.chunks:
            if left <= 0:
                break
            chunks.append(c[:left])
            left -= c.shape[0]
        return Spectra(chunks, self.bins, self.sqrt_w)

    def blocks(self, lo: int, hi: int):
        """(b0, b1) of the blocks that cover bins lo:hi."""
        step = max(16, self.BLOCK_VALUES // (self.frames * self.S * self.C))
        for b0 in range(lo, hi, step):
            yield b0, min(hi, b0 + step)


def _active(x: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """bool [shape=(S, F)]: the channel sum of frame f of signal s is non-zero somewhere.

    x: [shape=(F, S, C, length)]; scratch: float64 [shape=(F, S, length)]. The first samples
    settle almost every frame; the rest is summed only for frames silent there.
    """
    head = min(64, x.shape[-1])
    found = np.any(x[..., :head].sum(axis=2), axis=-1)  # (F, S)
    if not found.all():
        total = np.sum(x, axis=2, out=scratch)
        found = np.any(total, axis=-1)
    return found.T


def parseval_weights(nfft: int) -> np.ndarray:
    """w with Σ_t y[t]² = Σ_k w[k] |rfft(y)[k]|² for a real y of length nfft."""
    w = np.full(nfft // 2 + 1, 2.0 / nfft)
    w[0] = 1.0 / nfft
    if nfft % 2 == 0:
        w[-1] = 1.0 / nfft
    return w


def column_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Re Σ_bins conj(a) b: a, b complex [shape=(bins, ...)], the last axis contiguous (any other
    strides) -> float64 [shape=(...)]."""
    av, bv = a.view(np.float64), b.view(np.float64)
    return np.einsum("b...,b...->...", av, bv).reshape(*a.shape[1:], 2).sum(axis=-1)
