"""BSS Eval: SDR, ISR, SIR and SAR of source images, museval-exact and fast.

The decomposition is that of Vincent, Gribonval & Févotte (2006), "Performance measurement in
blind audio source separation", IEEE TASLP 14(4), in its version 4 by Liutkus, Stöter & Ito
(2018), "The 2018 Signal Separation Evaluation Campaign", LVA/ICA: the estimate ``ŝ_j`` of the
source image ``s_j`` is split into ``s_j + e_spat + e_interf + e_artif`` by least-squares
projections onto delayed copies (0..L-1 samples, L = 512) of the reference channels:

- ``P_j``: projection of ``ŝ_j`` on the delayed channels of reference ``j`` alone,
- ``P``: projection of ``ŝ_j`` on the delayed channels of every reference,
- ``e_spat = P_j − s_j``, ``e_interf = P − P_j``, ``e_artif = ŝ_j − P``,

and, in dB, ``SDR = ‖s_j‖²/‖ŝ_j − s_j‖²``, ``ISR = ‖s_j‖²/‖e_spat‖²``,
``SIR = ‖P_j‖²/‖e_interf‖²``, ``SAR = ‖P‖²/‖e_artif‖²``.

The numbers are museval 0.4.1's (``museval.evaluate(refs, ests, win, hop)``, mode "v4"), frame by
frame: the projection filters are fitted once on the whole track; each frame's reference segment
is filtered on its own (with its own L−1 sample tail, nothing carried between frames); energies
sum over the frame, its tail and all channels; the last partial window is dropped and a track
shorter than the window is one frame; a frame in which any reference or any estimate is silent
(channel sum zero throughout) is NaN for every source; a zero error energy gives +inf. Estimates
must be as long as the references; ``pad=True`` cuts or zero-pads them to it, as museval does
(:mod:`shotoku.metrics.inputs`). A reference or estimate silent all through the track, which
museval refuses, makes its own source NaN in every frame (and blanks no frame of the others),
with a :class:`SilentSourceWarning`.

How it is fast (see docs/benchmarks.md): every frame is transformed once, and the same spectra
give both the correlations for the filters (plus short corrections across frame boundaries) and
the projections, which are products of spectra; energies come from Parseval's identity, with no
inverse transforms; SDR is a plain framewise signal-to-error ratio. The spectra stay in the FFT's
own layout and are gathered into cache-sized blocks of bins for the per-frequency matrix products
(:mod:`shotoku.metrics.spectra`); both projections of a block come from one batched product. The
Gram matrix of the delayed references is block Toeplitz: the projection on all references is one
system with J·C channels, the projection on one reference alone J systems with C channels, all
solved by a block Levinson recursion and refined with the inverse that the recursion's
predictors give (:mod:`shotoku.metrics.toeplitz`); a dense Cholesky factorisation runs only when
that is not accurate enough (band-limited references, e.g. lossy-coded stems, give condition
numbers near 1/ε).

Rank-deficient references. The projections are onto the *span* of the delayed reference
channels, which is well defined whatever the basis; only the Gram matrix of a dependent basis is
singular. Rule: a reference whose channels are dependent sample by sample (identical channels,
a mono object panned into stereo, a silent channel, a silent reference) is replaced by an
orthonormal basis of its channel space, the eigenvectors of its zero-lag channel covariance
whose eigenvalue is above 1e-10 of the largest: its delayed copies span the same space, the
systems are of full rank again, smaller (a panned mono object is one channel instead of two) and
go through the same block Levinson path, and the filters map back as the minimum-norm ones.
This is what museval computes where its solve of the singular system fails and it falls back to
``numpy.linalg.lstsq`` (exactly identical channels), unless lstsq's cut-off (ε times the size
times the largest singular value) also drops weak but genuine directions. Where the float32
rounding of a panned copy keeps museval's LU solve from failing, its ISR/SIR/SAR take that
rounding residue (1e-15 of the energy) for signal and differ from these by up to a few dB; these
are the projections a rank-revealing QR of the delayed channels gives. SDR never uses the filters and is
unaffected: true stems scored against themselves give SDR = +inf for every source, as in museval.
References dependent only across delays (one channel a delayed copy of another) are found by
the factorisation (a delayed channel whose unexplained energy is below 1e-10 of its energy);
``G`` then gets a Tikhonov term ``δ·mean(diag G)·I`` with ``δ`` = :data:`REGULARISATION` (1e-10)
and a :class:`RankDeficientWarning` is issued. Full-rank references are never reduced nor
regularised.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.fft

from ..errors import ParameterError
from ..progress import bar
from .inputs import Sources, check_finite, check_rate, prepare_sources
from .spectra import FrameSpectra, boundary_correlations, column_dot, split, track_correlations, workers
from .toeplitz import one_blas_thread, solve_block_toeplitz, solve_dense

__all__ = [
    "FILTER_LENGTH",
    "METRICS",
    "REGULARISATION",
    "RankDeficientWarning",
    "Scores",
    "SilentSourceWarning",
    "bss_eval_images",
    "bss_eval_sources",
    "frame_starts",
]

#: Taps of the distortion filters (museval's ``filters_len``).
FILTER_LENGTH = 512

#: Tikhonov weight, relative to the mean diagonal of the Gram matrix, for rank-deficient references.
REGULARISATION = 1e-10

#: Metric names in the order museval returns them.
METRICS = ("SDR", "ISR", "SIR", "SAR")

# A direction of a reference's channel space holding less than this fraction of its largest
# eigenvalue is dropped (a panned mono copy in float32 sits near 1e-15, identical channels at 0);
# a delayed channel whose unexplained energy is below this fraction of its energy is linearly
# dependent on the others (lossy-coded, band-limited stems stay above 1e-6).
_RANK_TOLERANCE = 1e-10

# Keep the frame spectra between the correlation pass and the projection pass up to this size;
# beyond it they are recomputed.
_CACHE_BYTES = 512 * 2**20


class RankDeficientWarning(UserWarning):
    """Delayed reference channels are linearly dependent beyond their channel space (one channel a
    delayed copy of another); ISR, SIR and SAR use a regularised projection."""


class SilentSourceWarning(UserWarning):
    """A reference or an estimate is all zeros: its scores are NaN (museval refuses such input)."""


@dataclass(frozen=True)
class Scores:
    """Framewise BSS Eval scores of one track.

    Attributes
    ----------
    sdr, isr, sir, sar: float64 [shape=(sources, frames)], dB; NaN in frames where a reference or
        an estimate is silent, +inf where the error term is zero
    times: float64 [shape=(frames,)], start of each frame in seconds
    window: frame length in seconds
    hop: hop between frames in seconds
    """

    sdr: np.ndarray
    isr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    times: np.ndarray
    window: float
    hop: float

    def metric(self, name: str) -> np.ndarray:
        """Framewise values of one metric ("SDR", "ISR", "SIR" or "SAR") [shape=(sources, frames)]."""
        if name.upper() not in METRICS:
            raise ParameterError(f"unknown metric '{name}'; choose one of {', '.join(METRICS)}")
        return getattr(self, name.lower())

    def median(self) -> dict[str, np.ndarray]:
        """Median over frames, NaN frames skipped: {"SDR": float64 [shape=(sources,)], ...}."""
        from .aggregate import median_over_frames

        return {m: median_over_frames(self.metric(m)) for m in METRICS}


def frame_starts(n_samples: int, window: int | float, hop: int | float) -> tuple[np.ndarray, int]:
    """Frame start samples and frame length, as museval frames a track.

    Parameters
    ----------
    n_samples: length of the track in samples
    window: frame length in samples (``math.inf``: one frame over the whole track)
    hop: hop between frame starts in samples

    Returns
    -------
    starts: int64 [shape=(frames,)]
    length: samples per frame (all frames have the same length)

    ``frames = floor((n_samples − window + hop) / hop)``: the last partial window is dropped; a
    track no longer than the window is one frame covering all of it.

    Example
    -------
    >>> frame_starts(100, 40, 40)
    (array([ 0, 40]), 40)
    """
    if not window > 0 or not hop > 0:
        raise ParameterError(f"window and hop must be positive (got window={window}, hop={hop})")
    if window < n_samples:
        count = int(math.floor((n_samples - window + hop) / hop))
        starts = np.floor(np.arange(count) * hop).astype(np.int64)
        return starts, int(window)
    return np.zeros(1, dtype=np.int64), int(n_samples)


# --------------------------------------------------------------------------------------------
# inputs


def _warn_silent(silent: np.ndarray, n_refs: int) -> None:
    """silent: bool [shape=(sources,)] for references then estimates, silent all through the track."""
    names = [f"reference {j}" for j in np.flatnonzero(silent[:n_refs])]
    names += [f"estimate {k}" for k in np.flatnonzero(silent[n_refs:])]
    if names:
        warnings.warn(
            f"{', '.join(names)} silent (all zeros) all through: those sources are NaN and do not "
            "blank the frames of the others",
            SilentSourceWarning,
            stacklevel=4,
        )


def _whole_activity(refs: Sources, ests: Sources) -> np.ndarray:
    """bool [shape=(refs + ests,)]: the channel sum is non-zero somewhere (museval's silence test)."""
    return np.concatenate([refs.active(), ests.active()])


def _tiles(n_samples: int, starts: np.ndarray, length: int, hop, filters_len: int) -> bool:
    """Frames are back to back from sample 0 (or one frame is the whole track)."""
    if len(starts) == 1 and length == n_samples:
        return True
    return hop == length and length >= filters_len


# --------------------------------------------------------------------------------------------
# filters


def _identity(pairs: list[tuple[int, int]], J: int, K: int) -> bool:
    """The pairs are (0, 0), (1, 1), …: every estimate scored against its own reference only."""
    return J == K and list(pairs) == [(j, j) for j in range(J)]


def _dependent(pivots: np.ndarray, energy: np.ndarray, load: float) -> bool:
    """Some channel (with energy) keeps less than ``_RANK_TOLERANCE`` of it unexplained."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (pivots - load) / energy
    return bool(np.any((energy > 0) & ~(ratio >= _RANK_TOLERANCE)))


def _dense(R: np.ndarray, Y: np.ndarray, load: float) -> tuple[np.ndarray, bool]:
    """Dense solve of the systems with ``load·I`` added; (X, rank deficient?)."""
    R = _loaded(R, load)
    X, pivots = solve_dense(R, Y)
    energy = np.diagonal(R[:, 0], axis1=-2, axis2=-1)[:, None, :] - load
    return X, _dependent(pivots, energy, load)


def _channel_bases(R0: np.ndarray, J: int, C: int) -> list[np.ndarray] | None:
    """Orthonormal bases of the references' channel spaces, or None when every reference is full rank.

    R0: [shape=(J·C, J·C)] zero-lag correlations of the reference channels. For reference j the
    eigenvectors of its own C × C block whose eigenvalue exceeds ``_RANK_TOLERANCE`` times the
    largest are kept: ``U_j`` [shape=(C, r_j)], r_j = 0 for a silent reference, 1 for a mono
    object panned or copied into every channel.
    """
    bases, reduced = [], False
    for j in range(J):
        block = R0[j * C : (j + 1) * C, j * C : (j + 1) * C]
        w, U = np.linalg.eigh(0.5 * (block + block.T))
        keep = w > _RANK_TOLERANCE * w[-1] if w[-1] > 0 else np.zeros(C, dtype=bool)
        reduced |= not keep.all()
        bases.append(np.eye(C) if keep.all() else U[:, keep])  # full rank: the channels themselves
    return bases if reduced else None


def _solve_batch(R: np.ndarray, Y: np.ndarray, load: float, fast: bool) -> np.ndarray:
    """X [shape=(batch, L, c, r)] of the block Toeplitz systems R(k) + load·δ(k)·I, right-hand sides Y:
    block Levinson where ``fast`` and accurate enough, dense otherwise."""
    if fast:
        X, ok, _ = solve_block_toeplitz(_loaded(R, load), Y)
        if ok.all():
            return X
    return _dense(R, Y, load)[0]


def _loaded(T: np.ndarray, load: float) -> np.ndarray:
    """Blocks [shape=(batch, L, c, c)] with ``load·I`` added at lag 0."""
    T = T.copy()
    T[:, 0] += load * np.eye(T.shape[-1])
    return T


def _filters(
    r: np.ndarray, J: int, C: int, pairs: list[tuple[int, int]], regularisation: float, exact=None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Distortion filters in the time domain.

    r: [shape=(L, J·C, (J+K)·C)] lag correlations of the references with [references, estimates].
    Returns ``full`` [shape=(L, J·C, K·C)]: tap ``a`` from reference channel (i, c') to estimate
    channel (k, c) of the projection ``P`` of estimate k on all references; ``own``
    [shape=(L, pairs, C, C)]: for pair ``(j, k)``, from reference j's channel c' to estimate
    channel c of the projection ``P_j`` of estimate k on reference j alone; and whether the
    references were found rank deficient beyond their channel spaces (and regularised).

    A reference whose channels are linearly dependent sample by sample (identical channels, a
    mono object panned, a silent channel or a silent reference) is first replaced by an
    orthonormal basis of its channel space (:func:`_channel_bases`): ``y_j = U_jᵀ x_j``. The
    delayed copies of ``y_j`` span exactly what those of ``x_j`` span, so the projections are
    the same, and the systems, now of full rank, are smaller; the filters found for ``y_j`` are
    mapped back to ``x_j``'s channels through ``U_j`` (the minimum-norm filters).

    The projection on all references solves one block Toeplitz system with Σ r_j channels; the
    projection on reference j alone uses source j's own block of the Gram matrix, small systems
    of r_j channels solved together when their sizes agree. Both go through the block Levinson
    recursion; where it is not accurate enough the systems are solved densely (full Gram matrix
    once, each source's block once), from the correlations ``exact()`` returns if given: such
    matrices (condition numbers near 1/ε) turn every rounding error of the correlations into a
    visible change of ISR/SIR/SAR, and ``lag_correlations``' power-of-two transforms are the more
    accurate.
    """
    L, m, _ = r.shape
    eps = np.finfo(np.float64).eps
    identity = _identity(pairs, J, J)
    bases = _channel_bases(r[0, :, :m], J, C)
    widths = [C] * J if bases is None else [U.shape[1] for U in bases]
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)
    if bases is not None:
        V = np.zeros((m, offsets[-1]))
        for j, U in enumerate(bases):
            V[j * C : (j + 1) * C, offsets[j] : offsets[j + 1]] = U

    def split_systems(r):
        """The reduced full system (R, D) and, per source, its own block and right-hand sides."""
        R = np.ascontiguousarray(r[:, :, :m])
        D = np.ascontiguousarray(r[:, :, m:])  # (L, m, K·C)
        if bases is not None:
            R = np.ascontiguousarray(V.T @ R @ V)
            D = np.ascontiguousarray(V.T @ D)
        own = []
        for j in range(J):
            rows = slice(offsets[j], offsets[j + 1])
            cols = slice(j * C, (j + 1) * C) if identity else slice(None)
            own.append((R[:, rows, rows], D[:, rows, cols]))
        return R, D, own

    R, D, own_systems = split_systems(r)
    energy = np.diagonal(R[0]).copy()
    full_width = R.shape[-1]

    def levinson_full(load: float):
        X, ok, innovation = solve_block_toeplitz(_loaded(R[None], load), D[None])
        try:
            pivots = np.diagonal(np.linalg.cholesky(innovation[0])) ** 2
        except np.linalg.LinAlgError:  # not positive definite: singular to working precision
            pivots = np.zeros(full_width)
        return X[0], bool(ok[0]), bool(ok[0]) and _dependent(pivots, energy, load)

    load = eps
    if full_width == 0:  # every reference silent: nothing to project on
        full, ok, deficient = np.zeros((L, 0, D.shape[-1])), True, False
    else:
        full, ok, deficient = levinson_full(load)
        if not ok and exact is not None:
            R, D, own_systems = split_systems(exact())
        if not ok:
            full, deficient = _dense(R[None], D[None], load)
            full = full[0]
        if deficient and regularisation > 0:
            load = eps + regularisation * np.mean(energy)
            full, ok, _ = levinson_full(load)
            if not ok:
                full = _dense(R[None], D[None], load)[0][0]

    # the small systems are no worse conditioned than the large one: the recursion where it was
    # accurate there; sources of equal width solved together
    cols = own_systems[0][1].shape[-1]
    own = np.zeros((J, L, C, cols))
    for width in sorted(set(widths) - {0}):
        group = [j for j in range(J) if widths[j] == width]
        Rg = np.stack([own_systems[j][0] for j in group])
        Dg = np.stack([own_systems[j][1] for j in group])
        Xg = _solve_batch(Rg, Dg, load, ok)
        for i, j in enumerate(group):
            own[j] = Xg[i] if bases is None else bases[j] @ Xg[i]
    if bases is not None:
        full = V @ full
    if identity:
        own_pairs = np.ascontiguousarray(own.transpose(1, 0, 2, 3))
    else:
        own5 = own.reshape(J, L, C, -1, C)
        own_pairs = np.stack([own5[j, :, :, k] for j, k in pairs], axis=1)
    return full, own_pairs, deficient


# --------------------------------------------------------------------------------------------
# the decomposition


_DOTS = ("own", "full", "own_full", "own_target", "est_full", "est_own")


class _FilterMatrix:
    """Both projections as one matrix per bin: ``[P | P_j] = X M``, assembled block by block.

    full_f [shape=(K·C, J·C, bins)] (``P[k·C + c] = Σ_i full_f[k·C + c, i] X[i]``) and own_f
    [shape=(pairs, C, C', bins)] (``P_j[c] = Σ_c' own_f[pair, c, c'] X_j[c']``); ``block(b0, b1)``
    is M [shape=(b1 − b0, J·C, K·C + pairs·C)]: the rows of ``own_f`` sit in the rows of the
    pair's reference and are zero elsewhere.
    """

    def __init__(self, full_f: np.ndarray, own_f: np.ndarray, pairs: list[tuple[int, int]]):
        self.full_f, self.own_f, self.pairs = full_f, own_f, pairs
        self.KC, self.m, _ = full_f.shape
        self.C = own_f.shape[1]

    def block(self, b0: int, b1: int) -> np.ndarray:
        KC, m, C = self.KC, self.m, self.C
        M = np.zeros((b1 - b0, m, KC + len(self.pairs) * C), dtype=np.complex128)
        M[:, :, :KC] = self.full_f[..., b0:b1].transpose(2, 1, 0)
        for p, (j, _) in enumerate(self.pairs):
            col = KC + p * C
            M[:, j * C : (j + 1) * C, col : col + C] = self.own_f[p, :, :, b0:b1].transpose(2, 1, 0)
        return M


def _project(spectra, M: np.ndarray, J: int, pairs: list[tuple[int, int]], need_own_error: bool) -> np.ndarray:
    """Inner products of the projections with each other and with the signals, per frame.

    spectra: :class:`~shotoku.metrics.spectra.Spectra` of F frames of S = J + K signals of C
    channels; M: both filters' spectra (:class:`_FilterMatrix`)
    -> float64 [shape=(6, pairs, F)] in the order of ``_DOTS``: ‖P_j‖², ‖P‖², ⟨P_j, P⟩, ⟨P_j, s_j⟩,
    ⟨ŝ_k, P⟩, ⟨ŝ_k, P_j⟩ (the last only if ``need_own_error``), each summed over the frame, its
    tail and the channels (Parseval). Works through blocks of bins gathered from the spectra so
    that the intermediates stay in cache, the blocks shared among threads; both projections of a
    block come from one batched matrix product.
    """
    bins, F, S, C = spectra.bins, spectra.frames, spectra.S, spectra.C
    m = J * C
    K = S - J
    n_pairs = len(pairs)
    js = np.array([p[0] for p in pairs])
    ks = np.array([p[1] for p in pairs])
    identity = _identity(pairs, J, K)

    def work(lo: int, hi: int, _: int) -> np.ndarray:
        out = np.zeros((len(_DOTS), F, n_pairs, C))
        buf = None
        for b0, b1 in spectra.blocks(lo, hi):
            buf = Zb = spectra.block(b0, b1, weighted=True, out=buf)
            nb = b1 - b0
            X = Zb[:, :, :J]  # (nb, F, J, C)
            PP = X.reshape(nb, F, m) @ M.block(b0, b1)
            P = PP[:, :, : K * C].reshape(nb, F, K, C)
            Pj = PP[:, :, K * C :].reshape(nb, F, n_pairs, C)
            if identity:
                Sx, Ek = X, Zb[:, :, J:]
            else:
                P = P[:, :, ks]
                Sx, Ek = Zb[:, :, js], Zb[:, :, J + ks]
            if J == 1:  # one reference: both projections are the same, e_interf is exactly 0
                Pj = P
            todo = [(Pj, Pj), (P, P), (Pj, P), (Pj, Sx), (Ek, P)] + ([(Ek, Pj)] if need_own_error else [])
            for i, (a, b) in enumerate(todo):
                out[i] += column_dot(a, b)
        return out

    out = sum(split(work, bins))
    return out.sum(axis=3).transpose(0, 2, 1)


def _join_stats(parts: list[dict]) -> dict:
    """Per-frame statistics of consecutive groups of frames, joined along the frames axis."""
    return {key: None if parts[0][key] is None else np.concatenate([p[key] for p in parts], axis=1) for key in parts[0]}


def _decompose(*args, **kwargs) -> tuple[dict[str, np.ndarray], bool]:
    """:func:`_decompose_work` with BLAS on one thread: the products here are small matrices, and
    the parallelism is over frequency blocks in our own threads."""
    with one_blas_thread():
        return _decompose_work(*args, **kwargs)


def _decompose_work(
    refs: Sources,
    ests: Sources,
    starts: np.ndarray,
    length: int,
    hop,
    pairs: list[tuple[int, int]],
    filters_len: int,
    regularisation: float,
    need_own_error: bool = False,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], bool]:
    """Energies of the BSS Eval terms in every frame for every (reference j, estimate k) pair.

    refs, ests: :class:`~shotoku.metrics.inputs.Sources` of one length, read a group of frames
    at a time: what is held is the spectra of one group (:data:`_CACHE_BYTES`), not the tracks.

    Returns ({name: float64 [shape=(pairs, frames)]}, rank deficient?) with names ``target``
    ‖s_j‖², ``estimate`` ‖ŝ_k‖², ``error`` ‖ŝ_k − s_j‖² (identity pairs only), ``own`` ‖P_j‖²,
    ``spat`` ‖P_j − s_j‖², ``interf`` ‖P − P_j‖², ``full`` ‖P‖², ``artif`` ‖ŝ_k − P‖²,
    ``own_error`` ‖ŝ_k − P_j‖², ``active`` bool [shape=(sources, frames)] (the channel sum is
    non-zero somewhere in the frame; True all through for a source silent all through, which
    must not blank the frames of the others) and ``silent`` bool [shape=(sources,)] (silent all
    through). References, then estimates.
    """
    J, C, N = refs.shape
    K = ests.shape[0]
    S = J + K
    L = filters_len
    m = J * C
    nfft = scipy.fft.next_fast_len(length + L - 1, real=True)
    frames = FrameSpectra(refs, ests, length, nfft)
    bins = frames.bins
    n_frames = len(starts)
    group = max(1, _CACHE_BYTES // (bins * S * C * 16))  # frames held at once
    kept = None  # spectra of the segments, when all fit in memory
    stats = None

    tiled = _tiles(N, starts, length, hop, L)
    n_seg = -(-N // length)
    # one unit per frame and pass: the correlations (when tiled), then the projections
    shown = bar(desc="scoring", total=n_frames + (n_seg if tiled else 0), unit="frame", show=progress)
    if tiled:
        # Correlations from the frame spectra: segments back to back (the frames, then the
        # dropped tail), plus the pairs that straddle a boundary.
        seg_starts = np.arange(n_seg) * length
        acc = np.zeros((m, S * C, bins), dtype=np.complex128)  # bins last, for the inverse FFT
        parts = []
        for g0 in range(0, n_seg, group):
            seg = seg_starts[g0 : g0 + group]
            Z = None  # the previous group's spectra go before this group's are made
            Z, st = frames.transform(seg, stats=True)
            parts.append(st)

            def correlate(lo: int, hi: int, _: int) -> None:
                buf = None
                for b0, b1 in Z.blocks(lo, hi):
                    buf = Zb = Z.block(b0, b1, out=buf)
                    flat = Zb.reshape(b1 - b0, -1, S * C)
                    acc[:, :, b0:b1] += (np.conj(flat[:, :, :m]).transpose(0, 2, 1) @ flat).transpose(1, 2, 0)

            split(correlate, bins)
            if n_seg <= group:
                kept = Z
            shown.update(len(seg))
        stats = _join_stats(parts)
        active_all = stats["active"].any(axis=1)
        stats = {key: (v[:, :n_frames] if v is not None else None) for key, v in stats.items()}
        r = scipy.fft.irfft(acc, n=nfft, axis=-1, workers=workers())[..., :L].transpose(2, 0, 1)
        del acc
        if n_seg > 1:
            r += boundary_correlations([refs, ests], m, seg_starts[1:], L)
    else:
        active_all = _whole_activity(refs, ests)
    if stats is not None:
        check_finite(stats["energy"])

    def blocked() -> np.ndarray:
        return track_correlations(refs, ests, L)

    if not tiled:
        r = blocked()
    check_finite(r)
    full, own, deficient = _filters(r, J, C, pairs, regularisation, blocked if tiled else None)
    full_f = scipy.fft.rfft(full.transpose(2, 1, 0), n=nfft, axis=-1, workers=workers())  # (K·C, m, bins)
    own_f = scipy.fft.rfft(own.transpose(1, 3, 2, 0), n=nfft, axis=-1, workers=workers())  # (pairs, C, C', bins)
    M = _FilterMatrix(full_f, own_f, pairs)

    dots = np.empty((len(_DOTS), len(pairs), n_frames))
    parts = []
    Z = None
    for g0 in range(0, n_frames, group):
        sel = starts[g0 : g0 + group]
        if kept is not None:
            Z = kept if kept.frames == n_frames else kept.first(n_frames)
        else:
            Z = None
            Z, st = frames.transform(sel, stats=stats is None)
            parts.append(st)
        dots[:, :, g0 : g0 + len(sel)] = _project(Z, M, J, pairs, need_own_error)
        shown.update(len(sel))
    shown.close()
    if stats is None:
        stats = _join_stats(parts)

    js = np.array([p[0] for p in pairs])
    ks = np.array([p[1] for p in pairs])
    target = stats["energy"][js]
    estimate = stats["energy"][J + ks]
    own, full, own_full, own_target, est_full, est_own = dots
    out = {
        "target": target,
        "estimate": estimate,
        "error": stats["error"],
        "own": own,
        "full": full,
        "spat": own + target - 2 * own_target,
        "interf": full + own - 2 * own_full,
        "artif": estimate + full - 2 * est_full,
        "own_error": estimate + own - 2 * est_own if need_own_error else None,
        "active": stats["active"] | ~active_all[:, None],
        "silent": ~active_all,
    }
    return out, deficient


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """10·log10(num/den); a denominator that is zero (to rounding, or below) gives +inf."""
    den = np.maximum(den, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(num / den)
    return np.where(den == 0, np.inf, out)


def _rank_warning() -> None:
    warnings.warn(
        "reference channels are linearly dependent (e.g. a mono source panned or delayed into "
        "stereo): ISR, SIR and SAR use a regularised projection and differ from museval's "
        "(which are rounding noise there); SDR is exact",
        RankDeficientWarning,
        stacklevel=3,
    )


def bss_eval_images(
    references,
    estimates,
    rate: float,
    window: int | float | None = None,
    hop: int | float | None = None,
    filters_len: int = FILTER_LENGTH,
    regularisation: float = REGULARISATION,
    pad: bool = False,
    progress: bool = False,
) -> Scores:
    """BSS Eval v4 image metrics (SDR, ISR, SIR, SAR) per source and per frame.

    Reproduces ``museval.evaluate(refs, ests, win=window, hop=hop)`` (museval 0.4.1, mode "v4";
    note museval's arrays are (sources, samples, channels)) to within 0.01 dB on every metric
    and frame for full-rank references. See the module docstring for the decomposition, the
    conventions and the rule for rank-deficient references (identical channels, a mono object
    panned into stereo, a silent channel: exact projections on the reference's channel space).

    Parameters
    ----------
    references: [shape=(sources, channels, samples)] true source images (mono may be
        [shape=(sources, samples)]); any float dtype, computed in float64; or a
        :class:`~shotoku.metrics.Sources` (files read a group of frames at a time: memory for
        the group, not the track)
    estimates: [shape=(sources, channels, samples)] or :class:`~shotoku.metrics.Sources`;
        estimate ``j`` is scored against reference ``j``; as long as the references unless ``pad``
    rate: sample rate in Hz (frame times; default window)
    window: frame length in samples; default ``rate`` (1 s); ``math.inf`` scores the whole track
        as one frame
    hop: hop between frames in samples; default ``window``
    filters_len: taps of the distortion filters (512 in museval)
    regularisation: Tikhonov weight for references whose delayed channels are dependent beyond
        their channel space (one channel a delayed copy of another), relative to the mean
        diagonal of the Gram matrix; 0: no regularisation
    pad: cut or zero-pad the estimates to the references' length, as ``museval.evaluate`` does;
        by default estimates of another length are refused
    progress: a progress bar over the frames on a terminal (:func:`shotoku.progress.bar`)

    Returns
    -------
    :class:`Scores`: ``sdr, isr, sir, sar`` float64 [shape=(sources, frames)] in dB,
    ``times`` [shape=(frames,)] in seconds, ``window`` and ``hop`` in seconds.

    A reference or an estimate silent (all zeros) all through the track, which museval refuses,
    gives NaN for its source in every frame, does not blank the frames of the other sources and
    issues a :class:`SilentSourceWarning`.

    Raises :class:`~shotoku.errors.MismatchError` when source counts, channel counts or (unless
    ``pad``) lengths differ; :class:`~shotoku.errors.AudioContentError` for NaN/inf samples or
    empty arrays.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> refs = rng.standard_normal((2, 2, 16000))
    >>> ests = refs + 0.1 * rng.standard_normal(refs.shape)
    >>> scores = bss_eval_images(refs, ests, 8000)
    >>> scores.sdr.shape, bool(abs(scores.sdr[0, 0] - 20) < 0.5)
    ((2, 2), True)
    """
    rate = check_rate(rate)
    refs, ests = prepare_sources(references, estimates, pad=pad)
    window = rate if window is None else window
    hop = window if hop is None else hop
    if math.isinf(hop):
        hop = window
    starts, length = frame_starts(refs.shape[-1], window, hop)
    pairs = [(j, j) for j in range(refs.shape[0])]
    en, deficient = _decompose(refs, ests, starts, length, hop, pairs, filters_len, regularisation,
                               progress=progress)
    if deficient:
        _rank_warning()
    J = refs.shape[0]
    _warn_silent(en["silent"], J)
    values = {
        "sdr": _db(en["target"], en["error"]),
        "isr": _db(en["target"], en["spat"]),
        "sir": _db(en["own"], en["interf"]),
        "sar": _db(en["full"], en["artif"]),
    }
    silent = ~np.all(en["active"], axis=0)
    dead = en["silent"][:J] | en["silent"][J:]
    for v in values.values():
        v[:, silent] = np.nan
        v[dead] = np.nan
    window_s = (length if math.isinf(window) else window) / rate
    hop_s = (length if math.isinf(hop) else hop) / rate
    return Scores(times=starts / rate, window=window_s, hop=hop_s, **values)


def bss_eval_sources(
    references,
    estimates,
    rate: float | None = None,
    window: int | float = math.inf,
    hop: int | float | None = None,
    compute_permutation: bool = False,
    filters_len: int = FILTER_LENGTH,
    regularisation: float = REGULARISATION,
    pad: bool = False,
) -> tuple[Scores, np.ndarray]:
    """BSS Eval v3 ``bss_eval_sources`` criteria, with distortion filters fitted in every frame.

    The decomposition of :func:`bss_eval_images` is fitted on each frame alone (BSS Eval v2/v3,
    museval's ``framewise_filters=True``) and the criteria take the filtered reference
    ``P_j = s_j + e_spat`` as the target (Vincent, Gribonval & Févotte 2006, the
    ``bss_eval_sources`` variant): ``SDR = ‖P_j‖²/‖e_interf + e_artif‖²``,
    ``SIR = ‖P_j‖²/‖e_interf‖²``, ``SAR = ‖P‖²/‖e_artif‖²``; ISR is undefined (NaN). Matches
    ``museval.metrics.bss_eval(refs, ests, window, hop, framewise_filters=True,
    bsseval_sources_version=True)``. For single-channel sources pass [shape=(sources, samples)].

    Parameters
    ----------
    references: [shape=(sources, samples)] or [shape=(sources, channels, samples)]
    estimates: same layout, source count and length (unless ``pad``)
    rate: sample rate in Hz, only for frame times (default: times and durations in samples)
    window: frame length in samples; default ``math.inf``, the whole signal as one frame
    hop: hop in samples; default ``window``
    compute_permutation: also find the estimate order that maximises the mean SIR, as an
        assignment problem (``scipy.optimize.linear_sum_assignment``): the same optimum as
        museval's search over all permutations, in polynomial time; NaN frames are skipped
    filters_len, regularisation, pad: as in :func:`bss_eval_images` (so are silent sources)

    Returns
    -------
    scores: :class:`Scores` [shape=(sources, frames)] per reference (``isr`` all NaN)
    order: int64 [shape=(sources,)], the estimate scored against each reference (the identity
        unless ``compute_permutation``)

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> refs = rng.standard_normal((2, 8000))
    >>> ests = refs[::-1] + 0.1 * rng.standard_normal(refs.shape)
    >>> scores, order = bss_eval_sources(refs, ests, compute_permutation=True)
    >>> order.tolist(), scores.sdr.shape
    ([1, 0], (2, 1))
    """
    from scipy.optimize import linear_sum_assignment

    unit = 1.0 if rate is None else check_rate(rate)
    refs, ests = prepare_sources(references, estimates, pad=pad)
    J = refs.shape[0]
    dead = ~_whole_activity(refs, ests)  # silent all through: NaN, and no frame blanked for them
    _warn_silent(dead, J)
    hop = window if hop is None else hop
    if math.isinf(hop):
        hop = window
    starts, length = frame_starts(refs.shape[-1], window, hop)
    if compute_permutation:
        pairs = [(j, k) for j in range(J) for k in range(J)]
    else:
        pairs = [(j, j) for j in range(J)]
    sdr = np.full((len(pairs), len(starts)), np.nan)
    sir = sdr.copy()
    sar = sdr.copy()
    deficient_any = False
    one = np.zeros(1, dtype=np.int64)
    for f, start in enumerate(starts):
        x = np.zeros((J, refs.shape[1], length))
        e = np.zeros_like(x)
        refs.read(start, length, x)
        ests.read(start, length, e)
        x_s, e_s = Sources.of(x), Sources.of(e)
        if not (_whole_activity(x_s, e_s) | dead).all():
            continue
        en, deficient = _decompose(x_s, e_s, one, length, length, pairs, filters_len, regularisation, True)
        deficient_any |= deficient
        sdr[:, f] = _db(en["own"], en["own_error"])[:, 0]
        sir[:, f] = _db(en["own"], en["interf"])[:, 0]
        sar[:, f] = _db(en["full"], en["artif"])[:, 0]
    dead_pairs = np.array([dead[j] or dead[J + k] for j, k in pairs])
    for v in (sdr, sir, sar):
        v[dead_pairs] = np.nan
    if deficient_any:
        _rank_warning()
    if compute_permutation:
        finite = np.where(np.isfinite(sir), sir, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_sir = np.nanmean(finite, axis=1).reshape(J, J)
        mean_sir = np.where(np.isnan(mean_sir), -1e9, mean_sir)
        _, order = linear_sum_assignment(mean_sir, maximize=True)
        idx = np.arange(J) * J + order
        sdr, sir, sar = sdr[idx], sir[idx], sar[idx]
    else:
        order = np.arange(J)
    window_s = (length if math.isinf(window) else window) / unit
    hop_s = (length if math.isinf(hop) else hop) / unit
    scores = Scores(
        sdr=sdr, isr=np.full_like(sdr, np.nan), sir=sir, sar=sar, times=starts / unit, window=window_s, hop=hop_s
    )
    return scores, np.asarray(order, dtype=np.int64)
