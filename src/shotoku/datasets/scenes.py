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

The study (PROJET paper, section on experiments): 4 objects at equal spacings of 10°, 20° and
30° centred on 0° without delays, and a 20° spacing with per-object delays
(:data:`CONDITIONS`). :func:`study_scenes` builds them from any dataset's stems.

Public API: :func:`pan`, :func:`pan_gains`, :func:`delay_signal`, :func:`make_scene`,
:class:`Scene`, :func:`scene_from_objects`, :func:`study_scenes`, :func:`write_scene`,
:func:`read_scene`, :func:`active_excerpt`, :data:`CONDITIONS`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy import fft as sp_fft

from ..errors import AudioContentError, ParameterError
from ..panning import pan_gains

#: Target RMS of every object when ``normalize="rms"`` (−20 dBFS), before the scene-wide
#: limiter that keeps the mixture's peak below :data:`PEAK_LIMIT`.
OBJECT_RMS = 0.1
PEAK_LIMIT = 0.99


# --------------------------------------------------------------------------------------------
# pan and delay


def delay_signal(signal: np.ndarray, samples: float) -> np.ndarray:
    """Delay a signal by a whole or fractional number of samples, keeping its length.

    signal: real array [shape=(..., N)], delayed along the last axis
    samples: delay in samples; positive delays (the output starts with silence), negative
        advance (the first ``|samples|`` samples are dropped, silence at the end)

    Returns an array of the same shape and dtype. An integer delay is an exact shift. A
    fractional delay multiplies the DFT of the signal, zero-padded to at least ``2N`` samples,
    by ``exp(−i 2π k samples / M)`` — the ideal band-limited delay — and cuts back to N samples
    (the Nyquist bin, which carries no phase, keeps the real part of its product).

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


# --------------------------------------------------------------------------------------------
# the study's scenes

#: Pan angles (degrees) of the study's 4 objects: equal spacings of 10°, 20° and 30° centred on 0°.
ANGLES = {
    "10": (-15.0, -5.0, 5.0, 15.0),
    "20": (-30.0, -10.0, 10.0, 30.0),
    "30": (-45.0, -15.0, 15.0, 45.0),
}
#: Inter-channel delays (samples) of the delayed set "20d", object by object (20° spacing).
#: Distinct per object, both signs, whole and fractional, all within ±5 samples — the delay
#: range the PROJET authors' Python code searches (``max delay 5``). The exact values of the
#: paper's delay experiment are not reproduced here; these are our choice, in that range.
DELAYS_20D = (3.0, -2.0, 1.5, -4.0)

#: Every condition: name -> (angles in degrees, delays in samples).
CONDITIONS = {
    "10": (ANGLES["10"], (0.0,) * 4),
    "20": (ANGLES["20"], (0.0,) * 4),
    "30": (ANGLES["30"], (0.0,) * 4),
    "20d": (ANGLES["20"], DELAYS_20D),
}

#: An excerpt qualifies when each object's RMS over it is within this many dB of the object's
#: RMS over the whole track.
ACTIVE_DB = 20.0
#: Candidate excerpt starts lie on a grid of this step (seconds).
START_STEP = 0.25


@dataclass
class Scene:
    """One simulated scene.

    mixture: float32 [shape=(2, N)], the sum of ``images``
    images: float32 [shape=(J, 2, N)], each object's stereo image (the references)
    names: J object names (the stems they came from, e.g. ``drums``, or ``object_<k>``)
    angles: J pan angles in degrees
    delays: J inter-channel delays in samples (positive: the right channel lags)
    rate: sample rate in Hz
    meta: condition, seed, source track, excerpt offset and duration (s), scene name
    """

    mixture: np.ndarray
    images: np.ndarray
    names: list[str]
    angles: list[float]
    delays: list[float]
    rate: int
    meta: dict = field(default_factory=dict)

    @property
    def references(self) -> dict[str, np.ndarray]:
        """{name: (2, N) image}: the true images, as every separator's output and the scoring take them."""
        return {n: self.images[i] for i, n in enumerate(self.names)}


def conditions(condition) -> list[str]:
    """Expand a condition name (``"10"``, ``"20"``, ``"30"``, ``"20d"`` or ``"all"``) to a list."""
    if isinstance(condition, (list, tuple)):
        return [c for name in condition for c in conditions(name)]
    name = str(condition)
    if name == "all":
        return list(CONDITIONS)
    if name not in CONDITIONS:
        raise ParameterError(f"unknown condition '{condition}'; use one of {', '.join(CONDITIONS)} or all")
    return [name]


def downmix(audio: np.ndarray) -> np.ndarray:
    """Mono float64 [shape=(N,)] of a (C, N) or (N,) signal: the mean over channels."""
    a = np.asarray(audio, dtype=np.float64)
    return a if a.ndim == 1 else a.mean(axis=0)


def active_excerpt(objects: np.ndarray, length: int, rate: int, rng: np.random.Generator) -> int:
    """Choose where an excerpt of ``length`` samples starts so that every object sounds in it.

    objects: float [shape=(J, N)] mono objects
    length: excerpt length in samples (<= N)
    rate: sample rate in Hz (sets the grid of candidate starts, every :data:`START_STEP` s)
    rng: the random generator that picks among the qualifying starts

    A start qualifies when every object's RMS over the excerpt is within :data:`ACTIVE_DB` dB of
    its RMS over the whole signal. Without any, the start whose quietest object is loudest
    (relative to its own level) is taken. Returns the start in samples.
    """
    x = np.asarray(objects, dtype=np.float64)
    n = x.shape[1]
    if length >= n:
        return 0
    step = max(1, int(round(START_STEP * rate)))
    starts = np.arange(0, n - length + 1, step)
    energy = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x ** 2, axis=1)], axis=1)
    window = (energy[:, starts + length] - energy[:, starts]) / length      # (J, S) mean power
    overall = np.maximum(energy[:, -1] / n, 1e-20)[:, None]
    relative = 10 * np.log10(np.maximum(window, 1e-30) / overall)          # dB vs own level
    ok = np.flatnonzero(np.all(relative >= -ACTIVE_DB, axis=0))
    if ok.size:
        return int(starts[rng.choice(ok)])
    return int(starts[int(np.argmax(relative.min(axis=0)))])


def _track_objects(track, count: int = 4) -> tuple[list[str], np.ndarray]:
    names = list(track.stems)
    if len(names) < count:
        raise AudioContentError(f"track '{track.name}' has {len(names)} stems; the study needs {count}")
    names = names[:count]
    return names, np.stack([downmix(track.stems[s]) for s in names])


def scene_from_objects(objects, angles, delays=0.0, rate: int = 44100, names=None,
                       normalize: str | None = "rms", meta: dict | None = None) -> Scene:
    """A :class:`Scene` from J mono objects [shape=(J, N)] placed at ``angles`` with ``delays``.

    names: object names (default ``object_1`` ... ``object_J``); other arguments as
    :func:`make_scene`.
    """
    x = np.asarray(objects)
    j = x.shape[0] if x.ndim > 1 else 1
    names = [f"object_{k + 1}" for k in range(j)] if names is None else [str(n) for n in names]
    if len(names) != j:
        raise ParameterError(f"{len(names)} names for {j} objects; give one name per object")
    if len(set(names)) != len(names):
        raise ParameterError("object names must be distinct")
    mixture, images = make_scene(x, angles, delays, normalize=normalize)
    return Scene(mixture=mixture, images=images, names=names,
                 angles=[float(a) for a in _as_vector(angles, j, "angles")],
                 delays=[float(d) for d in _as_vector(delays, j, "delays")],
                 rate=int(rate), meta=dict(meta or {}))


def study_scenes(tracks, condition="all", n_scenes: int | None = None, seconds: float | None = 10.0,
                 seed: int = 0, progress: bool = False) -> list[Scene]:
    """Build the PROJET study's scenes from a dataset.

    tracks: a :class:`~shotoku.datasets.Dataset` or a sequence of Tracks with at least 4 stems;
        the first 4 stems (drums, bass, other, vocals for MUSDB-style data), each downmixed to
        mono, are the objects
    condition: ``"10"``, ``"20"``, ``"30"`` (4 objects at equal spacings of 10°, 20°, 30°
        centred on 0°, no delay), ``"20d"`` (20° spacing with :data:`DELAYS_20D`), ``"all"``, or a
        list of these
    n_scenes: scenes per condition (default: one per track)
    seconds: excerpt length in seconds (None or longer than a track: the whole track)
    seed: picks the track order and, per scene, the excerpt among those where every object
        sounds (:func:`active_excerpt`); scene k is the same whatever ``n_scenes`` is. A track
        with a silent stem in its excerpt (the synthetic generator leaves a stem out of some
        songs) is left out with a warning, and the next one taken.
    progress: show a progress bar on a terminal

    Returns a list of :class:`Scene`, condition by condition; every condition uses the same
    excerpts (a paired design: methods compare across conditions on the same audio). Objects
    are brought to equal RMS before panning (:func:`make_scene`).

    >>> from shotoku import datasets
    >>> scenes = study_scenes(datasets.example(), "20d", seconds=3.0)   # doctest: +SKIP
    >>> scenes[0].angles, scenes[0].delays                              # doctest: +SKIP
    ([-30.0, -10.0, 10.0, 30.0], [3.0, -2.0, 1.5, -4.0])
    """
    from ..progress import bar as progress_bar

    names_of_conditions = conditions(condition)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    if len(tracks) == 0:
        raise ParameterError("no tracks to build scenes from")
    count = len(tracks) if n_scenes is None else int(n_scenes)
    if count < 1:
        raise ParameterError(f"number of scenes must be >= 1, got {n_scenes}")
    if seconds is not None and not seconds > 0:
        raise ParameterError(f"excerpt length must be > 0 seconds, got {seconds}")
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0])).permutation(len(tracks))
    scenes: dict[str, list[Scene]] = {c: [] for c in names_of_conditions}
    bar = progress_bar(range(count), desc="scenes", unit="scene", show=progress)
    silent_tracks: set[str] = set()
    cursor = 0
    for k in bar:
        for _ in range(len(tracks)):  # the next track whose excerpt has every object sounding
            track = tracks[int(order[cursor % len(tracks)])]
            cursor += 1
            names, objects = _track_objects(track)
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1, k]))
            length = objects.shape[1] if seconds is None else min(objects.shape[1], int(round(seconds * track.rate)))
            start = active_excerpt(objects, length, track.rate, rng)
            excerpt = objects[:, start:start + length]
            silent = np.sqrt(np.mean(excerpt ** 2, axis=1)) <= 1e-9
            if not np.any(silent):
                break
            if track.name not in silent_tracks:
                silent_tracks.add(track.name)
                warnings.warn(f"track '{track.name}' is left out: its stem "
                              f"'{names[int(np.flatnonzero(silent)[0])]}' is silent", stacklevel=2)
        else:
            raise AudioContentError("every track has a silent stem where an excerpt would be taken; "
                                    "a scene needs 4 sounding objects")
        offset = start / track.rate + float(track.meta.get("offset", 0.0))
        for c in names_of_conditions:
            angles, delays = CONDITIONS[c]
            meta = {"condition": c, "seed": int(seed), "index": k, "scene": f"{k:03d}",
                    "track": track.name, "offset": round(offset, 6), "duration": length / track.rate}
            scenes[c].append(scene_from_objects(excerpt, angles, delays, rate=track.rate, names=names,
                                                meta=meta))
    return [s for c in names_of_conditions for s in scenes[c]]


# --------------------------------------------------------------------------------------------
# files


def write_scene(folder, scene: Scene, protect: Iterable = ()) -> Path:
    """Write a scene: ``mixture.wav``, one file per object image, and ``scene.json``, all or nothing.

    folder: the scene's folder (created)
    scene: a :class:`Scene`
    protect: paths that must not be overwritten (the inputs)

    Files are float32 WAV; the record is the one every folder of images carries
    (:func:`shotoku.outputs.write_images`: ``sources`` maps each object name to its file, in
    order; ``mixture``; ``rate``) plus ``angles`` (degrees) and ``delays`` (samples) in the
    objects' order, the pan law and delay convention, and ``meta`` entries (condition, seed,
    source track, offset, ...). ``shotoku evaluate``, :func:`read_scene` and studies read it.
    Returns the folder.
    """
    from ..outputs import SCENE_RECORD, write_images

    record = {
        **{k: v for k, v in scene.meta.items() if k not in RESERVED},
        "kind": "scene",
        "angles": [float(a) for a in scene.angles],
        "delays": [float(d) for d in scene.delays],
        "samples": int(scene.mixture.shape[-1]),
        "pan_law": "constant power: phi = (angle + 45) deg, left = cos(phi), right = sin(phi)",
        "delay_convention": "samples; positive: the right channel lags the left",
    }
    write_images(folder, scene.references, scene.rate, record, protect=protect, record_name=SCENE_RECORD,
                 mixture=scene.mixture)
    return Path(folder)


#: Record entries that describe the files, not the scene's ``meta``.
RESERVED = ("format", "version", "kind", "sources", "mixture", "objects", "files", "angles", "delays", "rate",
            "samples", "pan_law", "delay_convention")


def read_scene(folder) -> Scene:
    """Read a scene folder (written by :func:`write_scene`, ``shotoku simulate`` or ``shotoku demo``)."""
    from .. import io
    from ..errors import InputFileError
    from ..outputs import SCENE_RECORD, image_files, read_record

    folder = Path(folder)
    found = read_record(folder)
    if found is None or found[0] != SCENE_RECORD:
        raise InputFileError(f"'{folder}' holds no scene.json; give a folder written by 'shotoku simulate' or the demo")
    record = found[1]
    files = image_files(folder, "scene")
    names = list(files)
    try:
        angles = [float(a) for a in record["angles"]]
        delays = [float(d) for d in record.get("delays", [0.0] * len(names))]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputFileError(f"'{folder / SCENE_RECORD}' is not a scene description ({exc}); rewrite the scene") from None
    if len(angles) != len(names) or len(delays) != len(names):
        raise InputFileError(f"'{folder / SCENE_RECORD}' lists {len(names)} objects but {len(angles)} angles; "
                             "rewrite the scene")
    mixture, rate = io.load(folder / str(record.get("mixture", "mixture.wav")))
    images = np.stack([io.load(f)[0] for f in files.values()])
    if images.shape[1:] != mixture.shape:
        raise InputFileError(f"the images in '{folder}' do not match its mixture's shape; rewrite the scene")
    meta = {k: v for k, v in record.items() if k not in RESERVED}
    return Scene(mixture=mixture, images=images, names=names, angles=angles, delays=delays, rate=int(rate), meta=meta)
