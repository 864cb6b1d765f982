"""Framewise SDR without projections, matching unnamed estimates to references, and SI-SDR.

BSS Eval v4's SDR is a plain framewise signal-to-error ratio, ``10·log10(‖s‖² / ‖ŝ − s‖²)`` per
frame (the distortion filters never enter it), so scoring every (reference, estimate) pair costs
one inner product per pair and frame. That is what :func:`match_sources` uses to pair the
unnamed outputs of spatial methods with the references: the assignment that maximises the mean
SDR, solved as a linear assignment problem (Kuhn 1955, Hungarian method, via
``scipy.optimize.linear_sum_assignment``) rather than by trying all J! permutations.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from .aggregate import median_over_frames
from .bsseval import frame_starts
from .inputs import Sources, check_finite, check_rate, prepare_pair, prepare_sources

__all__ = ["framewise_sdr", "match_sources", "si_sdr"]

# Frame SDRs are clipped to ±this many dB when averaged for the assignment (a perfect frame is
# +inf and would otherwise decide the assignment alone).
_SDR_CLIP = 300.0


def _frames(x: Sources, starts: np.ndarray, length: int) -> np.ndarray:
    """float64 [shape=(S, C, frames, length)]: the frames of x at ``starts`` (zero past its end)."""
    out = np.empty(x.shape[:2] + (len(starts), length))
    for i, s0 in enumerate(starts):
        x.read(s0, length, out[:, :, i])
    return out


def framewise_sdr(
    references,
    estimates,
    rate: float,
    window: int | float | None = None,
    hop: int | float | None = None,
    pad: bool = False,
) -> np.ndarray:
    """SDR of every estimate against every reference, frame by frame (BSS Eval v4 framing).

    Parameters
    ----------
    references: [shape=(J, channels, samples)] (or [shape=(J, samples)] for mono), or
        :class:`~shotoku.metrics.Sources` (read a few frames at a time)
    estimates: [shape=(K, channels, samples)] or :class:`~shotoku.metrics.Sources`, as long as
        the references
    rate: sample rate in Hz (default window)
    window, hop: frame length and hop in samples; default ``rate`` (1 s), as museval
    pad: cut or zero-pad the estimates to the references' length instead of refusing another
        length (:func:`shotoku.metrics.inputs.prepare_pair`)

    Returns
    -------
    float64 [shape=(J, K, frames)], dB: ``10·log10(‖s_j‖² / ‖ŝ_k − s_j‖²)`` over each frame; NaN
    where reference j or estimate k is silent (channel sum zero) all through the frame, +inf
    where they are equal. For matched pairs this equals :func:`bss_eval_images`' SDR except that
    museval also blanks a frame when any *other* source is silent in it.

    The error energy is expanded as ``‖ŝ‖² + ‖s‖² − 2⟨ŝ, s⟩``, which loses ``SDR/10`` digits: exact
    to ~1e-6 dB up to 100 dB.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.standard_normal((2, 1, 16000))
    >>> framewise_sdr(s, s[::-1] + 0.1 * s[::-1], 8000).round(1)[:, :, 0]
    array([[-3.4, 20. ],
           [20. , -3.5]])
    """
    rate = check_rate(rate)
    refs, ests = prepare_sources(references, estimates, pad=pad, same_count=False)
    window = rate if window is None else window
    hop = window if hop is None else hop
    starts, length = frame_starts(refs.shape[-1], window, hop)
    J, K, F = refs.shape[0], ests.shape[0], len(starts)
    sdr = np.empty((J, K, F))
    for f0 in range(0, F, 8):  # a few frames at a time, in float64
        sel = starts[f0 : f0 + 8]
        xr = _frames(refs, sel, length)  # (J, C, f, t)
        xe = _frames(ests, sel, length)
        energy_r = np.einsum("jcft,jcft->jf", xr, xr)
        energy_e = np.einsum("kcft,kcft->kf", xe, xe)
        check_finite(energy_r, "references")
        check_finite(energy_e, "estimates")
        a = xr.transpose(2, 0, 1, 3).reshape(len(sel), J, -1)  # (f, J, C·t)
        b = xe.transpose(2, 0, 1, 3).reshape(len(sel), K, -1)
        cross = (a @ b.transpose(0, 2, 1)).transpose(1, 2, 0)  # (J, K, f)
        error = np.maximum(energy_e[None] + energy_r[:, None] - 2 * cross, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            part = 10 * np.log10(energy_r[:, None] / error)
        part = np.where(error == 0, np.inf, part)
        silent_r = ~np.any(xr.sum(axis=1) != 0, axis=-1)  # (J, f)
        silent_e = ~np.any(xe.sum(axis=1) != 0, axis=-1)
        part[silent_r[:, None, :] | silent_e[None, :, :]] = np.nan
        sdr[:, :, f0 : f0 + len(sel)] = part
    return sdr


def match_sources(references, estimates, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair estimates with references by the best mean SDR (Hungarian assignment).

    Parameters
    ----------
    references: float [shape=(J, channels, samples)] (or [shape=(J, samples)] for mono)
    estimates: float [shape=(K, channels, samples)], in any order, as long as the references
        (:class:`~shotoku.errors.MismatchError` otherwise)
    rate: sample rate in Hz (1 s frames, as BSS Eval v4)

    Returns
    -------
    order: int64 [shape=(J,)], ``order[j]`` = index of the estimate assigned to reference j; the
        assignment maximises the mean over pairs of each pair's mean framewise SDR (frames NaN
        skipped, ±inf clipped to ±300 dB). With fewer estimates than references the unmatched
        references get -1.
    sdr: float64 [shape=(J,)], each assigned pair's median framewise SDR in dB (NaN frames
        skipped; NaN for an unmatched reference)

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> refs = rng.standard_normal((3, 2, 16000))
    >>> ests = refs[[2, 0, 1]] + 0.1 * rng.standard_normal((3, 2, 16000))
    >>> order, sdr = match_sources(refs, ests, 8000)
    >>> order.tolist(), bool(np.all(np.abs(sdr - 20) < 0.5))
    ([1, 2, 0], True)
    """
    sdr_all = framewise_sdr(references, estimates, rate)
    J, K, _ = sdr_all.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pairs
        mean = np.nanmean(np.clip(sdr_all, -_SDR_CLIP, _SDR_CLIP), axis=-1)
    mean = np.where(np.isnan(mean), -10 * _SDR_CLIP, mean)
    rows, cols = linear_sum_assignment(mean, maximize=True)
    order = np.full(J, -1, dtype=np.int64)
    order[rows] = cols
    sdr = np.full(J, np.nan)
    sdr[rows] = median_over_frames(sdr_all[rows, cols])
    return order, sdr


def si_sdr(references, estimates, zero_mean: bool = False, pad: bool = False) -> np.ndarray:
    """Scale-invariant SDR of each estimate against its reference.

    ``SI-SDR = 10·log10(‖α s‖² / ‖α s − ŝ‖²)`` with ``α = ⟨ŝ, s⟩ / ‖s‖²``: the estimate may be
    rescaled but not filtered (Le Roux, Wisdom, Erdogan & Hershey 2019, "SDR – half-baked or well
    done?", ICASSP). For multichannel sources one α serves all channels of a source and the
    energies sum over channels and samples (the paper treats single-channel signals).

    Parameters
    ----------
    references: [shape=(sources, channels, samples)] or [shape=(sources, samples)]
    estimates: same layout and length
    zero_mean: remove each channel's mean first, as the paper's definition assumes
    pad: cut or zero-pad the estimates to the references' length instead of refusing another
        length

    Returns
    -------
    float64 [shape=(sources,)], dB; NaN for a silent reference, +inf for a perfect estimate

    Example
    -------
    >>> s = np.array([[1.0, -1.0, 1.0, -1.0]])
    >>> float(si_sdr(s, 3 * s)[0])
    inf
    >>> float(np.round(si_sdr(s, s + 0.1 * np.array([[1.0, 1.0, -1.0, -1.0]]))[0], 3))
    20.0
    """
    refs, ests = prepare_pair(references, estimates, pad=pad, finite=True)
    refs, ests = refs.astype(np.float64), ests.astype(np.float64)
    if zero_mean:
        refs = refs - refs.mean(axis=-1, keepdims=True)
        ests = ests - ests.mean(axis=-1, keepdims=True)
    ref_energy = np.einsum("jct,jct->j", refs, refs)
    alpha = np.einsum("jct,jct->j", ests, refs) / np.where(ref_energy > 0, ref_energy, 1.0)
    target = alpha[:, None, None] * refs
    noise = target - ests
    num = np.einsum("jct,jct->j", target, target)
    den = np.einsum("jct,jct->j", noise, noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10 * np.log10(num / den)
    out = np.where(den == 0, np.inf, out)
    return np.where(ref_energy > 0, out, np.nan)

