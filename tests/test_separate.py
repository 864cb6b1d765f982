"""The separator contract: shotoku.separate and the oracle upper bounds."""

import numpy as np
import pytest

import shotoku
from shotoku import registry, separation
from shotoku.datasets.synth import render_song
from shotoku.errors import AudioContentError, ChannelError, ParameterError
from shotoku.evaluation import score
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
    """Measured on this scene: oracle-irm 8.7 dB, oracle-wiener 16.3 dB (mean over objects)."""
    mixture, images, rate = panned_scene
    refs = {f"object_{j}": images[j] for j in range(len(images))}
    means = {}
    for method in ("oracle-irm", "oracle-wiener"):
        est = shotoku.separate(mixture, rate, method=method, references=refs)
        result = score(refs, est, rate)
        assert result.pairing == "name" and result.estimates == list(refs)  # named like the references
        means[method] = result.mean("SDR")
    print("oracle mean SDR (dB):", means)
    assert means["oracle-irm"] >= 7.2
    assert means["oracle-wiener"] >= 14.8


def test_input_validation():
    x = np.zeros((2, 2000), np.float32)
    with pytest.raises(AudioContentError, match="at least 1024"):
        shotoku.separate(np.ones((2, 1), np.float32), 44100, method="adress")
    with pytest.raises(AudioContentError):
        shotoku.separate(np.zeros((2, 0), np.float32), 44100, method="oracle-irm", references=np.zeros((1, 2, 0)))
    bad = x.copy()
    bad[0, 3] = np.nan
    with pytest.raises(AudioContentError, match="NaN"):
        shotoku.separate(bad, 44100, method="oracle-irm", references=x[None])
    with pytest.raises(ParameterError, match="needs the true source images"):
        shotoku.separate(x + 1, 44100, method="oracle-irm")
    with pytest.raises(ParameterError, match="no parameter"):
        shotoku.separate(x + 1, 44100, method="oracle-irm", references=x[None], nfft=3)
    with pytest.raises(ChannelError):
        registry.default_method(1)
    for seed in (-1, 1.5, True):
        with pytest.raises(ParameterError, match="seed"):
            shotoku.separate(x + 0.1, 44100, method="projet", seed=seed)


def test_shared_parameters_reach_every_method_without_inspection():
    x = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)
    # seed, device and progress are accepted by every method, used where they mean something
    a = separation.run(x, 8000, "oracle-irm", references={"a": x / 2, "b": x / 2}, seed=3, device="cpu", progress=False)
    assert "seed" not in a.parameters and a.parameters["n_fft"] == 2048
    with pytest.raises(ParameterError, match="outputs are fixed"):
        separation.run(x, 8000, "oracle-irm", references={"a": x}, sources=2)
    with pytest.raises(ParameterError, match="not an oracle"):
        separation.run(x, 8000, "adress", references={"a": x})
    b = separation.run(x, 8000, "adress", sources=2, seed=5)
    assert b.parameters["sources"] == 2 and b.parameters["seed"] == 5 and len(b.images) == 2


def test_silent_mixture_gives_silent_images_with_a_warning():
    with pytest.warns(separation.SilentInputWarning):
        images = shotoku.separate(np.zeros((2, 8000), np.float32), 8000, method="adress", sources=2)
    assert len(images) == 2 and not any(np.any(v) for v in images.values())


def test_a_method_returning_nan_is_a_bug_named_after_it():
    from shotoku.errors import SeparatorBug

    def broken(mixture, rate, *, seed=0):
        return {"a": np.full_like(mixture, np.nan)}

    registry.add(registry.method_from_function("broken-test-method", broken, description="test"))
    try:
        with pytest.raises(SeparatorBug, match="broken-test-method"):
            shotoku.separate(np.ones((2, 4000), np.float32), 8000, method="broken-test-method")
    finally:
        registry._REGISTRY.pop("broken-test-method", None)


def test_default_method_is_adress_for_stereo():
    assert registry.default_method(2) == "adress"
    assert registry.default_method(4) == "auxiva"
