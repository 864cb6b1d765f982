"""Pan positions of a stereo mixture: the angle convention, pan histograms, a soft pan mask.

Everything here speaks one convention for where a source sits between two loudspeakers:
an angle in degrees from -45 (hard left) through 0 (centre) to +45 (hard right), with
constant-power gains ``left = cos(phi)``, ``right = sin(phi)``, ``phi = angle + 45`` degrees.

The module holds

- :func:`magnitude_angles`: the pan angle of every time-frequency bin, read from the magnitude
  ratio of the two channels (blind to inter-channel phase, hence to inter-channel delays);
- :func:`pan_histogram` and :func:`pick_peaks`: the weighted histogram of those angles and the
  choice of the N strongest, well-separated positions in it;
- :func:`angle_masks`: binary masks (nearest position, or a window around each) or soft masks
  that share every bin among the positions by a Gaussian kernel on the angle distance, from any
  per-bin angle (magnitude ratio here, ADRess's nulls in :mod:`shotoku.spatial.adress`);
- :func:`pan_masks`: the whole magnitude pan mask (angles, histogram, peaks, masks) in one
  call, used by ADRess when the mixture is not purely amplitude-panned;
- :func:`named_images`: the shared way spatial methods turn STFT images into the
  position-named output dict (``"object_1 (-30°)"``, sorted left to right).

The magnitude pan mask is the pan-position masking of Avendano (2003, "Frequency-domain source
identification and manipulation in stereo mixes") with the channels' level ratio as the pan
index; it departs from it by a soft Gaussian kernel over angle by default instead of a window.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..spectral import istft

# Histogram resolution in degrees: one bin per 0.5 degree over [-45, 45].
HIST_STEP = 0.5
HIST_CENTRES = np.arange(-45.0, 45.0 + HIST_STEP / 2, HIST_STEP)


def magnitude_angles(X, eps=1e-12):
    """Pan angle of every bin from the channels' magnitude ratio.

    X: complex STFT of a stereo mixture [shape=(2, bins, frames)]
    returns: float32 angles in degrees [shape=(bins, frames)], -45 = only the left channel;
        an all-zero bin reads as centre (0).
    """
    mag_l = np.abs(X[0]).astype(np.float64)
    mag_r = np.abs(X[1]).astype(np.float64)
    ang = np.degrees(np.arctan2(mag_r + eps, mag_l + eps)) - 45.0
    return ang.astype(np.float32)


def pan_histogram(angles, weights, smooth_deg=1.0):
    """Weighted histogram of pan angles, smoothed by a Gaussian kernel.

    angles: degrees [shape=(...)]
    weights: non-negative weights, same shape (for example the bins' power)
    smooth_deg: standard deviation of the Gaussian smoothing in degrees (0 = none)
    returns: histogram [shape=(len(HIST_CENTRES),)] over :data:`HIST_CENTRES` (degrees)
    """
    idx = np.clip(np.rint((np.asarray(angles) + 45.0) / HIST_STEP).astype(np.int64), 0, len(HIST_CENTRES) - 1)
    hist = np.bincount(idx.ravel(), weights=np.asarray(weights, dtype=np.float64).ravel(),
                       minlength=len(HIST_CENTRES))
    return smooth_profile(hist, smooth_deg / HIST_STEP)


def smooth_profile(profile, sigma):
    """A 1-D profile convolved with a Gaussian of standard deviation ``sigma`` samples.

    profile: [shape=(K,)]; sigma: samples (<= 0 returns the profile unchanged)
    returns: [shape=(K,)]; the profile is mirrored at its edges, so that a peak at hard left
        or hard right stays there
    """
    profile = np.asarray(profile, dtype=np.float64)
    if sigma <= 0:
        return profile
    return ndimage.gaussian_filter1d(profile, sigma, mode="reflect", truncate=4.0)


def pick_peaks(profile, n, min_separation):
    """The ``n`` strongest, well-separated peaks of a 1-D profile.

    Local maxima are taken strongest first, skipping any closer than ``min_separation`` samples
    to one already taken; when a profile has fewer such maxima, the strongest remaining samples
    fill in under the same rule, and then the rule is halved until ``n`` are found.

    profile: [shape=(K,)] non-negative
    n: number of peaks (``n <= K``)
    min_separation: samples
    returns: int indices [shape=(n,)], sorted ascending
    """
    profile = np.asarray(profile, dtype=np.float64)
    K = len(profile)
    n = int(min(n, K))
    left = np.concatenate([[-np.inf], profile[:-1]])
    right = np.concatenate([profile[1:], [-np.inf]])
    is_max = (profile >= left) & (profile > right) & (profile > 0)
    order_max = [i for i in np.argsort(-profile, kind="stable") if is_max[i]]
    order_all = list(np.argsort(-profile, kind="stable"))
    chosen: list[int] = []
    sep = float(min_separation)
    while True:
        for candidates in (order_max, order_all):
            for i in candidates:
                if len(chosen) == n:
                    break
                if all(abs(i - c) >= sep for c in chosen):
                    chosen.append(int(i))
        if len(chosen) == n or sep < 1:
            break
        sep /= 2
    return np.sort(np.array(chosen[:n], dtype=np.int64))


def blind_positions(angles, weights, n, min_separation_deg=4.0, smooth_deg=1.0):
    """The ``n`` strongest pan positions of a mixture, from a weighted angle histogram.

    angles: degrees of every bin [shape=(...)]; weights: same shape, non-negative
    n: number of positions
    min_separation_deg: two positions are at least this far apart (degrees)
    smooth_deg: Gaussian smoothing of the histogram (degrees)
    returns: float64 angles in degrees [shape=(n,)], sorted left to right; evenly spread over
        [-45, 45] when the weights are all zero (silence).
    """
    hist = pan_histogram(angles, weights, smooth_deg)
    if not np.any(hist > 0):
        return np.linspace(-45.0, 45.0, n + 2)[1:-1] if n > 1 else np.zeros(1)
    idx = pick_peaks(hist, n, min_separation_deg / HIST_STEP)
    return HIST_CENTRES[idx].astype(np.float64)


def angle_masks(angles, positions, mask="soft", width=0.0, spread=0.5):
    """Masks that give each bin to the pan positions near its angle.

    angles: pan angle of every bin in degrees [shape=(bins, frames)] (from the magnitude ratio,
        :func:`magnitude_angles`, or from ADRess's nulls)
    positions: the objects' pan angles in degrees [shape=(J,)]
    mask: "binary" or "soft"
        binary: with ``width`` 0, each bin goes to its nearest position (the masks add up to 1);
            with ``width`` > 0, a bin goes to every position within ``width / 2`` degrees of it
            and bins outside every window go nowhere (ADRess's azimuth window H)
        soft: ``m_j = k_j / sum_k k_k`` with the Gaussian kernel
            ``k_j = exp(-(a - d_j)^2 / (2 s^2))`` of the bin's angle ``a`` around position
            ``d_j``; ``s = width / 2`` when a width is given, else ``spread`` times the smallest
            spacing of the positions (at least 1 degree)
    width: window in degrees (0: none)
    spread: soft kernel width relative to the smallest spacing of the positions. Measured on
        4-object scenes at 10-30 degree spacing: 0.35 gives the best masks on their own,
        0.5 the best start for the Wiener post-filter (+0.3 to +0.9 dB after it)
    returns: float32 masks [shape=(J, bins, frames)]
    """
    positions = np.asarray(positions, dtype=np.float64)
    d = np.asarray(angles, dtype=np.float32)[None] - positions[:, None, None].astype(np.float32)
    if mask == "binary":
        if width > 0:
            return (np.abs(d) <= np.float32(width / 2)).astype(np.float32)
        nearest = np.argmin(np.abs(d), axis=0)
        return (nearest[None] == np.arange(len(positions))[:, None, None]).astype(np.float32)
    if width > 0:
        s = width / 2
    else:
        gaps = np.diff(np.sort(positions))
        s = max(1.0, spread * float(gaps.min())) if len(gaps) else 1.0
    logits = -0.5 * (d / np.float32(s)) ** 2
    logits -= logits.max(axis=0, keepdims=True)
    w = np.exp(logits)
    return (w / w.sum(axis=0, keepdims=True)).astype(np.float32)


def pan_masks(X, n, positions=(), mask="soft", width=0.0, spread=0.5, min_separation_deg=4.0):
    """The magnitude pan mask: bin angles from level ratios, ``n`` histogram peaks, masks.

    The histogram of :func:`magnitude_angles` is weighted by each bin's power
    ``|L|^2 + |R|^2``. Reading positions from magnitudes alone makes this mask blind to
    inter-channel delay, so it still finds the objects of a delayed (spaced-microphone or
    time-panned) scene, where ADRess's nulls cannot form.

    X: complex STFT of a stereo mixture [shape=(2, bins, frames)]
    n: number of objects (ignored when positions are given)
    positions: pan angles in degrees [shape=(J,)]; empty = the ``n`` strongest of the histogram
    mask, width, spread: see :func:`angle_masks`
    min_separation_deg: see :func:`blind_positions`
    returns: (masks float32 [shape=(J, bins, frames)], positions in degrees [shape=(J,)])
    """
    ang = magnitude_angles(X)
    if len(positions):
        pos = np.asarray(positions, dtype=np.float64)
    else:
        power = np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2
        pos = blind_positions(ang, power, n, min_separation_deg)
    return angle_masks(ang, pos, mask, width, spread), pos


def position_name(k, angle_deg):
    """Output name of the ``k``-th object (1-based) sitting at ``angle_deg``: ``"object_1 (-30°)"``."""
    a = int(np.rint(angle_deg))
    return f"object_{k} ({a}°)"


def named_images(images, positions, length, n_fft, hop):
    """Turn STFT source images into the position-named output dict of a spatial separator.

    images: complex STFT images [shape=(J, channels, bins, frames)]
    positions: pan angles in degrees [shape=(J,)]
    length: samples of the mixture
    n_fft, hop: the STFT the images were made with
    returns: {"object_k (angle°)": float32 [shape=(channels, length)]}, ordered left to right,
        k = 1..J in that order; non-finite samples (never expected) are replaced by zeros.
    """
    order = np.argsort(np.asarray(positions, dtype=np.float64), kind="stable")
    audio = np.asarray(istft(np.asarray(images), n_fft=n_fft, hop=hop, length=length), dtype=np.float32)
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return {position_name(k, positions[j]): audio[j] for k, j in enumerate(order, start=1)}
