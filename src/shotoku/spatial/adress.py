"""ADRess: Azimuth Discrimination and Resynthesis (Barry, Lawlor & Coyle, DAFx 2004).

For a stereo STFT (L, R) and gains ``g(i) = i / beta``, i = 0..beta, the two halves of the
frequency-azimuth plane are

    AZ_R(k, i) = |L(k) - g(i) R(k)|      (nulls of right-of-centre sources, L = g R)
    AZ_L(k, i) = |R(k) - g(i) L(k)|      (nulls of left-of-centre sources, R = g L)

A source panned with gain ratio g cancels at the matching i. Each bin's null is turned into a
peak of height ``max - min`` at the argmin and 0 elsewhere, and a source is the sum of the peaks
within a width H around its azimuth d.

Here the two halves are joined into one axis of ``2 beta + 1`` azimuths running from hard left
through centre to hard right (the left plane's i, then the right plane's ``2 beta - i``), so that
every bin has one null; azimuths are reported as pan angles in degrees (-45 = hard left,
``phi = angle + 45``, ``left = cos phi``, ``right = sin phi``): ``g = tan(phi)`` on the left
half, ``g = cot(phi)`` on the right. The plane is computed in real arithmetic
(``|L - gR|^2 = |L|^2 - 2 g Re(L R*) + g^2 |R|^2``) for all frames at once; each bin's null is
found in closed form, identical to the argmin over the plane (see :func:`azimuth_nulls`).

Where it departs from the paper:

- Blind positions: with no ``positions``, the N strongest, well-separated maxima of the azimuth
  histogram (the squared peak heights summed over all bins and frames, smoothed) are taken.
- Masks: ``mask="binary"`` is the paper's extraction -- a bin belongs to an object when its null
  lies within ``width / 2`` degrees of the object's azimuth (``width`` 0: to the nearest object,
  so the images add up to the mixture). The default ``mask="soft"`` shares each bin among the
  objects by a Gaussian kernel on the distance from its null azimuth
  (:func:`shotoku.spatial.panmask.angle_masks`). Measured on the study's 4-object scenes
  (:data:`shotoku.datasets.scenes.CONDITIONS`) from 14 synthetic songs, 6 s each, mean SDR over objects
  and songs at 30 / 20 / 10 degree spacing: binary 8.95 / 8.92 / 8.84 dB, soft 9.59 / 9.60 /
  9.56; after the post-filter, binary 11.00 / 10.97 / 10.90, soft 11.72 / 11.60 / 11.54 (the
  oracle ratio mask: 10.52 / 10.55 / 10.57).
- Resynthesis: instead of one mono magnitude (the sum of peaks) with one channel's phase, the
  masks are applied to both channels, giving stereo images.
- Post-filter: the masks start the multichannel NMF of :mod:`shotoku.spatial.mnmf` (each
  object a rank-1 spatial covariance at its position and an NMF power spectrum fitted to the
  mixture: ``postfilter="mnmf"``, the default), or are refined by the multichannel Wiener
  post-filter (:func:`shotoku.refinement.refine`, ``postfilter="wiener"``), or neither
  (``postfilter="none"``/False). On the bench's scenes the NMF stage adds 4-5 dB over the Wiener
  post-filter (docs/benchmarks.md, "Spatial methods").
- ``sources="auto"`` (the default) counts the objects from the pan histogram
  (:func:`shotoku.spatial.panmask.count_objects`).
- Start for delayed scenes: a real gain cannot cancel an inter-channel delay, so with delays
  the nulls scatter and objects land at wrong azimuths. With the study's delays of 1.5-4
  samples the nulls plus post-filter gave 10.48 dB on average but 3.2 dB on the worst of the 14
  songs, the magnitude pan mask plus post-filter 11.50 (8.3 at worst); with delays of 5-10
  samples, 7.1 against 11.5 on six songs. There is no quality floor for the nulls on delayed
  scenes. ``start="auto"`` measures how well the mixture fits pure
  amplitude panning and falls back to the magnitude pan mask
  (:func:`shotoku.spatial.panmask.pan_masks`) when it does not; see
  :func:`amplitude_panning_score` and :func:`adress`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..refinement import postfilter_stage
from ..registry import register
from ..spectral import stft
from ..panning import planned_objects
from ..panning import positions as histogram_positions
from .panmask import angle_masks, object_count, pan_positions, postfilter_and_name

# At or above this score a mixture is treated as amplitude-panned (see amplitude_panning_score).
AUTO_THRESHOLD = 0.4

# Post-filter settings, measured on 4-object scenes from synthetic songs at n_fft 4096, hop 1024
# (binary ADRess masks, 30 degree spacing): two refits with PSDs averaged over about 0.2 s
# (9 frames) and no floor: +2.2 dB; one refit over 3 frames floored at 1e-3: +0.8 dB; one refit,
# no smoothing, no floor (plain EM from binary masks): +0.0 dB.
POSTFILTER_SECONDS = 0.2


def azimuth_angles(beta):
    """Pan angle of every azimuth index of the joined plane.

    beta: azimuth resolution (steps per half plane)
    returns: float64 degrees [shape=(2 * beta + 1,)], from -45 (hard left) to 45 (hard right)
    """
    i = np.arange(2 * beta + 1, dtype=np.float64)
    left = np.degrees(np.arctan(i[: beta + 1] / beta)) - 45.0
    right = 45.0 - np.degrees(np.arctan((2 * beta - i[beta + 1:]) / beta))
    return np.concatenate([left, right])


def frequency_azimuth_plane(L, R, beta=100):
    """The joined frequency-azimuth plane ``[AZ_L, reversed AZ_R]`` of stereo STFT bins.

    L, R: complex STFT bins of the left and right channels [shape=(...)]
    beta: azimuth resolution (steps per half plane)
    returns: float32 magnitudes [shape=(..., 2 * beta + 1)]; index i <= beta is
        ``|R - (i/beta) L|``, index i >= beta is ``|L - ((2 beta - i)/beta) R|``
        (angles from :func:`azimuth_angles`)
    """
    pl = (np.abs(L) ** 2).astype(np.float32)[..., None]
    pr = (np.abs(R) ** 2).astype(np.float32)[..., None]
    cross = np.real(L * np.conj(R)).astype(np.float32)[..., None]
    g = (np.arange(beta + 1, dtype=np.float32) / np.float32(beta))
    az_l = pr - 2 * g * cross + g * g * pl          # |R - g L|^2
    az_r = pl - 2 * g[::-1] * cross + g[::-1] ** 2 * pr  # |L - g R|^2, g from 1 down to 0
    plane = np.concatenate([az_l, az_r[..., 1:]], axis=-1)
    return np.sqrt(np.maximum(plane, 0))


def azimuth_nulls(X, beta=100):
    """Each bin's null azimuth in the frequency-azimuth plane and its peak height (``max - min``).

    The argmin of each half plane is found without building it: ``|R - g L|^2`` is a parabola in
    g with its vertex at ``g* = Re(L R*) / |L|^2``, so its minimum over the grid ``i / beta`` is at
    the grid point nearest to ``g*``, clipped to [0, 1] (and likewise for ``|L - g R|^2``); the
    plane's maximum lies at an end of a half, ``max(|L|, |R|, |L - R|)``. This gives the same
    index and height as :func:`frequency_azimuth_plane` followed by argmin, max and min, in
    O(bins * frames) instead of O(bins * frames * beta) time and memory.

    X: complex STFT of a stereo mixture [shape=(2, bins, frames)]
    beta: azimuth resolution
    returns: (index int16 [shape=(bins, frames)] into :func:`azimuth_angles`,
              height float32 [shape=(bins, frames)], the peak ``max - min`` of the plane)
    """
    L = X[0].astype(np.complex128)
    R = X[1].astype(np.complex128)
    pl = np.abs(L) ** 2
    pr = np.abs(R) ** 2
    cross = np.real(L * np.conj(R))

    def half(p_scaled, p_other):
        # |other - g * scaled|^2 over g = i / beta: grid point nearest the vertex, and its value
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(p_scaled > 0, cross / p_scaled, 0.0)
        i = np.clip(np.rint(beta * vertex), 0, beta)
        g = i / beta
        return i.astype(np.int64), np.maximum(p_other - 2 * g * cross + g * g * p_scaled, 0.0)

    i_left, v_left = half(pl, pr)    # |R - g L|^2: left half, index i
    i_right, v_right = half(pr, pl)  # |L - g R|^2: right half, index 2 beta - i
    use_left = v_left <= v_right
    index = np.where(use_left, i_left, 2 * beta - i_right).astype(np.int16)
    low = np.where(use_left, v_left, v_right)
    high = np.maximum(np.maximum(pl, pr), np.abs(L - R) ** 2)
    height = (np.sqrt(high) - np.sqrt(low)).astype(np.float32)
    return index, height


def amplitude_panning_score(X, rate, n_fft, low_hz=100.0, high_hz=8000.0):
    """How well a stereo mixture fits pure amplitude panning, in [-1, 1].

    Amplitude panning puts every source in phase on both channels, so the cross-spectrum of
    each frequency averaged over time, ``C(f) = sum_t L R*``, is real and positive: a source's
    own term is ``g_L g_R |S|^2 >= 0`` and the cross terms between sources average out. An
    inter-channel delay tau turns a source's term by ``2 pi f tau`` radians, so across frequency
    the coherence ``gamma(f) = C(f) / sqrt(P_L(f) P_R(f))`` spins around the origin. The score
    is ``sum_f Re(gamma) |gamma| / sum_f |gamma|^2`` over the frequencies between ``low_hz`` and
    ``high_hz``: the cosine of the inter-channel phase, averaged over frequency with each
    frequency weighted by its squared coherence. Weighting by coherence rather than energy keeps
    music's strong low end, where a small delay barely turns the phase, from hiding a delay; and
    frequencies where only hard-panned (one-channel) sources sound, whose cross-spectrum is
    noise of random phase, have low coherence and cannot hide amplitude panning.

    Measured on 4-object scenes from 14 synthetic songs (n_fft 4096; 6 s excerpts, then 2 s):
    no delays at 10 and 20 degree spacing 0.99-1.00; at 30 degrees (two objects hard-panned)
    0.78-0.97, 0.59-0.91 on 2 s; delays of 0.5-1 samples 0.78-0.94; 1-2 samples 0.22-0.69;
    2-4 samples at 30 degrees 0.41-0.84; the study's 1.5-4 samples at 20 degrees
    (:data:`shotoku.datasets.scenes.DELAYS_20D`) -0.31-0.17; 5-10 samples -0.16-0.10.

    X: complex STFT [shape=(2, bins, frames)]
    rate: sample rate in Hz; n_fft: the STFT size of X
    low_hz, high_hz: the band that is scored
    returns: float score (1: every frequency in phase; 0 for silence)
    """
    freqs = np.arange(X.shape[1]) * rate / n_fft
    band = (freqs >= low_hz) & (freqs <= min(high_hz, rate / 2))
    left = X[0, band].astype(np.complex128)
    right = X[1, band].astype(np.complex128)
    cross = np.sum(left * np.conj(right), axis=-1)
    norm = np.sqrt(np.sum(np.abs(left) ** 2, axis=-1) * np.sum(np.abs(right) ** 2, axis=-1))
    live = norm > 0
    if not np.any(live):
        return 0.0
    gamma = cross[live] / norm[live]
    weight = np.abs(gamma)
    total = np.sum(weight ** 2)
    return float(np.sum(np.real(gamma) * weight) / total) if total > 0 else 0.0


def _check(start, mask, beta, n_fft, hop, width, positions) -> tuple:
    """ADRess's parameters checked before any work; returns the positions as a tuple of floats."""
    if start not in ("auto", "adress", "panmask"):
        raise ParameterError(f"start must be auto, adress or panmask, got '{start}'")
    if mask not in ("soft", "binary"):
        raise ParameterError(f"mask must be soft or binary, got '{mask}'")
    if not 2 <= beta <= 10000 or n_fft < 16 or hop < 1 or hop > n_fft or width < 0:
        raise ParameterError("adress needs 2 <= beta <= 10000, n_fft >= 16, 1 <= hop <= n_fft and width >= 0")
    positions = tuple(float(p) for p in positions)
    if any(not abs(p) <= 45 for p in positions):
        raise ParameterError("positions are pan angles in degrees between -45 and 45")
    return positions


def _place(X, rate, sources, positions, start, beta, n_fft):
    """ADRess's decisions on a stereo STFT X: (start used, every bin's pan angle in degrees
    [shape=(bins, frames)], the objects' positions)."""
    n = len(positions) if positions else object_count(sources, X)
    if not 1 <= n <= 45:
        raise ParameterError(f"adress separates 1 to 45 objects (2 degrees apart at least), got {n}")
    if start == "auto":
        start = "adress" if amplitude_panning_score(X, rate, n_fft) >= AUTO_THRESHOLD else "panmask"
    if start == "panmask":
        angles, found = pan_positions(X, n, positions)
    else:
        index, height = azimuth_nulls(X, beta)
        angles = azimuth_angles(beta).astype(np.float32)[index]
        found = np.array(positions) if positions else histogram_positions(angles, height ** 2, n)
    return start, angles, found


def plan(summary, rate, *, sources="auto", positions=(), width=0.0, mask="soft", beta=100, start="auto",
         postfilter="mnmf", n_fft=4096, hop=1024, **_):
    """What ADRess decides from a whole long input, fixed on a summary of it (for block-by-block
    separation, :func:`shotoku.separation.run`): {"positions": the objects' pan angles, "start"}."""
    positions = _check(start, mask, beta, n_fft, hop, width, positions)
    X = stft(np.asarray(summary, dtype=np.float32), n_fft=n_fft, hop=hop)
    postfilter_stage(postfilter)  # checked here too: a bad stage fails before the blocks
    start, _, found = _place(X, rate, sources, positions, start, beta, n_fft)
    return {**planned_objects(found), "start": start}


@register(
    "adress",
    description="ADRess azimuth discrimination (Barry et al. 2004) with a multichannel NMF post-filter; "
    "amplitude-panned stereo, automatic start for delayed scenes",
    channels="stereo",
    blocks="planned",
    plan=plan,
)
def adress(
    mixture,
    rate,
    *,
    sources="auto",
    positions=(),
    width=0.0,
    mask="soft",
    beta=100,
    start="auto",
    postfilter="mnmf",
    n_fft=4096,
    hop=1024,
    seed=0,
):
    """Separate the objects of a stereo mixture by their pan position (ADRess).

    mixture: float32 stereo mixture [shape=(2, samples)]; rate: Hz
    Parameters:
    sources: number of objects to extract when no positions are given, or auto (counted from the pan histogram)
    positions: pan angles of the objects in degrees, -45 (hard left) .. 45 (hard right); empty = find the strongest ones
    width: azimuth window around each position in degrees (the paper's H); 0 = every bin goes to its nearest position
    mask: soft (Gaussian kernel on the azimuth distance) or binary (the paper's window)
    beta: azimuth steps per half plane (the paper's resolution)
    start: auto (chosen by inter-channel phase coherence), adress (nulls of the azimuth plane) or panmask (magnitude pan mask, for delayed scenes)
    postfilter: mnmf (multichannel NMF, the default), wiener (the Wiener post-filter) or none
    n_fft: STFT size in samples
    hop: STFT hop in samples
    seed: seed of the multichannel NMF's start
    returns: {"object_k (angle°)": float32 image [shape=(2, samples)]}, k = 1.. from left to right

    How ``start="auto"`` decides: when :func:`amplitude_panning_score` (the inter-channel phase
    coherence over 100 Hz - 8 kHz) is at least :data:`AUTO_THRESHOLD` (0.4), the channels are in
    phase as pure amplitude panning leaves them and the positions and masks come from the
    azimuth nulls; below it (inter-channel delays: spaced microphones, time panning) they come
    from the magnitude pan mask (:func:`shotoku.spatial.panmask.pan_masks`), which reads each
    bin's position from the channels' level ratio alone. The threshold sits between pure
    amplitude panning (>= 0.59 measured, hard-panned objects and 2 s excerpts included) and the
    study's delays of 1.5-4 samples (<= 0.17) or more, where the nulls scatter; in between
    (delays of 1-4 samples) both starts measured within 0.1 dB of each other after the
    post-filter, except with hard-panned objects, where the nulls were better by 0.7 dB.

    Post-filter stages: "mnmf" (:mod:`shotoku.spatial.mnmf`, from the masks and the found
    positions), "wiener" (:func:`shotoku.refinement.refine`, 2 iterations, PSDs averaged over
    :data:`POSTFILTER_SECONDS`, no floor), "none". With a stage on, soft masks use the
    kernel ``spread`` 0.5 (the best start for the Wiener stage), else 0.35 (the best masks on
    their own).
    """
    positions = _check(start, mask, beta, n_fft, hop, width, positions)
    x = np.asarray(mixture, dtype=np.float32)
    X = stft(x, n_fft=n_fft, hop=hop)
    stage = postfilter_stage(postfilter)
    _, angles, found = _place(X, rate, sources, positions, start, beta, n_fft)
    # with a post-filter stage, soft masks use the spread that starts it best
    masks = angle_masks(angles, found, mask, width, 0.35 if stage == "none" else 0.5)
    return postfilter_and_name(X, masks, found, stage, rate=rate, n_fft=n_fft, hop=hop,
                               length=x.shape[-1], smooth_seconds=POSTFILTER_SECONDS, seed=seed)
