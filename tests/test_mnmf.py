"""The multichannel NMF post-filter (shotoku.spatial.mnmf), sources=auto and the stage choice.

Scenes: the 4 stems of a short synthetic song, downmixed to mono and panned with the study's
settings (shotoku.datasets.scenes.CONDITIONS); 3-object scenes from the first three stems.
"""

from __future__ import annotations

import numpy as np
import pytest

from shotoku.datasets.scenes import CONDITIONS, make_scene
from shotoku.datasets.synth import STEMS, render_song
from shotoku.errors import ParameterError
from shotoku.refinement import masked_model, postfilter_stage
from shotoku.spatial.mnmf import mnmf, mnmf_images, steering_covariance
from shotoku.spatial.panmask import count_objects, object_count
from shotoku.spectral import stft

RATE = 44100
SECONDS = 3.0


@pytest.fixture(scope="module")
def objects():
    track = render_song(2, SECONDS)
    return np.stack([track.stems[s].mean(axis=0) for s in STEMS])


@pytest.mark.parametrize("cond", ["30", "20", "10", "20d"])
def test_auto_counts_four_and_three_objects(objects, cond):
    angles, delays = CONDITIONS[cond]
    mix, _ = make_scene(objects, angles, delays)
    assert count_objects(stft(mix, n_fft=4096, hop=1024)) == 4
    spacing = angles[1] - angles[0]
    mix, _ = make_scene(objects[:3], (-spacing, 0.0, spacing), delays[:3])
    assert count_objects(stft(mix, n_fft=4096, hop=1024)) == 3


def test_sources_parameter_forms():
    X = np.zeros((2, 5, 4), np.complex64)
    assert object_count(3, X) == 3 and object_count("5", X) == 5 and object_count("auto", X) == 1
    for bad in ("three", 0, -1, 2.5, True):
        with pytest.raises(ParameterError):
            object_count(bad, X)


def test_stage_choice():
    assert postfilter_stage("mnmf") == "mnmf"
    assert postfilter_stage(True) == postfilter_stage("Wiener") == "wiener"
    assert postfilter_stage(False) == postfilter_stage("none") == postfilter_stage("off") == "none"
    with pytest.raises(ParameterError):
        postfilter_stage("median")


def test_steering_fit_reads_angle_and_delay():
    F, n_fft = 513, 1024
    f = np.arange(F) / n_fft
    phi = np.radians(20.0 + 45.0)
    theta = np.stack([np.full(F, np.cos(phi)), np.sin(phi) * np.exp(-2j * np.pi * f * 2.5)], axis=-1)
    cov = 2 * theta[:, :, None] * theta[:, None, :].conj() + 0.005 * np.eye(2)
    R, angles, delays = steering_covariance(cov[None], np.ones((1, F)), n_fft, floor=0.01)
    assert abs(angles[0] - 20.0) < 1.0 and abs(delays[0] - 2.5) < 0.06
    np.testing.assert_allclose(np.trace(R, axis1=-2, axis2=-1).real, 2.0, atol=1e-9)


def test_fit_raises_likelihood_and_images_add_up(objects):
    mix, images = make_scene(objects[:, : 2 * RATE], *CONDITIONS["20"])
    X = stft(mix, n_fft=2048, hop=512)
    S = stft(images, n_fft=2048, hop=512)
    rng = np.random.default_rng(0)
    power = np.mean(np.abs(S) ** 2, axis=1) * 10 ** rng.uniform(-1, 1, (4,) + X.shape[1:])
    masks = power / power.sum(axis=0, keepdims=True)
    psd, cov = masked_model(X, masks)
    history = []
    model = mnmf(X, psd, cov, components=8, iterations=10, positions=CONDITIONS["20"][0], history=history)
    assert np.all(np.diff(history) <= 1e-5 * abs(history[0])), history
    Y = mnmf_images(X, *model)
    assert Y.shape == (4,) + X.shape and np.all(np.isfinite(Y))
    err = np.abs(Y.sum(axis=0) - X)
    assert np.max(err) <= 1e-2 * np.max(np.abs(X))
    # each image is closer to its object than the masked start was
    before = np.sum(np.abs(masks[:, None] * X[None] - S) ** 2)
    after = np.sum(np.abs(Y - S) ** 2)
    assert after < 0.5 * before, (before, after)


def test_stereo_only_and_shapes():
    X = np.zeros((3, 9, 5), np.complex64)
    with pytest.raises(ParameterError):
        mnmf(X, np.zeros((2, 9, 5)), np.zeros((2, 9, 3, 3)))
    X = np.zeros((2, 9, 5), np.complex64)
    with pytest.raises(ParameterError):
        mnmf(X, np.zeros((2, 9, 4)), np.zeros((2, 9, 2, 2)))
    with pytest.raises(ParameterError):
        mnmf(X, np.zeros((2, 9, 5)), np.zeros((2, 9, 2, 2)), spatial="diagonal")


def test_silence_stays_finite():
    X = np.zeros((2, 33, 6), np.complex64)
    psd, cov = masked_model(X, np.full((2, 33, 6), 0.5, np.float32))
    Y = mnmf_images(X, *mnmf(X, psd, cov, components=2, iterations=3))
    assert np.all(np.isfinite(Y)) and not np.any(Y)
