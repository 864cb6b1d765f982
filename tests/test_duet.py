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
from shotoku.spatial.duet import duet, duet_histogram, duet_positions
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


# measured on this scene: see the printout of test_duet_floor
FLOOR_DEFAULT = 12.2  # measured 13.65 dB (multichannel NMF post-filter)
FLOOR_WIENER = 8.8  # measured 10.26 dB
FLOOR_BINARY = 6.5  # measured 7.98 dB (the paper's binary masks, no post-filter)


def test_duet_floor(scene):
    mix, images = scene
    out = duet(mix, RATE, sources=3)
    default = mean_sdr(images, out)
    wiener = mean_sdr(images, duet(mix, RATE, sources=3, postfilter="wiener"))
    binary = mean_sdr(images, duet(mix, RATE, sources=3, mask="binary", postfilter="none"))
    print(f"DUET on speech: mnmf {default:.2f}, wiener {wiener:.2f}, binary {binary:.2f} dB")
    assert default >= FLOOR_DEFAULT and wiener >= FLOOR_WIENER and binary >= FLOOR_BINARY
    assert list(out) == ["object_1 (-20°)", "object_2 (5°)", "object_3 (30°)"]
    for y in out.values():
        assert y.shape == mix.shape and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_duet_paper_binary_masks_add_up(scene):
    mix, _ = scene
    out = duet(mix, RATE, sources=3, mask="binary", postfilter=False)
    # each bin goes to one source, so the images add up to the mixture
    np.testing.assert_allclose(sum(out.values()), mix, atol=1e-4)


def test_auto_counts_the_talkers(scene):
    mix, _ = scene
    assert len(duet(mix, RATE, postfilter="none")) == 3


def test_positions_sit_at_the_mixing_parameters(scene):
    mix, _ = scene
    angles, delays = duet_positions(stft(mix, n_fft=1024, hop=256), 3)
    order = np.argsort(angles)
    for a_found, d_found, angle, tau in zip(angles[order], delays[order], ANGLES, DELAYS):
        assert abs(a_found - angle) < 2.0 and abs(d_found - tau) < 0.25, (angles, delays)


def test_angle_feature_is_bounded_for_hard_panned_sources():
    t = np.arange(RATE) / RATE
    left = np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 880 * t)
    right = np.sin(2 * np.pi * 1250 * t) + 0.5 * np.sin(2 * np.pi * 3100 * t)
    mix, _ = make_scene(np.stack([left, right]), (-45.0, 45.0), 0.0)
    out = duet(mix, RATE, sources=2, postfilter="none")
    assert list(out) == ["object_1 (-45°)", "object_2 (45°)"]
    hist, angles, _ = duet_histogram(stft(mix, n_fft=1024, hop=256))
    assert np.all(np.isfinite(hist)) and angles[0] == -45 and angles[-1] == 45


def test_silence_gives_silence():
    out = duet(np.zeros((2, RATE), dtype=np.float32), RATE, sources=3)
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
    with pytest.raises(ParameterError):
        duet(x, RATE, postfilter="median")
