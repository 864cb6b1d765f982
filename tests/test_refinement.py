"""The multichannel Wiener post-filter: generic in channels and sources, safe on silence.

Its gain on ADRess (>= 1 dB at 30 and 20 degree spacing) is asserted in test_adress.py, next to
the scenes it is measured on.
"""

from __future__ import annotations

import numpy as np
import pytest

from shotoku.errors import ParameterError
from shotoku.metrics import match_sources
from shotoku.refinement import smooth_frames_psd, wiener_refinement
from shotoku.spectral import istft, stft

RATE = 16000
N_FFT = 1024


def sources(seed: int, seconds: float = 3.0) -> np.ndarray:
    """Two seeded test signals [shape=(2, samples)]: a gliding harmonic tone, noise bursts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = 180 * (1 + 0.2 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(h * phase) / h for h in range(1, 20)) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t) ** 2)
    noise = rng.standard_normal(n) * (np.sin(2 * np.pi * 1.3 * t) > 0.2)
    noise = np.convolve(noise, np.ones(4) / 4, mode="same")
    s = np.stack([tone, noise])
    return s / np.sqrt(np.mean(s ** 2, axis=1, keepdims=True))


def crude_start(X, refs_stft, rng):
    """Masks from source powers smeared by random errors of +-10 dB: a poor start."""
    power = np.mean(np.abs(refs_stft) ** 2, axis=1)
    power = power * 10 ** (rng.uniform(-1, 1, power.shape))
    masks = power / (power.sum(axis=0, keepdims=True) + 1e-20)
    return masks[:, None] * X[None]


@pytest.mark.parametrize("channels", [2, 3])
def test_postfilter_recovers_spatially_distinct_sources(channels):
    rng = np.random.default_rng(channels)
    s = sources(channels)
    mixing = np.abs(rng.standard_normal((channels, 2))) + 0.2  # instantaneous, full column rank
    images = np.einsum("cj,jn->jcn", mixing, s).astype(np.float32)
    mix = images.sum(0)
    X = stft(mix, n_fft=N_FFT)
    start = crude_start(X, stft(images, n_fft=N_FFT), rng)
    before = match_sources(images, istft(start, n_fft=N_FFT, length=mix.shape[-1]), RATE)[1].mean()
    out = wiener_refinement(X, start)
    after = match_sources(images, istft(out, n_fft=N_FFT, length=mix.shape[-1]), RATE)[1].mean()
    assert out.shape == start.shape and out.dtype == np.complex64
    # the images of a Wiener filter add up to the mixture
    np.testing.assert_allclose(out.sum(0), X, atol=1e-3 * np.abs(X).max())
    assert after >= before + 5.0, (before, after)  # measured +9.3 (2 channels), +8.5 (3)


def test_mono_and_many_sources():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((1, 65, 30)) + 1j * rng.standard_normal((1, 65, 30))).astype(np.complex64)
    masks = rng.dirichlet(np.ones(5), size=(65, 30)).transpose(2, 0, 1)
    out = wiener_refinement(X, masks[:, None] * X[None])
    assert out.shape == (5, 1, 65, 30)
    np.testing.assert_allclose(out.sum(0), X, atol=1e-4)


def test_zero_iterations_is_identity():
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((2, 33, 12)) + 1j * rng.standard_normal((2, 33, 12))).astype(np.complex64)
    images = np.stack([0.3 * X, 0.7 * X])
    np.testing.assert_array_equal(wiener_refinement(X, images, iterations=0), images)


def test_silence_and_silent_objects_stay_finite():
    X = np.zeros((2, 33, 12), dtype=np.complex64)
    out = wiener_refinement(X, np.zeros((3, 2, 33, 12), dtype=np.complex64))
    assert not np.any(out)
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((2, 33, 12)) + 1j * rng.standard_normal((2, 33, 12))).astype(np.complex64)
    images = np.stack([X, np.zeros_like(X)])  # one object claims everything, one is silent
    for floor in (0.0, 1e-3):
        out = wiener_refinement(X, images, floor=floor)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out.sum(0), X, atol=1e-4)


def test_smoothing_is_a_centred_moving_average():
    psd = np.zeros((1, 2, 7), dtype=np.float32)
    psd[0, 0, 3] = 3.0
    psd[0, 1] = np.arange(7)
    out = smooth_frames_psd(psd, 3)
    np.testing.assert_allclose(out[0, 0], [0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_allclose(out[0, 1], [0.5, 1, 2, 3, 4, 5, 5.5])
    np.testing.assert_array_equal(smooth_frames_psd(psd, 1), psd)


def test_shape_mismatch_is_refused():
    X = np.zeros((2, 9, 4), dtype=np.complex64)
    with pytest.raises(ParameterError):
        wiener_refinement(X, np.zeros((2, 3, 9, 4), dtype=np.complex64))
    with pytest.raises(ParameterError):
        wiener_refinement(X, np.zeros((2, 2, 9, 4), dtype=np.complex64), smooth_frames=0)
