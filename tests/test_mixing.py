"""Pan/delay scenes: the angles and delays written are the ones measured back from the images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from shotoku import mixing
from shotoku.errors import AudioContentError, ParameterError, ShotokuError

RATE = 16000


def _noise(seed: int, n: int = 2 * RATE) -> np.ndarray:
    """Band-limited (below 0.4 fs) Gaussian noise, float64 [shape=(n,)]."""
    rng = np.random.default_rng(seed)
    sos = sps.butter(8, 0.8, output="sos")
    return sps.sosfilt(sos, rng.standard_normal(n + 512))[512:]


def measured_angle(image: np.ndarray) -> float:
    """Pan angle in degrees from the inter-channel level ratio of a (2, N) image."""
    e_left, e_right = np.sqrt(np.sum(np.asarray(image, np.float64) ** 2, axis=1))
    return float(np.degrees(np.arctan2(e_right, e_left)) - 45.0)


def measured_delay(image: np.ndarray, max_lag: int = 20, upsample: int = 64) -> float:
    """Delay of the right channel behind the left one, in samples.

    Cross-correlation computed through the FFT, interpolated by zero-padding the cross-spectrum
    ``upsample`` times (the band-limited interpolation of the correlation), then a parabola
    through the three points around its peak.
    """
    left, right = np.asarray(image, np.float64)
    m = 2 * left.shape[0]
    cross = np.conj(np.fft.rfft(left, m)) * np.fft.rfft(right, m)
    r = np.fft.irfft(cross, upsample * m)
    lags = np.concatenate([np.arange(0, max_lag * upsample + 1), np.arange(-max_lag * upsample, 0)])
    values = r[lags]
    i = int(np.argmax(values))
    a, b, c = values[i - 1], values[i], values[(i + 1) % len(values)]
    offset = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float((lags[i] + offset) / upsample)


@pytest.mark.parametrize("angle", [-45.0, -30.0, -15.0, -5.0, 0.0, 5.0, 10.0, 20.0, 37.5, 45.0])
def test_pan_angle_measured_back(angle):
    image = mixing.pan(_noise(1).astype(np.float32), angle)
    assert image.shape == (2, 2 * RATE) and image.dtype == np.float32
    assert abs(measured_angle(image) - angle) < 0.5
    left, right = mixing.pan_gains(angle)
    assert abs(left ** 2 + right ** 2 - 1.0) < 1e-12


def test_pan_law_endpoints():
    assert mixing.pan_gains(-45) == (1.0, 0.0)
    assert mixing.pan_gains(45) == (0.0, 1.0)
    left, right = mixing.pan_gains(0)
    assert abs(left - right) < 1e-12 and abs(left - np.sqrt(0.5)) < 1e-12
    image = mixing.pan(np.ones(8), -45.0, delay=3)
    assert np.all(image[1] == 0) and np.all(image[0] == 1)


@pytest.mark.parametrize("tau", [0.0, 1.0, 3.0, -2.0, 0.5, 1.5, -2.25, 4.7])
def test_delay_measured_back(tau):
    image = mixing.pan(_noise(2), 10.0, delay=tau)
    assert abs(measured_delay(image) - tau) < 0.1
    assert abs(measured_angle(image) - 10.0) < 0.5


def test_fractional_delay_is_exact_on_a_sinusoid():
    n = 4096
    t = np.arange(n)
    f = 0.0371  # cycles per sample
    x = np.sin(2 * np.pi * f * t) * sps.windows.tukey(n, 0.2)
    y = mixing.delay_signal(x, 2.5)
    expected = np.sin(2 * np.pi * f * (t - 2.5)) * sps.windows.tukey(n, 0.2)
    # the interior matches the analytic shift (the window's edges are smooth but not band-limited)
    inner = slice(n // 4, 3 * n // 4)
    assert np.max(np.abs(y[inner] - expected[inner])) < 1e-4


def test_integer_delay_is_an_exact_shift():
    x = np.arange(10, dtype=np.float32)
    assert np.array_equal(mixing.delay_signal(x, 3), np.r_[0, 0, 0, x[:7]].astype(np.float32))
    assert np.array_equal(mixing.delay_signal(x, -2), np.r_[x[2:], 0, 0].astype(np.float32))


def test_make_scene_sums_and_measures_back():
    objects = np.stack([_noise(s) for s in range(4)]) * np.array([[0.1], [1.0], [3.0], [0.5]])
    angles = [-30.0, -10.0, 10.0, 30.0]
    delays = [2.0, -1.5, 0.0, 3.25]
    mixture, images = mixing.make_scene(objects, angles, delays)
    assert mixture.shape == (2, objects.shape[1]) and images.shape == (4, 2, objects.shape[1])
    assert mixture.dtype == np.float32 and images.dtype == np.float32
    np.testing.assert_allclose(mixture, images.sum(0), atol=1e-6)
    rms = np.sqrt(np.mean(images.astype(np.float64) ** 2, axis=(1, 2)))
    np.testing.assert_allclose(rms, rms[0], rtol=1e-2)  # equal-RMS objects
    assert np.max(np.abs(mixture)) <= mixing.PEAK_LIMIT + 1e-6
    for image, angle, tau in zip(images, angles, delays):
        assert abs(measured_angle(image) - angle) < 0.5
        assert abs(measured_delay(image) - tau) < 0.1


def test_make_scene_without_normalisation_keeps_levels():
    objects = np.stack([_noise(5), 0.25 * _noise(6)])
    mixture, images = mixing.make_scene(objects, [0.0, 45.0], normalize=None)
    np.testing.assert_allclose(images[1, 1], 0.25 * _noise(6), atol=1e-6)
    assert np.all(images[1, 0] == 0)


def test_make_scene_errors():
    objects = np.stack([_noise(1), np.zeros(2 * RATE)])
    with pytest.raises(AudioContentError, match="silent"):
        mixing.make_scene(objects, [0, 10])
    with pytest.raises(ParameterError):
        mixing.make_scene(np.stack([_noise(1)] * 2), [0, 60])
    with pytest.raises(ParameterError):
        mixing.make_scene(np.stack([_noise(1)] * 2), [0, 10, 20])
    with pytest.raises(ParameterError):
        mixing.make_scene(np.stack([_noise(1)] * 2), [0, 10], normalize="peak")
    with pytest.raises(ShotokuError):
        mixing.pan(np.zeros((2, 10)), 0.0)
    with pytest.raises(ShotokuError) as info:
        mixing.make_scene(np.stack([_noise(1)] * 2), [0, 99])
    assert "\n" not in str(info.value) and "-45" in str(info.value)
