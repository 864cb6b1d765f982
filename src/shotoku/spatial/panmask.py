"""Masks from pan positions: the soft pan mask and the position-named outputs of spatial methods.

Everything here speaks one convention for where a source sits between two loudspeakers:
an angle in degrees from -45 (hard left) through 0 (centre) to +45 (hard right), with
constant-power gains ``left = cos(phi)``, ``right = sin(phi)``, ``phi = angle + 45`` degrees.

The angles, histograms, peak picking and names come from :mod:`shotoku.panning` (per-bin
angles from the channels' magnitude ratio: blind to inter-channel phase, hence to delays).
This module holds

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

from .. import panning
from ..panning import bin_angles, position_name
from ..spectral import istft

def angle_masks(angles, positions, mask="soft", width=0.0, spread=0.5):
    """Masks that give each bin to the pan positions near its angle.

    angles: pan angle of every bin in degrees [shape=(bins, frames)] (from the magnitude ratio,
        :func:`shotoku.panning.bin_angles`, or from ADRess's nulls)
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

    The histogram of :func:`shotoku.panning.bin_angles` is weighted by each bin's power
    ``|L|^2 + |R|^2``. Reading positions from magnitudes alone makes this mask blind to
    inter-channel delay, so it still finds the objects of a delayed (spaced-microphone or
    time-panned) scene, where ADRess's nulls cannot form.

    X: complex STFT of a stereo mixture [shape=(2, bins, frames)]
    n: number of objects (ignored when positions are given)
    positions: pan angles in degrees [shape=(J,)]; empty = the ``n`` strongest of the histogram
    mask, width, spread: see :func:`angle_masks`
    min_separation_deg: see :func:`shotoku.panning.positions`
    returns: (masks float32 [shape=(J, bins, frames)], positions in degrees [shape=(J,)])
    """
    ang = bin_angles(X)
    if len(positions):
        pos = np.asarray(positions, dtype=np.float64)
    else:
        power = np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2
        pos = panning.positions(ang, power, n, min_separation_deg)
    return angle_masks(ang, pos, mask, width, spread), pos


def named_images(images, positions, length, n_fft, hop):
    """Turn STFT source images into the position-named output dict of a spatial separator.

    images: complex STFT images [shape=(J, channels, bins, frames)]
    positions: pan angles in degrees [shape=(J,)]
    length: samples of the mixture
    n_fft, hop: the STFT the images were made with
    returns: {"object_k (angle°)": float32 [shape=(channels, length)]}, ordered left to right,
        k = 1..J in that order
    """
    order = np.argsort(np.asarray(positions, dtype=np.float64), kind="stable")
    audio = np.asarray(istft(np.asarray(images), n_fft=n_fft, hop=hop, length=length), dtype=np.float32)
    return {position_name(k, positions[j]): audio[j] for k, j in enumerate(order, start=1)}
