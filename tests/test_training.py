"""Training: data pipeline, determinism, checkpoints, and that every architecture learns.

The data set is two short stereo tracks made here: a harmonic "voice" (notes with vibrato) and a
"drums" stem of decaying noise bursts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shotoku.datasets.track import Track
from shotoku.errors import MismatchError, ParameterError
from shotoku.models import build_model
from shotoku.models.apply import separate_with_model
from shotoku.models.checkpoint import load_checkpoint
from shotoku.training import RECIPES, prepare_sources, sample_batch, train
from shotoku.training.loop import batch_loss, excerpt_geometry

RATE = 22050


def voice(seconds, rate, rng):
    t = np.arange(int(seconds * rate)) / rate
    notes = rng.choice([196.0, 220.0, 247.0, 262.0, 294.0], size=int(np.ceil(seconds / 0.5)))
    f0 = np.repeat(notes, int(0.5 * rate))[: t.size] * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(h * phase) / h for h in range(1, 6))
    return 0.15 * x


def drums(seconds, rate, rng):
    n = int(seconds * rate)
    out = np.zeros(n)
    env = np.exp(-np.arange(int(0.12 * rate)) / (0.02 * rate))
    for start in range(0, n - env.size, int(0.25 * rate)):
        out[start : start + env.size] += rng.uniform(0.3, 0.6) * rng.standard_normal(env.size) * env
    return out


def make_tracks(count=2, seconds=3.0, rate=RATE):
    tracks = []
    for i in range(count):
        rng = np.random.default_rng(100 + i)
        v, d = voice(seconds, rate, rng), drums(seconds, rate, rng)
        stems = {
            "voice": np.stack([0.8 * v, 0.5 * v]).astype(np.float32),
            "drums": np.stack([0.6 * d, 0.9 * d]).astype(np.float32),
        }
        tracks.append(Track(f"t{i}", stems["voice"] + stems["drums"], stems, rate))
    return tracks


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks train faster on one thread (less synchronisation), also on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- data pipeline


def test_batches_are_augmented_and_add_up():
    tracks = make_tracks()
    data = prepare_sources(tracks, ["drums"], RATE)
    assert data.sources[0].shape == (2, 2, int(3.0 * RATE))  # drums, rest (= voice)
    mix, tgt = sample_batch(data, np.random.default_rng(0), 16, 4000, 2)
    assert mix.shape == (16, 2, 4000) and tgt.shape == (16, 1, 2, 4000)
    plain_mix, plain_tgt = sample_batch(data, np.random.default_rng(0), 16, 4000, 2, gain=None, channel_swap=False)
    # without augmentation the drums keep their level ratio 0.6 : 0.9 between channels
    ratio = np.sqrt(np.sum(plain_tgt[:, 0, 1] ** 2) / np.sum(plain_tgt[:, 0, 0] ** 2))
    assert ratio == pytest.approx(1.5, rel=1e-3)
    # with it, gains vary and some examples are swapped
    per_example = np.sqrt(np.sum(tgt[:, 0, 1] ** 2, axis=-1) / np.sum(tgt[:, 0, 0] ** 2, axis=-1))
    assert np.any(per_example < 1.0) and np.any(per_example > 1.0)
    levels = np.sqrt(np.mean(tgt**2, axis=(1, 2, 3)))
    assert levels.max() / levels.min() > 1.5
    # mixture = target + rest; the same generator state gives the same batch
    again = sample_batch(data, np.random.default_rng(0), 16, 4000, 2)
    assert np.array_equal(again[0], mix) and np.array_equal(again[1], tgt)
    mixed, mixed_tgt = sample_batch(data, np.random.default_rng(2), 8, 4000, 2, mix_tracks=True)
    assert mixed.shape == (8, 2, 4000) and np.all(np.isfinite(mixed))
    mono_mix, mono_tgt = sample_batch(data, np.random.default_rng(1), 4, 100000, 1)
    assert mono_mix.shape == (4, 1, 100000)  # longer than the track: zero-padded
    assert np.all(mono_mix[..., int(3.0 * RATE) :] == 0)


def test_data_errors():
    tracks = make_tracks(1)
    with pytest.raises(MismatchError):
        prepare_sources(tracks, ["vocals"], RATE)
    with pytest.raises(ParameterError):
        prepare_sources([], ["voice"], RATE)


# ---------------------------------------------------------------- the loop


def test_training_is_deterministic_and_writes_checkpoint(tmp_path):
    tracks = make_tracks()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = build_model("waveunet", ["voice", "drums"], config="small")
        hist = train(net, tracks, steps=3, batch_size=2, excerpt_seconds=0.05, seed=7, checkpoint=tmp_path / "m.pt")
        runs.append(hist["loss"])
    assert runs[0] == runs[1] and len(runs[0]) == 3
    loaded, info = load_checkpoint(tmp_path / "m.pt")
    assert info["training"]["seed"] == 7 and info["training"]["steps"] == 3
    assert info["training"]["loss"] == runs[1]
    assert info["training"]["data"]["tracks"] == ["t0", "t1"]
    mix = tracks[0].mixture[:, : RATE]
    a = separate_with_model(net, mix, RATE)
    b = separate_with_model(loaded, mix, RATE)
    for key in a:
        assert np.array_equal(a[key], b[key])


def test_training_errors():
    net = build_model("deepconvsep", ["voice", "drums"], config="small")
    with pytest.raises(ParameterError):
        train(net, make_tracks(1), steps=1, loss="huber")
    with pytest.raises(ParameterError):
        train(net, make_tracks(1), steps=1, optimizer="lbfgs")
    with pytest.raises(ParameterError):
        train(net, make_tracks(1), steps=0)


# ---------------------------------------------------------------- each architecture learns

# name -> (steps, overrides of the paper recipe for a short CPU run). DeepConvSep's Adadelta
# (the authors' optimiser) needs far more steps than this budget; Adam is used here.
LEARN = {
    "mmdensenet": (150, dict(batch_size=8, excerpt_frames=16, lr=3e-3)),
    "deepconvsep": (200, dict(batch_size=8, optimizer="adam", lr=3e-3)),
    "wavenet": (250, dict(batch_size=8, excerpt_seconds=0.05, lr=3e-3)),
    "waveunet": (100, dict(batch_size=8, excerpt_seconds=0.1, lr=1e-3)),
}


@pytest.mark.parametrize("name", list(LEARN))
def test_small_configuration_learns(name):
    """The training loss on a fixed batch of training data falls by more than 10x."""
    steps, overrides = LEARN[name]
    torch.manual_seed(0)
    net = build_model(name, ["voice", "drums"], config="small")
    tracks = make_tracks()
    n_read, _ = excerpt_geometry(net, overrides.get("excerpt_seconds"), overrides.get("excerpt_frames"))
    data = prepare_sources(tracks, ["voice", "drums"], net.sample_rate)
    mix, tgt = (torch.from_numpy(a) for a in sample_batch(data, np.random.default_rng(123), 16, n_read, net.channels))
    loss_name = overrides.get("loss", RECIPES[name]["loss"])

    def fixed_loss():
        net.train()
        with torch.no_grad():
            return float(batch_loss(net, mix, tgt, loss=loss_name)[0])

    before = fixed_loss()
    hist = train(net, tracks, steps=steps, seed=0, **overrides)
    after = fixed_loss()
    print(f"{name}: loss {before:.4g} -> {after:.4g} ({before / after:.1f}x), {steps} steps in {hist['seconds']:.1f} s")
    assert np.all(np.isfinite(hist["loss"]))
    assert before / after > 10.0
