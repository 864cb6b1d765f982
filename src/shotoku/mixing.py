"""Pan/delay scenes: the PROJET study's setup.

A *scene* places J mono objects in the stereo field, each at a pan angle and with an
inter-channel delay, and sums their stereo images into a mixture. The images are the references
that spatial separators (PROJET, DUET, ADRess, ICA) are scored against.

The mixing model is the one of FitzGerald, Liutkus & Badeau, "PROJET — Spatial Audio Separation
Using Projections" (IEEE/ACM TASLP 24(9), 2016), whose steering vector for a location l is
``θ_l(f) = [cos φ_l, sin φ_l · exp(−i 2π f̃ τ_l)]`` with ``φ_l ∈ [0, π/2]`` and ``τ_l`` in samples:

- **Pan law** (constant power): an angle ``a`` in degrees, ``−45 ≤ a ≤ 45``, maps to
  ``φ = (a + 45)°``; ``left = cos φ``, ``right = sin φ``. So −45° is hard left, +45° hard right,
  0° the centre (both gains ``1/√2``), and ``left² + right² = 1`` for every angle.
- **Delay**: the left channel is the object itself (times its gain); the right channel is the
  object delayed by ``τ`` samples (times its gain). Positive ``τ``: the right channel lags;
  negative: it leads. Integer delays are exact sample shifts. Fractional delays are applied as
  the phase ramp ``exp(−i 2π k τ / M)`` on the DFT of the object zero-padded to ``M ≥ 2N``
  samples, i.e. the exact band-limited (ideal sinc) delay of the zero-padded signal; the
  padding keeps the circular wrap-around of the sinc's tails to the far end of the buffer,
  which is then cut. This is exactly the model's ``exp(−i 2π f̃ τ)`` factor.

Public API: :func:`pan`, :func:`pan_gains`, :func:`delay_signal`, :func:`make_scene`, :class:`Scene`,
:func:`study_scenes`, :func:`write_scene`, :func:`read_scene`, :data:`CONDITIONS`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy import fft as sp_fft

from .errors import AudioContentError, OutputError, ParameterError

#: Target RMS of every object when ``normalize="rms"`` (−20 dBFS), before the scene-wide
#: limiter that keeps the mixture's peak below :data:`PEAK_LIMIT`.
OBJECT_RMS = 0.1
PEAK_LIMIT = 0.99


# --------------------------------------------------------------------------------------------
# pan and delay


def pan_gains(angle_deg: float) -> tuple[float, float]:
    """Constant-power gains ``(left, right)`` of a pan angle.

    angle_deg: pan angle in degrees, −45 (hard left) … 0 (centre) … +45 (hard right)

    Returns ``(cos φ, sin φ)`` with ``φ = (angle_deg + 45)°``.

    >>> [round(g, 4) for g in pan_gains(0.0)]
    [0.7071, 0.7071]
    """
    a = float(angle_deg)
    if not np.isfinite(a) or abs(a) > 45.0 + 1e-9:
        raise ParameterError(f"pan angle {angle_deg!r} is outside [-45, 45] degrees; "
                             "use -45 for hard left, 0 for centre, 45 for hard right")
    phi = math.radians(a + 45.0)
    left, right = math.cos(phi), math.sin(phi)
    # exact zeros at the extremes (cos(pi/2) is 6e-17 in floating point)
    if a <= -45.0:
        right = 0.0
    if a >= 45.0:
        left = 0.0
    return left, right


def delay_signal(signal: np.ndarray, samples: float) -> np.ndarray:
    """Delay a signal by a whole or fractional number of samples, keeping its length.

    signal: real array [shape=(..., N)], delayed along the last axis
    samples: delay in samples; positive delays (the output starts with silence), negative
        advance (the first ``|samples|`` samples are dropped, silence at the end)

    Returns an array of the same shape and dtype. An integer delay is an exact shift. A
    fractional delay multiplies the DFT of the signal, zero-padded to at least ``2N`` samples,
    by ``exp(−i 2π k samples / M)`` — the ideal band-limited delay — and cuts back to N samples.

    >>> delay_signal(np.array([1.0, 2.0, 3.0]), 1)
    array([0., 1., 2.])
    """
    x = np.asarray(signal)
    d = float(samples)
    if not np.isfinite(d):
        raise ParameterError(f"delay {samples!r} is not a finite number of samples")
    n = x.shape[-1]
    if d == 0.0:
        return x.copy()
    if abs(d) >= n:
        raise ParameterError(f"delay of {d:g} samples is not shorter than the signal ({n} samples)")
    if d == round(d):
        k = int(round(d))
        out = np.zeros_like(x)
        if k > 0:
            out[..., k:] = x[..., : n - k]
        else:
            out[..., : n + k] = x[..., -k:]
        return out
    m = sp_fft.next_fast_len(2 * n + int(math.ceil(abs(d))), real=True)
    spec = sp_fft.rfft(x.astype(np.float64, copy=False), n=m, axis=-1)
    k = np.arange(spec.shape[-1])
    spec *= np.exp(-2j * np.pi * k * d / m)
    # an advance rotates the first |d| samples to the far end of the padded buffer, where
    # they are cut off together with the sinc tails
    out = sp_fft.irfft(spec, n=m, axis=-1)[..., :n]
    return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)


def _image(mono: np.ndarray, angle_deg: float, tau: float) -> np.ndarray:
    """float64 (2, N) image of a float64 (N,) object."""
    g_left, g_right = pan_gains(angle_deg)
    out = np.zeros((2, mono.shape[0]), dtype=np.float64)
    out[0] = g_left * mono
    if g_right != 0.0:
        out[1] = g_right * delay_signal(mono, tau)
    return out


def pan(mono: np.ndarray, angle_deg: float, delay: float = 0.0) -> np.ndarray:
    """Place a mono object in the stereo field.

    mono: float [shape=(N,)] (a (1, N) array is accepted too)
    angle_deg: pan angle in degrees, −45 hard left, 0 centre, +45 hard right (constant-power law
        ``φ = (angle_deg + 45)°``, ``left = cos φ``, ``right = sin φ``)
    delay: inter-channel delay in samples, integer or fractional; positive: the right channel
        lags the left one, negative: it leads (see :func:`delay_signal`)

    Returns the stereo image, float32 [shape=(2, N)]: ``[cos φ · s(t), sin φ · s(t − delay)]``.

    >>> pan(np.ones(4, dtype=np.float32), -45.0)[1].max()
    0.0
    """
    s = np.asarray(mono, dtype=np.float64)
    if s.ndim == 2 and s.shape[0] == 1:
        s = s[0]
    if s.ndim != 1 or s.shape[0] == 0:
        raise AudioContentError(f"pan expects a mono signal of shape (N,), got shape {s.shape}; "
                                "downmix it first (mean over channels)")
    return _image(s, angle_deg, float(delay)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# scenes


def _as_vector(values, j: int, what: str) -> np.ndarray:
    v = np.broadcast_to(np.asarray(0.0 if values is None else values, dtype=np.float64), (j,)) \
        if np.ndim(values) == 0 else np.asarray(values, dtype=np.float64)
    if v.shape != (j,):
        raise ParameterError(f"{what}: got {v.shape[0] if v.ndim == 1 else v.shape} values "
                             f"for {j} objects; give one per object")
    return np.array(v, dtype=np.float64)


def make_scene(objects: np.ndarray, angles_deg: Sequence[float], delays: Sequence[float] | float = 0.0,
               normalize: str | None = "rms") -> tuple[np.ndarray, np.ndarray]:
    """Pan J mono objects and sum them into a stereo mixture.

    objects: float [shape=(J, N)] mono objects (a (J, 1, N) array is accepted)
    angles_deg: [shape=(J,)] pan angles in degrees (−45 … 45)
    delays: [shape=(J,)] or a scalar, inter-channel delays in samples (positive: right lags)
    normalize: ``"rms"`` scales every object to the same RMS (−20 dBFS) before panning, then
        scales the whole scene down if the mixture would peak above 0.99; ``None`` keeps the
        objects' levels as given (no limiter either)

    Returns ``(mixture, images)``: float32 [shape=(2, N)] and float32 [shape=(J, 2, N)], with
    ``mixture == images.sum(0)`` (computed in float64, then rounded once).

    Raises AudioContentError for a silent object under ``normalize="rms"`` or NaN/Inf samples,
    ParameterError for a bad angle, delay or normalisation.
    """
    x = np.asarray(objects, dtype=np.float64)
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise AudioContentError(f"objects must have shape (J, N) with J, N > 0, got {np.shape(objects)}")
    if not np.all(np.isfinite(x)):
        raise AudioContentError("objects contain NaN or infinite samples; clean the input audio")
    j = x.shape[0]
    angles = _as_vector(angles_deg, j, "angles")
    taus = _as_vector(delays, j, "delays")
    if normalize not in (None, "none", "rms"):
        raise ParameterError(f"normalize={normalize!r} is not known; use 'rms' or None")
    if normalize == "rms":
        rms = np.sqrt(np.mean(x ** 2, axis=1))
        if np.any(rms <= 1e-9):
            bad = int(np.flatnonzero(rms <= 1e-9)[0])
            raise AudioContentError(f"object {bad} is silent; choose an excerpt where every object sounds")
        x = x * (OBJECT_RMS / rms)[:, None]
    images = np.empty((j, 2, x.shape[1]), dtype=np.float64)
    for i in range(j):
        images[i] = _image(x[i], angles[i], taus[i])
    mixture = images.sum(axis=0)
    if normalize == "rms":
        peak = float(np.max(np.abs(mixture)))
        if peak > PEAK_LIMIT:
            images *= PEAK_LIMIT / peak
    images32 = images.astype(np.float32)
    mixture32 = images32.astype(np.float64).sum(axis=0).astype(np.float32)
    return mixture32, images32
