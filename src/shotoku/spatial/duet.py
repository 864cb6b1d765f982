"""DUET: the Degenerate Unmixing Estimation Technique (Rickard, in "Blind Speech Separation", 2007).

For an anechoic stereo mixture ``X2 = a_j e^{-i w delta_j} X1`` holds in every bin where one
source j dominates (W-disjoint orthogonality). From the ratio ``R = X2 / X1`` of each bin DUET
reads the symmetric attenuation ``alpha = |R| - 1/|R|`` and the delay ``delta = -angle(R) / w``
(``w = 2 pi f / rate`` in radians per sample, so delta is in samples), builds their 2-D histogram
weighted by ``|X1 X2|^p w^q``, smooths it, takes its N strongest peaks as the sources' mixing
parameters, and gives each bin to the peak whose model explains it best:

    J(f, t) = argmin_j |a_j e^{-i w delta_j} X1 - X2|^2 / (1 + a_j^2)

Where it departs from the paper:

- Bounded position feature. The attenuation ratio is infinite for a hard-panned source (one
  channel silent), so here the position axis is the inter-channel angle
  ``atan2(|X2|, |X1|) - 45`` degrees (:func:`shotoku.panning.bin_angles`: -45 hard left, +45
  hard right; ``a = tan(angle + 45°)``), which covers the whole stereo field, and the bins are
  weighted by their power ``(|X1|^2 + |X2|^2)^p`` instead of ``|X1 X2|^p`` (which is 0 for a
  hard-panned source). Where one channel is more than 20 dB below the other the phase of R says
  nothing about a delay: those bins count at delay 0. The cost is written with the angle,
  ``|sin(phi_j) e^{-i w delta_j} X1 - cos(phi_j) X2|^2`` (``phi = angle + 45°``), equal to the
  paper's and finite at the ends. On the study's music scenes at 30 degree spacing (two objects
  hard-panned) the attenuation histogram gave about 2 dB; see docs/benchmarks.md for the angle's.
- The histogram only counts bins below the frequency at which ``max_delay`` samples turn the
  phase by pi (``w < pi / max_delay``): above it the delay estimate wraps. The assignment above
  uses every bin, since the model's phase term is exact at any frequency. The default range,
  +-5 samples, covers the study's delayed scenes (:data:`shotoku.datasets.scenes.DELAYS_20D`).
- Soft masks (``mask="soft"``, the default): ``m_j ~ 1 / (c_j + softness * P)`` with ``c_j``
  the cost above and ``P = |X1|^2 + |X2|^2`` the bin's power, normalised over j: a source whose
  model explains the bin ten times better gets ten times the share. Soft masks alone score like
  binary ones; they give the post-filter a better start.
- Images: the masks are applied to both channels (so the images add up to the mixture) and
  refined by a post-filter stage (``postfilter``: the multichannel NMF of
  :mod:`shotoku.spatial.mnmf` by default, or the Wiener post-filter of
  :func:`shotoku.refinement.refine`), instead of the paper's mono maximum-likelihood demixing.
- ``sources="auto"`` counts the objects with :func:`shotoku.spatial.panmask.count_objects`.
- Output names give the position as a pan angle, sorted left to right.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from .. import panning
from ..panning import bin_angles
from ..refinement import postfilter_stage
from ..registry import register
from ..spectral import stft
from .panmask import object_count, postfilter_and_name

# Post-filter settings, measured on 3 espeak-ng talkers at 16 kHz (4 attenuation/delay scenes,
# n_fft 1024, hop 256): two refits with PSDs averaged over 5 frames (80 ms), no floor: soft masks
# 7.8 -> 10.4 dB (binary 7.8 -> 9.3); over 3 or 9 frames 10.2-10.3, one refit 9.6-10.0. Speech
# changes faster than music, so the window is shorter than ADRess's.
POSTFILTER_SECONDS = 0.08


def angle_delay(X, eps=1e-12, phase_db=20.0):
    """Inter-channel angle and delay of every bin of a stereo STFT.

    X: complex STFT [shape=(2, bins, frames)] with ``n_fft = 2 * (bins - 1)``
    eps: added to the magnitudes (an all-zero bin reads as centre)
    phase_db: bins where one channel is more than this many dB below the other get delay 0
    returns: (angle float32 degrees [shape=(bins, frames)], -45 = only the left channel;
        delta float64 samples [shape=(bins, frames)], the right channel's lag; w float64 radians
        per sample [shape=(bins,)]); the DC bin's delta is 0.
    """
    F = X.shape[1]
    w = np.pi * np.arange(F) / (F - 1)
    angle = bin_angles(X, eps)
    cross = X[0].astype(np.complex128) * np.conj(X[1].astype(np.complex128))
    delta = np.zeros(cross.shape)
    delta[1:] = np.angle(cross[1:]) / w[1:, None]
    one_sided = np.abs(angle) > 45.0 - np.degrees(np.arctan(10 ** (-phase_db / 20)))
    delta[one_sided] = 0.0
    return angle, delta, w


def duet_histogram(X, p=1.0, q=0.0, max_delay=5.0, bins=(91, 61), smooth=1.0):
    """The smoothed, weighted angle-delay histogram of a stereo mixture.

    X: complex STFT [shape=(2, bins, frames)]
    p, q: weights ``(|X1|^2 + |X2|^2)^p w^q`` of each bin
    max_delay: histogram range of the delay in samples, [-max_delay, max_delay]; only bins with
        ``w < pi / max_delay`` are counted
    bins: (angle bins over [-45, 45] degrees, delay bins)
    smooth: Gaussian smoothing, standard deviation in histogram bins
    returns: (hist float64 [shape=bins], angle centres in degrees [shape=(bins[0],)],
              delay centres in samples [shape=(bins[1],)])
    """
    angle, delta, w = angle_delay(X)
    weight = (np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2).astype(np.float64) ** p
    if q:
        weight = weight * (w[:, None] ** q)
    keep = (w > 0) & (w < np.pi / max(max_delay, 1e-9))
    step = 90.0 / (bins[0] - 1)
    a_edges = np.linspace(-45.0 - step / 2, 45.0 + step / 2, bins[0] + 1)
    d_edges = np.linspace(-max_delay, max_delay, bins[1] + 1)
    hist, _, _ = np.histogram2d(
        angle[keep].ravel(),
        np.clip(delta[keep], -max_delay, max_delay).ravel(),
        bins=(a_edges, d_edges),
        weights=weight[keep].ravel(),
    )
    if smooth > 0:
        hist = ndimage.gaussian_filter(hist, smooth, mode="nearest")
    return hist, 0.5 * (a_edges[1:] + a_edges[:-1]), 0.5 * (d_edges[1:] + d_edges[:-1])


def histogram_peaks(hist, n, min_separation=(6, 3)):
    """The ``n`` strongest local maxima of a 2-D histogram, apart from each other.

    hist: [shape=(A, D)]
    min_separation: (angle bins, delay bins): two peaks are apart when they differ by at least
        this many bins along either axis
    returns: int array [shape=(n, 2)] of (angle bin, delay bin), strongest first; when
        there are fewer maxima, the strongest remaining bins fill in under the same rule.
    """
    sep_a, sep_d = min_separation
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
            if all(abs(i - a) >= sep_a or abs(j - b) >= sep_d for a, b in chosen):
                chosen.append((int(i), int(j)))
    while len(chosen) < n:  # a histogram smaller than n separated peaks: allow duplicates
        chosen.append(chosen[-1] if chosen else (hist.shape[0] // 2, hist.shape[1] // 2))
    return np.array(chosen, dtype=np.int64)


def duet_positions(X, n, p=1.0, q=0.0, max_delay=5.0, min_separation_deg=4.0):
    """The sources' angles and delays: angles from the peaks of the pan histogram, then each
    one's delay from the angle-delay histogram.

    The angles are the ``n`` strongest peaks of the power-weighted histogram of every bin's angle
    (:func:`shotoku.panning.positions`, all frequencies); each source's delay is where the
    angle-delay histogram (:func:`duet_histogram`) peaks within 2 degrees of its angle. Peaks
    picked on the 2-D histogram directly let a hard-panned source, whose bins carry no delay
    (one channel silent) and spread along the delay axis, take two peaks. Two sources at the same
    angle with different delays are therefore not told apart.

    X: complex STFT [shape=(2, bins, frames)]; n: number of sources; p, q, max_delay: see
    :func:`duet_histogram`; min_separation_deg: smallest distance between two angles
    returns: (angles degrees [shape=(n,)], delays samples [shape=(n,)])
    """
    power = (np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2).astype(np.float64) ** p
    power[0] = 0.0
    angles = panning.positions(bin_angles(X), power, n, min_separation_deg)
    return np.asarray(angles, dtype=np.float64), duet_delays(X, angles, p, q, max_delay)


def duet_delays(X, angles, p=1.0, q=0.0, max_delay=5.0):
    """Each source's delay in samples: where the angle-delay histogram (:func:`duet_histogram`)
    peaks within 2 degrees of its angle (degrees [shape=(J,)]); float64 [shape=(J,)]."""
    hist, a_centres, d_centres = duet_histogram(X, p, q, max_delay)
    delays = []
    for a in angles:
        rows = np.abs(a_centres - a) <= 2.0
        delays.append(float(d_centres[int(np.argmax(hist[rows].sum(axis=0)))]))
    return np.asarray(delays, dtype=np.float64)


def duet_masks(X, angles, delay, mask="soft", softness=1e-3):
    """Masks that give each bin to the source whose anechoic model explains it best.

    X: complex STFT [shape=(2, bins, frames)]
    angles: the sources' pan angles in degrees [shape=(J,)], -45 (left only) .. 45 (right only)
    delay: delays delta_j in samples (channel 2 behind channel 1) [shape=(J,)]
    mask: "binary" (argmin of the cost) or "soft" (normalised 1 / (cost + softness * power))
    softness: floor of the soft masks' cost, relative to the bin's power (smaller: closer to binary)
    returns: float32 masks [shape=(J, bins, frames)] that sum to 1 over J
    """
    F = X.shape[1]
    w = np.pi * np.arange(F) / (F - 1)
    phi = np.radians(np.asarray(angles, dtype=np.float64) + 45.0)[:, None, None]
    d = np.asarray(delay, dtype=np.float64)[:, None, None]
    steer = np.sin(phi) * np.exp(-1j * w[None, :, None] * d)  # (J, F, 1)
    cost = np.abs(steer * X[0][None] - np.cos(phi) * X[1][None]) ** 2
    if mask == "binary":
        best = np.argmin(cost, axis=0)
        return (best[None] == np.arange(len(phi))[:, None, None]).astype(np.float32)
    power = np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2
    m = 1.0 / (cost + softness * power[None] + 1e-30)
    return (m / m.sum(axis=0, keepdims=True)).astype(np.float32)


def _check(rate, mask, max_delay, softness, n_fft, hop, positions, delays) -> tuple[int, int]:
    """DUET's parameters checked before any work; returns (n_fft, hop) with their defaults resolved."""
    n_fft = int(n_fft) or 1 << max(4, int(np.ceil(np.log2(0.064 * rate))))
    hop = int(hop) or n_fft // 4
    if mask not in ("binary", "soft"):
        raise ParameterError(f"mask must be binary or soft, got '{mask}'")
    if max_delay <= 0 or softness <= 0 or n_fft < 16 or not 1 <= hop <= n_fft:
        raise ParameterError("duet needs max_delay, softness > 0, n_fft 0 or >= 16, 0 <= hop <= n_fft")
    if any(not abs(float(a)) <= 45 for a in positions):
        raise ParameterError("positions are pan angles in degrees between -45 and 45")
    if delays and len(delays) != len(positions):
        raise ParameterError(f"{len(delays)} object_delays for {len(positions)} positions; "
                             "give one delay per position")
    return n_fft, hop


def _positions(X, sources, positions, delays, p, q, max_delay):
    """The sources' angles and delays: as given, or found on the STFT X."""
    if not positions:
        return duet_positions(X, object_count(sources, X), p, q, max_delay)
    angles = np.asarray([float(a) for a in positions])
    found = np.asarray([float(d) for d in delays]) if delays else duet_delays(X, angles, p, q, max_delay)
    return angles, found


def plan(summary, rate, *, sources="auto", positions=(), object_delays=(), mask="soft", p=1.0, q=0.0,
         max_delay=5.0, softness=1e-3, n_fft=0, hop=0, **_):
    """What DUET decides from a whole long input, fixed on a summary of it (block-by-block
    separation, :func:`shotoku.separation.run`): {"positions": angles, "object_delays": delays}."""
    n_fft, hop = _check(rate, mask, max_delay, softness, n_fft, hop, positions, object_delays)
    X = stft(np.asarray(summary, dtype=np.float32), n_fft=n_fft, hop=hop)
    angles, found = _positions(X, sources, positions, object_delays, p, q, max_delay)
    return panning.planned_objects(angles, found)


@register(
    "duet",
    description="DUET angle/delay histogram masking (Rickard 2007, bounded angle feature) with a multichannel NMF post-filter; "
    "anechoic stereo with W-disjoint sources (speech)",
    channels="stereo",
    blocks="planned",
    plan=plan,
)
def duet(
    mixture,
    rate,
    *,
    sources="auto",
    positions=(),
    object_delays=(),
    mask="soft",
    p=1.0,
    q=0.0,
    max_delay=5.0,
    softness=1e-3,
    postfilter="mnmf",
    n_fft=0,
    hop=0,
    seed=0,
):
    """Separate the sources of an anechoic stereo mixture by angle and delay (DUET).

    mixture: float32 stereo mixture [shape=(2, samples)]; rate: Hz
    Parameters:
    sources: number of sources (peaks taken from the histogram), or auto (counted from the pan histogram)
    positions: the sources' pan angles in degrees, -45 .. 45; empty = the histogram's peaks
    object_delays: the sources' delays in samples, one per position; empty = read from the histogram
    mask: soft (shares by how well each source's model explains the bin) or binary (each bin to one source, the paper)
    p: histogram weight exponent on the bin's power |X1|^2 + |X2|^2
    q: histogram weight exponent on the frequency w (0 = the paper's default)
    max_delay: range of the delay in samples (5: the PROJET authors' search range); the histogram uses frequencies where it cannot wrap
    softness: soft masks' cost floor relative to the bin's power (smaller is closer to binary)
    postfilter: mnmf (multichannel NMF), wiener (the Wiener post-filter) or none
    n_fft: STFT size in samples (0: the power of two at or above 64 ms, 1024 at 16 kHz, 4096 at 44.1 kHz)
    hop: STFT hop in samples (0: n_fft / 4)
    seed: seed of the multichannel NMF's start
    returns: {"object_k (angle°)": float32 image [shape=(2, samples)]}, left to right
    """
    n_fft, hop = _check(rate, mask, max_delay, softness, n_fft, hop, positions, object_delays)
    stage = postfilter_stage(postfilter)
    x = np.asarray(mixture, dtype=np.float32)
    X = stft(x, n_fft=n_fft, hop=hop)
    angles, delay = _positions(X, sources, positions, object_delays, p, q, max_delay)
    masks = duet_masks(X, angles, delay, mask, softness)
    return postfilter_and_name(X, masks, angles, stage, rate=rate, n_fft=n_fft, hop=hop,
                               length=x.shape[-1], smooth_seconds=POSTFILTER_SECONDS, seed=seed,
                               mnmf_options={"max_delay": max(float(max_delay), 1.0)})
