"""ICA / IVA separators: FastICA on instantaneous mixtures, AuxIVA on convolutive ones."""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np
import pytest

import shotoku
from shotoku.errors import ChannelError, ParameterError
from shotoku.metrics import match_sources
from shotoku.spatial import ica


def mean_sdr(refs: np.ndarray, ests: np.ndarray, rate: int) -> float:
    """Mean over references of the median framewise image SDR (dB), best pairing of estimates.

    refs [shape=(J, C, N)], ests [shape=(K, C, N)].
    """
    order, sdr = match_sources(refs, ests, rate)
    assert np.all(order >= 0)
    return float(np.mean(sdr))


def instantaneous_mixture(seed: int = 0, rate: int = 16000, seconds: float = 3.0):
    """Two non-Gaussian sources (a square-wave note with tremolo, Laplacian noise) mixed by a
    random 2×2 matrix with condition number below 4. Returns (images (2,2,N), mixture (2,N))."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    note = np.sign(np.sin(2 * np.pi * 220 * t)) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = rng.laplace(size=t.size)
    sources = np.stack([note / note.std(), noise / noise.std()])
    while True:
        a = rng.uniform(-1, 1, (2, 2)) + np.eye(2)
        if np.linalg.cond(a) < 4:
            break
    images = (a.T[:, :, None] * sources[:, None, :]).astype(np.float32) * 0.1
    return images, images.sum(0)


def speech(text: str, voice: str, pitch: int, rate: int) -> np.ndarray:
    """Speech rendered by espeak-ng, resampled to ``rate``, unit RMS [shape=(samples,)]."""
    import soundfile as sf
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "speech.wav")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", "165", "-w", path, text],
            check=True, capture_output=True,
        )
        y, r = sf.read(path, dtype="float64")
    y = resample_poly(y, rate, r)
    return y / np.sqrt(np.mean(y**2))


def room_mixture(rate: int = 16000, rt60: float = 0.1):
    """Two talkers 1 m from a 2-microphone pair (10 cm spacing) in a simulated room
    (pyroomacoustics image source method). Returns (images (2,2,N), mixture (2,N))."""
    import pyroomacoustics as pra

    a = speech("The quick brown fox jumps over the lazy dog near the quiet river bank today "
               "and then runs home", "en-us", 40, rate)
    b = speech("She sells sea shells by the sea shore while seven swans swim slowly past the "
               "old mill", "en-gb+f3", 70, rate)
    n = min(a.size, b.size)
    dim = [3.0, 3.5, 2.5]
    absorption, max_order = pra.inverse_sabine(rt60, dim)
    room = pra.ShoeBox(dim, fs=rate, materials=pra.Material(absorption), max_order=max_order)
    centre = np.array(dim[:2]) / 2
    for angle in (-55.0, 20.0):
        r = np.deg2rad(angle)
        room.add_source([centre[0] + np.cos(r), centre[1] + np.sin(r), 1.5])
    room.add_microphone_array(np.array([[centre[0]] * 2, [centre[1] - 0.05, centre[1] + 0.05], [1.5, 1.5]]))
    room.compute_rir()
    images = np.stack([
        np.stack([np.convolve(s[:n], room.rir[m][j])[:n] for m in range(2)])
        for j, s in enumerate((a, b))
    ]).astype(np.float32) * 0.05
    return images, images.sum(0)


def test_fastica_instantaneous_2x2():
    images, mix = instantaneous_mixture()
    out = shotoku.separate(mix, 16000, method="ica")
    assert list(out) == ["source_1", "source_2"]
    est = np.stack(list(out.values()))
    assert est.shape == images.shape and est.dtype == np.float32
    assert mean_sdr(images, est, 16000) >= 20.0
    # Projection-back: in the determined case the images add up to the mixture.
    np.testing.assert_allclose(est.sum(0), mix, atol=1e-4)


def test_fastica_is_deterministic_with_seed():
    _, mix = instantaneous_mixture(seed=3)
    a = ica.separate_ica(mix, 16000, seed=5)
    b = ica.separate_ica(mix, 16000, seed=5)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_auxiva_convolutive_room():
    images, mix = room_mixture()
    out = shotoku.separate(mix, 16000, method="auxiva")
    est = np.stack(list(out.values()))
    assert est.shape == images.shape
    assert mean_sdr(images, est, 16000) >= 10.0
    np.testing.assert_allclose(est.sum(0), mix, atol=1e-3)
    again = shotoku.separate(mix, 16000, method="auxiva")
    for k in out:
        np.testing.assert_array_equal(out[k], again[k])


def test_more_sources_than_channels_is_a_channel_error():
    _, mix = instantaneous_mixture(seconds=0.5)
    for method in ("ica", "auxiva"):
        with pytest.raises(ChannelError, match="at most as many sources"):
            shotoku.separate(mix, 16000, method=method, sources=3)
    with pytest.raises(ChannelError):
        shotoku.separate(mix[:1], 16000, method="auxiva")


def test_fewer_sources_and_degenerate_input():
    images, mix = instantaneous_mixture(seconds=1.0)
    out = ica.separate_auxiva(mix, 16000, sources=1, n_iter=10)
    assert list(out) == ["source_1"] and out["source_1"].shape == mix.shape
    # Both channels the same signal: two sources cannot be told apart.
    with pytest.raises(ChannelError, match="linearly independent"):
        ica.separate_ica(np.stack([mix[0], mix[0]]), 16000)
    silent = ica.separate_ica(np.zeros((2, 1000), np.float32), 16000)
    assert all(not np.any(v) for v in silent.values())
    with pytest.raises(ParameterError):
        ica.separate_auxiva(mix, 16000, model="cauchy")
