"""DUET: the Degenerate Unmixing Estimation Technique (Rickard, in "Blind Speech Separation", 2007).

For an anechoic stereo mixture ``X2 = a_j e^{-i w delta_j} X1`` holds in every bin where one
source j dominates (W-disjoint orthogonality). From the ratio ``R = X2 / X1`` of each bin DUET
reads the symmetric attenuation ``alpha = |R| - 1/|R|`` and the delay ``delta = -angle(R) / w``
(``w = 2 pi f / rate`` in radians per sample, so delta is in samples), builds their 2-D histogram
weighted by ``|X1 X2|^p w^q``, smooths it, takes its N strongest peaks as the sources' mixing
parameters, and gives each bin to the peak whose model explains it best:

    J(f, t) = argmin_j |a_j e^{-i w delta_j} X1 - X2|^2 / (1 + a_j^2)

Where it departs from the paper:

- The histogram only counts bins below the frequency at which ``max_delay`` samples turn the
  phase by pi (``w < pi / max_delay``): above it the delay estimate wraps. The assignment above
  uses every bin, since the model's phase term is exact at any frequency. The default range,
  +-5 samples, covers the study's delayed scenes (:data:`shotoku.datasets.scenes.DELAYS_20D`); with
  +-3 DUET missed their 4-sample object (1.7-5.0 dB against 5.6-11.6 on three songs), while
  speech at 16 kHz scored the same with either.
- Soft masks (``mask="soft"``, the default): ``m_j ~ 1 / (c_j + softness * P)`` with ``c_j``
  the cost above and ``P = |X1|^2 + |X2|^2`` the bin's power, normalised over j: a source whose
  model explains the bin ten times better gets ten times the share. (A Gaussian likelihood,
  ``exp(-c_j / (softness * P))``, spreads the low frequencies evenly, where the sources'
  steering vectors hardly differ, and lost 5-7 dB on delay-only scenes of synthetic
  speech-like sources.) Soft masks alone score like binary ones; they give the post-filter a
  better start (10.4 dB against 9.3 after it).
- Images: the masks are applied to both channels (so the images add up to the mixture) and
  refined by the multichannel Wiener post-filter (:func:`shotoku.refinement.refine`) unless
  ``postfilter=False``, instead of the paper's mono maximum-likelihood demixing.
- Output names give the attenuation as a pan angle (``angle = atan(a) - 45`` degrees, -45 hard
  left; see :mod:`shotoku.spatial.panmask`), sorted left to right.

A hard-panned source (one channel silent) breaks the ratio and, through the weight
``|X1 X2|^p``, hardly shows in the histogram: DUET is not the method for hard-panned music
(about 2 dB at 30 degree spacing on the study's scenes, where ADRess gets 11-14).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from ..refinement import refine
from ..registry import register
from ..spectral import stft
from .panmask import named_images

# Post-filter settings, measured on 3 espeak-ng talkers at 16 kHz (4 attenuation/delay scenes,
# n_fft 1024, hop 256): two refits with PSDs averaged over 5 frames (80 ms), no floor: soft masks
# 7.8 -> 10.4 dB (binary 7.8 -> 9.3); over 3 or 9 frames 10.2-10.3, one refit 9.6-10.0. Speech
# changes faster than music, so the window is shorter than ADRess's.
POSTFILTER_SECONDS = 0.08


def attenuation_delay(X, eps=1e-12):
    """Symmetric attenuation and delay of every bin of a stereo STFT.

    X: complex STFT [shape=(2, bins, frames)] with ``n_fft = 2 * (bins - 1)``
    returns: (alpha float64 [shape=(bins, frames)], delta float64 in samples
        [shape=(bins, frames)], w float64 radians per sample [shape=(bins,)]); the DC bin's
        delta is 0.
    """
    F = X.shape[1]
    w = np.pi * np.arange(F) / (F - 1)
    ratio = (X[1].astype(np.complex128) + eps) / (X[0].astype(np.complex128) + eps)
    a = np.abs(ratio)
    alpha = a - 1.0 / a
    delta = np.zeros(ratio.shape)
    delta[1:] = -np.angle(ratio[1:]) / w[1:, None]
    return alpha, delta, w


def duet_histogram(X, p=1.0, q=0.0, alpha_max=3.0, max_delay=5.0, bins=(61, 61), smooth=1.0):
    """The smoothed, weighted attenuation-delay histogram of a stereo mixture.

    X: complex STFT [shape=(2, bins, frames)]
    p, q: weights ``|X1 X2|^p w^q`` of each bin (p=1, q=0: the paper's default; p=0.5 when one
        source dominates the mixture)
    alpha_max: histogram range of the symmetric attenuation, [-alpha_max, alpha_max]
    max_delay: histogram range of the delay in samples, [-max_delay, max_delay]; only bins with
        ``w < pi / max_delay`` are counted
    bins: (attenuation bins, delay bins)
    smooth: Gaussian smoothing, standard deviation in histogram bins
    returns: (hist float64 [shape=bins], alpha centres [shape=(bins[0],)],
              delay centres [shape=(bins[1],)])
    """
    alpha, delta, w = attenuation_delay(X)
    weight = (np.abs(X[0]) * np.abs(X[1])).astype(np.float64) ** p
    if q:
        weight = weight * (w[:, None] ** q)
    keep = (w > 0) & (w < np.pi / max(max_delay, 1e-9))
    a_edges = np.linspace(-alpha_max, alpha_max, bins[0] + 1)
    d_edges = np.linspace(-max_delay, max_delay, bins[1] + 1)
    hist, _, _ = np.histogram2d(
        np.clip(alpha[keep], -alpha_max, alpha_max).ravel(),
        delta[keep].ravel(),
        bins=(a_edges, d_edges),
        weights=weight[keep].ravel(),
    )
    if smooth > 0:
        hist = ndimage.gaussian_filter(hist, smooth, mode="constant")
    return hist, 0.5 * (a_edges[1:] + a_edges[:-1]), 0.5 * (d_edges[1:] + d_edges[:-1])


def histogram_peaks(hist, n, min_separation=3):
    """The ``n`` strongest local maxima of a 2-D histogram, at least ``min_separation`` bins apart.

    hist: [shape=(A, D)]
    returns: int array [shape=(n, 2)] of (attenuation bin, delay bin), strongest first; when
        there are fewer maxima, the strongest remaining bins fill in under the same rule.
    """
    local = hist == ndimage.maximum_filter(hist, size=3, mode="constant")
    flat = np.argsort(-hist, axis=None, kind="stable")
    chosen: list[tuple[int, int]] = []
    for only_maxima in (True, False):
        for k in flat:
            if len(chosen) == n:
                break
            i, j = np.unravel_index(k, hist.shape)
            if only_maxima and (not local[i, j] or hist[i, j] <= 0):
                continue
            if all(max(abs(i - a), abs(j - b)) >= min_separation for a, b in chosen):
                chosen.append((int(i), int(j)))
    while len(chosen) < n:  # a histogram smaller than n separated peaks: allow duplicates
        chosen.append(chosen[-1] if chosen else (hist.shape[0] // 2, hist.shape[1] // 2))
    return np.array(chosen, dtype=np.int64)


def duet_masks(X, attenuation, delay, mask="soft", softness=1e-3):
    """Masks that give each bin to the source whose anechoic model explains it best.

    X: complex STFT [shape=(2, bins, frames)]
    attenuation: gains a_j = |X2/X1| of the sources [shape=(J,)]
    delay: delays delta_j in samples (channel 2 behind channel 1) [shape=(J,)]
    mask: "binary" (argmin of the cost) or "soft" (normalised 1 / (cost + softness * power))
    softness: floor of the soft masks' cost, relative to the bin's power (smaller: closer to binary)
    returns: float32 masks [shape=(J, bins, frames)] that sum to 1 over J
    """
    F = X.shape[1]
    w = np.pi * np.arange(F) / (F - 1)
    a = np.asarray(attenuation, dtype=np.float64)[:, None, None]
    d = np.asarray(delay, dtype=np.float64)[:, None, None]
    steer = a * np.exp(-1j * w[None, :, None] * d)  # (J, F, 1)
    cost = np.abs(steer * X[0][None] - X[1][None]) ** 2 / (1 + a ** 2)
    if mask == "binary":
        best = np.argmin(cost, axis=0)
        return (best[None] == np.arange(len(a))[:, None, None]).astype(np.float32)
    power = np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2
    m = 1.0 / (cost + softness * power[None] + 1e-30)
    return (m / m.sum(axis=0, keepdims=True)).astype(np.float32)


@register(
    "duet",
    description="DUET attenuation/delay histogram masking (Rickard 2007) with a Wiener post-filter; "
    "anechoic stereo with W-disjoint sources (speech)",
    channels="stereo",
)
def duet(
    mixture,
    rate,
    *,
    sources=3,
    mask="soft",
    p=1.0,
    q=0.0,
    alpha_max=3.0,
    max_delay=5.0,
    softness=1e-3,
    postfilter=True,
    n_fft=1024,
    hop=256,
    seed=0,
):
    """Separate the sources of an anechoic stereo mixture by attenuation and delay (DUET).

    mixture: float32 stereo mixture [shape=(2, samples)]; rate: Hz
    Parameters:
    sources: number of sources (peaks taken from the histogram)
    mask: soft (shares by how well each source's model explains the bin) or binary (each bin to one source, the paper)
    p: histogram weight exponent on |X1 X2| (1 = the paper's default, 0.5 when one source dominates)
    q: histogram weight exponent on the frequency w (0 = the paper's default)
    alpha_max: range of the symmetric attenuation |a| - 1/|a| in the histogram
    max_delay: range of the delay in samples (5: the PROJET authors' search range); the histogram uses frequencies where it cannot wrap
    softness: soft masks' cost floor relative to the bin's power (smaller is closer to binary)
    postfilter: refine the masks with the multichannel Wiener post-filter
    n_fft: STFT size in samples
    hop: STFT hop in samples
    seed: unused (the method is deterministic)
    returns: {"object_k (angle°)": float32 image [shape=(2, samples)]}, left to right by attenuation
    """
    if mask not in ("binary", "soft"):
        raise ParameterError(f"mask must be binary or soft, got '{mask}'")
    if int(sources) < 1:
        raise ParameterError(f"sources must be at least 1, got {sources}")
    if alpha_max <= 0 or max_delay <= 0 or softness <= 0 or n_fft < 16 or not 1 <= hop <= n_fft:
        raise ParameterError("duet needs alpha_max, max_delay, softness > 0, n_fft >= 16, 1 <= hop <= n_fft")
    n = int(sources)
    x = np.asarray(mixture, dtype=np.float32)
    X = stft(x, n_fft=n_fft, hop=hop)
    hist, a_centres, d_centres = duet_histogram(X, p, q, alpha_max, max_delay)
    peaks = histogram_peaks(hist, n)
    alpha = a_centres[peaks[:, 0]]
    delay = d_centres[peaks[:, 1]]
    atten = 0.5 * (alpha + np.sqrt(alpha ** 2 + 4))  # invert alpha = a - 1/a
    masks = duet_masks(X, atten, delay, mask, softness)
    images = masks[:, None] * X[None]
    if postfilter:
        images = refine(X, images, rate=rate, hop=hop, smooth_seconds=POSTFILTER_SECONDS)
    angles = np.degrees(np.arctan(atten)) - 45.0
    return named_images(images, angles, x.shape[-1], n_fft, hop)
