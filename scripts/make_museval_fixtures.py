"""Regenerate the museval reference numbers that tests/test_metrics.py compares against.

Each case builds its references and estimates deterministically (seeded noise and filters, or
the stems shipped in the stempeg wheel, decoded with PyAV), runs museval 0.4.1's
``museval.evaluate(refs, ests, win, hop)`` on them in float64, and stores the framewise SDR, ISR,
SIR and SAR, plus a fingerprint of the inputs, in tests/fixtures/museval/<case>.npz. The audio
itself is not stored: the tests rebuild it with the same functions.

    PYTHONPATH=src .venv/bin/python scripts/make_museval_fixtures.py [CASE ...]

museval is slow (about a second per second of 4-source stereo audio); all cases take a minute
or two.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "museval"


def _coloured(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """Band-pass filtered noise (normalised band edges in (0, 1))."""
    b, a = scipy.signal.butter(2, [low, high], btype="band")
    return scipy.signal.lfilter(b, a, rng.standard_normal(n))


def full_rank_scene(rng: np.random.Generator, J: int, n: int) -> np.ndarray:
    """J stereo sources whose two channels are different coloured noises (full-rank images)."""
    refs = np.empty((J, 2, n))
    for j in range(J):
        for c in range(2):
            lo = 0.01 + 0.04 * j + 0.02 * c
            refs[j, c] = _coloured(rng, n, lo, min(0.95, 0.35 + 0.12 * j)) + 0.02 * rng.standard_normal(n)
        refs[j, 1] += 0.4 * refs[j, 0]  # correlated channels, as real stereo
    return refs


def oracle_like(rng: np.random.Generator, refs: np.ndarray, leak: float = 0.1) -> np.ndarray:
    """A good estimate: a filtered copy of the reference, leakage of the others, a little noise."""
    J, C, n = refs.shape
    mix = refs.sum(axis=0)
    ests = np.empty_like(refs)
    for j in range(J):
        spatial = scipy.signal.lfilter([0.92, 0.06, -0.03], [1.0], refs[j], axis=-1)
        ests[j] = spatial + leak * (mix - refs[j]) + 0.01 * rng.standard_normal((C, n))
    return ests


def poor(rng: np.random.Generator, refs: np.ndarray) -> np.ndarray:
    """A bad estimate: mostly the mixture, clipped, with noise."""
    J, C, n = refs.shape
    mix = refs.sum(axis=0)
    ests = np.empty_like(refs)
    for j in range(J):
        ests[j] = np.tanh(0.5 * refs[j] + 0.4 * mix) + 0.2 * rng.standard_normal((C, n))
    return ests


def _f32(x: np.ndarray) -> np.ndarray:
    """Round to float32 (as audio files hold it), computed in float64."""
    return x.astype(np.float32).astype(np.float64)


def case_oracle():
    rng = np.random.default_rng(4001)
    rate = 44100
    refs = full_rank_scene(rng, 4, int(3.5 * rate))
    return _f32(refs), _f32(oracle_like(rng, refs)), rate


def case_poor():
    rng = np.random.default_rng(4002)
    rate = 44100
    refs = full_rank_scene(rng, 4, int(3.5 * rate))
    return _f32(refs), _f32(poor(rng, refs)), rate


def case_silences():
    """Reference 1 silent in second 1, estimate 2 silent in second 3: those frames are NaN."""
    rng = np.random.default_rng(4003)
    rate = 22050
    refs = full_rank_scene(rng, 3, int(4.5 * rate))
    refs[1, :, rate : 2 * rate] = 0.0
    ests = oracle_like(rng, refs)
    ests[2, :, 3 * rate : 4 * rate] = 0.0
    return _f32(refs), _f32(ests), rate


def case_short():
    """Shorter than one window: one frame over the whole track; estimates longer than refs."""
    rng = np.random.default_rng(4004)
    rate = 44100
    refs = full_rank_scene(rng, 2, int(0.6 * rate) + 700)
    ests = oracle_like(rng, refs, leak=0.2)[..., :-700]
    refs = refs[..., :-700]
    ests = np.concatenate([ests, 0.01 * rng.standard_normal((2, 2, 300))], axis=-1)
    return _f32(refs), _f32(ests), rate


def stempeg_excerpt(seconds: float = 3.5, offset: float = 1.0) -> tuple[np.ndarray, int]:
    """drums, bass, other, vocals of the stempeg example song [shape=(4, 2, samples)], float64."""
    import stempeg

    from shotoku.io import load_stems

    stems, rate = load_stems(stempeg.example_stem_path())
    start, n = int(offset * rate), int(seconds * rate)
    refs = np.stack([stems[name][:, start : start + n] for name in ("drums", "bass", "other", "vocals")])
    return refs.astype(np.float64), rate


def case_stempeg():
    """The real excerpt. The stems are AAC-coded, so nothing is left above ~16 kHz and the Gram
    matrix is near-singular there: the estimates' distortions stay in the stems' band (leakage,
    filtering, a slow gain modulation), where museval's numbers are stable."""
    refs, rate = stempeg_excerpt()
    rng = np.random.default_rng(4005)
    J, C, n = refs.shape
    ests = np.empty_like(refs)
    for j in range(J):
        spatial = scipy.signal.lfilter([0.9, 0.08], [1.0], refs[j], axis=-1)
        gains = 0.2 + 0.2 * rng.random(J)
        leak = sum(gains[k] * refs[k] for k in range(J) if k != j)
        level = np.sqrt(np.mean(refs[j] ** 2))
        ests[j] = spatial + leak + 0.3 * level * _band_limited_noise(rng, (C, n), 14000 / rate)
    return refs, ests, rate


def _band_limited_noise(rng: np.random.Generator, shape: tuple[int, int], cutoff: float) -> np.ndarray:
    """Unit-variance white noise with nothing above ``cutoff`` (fraction of the sample rate)."""
    spec = np.fft.rfft(rng.standard_normal(shape), axis=-1)
    spec[..., int(cutoff * shape[-1]) :] = 0.0
    noise = np.fft.irfft(spec, n=shape[-1], axis=-1)
    return noise / np.std(noise)


CASES = {
    "oracle": case_oracle,
    "poor": case_poor,
    "silences": case_silences,
    "short": case_short,
    "stempeg": case_stempeg,
}


def fingerprint(refs: np.ndarray, ests: np.ndarray) -> np.ndarray:
    """Energies per source and channel, to tell whether rebuilt inputs are the stored ones."""
    return np.concatenate([np.sum(refs**2, axis=-1).ravel(), np.sum(ests**2, axis=-1).ravel()])


def museval_scores(refs: np.ndarray, ests: np.ndarray, rate: int) -> np.ndarray:
    """museval's [SDR, ISR, SIR, SAR] [shape=(4, sources, frames)] for (sources, channels, samples) inputs."""
    import museval

    out = museval.evaluate(refs.transpose(0, 2, 1), ests.transpose(0, 2, 1), win=rate, hop=rate)
    return np.array(out, dtype=np.float64)


def main(names: list[str]) -> int:
    import museval

    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name in names or list(CASES):
        refs, ests, rate = CASES[name]()
        t0 = time.time()
        scores = museval_scores(refs, ests, rate)
        np.savez_compressed(
            FIXTURES / f"{name}.npz",
            scores=scores,
            fingerprint=fingerprint(refs, ests),
            rate=rate,
            museval_version=museval.__version__ if hasattr(museval, "__version__") else "0.4.1",
        )
        print(f"{name}: {refs.shape} at {rate} Hz, museval {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
