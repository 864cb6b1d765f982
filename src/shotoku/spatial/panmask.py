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
    ang, pos = pan_positions(X, n, positions, min_separation_deg)
    return angle_masks(ang, pos, mask, width, spread), pos


def pan_positions(X, n, positions=(), min_separation_deg=4.0):
    """The magnitude pan mask's positions, before any mask: (every bin's pan angle in degrees
    [shape=(bins, frames)], the objects' positions in degrees [shape=(J,)]); arguments as
    :func:`pan_masks`."""
    ang = bin_angles(X)
    if len(positions):
        return ang, np.asarray(positions, dtype=np.float64)
    power = np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2
    return ang, panning.positions(ang, power, n, min_separation_deg)


#: ``sources="auto"``: a peak of the pan histogram counts as an object when its prominence is at
#: least this fraction of the most prominent peak's (see :func:`count_objects`).
AUTO_PROMINENCE = 0.15
#: ``sources="auto"`` never gives more objects than this.
AUTO_MAX = 12


def count_objects(X, smooth_deg: float = 1.0, threshold: float = AUTO_PROMINENCE, most: int = AUTO_MAX) -> int:
    """How many objects a stereo mixture holds: the model order behind ``sources="auto"``.

    The rule: the histogram of every bin's pan angle (:func:`shotoku.panning.bin_angles`, from
    the channels' magnitudes, so delays do not blur it), weighted by the bin's power
    ``|L|^2 + |R|^2`` (the DC bin left out) and smoothed by ``smooth_deg`` degrees
    (:func:`shotoku.panning.histogram`), has one peak per object; a peak counts when its
    *prominence* (its height above the higher of the two valleys that separate it from higher
    peaks, or from the ends) is at least ``threshold`` times the largest prominence. Prominence,
    not height, because bins where two objects overlap read as angles between them and raise
    shoulders there, which are high but not prominent. Measured on the bench's scenes
    (6 synthetic songs, 10 s; 4 objects at 10/20/30 degree spacing and 20 degrees with delays,
    and 3 objects at the same spacings): the weakest real object had 0.17 of the largest
    prominence, the strongest spurious peak 0.074; on another song (seed 0, 3-4 s), whose
    right-hand object is smeared by its effects, spurious peaks reached 0.14. The threshold 0.15
    sits between them; the margin is small, so pass the number when it is known.

    X: complex STFT [shape=(2, bins, frames)]
    returns: the number of objects, 1 .. ``most`` (1 for silence)
    """
    from scipy.signal import find_peaks

    power = (np.abs(X[0]) ** 2 + np.abs(X[1]) ** 2).astype(np.float64)
    power[0] = 0.0
    if not np.any(power > 0):
        return 1
    hist = panning.histogram(bin_angles(X), power, smooth_deg)
    peaks, props = find_peaks(np.concatenate([[0.0], hist, [0.0]]), prominence=0)
    prom = props["prominences"]
    if prom.size == 0 or prom.max() <= 0:
        return 1
    return int(np.clip(np.sum(prom >= threshold * prom.max()), 1, most))


def object_count(sources, X) -> int:
    """The number of objects a ``sources`` parameter asks for: an int, an integer string, or
    "auto" (:func:`count_objects` on the mixture's STFT X [shape=(2, bins, frames)]).

    :class:`~shotoku.errors.ParameterError` for anything else or a count below 1.
    """
    from ..errors import ParameterError

    if isinstance(sources, str):
        text = sources.strip().lower()
        if text == "auto":
            return count_objects(X)
        try:
            sources = int(text)
        except ValueError:
            raise ParameterError(f"sources must be 'auto' or a whole number, got {sources!r}") from None
    if isinstance(sources, bool) or not isinstance(sources, (int, np.integer)):
        if isinstance(sources, float) and float(sources).is_integer():
            sources = int(sources)
        else:
            raise ParameterError(f"sources must be 'auto' or a whole number, got {sources!r}")
    if sources < 1:
        raise ParameterError(f"sources must be at least 1, got {sources}")
    return int(sources)


def named_audio(audio, positions, delays=None):
    """Position-named output dict from the objects' audio images.

    audio: float32 [shape=(J, channels, samples)]; positions: pan angles in degrees [shape=(J,)]
    delays: inter-channel delays in samples [shape=(J,)] shown in the names (None: not shown)
    returns: {"object_k (angle°)": audio[j]}, ordered left to right, k = 1..J in that order
    """
    positions = np.asarray(positions, dtype=np.float64)
    taus = np.zeros(len(positions)) if delays is None else np.asarray(delays, dtype=np.float64)
    order = np.lexsort((taus, positions))
    return {position_name(k, positions[j], taus[j]): np.asarray(audio[j], dtype=np.float32)
            for k, j in enumerate(order, start=1)}


def postfilter_and_name(X, masks, positions, stage, *, rate, n_fft, hop, length, smooth_seconds,
                        seed=0, start=None, images=None, delays=None, mnmf_options=None):
    """Masks to named images through the chosen post-filter stage (what spatial methods call).

    X: complex mixture STFT [shape=(C, bins, frames)]
    masks: real masks [shape=(J, bins, frames)], or None when ``images`` (stages none and
        wiener) or ``start`` (stage mnmf) are given
    positions: the objects' pan angles in degrees [shape=(J,)] (names and order)
    stage: "none" (masks times the mixture), "wiener" (:func:`shotoku.refinement.refine`) or
        "mnmf" (:func:`shotoku.refinement.mnmf_refinement`), see
        :func:`shotoku.refinement.postfilter_stage`
    rate, n_fft, hop, length: sample rate (Hz), STFT settings, samples of the output
    smooth_seconds: the Wiener stage's PSD smoothing
    seed: the NMF's seed; start: (psd [J, bins, frames], cov [J, bins, C, C]) for the NMF stage
        instead of the masks'; images: complex STFT images [shape=(J, C, bins, frames)] instead
        of the masks'; delays: shown in the names; mnmf_options: passed to
        :func:`shotoku.spatial.mnmf.mnmf`
    returns: {"object_k (angle°)": float32 [shape=(C, length)]}, left to right
    """
    from ..refinement import masked_model, mnmf_refinement, refine
    from .mnmf import mnmf_audio

    if stage == "mnmf":
        psd, cov = start if start is not None else masked_model(X, masks)
        options = dict(mnmf_options or {})
        options.setdefault("positions", positions)
        model = mnmf_refinement(X, psd, cov, seed=seed, **options)
        return named_audio(mnmf_audio(X, *model, n_fft=n_fft, hop=hop, length=length), positions, delays)
    if images is None:
        images = masks[:, None] * X[None]
    if stage == "wiener":
        images = refine(X, images, rate=rate, hop=hop, smooth_seconds=smooth_seconds)
    audio = np.asarray(istft(images, n_fft=n_fft, hop=hop, length=length), dtype=np.float32)
    return named_audio(audio, positions, delays)


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
