"""The stereo field: one pan law, pan histograms, peak picking and position names.

Every part of shotoku that places a source in the stereo field or finds one there uses this
module: the scene generator (:mod:`shotoku.datasets.scenes`), the synthetic songs' MIDI pan,
the spatial methods (PROJET, ADRess, the pan mask, DUET's start) and the remix.

The law is constant power over −45° (hard left) … 0° (centre) … +45° (hard right)::

    left = cos(φ), right = sin(φ), φ = (angle + 45)°

so that ``left² + right² = 1`` at every angle, and an image's angle reads back from its
channels' magnitudes as ``atan2(|right|, |left|) − 45°`` (:func:`angle_of`).

References: Pulkki (1997) for amplitude panning; FitzGerald, Liutkus & Badeau (2016) and
Barry et al. (2004) for positions read from a histogram of per-bin angles.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .errors import ParameterError

#: Hard left and hard right, in degrees.
LEFT, RIGHT = -45.0, 45.0
#: Histogram resolution in degrees: one bin per 0.5° over [−45, 45].
HIST_STEP = 0.5
HIST_CENTRES = np.arange(LEFT, RIGHT + HIST_STEP / 2, HIST_STEP)


def check_angle(angle_deg, what: str = "pan angle") -> float:
    """``angle_deg`` as a float, or :class:`~shotoku.errors.ParameterError` outside [−45, 45]."""
    try:
        a = float(angle_deg)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a number of degrees, got {angle_deg!r}") from None
    if not np.isfinite(a) or abs(a) > RIGHT + 1e-9:
        raise ParameterError(f"{what} {a:g} is outside [-45, 45] degrees; "
                             "use -45 for hard left, 0 for centre, 45 for hard right")
    return min(max(a, LEFT), RIGHT)


def pan_gains(angle_deg: float) -> tuple[float, float]:
    """Constant-power gains ``(left, right)`` of a pan angle.

    angle_deg: pan angle in degrees, −45 (hard left) … 0 (centre) … +45 (hard right)

    Returns ``(cos φ, sin φ)`` with ``φ = (angle_deg + 45)°``; exact zeros at ±45°.

    >>> [round(g, 4) for g in pan_gains(0.0)]
    [0.7071, 0.7071]
    >>> pan_gains(-45)
    (1.0, 0.0)
    """
    a = check_angle(angle_deg)
    phi = math.radians(a + 45.0)
    left, right = math.cos(phi), math.sin(phi)
    if a <= LEFT:  # cos(pi/2) is 6e-17 in floating point
        right = 0.0
    if a >= RIGHT:
        left = 0.0
    return left, right


def phi_to_angle(phi):
    """Angle in degrees of the law's parameter φ in radians (0 … π/2): ``φ·180/π − 45``."""
    return np.rad2deg(np.asarray(phi, dtype=np.float64)) + LEFT


def angle_to_phi(angle_deg):
    """The law's parameter φ in radians (0 … π/2) of an angle in degrees (−45 … 45)."""
    return np.deg2rad(np.asarray(angle_deg, dtype=np.float64) - LEFT)


def midi_angle(pan: int) -> float:
    """The angle of a MIDI pan controller value: 0 → −45° (left), 64 → about 0°, 127 → +45°."""
    return float(np.clip(pan, 0, 127)) / 127.0 * (RIGHT - LEFT) + LEFT


def pan(mono: np.ndarray, angle_deg: float) -> np.ndarray:
    """Pan a mono signal [shape=(samples,)] to a float32 stereo image [shape=(2, samples)]."""
    left, right = pan_gains(angle_deg)
    mono = np.asarray(mono, dtype=np.float32)
    return np.stack([mono * np.float32(left), mono * np.float32(right)])


def angle_of(left, right):
    """Angle in degrees of (left, right) magnitudes or energies' square roots.

    left, right: non-negative magnitudes [shape=(...)] (for an image's overall position, pass
        the square roots of the channels' energies)
    returns: degrees [shape=(...)] in [−45, 45]; the inverse of :func:`pan_gains`
        (``angle_of(*pan_gains(a)) == a``); 0 (centre) where both are zero.

    >>> round(float(angle_of(*pan_gains(30.0))), 6)
    30.0
    """
    return np.degrees(np.arctan2(np.asarray(right, dtype=np.float64), np.asarray(left, dtype=np.float64))) - 45.0


def bin_angles(X, eps: float = 1e-12) -> np.ndarray:
    """Pan angle of every time-frequency bin of a stereo STFT, from its magnitudes.

    X: complex STFT [shape=(2, bins, frames)] (numpy or torch)
    eps: added to both magnitudes, so an all-zero bin reads as centre (0°)
    returns: float32 degrees [shape=(bins, frames)], −45 = only the left channel
    """
    if hasattr(X, "detach"):  # a torch tensor, possibly on a GPU
        import torch

        mag = X.abs()
        return (torch.rad2deg(torch.atan2(mag[1] + eps, mag[0] + eps)) - 45.0).float().cpu().numpy()
    mag_l = np.abs(X[0]).astype(np.float64)
    mag_r = np.abs(X[1]).astype(np.float64)
    return (np.degrees(np.arctan2(mag_r + eps, mag_l + eps)) - 45.0).astype(np.float32)


def smooth_profile(profile, sigma: float) -> np.ndarray:
    """A 1-D profile convolved with a Gaussian of standard deviation ``sigma`` samples.

    profile: [shape=(K,)]; sigma: samples (<= 0 returns the profile unchanged)
    returns: float64 [shape=(K,)]; the profile is mirrored at its edges, so that a peak at hard
        left or hard right stays there
    """
    profile = np.asarray(profile, dtype=np.float64)
    if sigma <= 0:
        return profile
    return ndimage.gaussian_filter1d(profile, sigma, mode="reflect", truncate=4.0)


def histogram(angles, weights, smooth_deg: float = 1.0) -> np.ndarray:
    """Weighted histogram of pan angles over :data:`HIST_CENTRES`, smoothed by a Gaussian.

    angles: degrees [shape=(...)]
    weights: non-negative weights, same shape (for example the bins' power)
    smooth_deg: standard deviation of the Gaussian smoothing in degrees (0 = none)
    returns: float64 histogram [shape=(len(HIST_CENTRES),)]
    """
    idx = np.clip(np.rint((np.asarray(angles) - LEFT) / HIST_STEP).astype(np.int64), 0, len(HIST_CENTRES) - 1)
    hist = np.bincount(idx.ravel(), weights=np.asarray(weights, dtype=np.float64).ravel(),
                       minlength=len(HIST_CENTRES))
    return smooth_profile(hist, smooth_deg / HIST_STEP)


def pick_peaks(profile, n: int, min_separation: float) -> np.ndarray:
    """The ``n`` strongest, well-separated local maxima of a 1-D profile.

    Local maxima are taken strongest first, skipping any closer than ``min_separation`` samples
    to one already taken; while fewer than ``n`` are found the rule is halved (down to one
    sample) and the search repeated. Positions still missing (a profile with fewer peaks than
    asked) are the samples farthest from every chosen one, so that no two coincide.

    profile: [shape=(K,)] non-negative
    n: number of peaks, ``1 <= n <= K``
    min_separation: samples
    returns: int64 indices [shape=(n,)], sorted ascending

    >>> pick_peaks(np.array([0, 3, 0, 0, 5, 0, 1.0]), 2, 2)
    array([1, 4])
    """
    profile = np.asarray(profile, dtype=np.float64)
    K = len(profile)
    n = int(min(n, K))
    padded = np.concatenate([[-np.inf], profile, [-np.inf]])
    is_max = (padded[1:-1] >= padded[:-2]) & (padded[1:-1] > padded[2:]) & (profile > 0)
    candidates = np.flatnonzero(is_max)
    candidates = candidates[np.argsort(-profile[candidates], kind="stable")]
    chosen: list[int] = []
    sep = float(min_separation)
    while True:
        for i in candidates:
            if len(chosen) == n:
                break
            if all(abs(int(i) - c) >= sep for c in chosen):
                chosen.append(int(i))
        if len(chosen) == n or sep <= 1:
            break
        sep = max(sep / 2.0, 1.0)
    grid = np.arange(K)
    while len(chosen) < n:
        dist = np.full(K, np.inf) if not chosen else np.min(np.abs(grid[:, None] - np.asarray(chosen)[None, :]), axis=1)
        chosen.append(int(np.argmax(dist)))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def positions(angles, weights, n: int, min_separation_deg: float = 4.0, smooth_deg: float = 1.0) -> np.ndarray:
    """The ``n`` strongest pan positions of a mixture, from a weighted histogram of bin angles.

    angles: degrees of every bin [shape=(...)]; weights: same shape, non-negative
    n: number of positions
    min_separation_deg: two positions are at least this far apart where the histogram allows
    smooth_deg: Gaussian smoothing of the histogram (degrees)
    returns: float64 degrees [shape=(n,)], sorted left to right; evenly spread over [−45, 45]
        when the weights are all zero (silence).
    """
    hist = histogram(angles, weights, smooth_deg)
    if not np.any(hist > 0):
        return np.linspace(LEFT, RIGHT, n + 2)[1:-1] if n > 1 else np.zeros(1)
    idx = pick_peaks(hist, n, min_separation_deg / HIST_STEP)
    return HIST_CENTRES[idx].astype(np.float64)


def planned_objects(positions, delays=None) -> dict:
    """A spatial method's plan for a long input (:attr:`shotoku.registry.Method.plan`): the
    objects' pan angles in degrees and, where the method models them, their delays in samples,
    as the parameter values every block is separated with."""
    plan = {"positions": tuple(float(p) for p in positions)}
    if delays is not None:
        plan["object_delays"] = tuple(float(d) for d in delays)
    return plan


def position_name(k: int, angle_deg: float, delay: float = 0.0) -> str:
    """Output name of the ``k``-th object (1-based) at ``angle_deg`` and ``delay`` samples.

    >>> position_name(1, -29.7)
    'object_1 (-30°)'
    >>> position_name(2, 10, delay=-2.0)
    'object_2 (10°, delay -2 samples)'
    """
    text = f"{int(np.rint(angle_deg)) + 0:d}°"
    if abs(delay) > 1e-9:
        text += f", delay {round(float(delay), 2):g} samples"
    return f"object_{k} ({text})"
