"""The separator contract: shotoku.separate and the oracle upper bounds."""

import numpy as np
import pytest

import shotoku
from shotoku import metrics, registry
from shotoku.datasets.synth import render_song
from shotoku.errors import AudioContentError, ChannelError, ParameterError
from shotoku.datasets.scenes import make_scene


@pytest.fixture(scope="module")
def panned_scene():
    """4 mono objects from a generated song, equal RMS, constant-power panning at 30° spacing."""
    track = render_song(3, seconds=6.0)
    objects = np.stack([s.mean(axis=0) for s in track.stems.values()])
    mixture, images = make_scene(objects, [-45, -15, 15, 45])
    return mixture, images, track.rate


@pytest.mark.parametrize("method", ["oracle-irm", "oracle-wiener"])
def test_oracle_images_sum_to_mixture(panned_scene, method):
    mixture, images, rate = panned_scene
    est = shotoku.separate(mixture, rate, method=method, references=images)
    total = np.sum(list(est.values()), axis=0)
    assert np.linalg.norm(total - mixture) / np.linalg.norm(mixture) < 1e-4


def test_oracle_quality_floors(panned_scene):
    mixture, images, rate = panned_scene
    means = {}
    for method in ("oracle-irm", "oracle-wiener"):
        est = shotoku.separate(mixture, rate, method=method, references=images)
        order, sdr = metrics.match_sources(images, np.stack(list(est.values())), rate)
        assert list(order) == [0, 1, 2, 3]  # named like the references, in their order
        means[method] = float(np.mean(sdr))
    print("oracle mean SDR (dB):", means)
    assert means["oracle-irm"] >= 8.0
    assert means["oracle-wiener"] >= means["oracle-irm"]


def test_input_validation():
    x = np.zeros((2, 1000), np.float32)
    with pytest.raises(AudioContentError):
        shotoku.separate(np.zeros((2, 0), np.float32), 44100, method="oracle-irm", references=np.zeros((1, 2, 0)))
    bad = x.copy()
    bad[0, 3] = np.nan
    with pytest.raises(AudioContentError, match="NaN"):
        shotoku.separate(bad, 44100, method="oracle-irm", references=x[None])
    with pytest.raises(ParameterError, match="needs the true source images"):
        shotoku.separate(x, 44100, method="oracle-irm")
    with pytest.raises(ParameterError, match="no parameter"):
        shotoku.separate(x, 44100, method="oracle-irm", references=x[None], nfft=3)
    with pytest.raises(ChannelError):
        registry.default_method(1)


def test_default_method_is_adress_for_stereo():
    assert registry.default_method(2) == "adress"
    assert registry.default_method(4) == "auxiva"
