"""DUET on three speech sources at distinct attenuations and delays.

The speech is rendered by espeak-ng (three voices, three sentences) at 16 kHz and placed by
shotoku.datasets.scenes.make_scene (constant-power pan, exact fractional inter-channel delay).
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

import shotoku
from shotoku.datasets.scenes import make_scene
from shotoku.errors import ChannelError, ParameterError
from shotoku.io import resample
from shotoku.metrics import match_sources
from shotoku.spatial.duet import duet, duet_histogram, histogram_peaks
from shotoku.spectral import stft

RATE = 16000
SECONDS = 3.5
TALKERS = [
    ("en-us+m3", "The quick brown fox jumps over the lazy dog near the river bank."),
    ("en-us+f2", "She sells sea shells by the sea shore every single summer morning."),
    ("en+m7", "Peter Piper picked a peck of pickled peppers for his grandmother."),
]
# (pan angle in degrees, delay of the right channel in samples) per talker
ANGLES = (-20.0, 5.0, 30.0)
DELAYS = (1.0, -1.0, 0.0)

def speak(voice: str, text: str) -> np.ndarray:
    """float64 speech at RATE, padded or cut to SECONDS [shape=(samples,)]."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "--stdout", text],
                         capture_output=True, check=True).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    x = resample(x[None], rate, RATE)[0].astype(np.float64)
    n = int(SECONDS * RATE)
    return np.pad(x, (0, max(0, n - len(x))))[:n]


@pytest.fixture(scope="module")
def scene():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    objects = np.stack([speak(v, t) for v, t in TALKERS])
    return make_scene(objects, ANGLES, DELAYS)


def mean_sdr(images, out):
    _, sdr = match_sources(images, np.stack(list(out.values())), RATE)
    return float(np.mean(sdr))


def test_duet_floor(scene):
    mix, images = scene
    out = duet(mix, RATE)
    # measured 10.4 dB (soft masks + post-filter); the paper's binary masks alone: 8.2 dB
    assert mean_sdr(images, out) >= 4.0
    assert list(out) == ["object_1 (-20°)", "object_2 (6°)", "object_3 (28°)"]
    for y in out.values():
        assert y.shape == mix.shape and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_duet_paper_binary_masks(scene):
    mix, images = scene
    binary = mean_sdr(images, duet(mix, RATE, mask="binary", postfilter=False))
    assert binary >= 6.5  # measured 8.2 dB
    out = duet(mix, RATE, mask="binary", postfilter=False)
    # each bin goes to one source, so the images add up to the mixture
    np.testing.assert_allclose(sum(out.values()), mix, atol=1e-4)


def test_postfilter_helps_duet(scene):
    mix, images = scene
    assert mean_sdr(images, duet(mix, RATE)) >= mean_sdr(images, duet(mix, RATE, postfilter=False)) + 1.0


def test_histogram_peaks_sit_at_the_mixing_parameters(scene):
    mix, _ = scene
    hist, alpha, delta = duet_histogram(stft(mix, n_fft=1024, hop=256))
    peaks = histogram_peaks(hist, 3)
    found = sorted((alpha[i], delta[j]) for i, j in peaks)
    for (a_found, d_found), angle, tau in zip(found, ANGLES, DELAYS):
        a = np.tan(np.radians(angle + 45))  # right / left gain
        a_sym = min(a - 1 / a, 3.0)  # the histogram's range ends at alpha_max = 3
        assert abs(a_found - a_sym) < 0.25 and abs(d_found - tau) < 0.25, (found, angle, tau)


def test_silence_gives_silence():
    out = duet(np.zeros((2, RATE), dtype=np.float32), RATE)
    assert len(out) == 3
    for y in out.values():
        assert y.shape == (2, RATE) and not np.any(y)


def test_mono_input_is_refused():
    with pytest.raises(ChannelError):
        shotoku.separate(np.zeros((1, RATE), dtype=np.float32), RATE, method="duet")


def test_bad_parameters():
    x = np.zeros((2, 2048), dtype=np.float32)
    with pytest.raises(ParameterError):
        duet(x, RATE, mask="hard")
    with pytest.raises(ParameterError):
        duet(x, RATE, sources=0)
