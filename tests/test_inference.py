"""Inference path (chunking, fades, context, resampling, devices) and checkpoints.

Small contract-satisfying modules stand in for networks where an exact expected output is
needed: ``FIRWave`` (a fixed valid FIR filter per target: finite, known context) and
``FrameConv`` (a convolution over STFT frames: known frame context). The four real
architectures are checked in their small configurations.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shotoku import models
from shotoku.errors import AudioContentError, ChannelError, InputFileError, ParameterError
from shotoku.models.apply import (
    auto_chunking,
    chunk_plan,
    context_samples,
    fade_weights,
    load_separator,
    network_coverage,
    separate_with_model,
)
from shotoku.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    """These small networks run faster on one thread (less synchronisation), also on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Contract(nn.Module):
    CONFIGS = {"paper": {}, "small": {}}

    def __init__(self, targets, channels=2, config="small", **overrides):
        super().__init__()
        cfg = dict(self.CONFIGS[config]) if isinstance(config, str) else dict(config)
        cfg.update(overrides)
        self.targets, self.channels = list(targets), int(channels)
        self.sample_rate = int(cfg.get("sample_rate", 8000))
        self.config = {**cfg, "sample_rate": self.sample_rate, "targets": self.targets, "channels": self.channels}

    def describe(self):
        return {"name": self.NAME, "domain": self.DOMAIN, "receptive_field": self.receptive_field}


class FIRWave(_Contract):
    """Waveform test model: each target is a valid FIR filter (taps 2k+1) of its channel;
    ``identity=True`` makes target j a centred unit impulse times ``1/S`` (outputs add up to the
    input). Input lengths are multiples of 8 to exercise ``input_length``."""

    NAME, DOMAIN = "test-fir-wave", "waveform"

    def __init__(self, targets, channels=2, config="small", **overrides):
        super().__init__(targets, channels, config, **overrides)
        self.k = int(self.config.get("k", 20))
        S, taps = len(self.targets), 2 * self.k + 1
        g = torch.Generator().manual_seed(int(self.config.get("seed", 0)))
        w = torch.randn(S, taps, generator=g) / taps**0.5
        if self.config.get("identity", False):
            w = torch.zeros(S, taps)
            w[:, self.k] = 1.0 / S
        self.weight = nn.Parameter(w)
        self.receptive_field = taps

    def output_length(self, n_in):
        return n_in - 2 * self.k

    def input_length(self, n_out):
        return 8 * -(-(n_out + 2 * self.k) // 8)

    def forward(self, x):
        B, C, N = x.shape
        y = torch.nn.functional.conv1d(x.reshape(B * C, 1, N), self.weight.unsqueeze(1))
        return y.reshape(B, C, len(self.targets), -1).transpose(1, 2)


class FrameConv(_Contract):
    """Spectrogram test model: target magnitude = |convolution of the magnitude over ±fc frames|
    (zero 'same' padding, so any T works); ``identity=True`` returns the magnitude itself with
    per-target gains."""

    NAME, DOMAIN = "test-frame-conv", "spectrogram"

    def __init__(self, targets, channels=2, config="small", **overrides):
        super().__init__(targets, channels, config, **overrides)
        self.n_fft, self.hop = int(self.config.get("n_fft", 256)), int(self.config.get("hop", 64))
        self.frame_context = int(self.config.get("frame_context", 3))
        S, taps = len(self.targets), 2 * self.frame_context + 1
        g = torch.Generator().manual_seed(int(self.config.get("seed", 0)))
        w = torch.rand(S, taps, generator=g) + 0.1
        if self.config.get("identity", False):
            w = torch.zeros(S, taps)
            w[:, self.frame_context] = torch.arange(1, S + 1, dtype=torch.float32)
        self.weight = nn.Parameter(w)
        self.receptive_field = taps

    def forward(self, mag):
        B, C, F, T = mag.shape
        flat = mag.reshape(B * C * F, 1, T)
        y = torch.nn.functional.conv1d(flat, self.weight.unsqueeze(1), padding=self.frame_context)
        return y.reshape(B, C, F, len(self.targets), T).permute(0, 3, 1, 2, 4).abs()


@pytest.fixture
def test_architectures():
    """Make the test modules reachable by name (for checkpoints), removed afterwards."""
    for cls in (FIRWave, FrameConv):
        models.register_architecture(cls)
    yield
    for cls in (FIRWave, FrameConv):
        models.ARCHITECTURE_MODULES.pop(cls.NAME, None)
        models._CLASSES.pop(cls.NAME, None)


def sine(seconds, rate, freq=440.0, channels=2, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([x * (1.0 - 0.3 * c) for c in range(channels)]).astype(np.float32)


def noise(seconds, rate, channels=2, seed=0):
    return (0.3 * np.random.default_rng(seed).standard_normal((channels, int(seconds * rate)))).astype(np.float32)


def stacked(images):
    return np.stack(list(images.values()))


# ---------------------------------------------------------------- chunk geometry and fades


def test_chunk_plan_covers_signal_with_exact_overlaps():
    for n in (1, 99, 100, 101, 1000, 1234):
        regions = chunk_plan(n, 100, 25)
        assert regions[0][0] == 0 and regions[-1][1] == n
        for (s0, e0), (s1, e1) in zip(regions, regions[1:]):
            assert e0 - s1 == 25 and e1 > e0


def test_fades_sum_to_one():
    n, chunk, overlap = 1000, 128, 32
    total = np.zeros(n)
    regions = chunk_plan(n, chunk, overlap)
    for k, (s, e) in enumerate(regions):
        total[s:e] += fade_weights(e - s, overlap, k == 0, k == len(regions) - 1)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize("name", ["mmdensenet", "wavenet", "deepconvsep", "waveunet"])
def test_long_inputs_are_not_recomputed(name):
    """Automatic chunks: the network runs over at most 1.2 times a ten-minute input and 1.25 times
    a one-minute one (paper WaveNet, whose 2048-map head limits its chunks to under two seconds:
    1.35), each chunk still reading its whole context."""
    for config in ("paper", "cpu"):
        net = models.build_model(name, ["vocals", "drums", "bass", "other"], config=config)
        seconds, batch = auto_chunking(net)
        assert seconds * net.sample_rate >= 2 * context_samples(net) and batch >= 1
        for minutes, bound in ((1, 1.25), (10, 1.2)):
            bound = 1.35 if (name, config) == ("wavenet", "paper") else bound
            cover = network_coverage(net, minutes * 60 * net.sample_rate)
            assert 1.0 <= cover <= bound, (config, minutes, cover)
        # the former default (10 s chunks, a quarter shared) ran over more than 1.3 times the audio
        assert network_coverage(net, 600 * net.sample_rate, chunk_seconds=10.0, overlap=0.25) > 1.3


@pytest.mark.parametrize("cls", [FIRWave, FrameConv])
def test_automatic_chunks_join_exactly(cls):
    """Default chunking (automatic, evened-out lengths, no crossfade) gives the one-shot output."""
    rate = 8000
    x = noise(23.0, rate, seed=4)
    net = cls(["a", "b"], config={"sample_rate": rate, "seed": 2})
    assert network_coverage(net, x.shape[1]) > 1.0  # more than one chunk
    whole = stacked(separate_with_model(net, x, rate, chunk_seconds=60.0))
    np.testing.assert_allclose(stacked(separate_with_model(net, x, rate)), whole, rtol=0, atol=2e-6)


# ---------------------------------------------------------------- exactness with test modules


@pytest.mark.parametrize("cls", [FIRWave, FrameConv])
def test_identity_passes_long_sine_without_seam(cls):
    rate = 8000
    x = sine(8.0, rate)
    net = cls(["a", "b"], config={"identity": True, "sample_rate": rate})
    images = separate_with_model(net, x, rate, chunk_seconds=1.0, overlap=0.25, batch_size=3)
    total = sum(images.values())
    assert total.shape == x.shape and total.dtype == np.float32
    np.testing.assert_allclose(total, x, atol=1e-5)
    if cls is FIRWave:
        np.testing.assert_allclose(images["a"], x / 2, atol=1e-5)
    else:  # power-ratio masks of gains 1 and 2: 1/5 and 4/5
        np.testing.assert_allclose(images["a"], x / 5, atol=1e-5)


@pytest.mark.parametrize("cls", [FIRWave, FrameConv])
def test_chunked_equals_one_shot_with_full_context(cls):
    """Models with a finite context give the same output however the input is cut."""
    rate = 8000
    x = noise(3.1, rate)
    net = cls(["a", "b"], config={"sample_rate": rate, "seed": 3})
    whole = stacked(separate_with_model(net, x, rate, chunk_seconds=60.0))
    for chunk, overlap, batch in ((0.5, 0.25, 2), (1.0, 0.0, 4), (0.37, 0.5, 1)):
        cut = stacked(separate_with_model(net, x, rate, chunk_seconds=chunk, overlap=overlap, batch_size=batch))
        np.testing.assert_allclose(cut, whole, atol=1e-4)


def test_waveform_one_chunk_equals_direct_call():
    rate = 8000
    x = noise(2.0, rate)
    net = FIRWave(["a", "b"], config={"sample_rate": rate, "seed": 1})
    n = x.shape[1]
    n_in = net.input_length(n)
    ctx = (n_in - net.output_length(n_in)) // 2
    xin = np.zeros((2, n_in), np.float32)
    xin[:, ctx : ctx + n] = x
    with torch.no_grad():
        direct = net(torch.from_numpy(xin)[None])[0, ..., :n].numpy()
    np.testing.assert_allclose(stacked(separate_with_model(net, x, rate)), direct, atol=1e-6)


def test_single_target_gets_residual_mask():
    rate = 8000
    x = noise(1.0, rate)
    same = FrameConv(["a"], config={"identity": True, "sample_rate": rate})
    np.testing.assert_allclose(separate_with_model(same, x, rate)["a"], x, atol=1e-5)


def test_channel_handling():
    rate = 8000
    x = noise(1.5, rate)
    mono_net = FIRWave(["a", "b"], channels=1, config={"identity": True, "sample_rate": rate})
    out = separate_with_model(mono_net, x, rate, chunk_seconds=0.5)
    np.testing.assert_allclose(out["a"] + out["b"], x, atol=1e-5)
    stereo_net = FrameConv(["a", "b"], channels=2, config={"identity": True, "sample_rate": rate})
    out = separate_with_model(stereo_net, x[:1], rate, chunk_seconds=0.5)
    assert out["a"].shape == (1, x.shape[1])
    np.testing.assert_allclose(out["a"] + out["b"], x[:1], atol=1e-5)
    with pytest.raises(ChannelError):
        separate_with_model(FIRWave(["a"], channels=2), noise(0.1, rate, channels=3), rate)


def test_bad_input_and_options():
    net = FIRWave(["a"], config={"sample_rate": 8000})
    with pytest.raises(AudioContentError):
        separate_with_model(net, np.zeros(100, np.float32), 8000)
    with pytest.raises(AudioContentError):
        separate_with_model(net, np.full((2, 100), np.nan, np.float32), 8000)
    with pytest.raises(ParameterError):
        separate_with_model(net, noise(0.1, 8000), 8000, overlap=0.9)
    with pytest.raises(ParameterError):
        separate_with_model(net, noise(0.1, 8000), 8000, wiener=True)
    with pytest.raises(ParameterError):
        separate_with_model(net, noise(0.1, 8000), 8000, device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError):
            separate_with_model(net, noise(0.1, 8000), 8000, device="cuda")
        out = separate_with_model(net, noise(0.1, 8000), 8000, device="auto")
        assert out["a"].shape == (2, 800)


@pytest.mark.parametrize("cls", [FIRWave, FrameConv])
def test_resampling_keeps_length_and_content(cls):
    """Model at 16 kHz, input at 44.1 kHz: images keep the input's length; identity keeps a tone."""
    x = sine(1.5, 44100, freq=440.0)[:, :66149]  # odd length on purpose
    net = cls(["a", "b"], config={"identity": True, "sample_rate": 16000})
    images = separate_with_model(net, x, 44100, chunk_seconds=0.5)
    total = sum(images.values())
    assert total.shape == x.shape
    inner = slice(2000, -2000)
    err = total[:, inner] - x[:, inner]
    assert 10 * np.log10(np.sum(x[:, inner] ** 2) / np.sum(err**2)) > 30.0


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_test_module(tmp_path, test_architectures):
    rate = 8000
    net = FrameConv(["voice", "drums"], config={"sample_rate": rate, "seed": 5})
    path = save_checkpoint(tmp_path / "sub" / "m.pt", net, training={"seed": 5, "steps": 3, "losses": [1.0, 0.5]})
    loaded, info = load_checkpoint(path)
    assert info["architecture"] == "test-frame-conv" and info["targets"] == ["voice", "drums"]
    assert info["training"]["losses"] == [1.0, 0.5] and info["sample_rate"] == rate
    x = noise(1.0, rate)
    a = stacked(separate_with_model(net, x, rate))
    b = stacked(separate_with_model(loaded, x, rate))
    assert np.array_equal(a, b)
    sep = load_separator(path, device="cpu")
    assert sep.targets == ["voice", "drums"] and sep.sample_rate == rate
    assert np.array_equal(stacked(sep(x, rate)), a)
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left


def test_bad_checkpoints_raise_input_file_error(tmp_path, test_architectures):
    with pytest.raises(InputFileError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(InputFileError):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(InputFileError, match="not a shotoku checkpoint"):
        read_checkpoint(other)
    net = FIRWave(["a"], config={"sample_rate": 8000})
    good = save_checkpoint(tmp_path / "good.pt", net)
    data = torch.load(good, weights_only=True)
    data["architecture"] = "no-such-net"
    torch.save(data, tmp_path / "unknown.pt")
    with pytest.raises(InputFileError, match="unknown"):
        load_checkpoint(tmp_path / "unknown.pt")
    data = torch.load(good, weights_only=True)
    data["state_dict"]["weight"] = torch.zeros(7, 3)
    torch.save(data, tmp_path / "shapes.pt")
    with pytest.raises(InputFileError, match="do not fit"):
        load_checkpoint(tmp_path / "shapes.pt")
    for err in (InputFileError,):
        with pytest.raises(err):
            load_separator(tmp_path / "junk.pt")


# ---------------------------------------------------------------- the four architectures (small)

ARCHITECTURES = ["mmdensenet", "wavenet", "deepconvsep", "waveunet"]


def small_model(name, targets=("voice", "drums"), **overrides):
    torch.manual_seed(0)
    net = models.build_model(name, list(targets), config="small", **overrides)
    return net.eval()


def direct_call(net, x):
    """One forward pass on the whole signal, written out independently of the chunking code."""
    from shotoku import spectral

    with torch.no_grad():
        if net.DOMAIN == "waveform":
            n = x.shape[1]
            n_in = net.input_length(n)
            ctx = (n_in - net.output_length(n_in)) // 2
            xin = np.zeros((x.shape[0], n_in), np.float32)
            xin[:, ctx : ctx + n] = x
            return net(torch.from_numpy(xin)[None])[0, ..., :n].numpy()
        X = spectral.stft(torch.from_numpy(x), n_fft=net.n_fft, hop=net.hop, window=net.window)
        power = net(X.abs()[None])[0] ** 2
        Y = power / (power.sum(0, keepdim=True) + 1e-10) * X
        return spectral.istft(Y, n_fft=net.n_fft, hop=net.hop, window=net.window, length=x.shape[1]).numpy()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_model_chunked_equals_one_shot(name):
    net = small_model(name)
    rate = net.sample_rate
    x = noise(1.6, rate)
    whole = stacked(separate_with_model(net, x, rate))
    np.testing.assert_allclose(whole, direct_call(net, x), atol=1e-4)
    # several chunks: every kept sample has its full context, on the model's grid; joined
    # without a crossfade or with one, the output is the one-shot output
    for overlap in (0.0, 0.25):
        cut = stacked(separate_with_model(net, x, rate, chunk_seconds=0.4, overlap=overlap, batch_size=2))
        np.testing.assert_allclose(cut, whole, rtol=0, atol=1e-6)


def envelope(y, window, hop):
    """RMS over windows of ``window`` samples every ``hop`` (all channels): [shape=(frames,)]."""
    frames = np.lib.stride_tricks.sliding_window_view(y, window, axis=-1)[..., ::hop, :]
    return np.sqrt(np.mean(frames**2, axis=(0, -1)))


@pytest.mark.parametrize("name", ["mmdensenet", "waveunet"])
def test_model_has_no_seam_on_long_sine(name):
    """A stationary tone in, a stationary level out: no jump where chunks meet."""
    net = small_model(name)
    rate = net.sample_rate
    x = sine(3.0, rate, freq=rate / 100)  # 100-sample period
    chunk = 0.5
    images = separate_with_model(net, x, rate, chunk_seconds=chunk, overlap=0.25)
    for target, y in images.items():
        env = envelope(y[:, rate // 2 : -rate // 2], 1000, 100)
        level = np.median(env)
        assert level > 1e-3
        assert np.max(np.abs(env / level - 1)) < 0.01, target


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_model_checkpoint_round_trip(tmp_path, name):
    net = small_model(name)
    x = noise(0.5, 44100)
    before = stacked(separate_with_model(net, x, 44100))
    path = save_checkpoint(tmp_path / f"{name}.pt", net, training={"seed": 0, "steps": 0})
    sep = load_separator(path)
    assert sep.model.NAME == name and sep.targets == ["voice", "drums"]
    assert sep.model.config == net.config
    assert np.array_equal(stacked(sep(x, 44100)), before)


def test_model_resampling_keeps_length():
    net = small_model("wavenet")  # 16 kHz
    x = noise(0.7, 44100)[:, :30001]
    images = separate_with_model(net, x, 44100, chunk_seconds=0.25)
    assert all(y.shape == x.shape and y.dtype == np.float32 for y in images.values())


def test_model_wiener_post_filter():
    net = small_model("deepconvsep")
    x = noise(1.0, net.sample_rate)
    plain = separate_with_model(net, x, net.sample_rate)
    filtered = separate_with_model(net, x, net.sample_rate, wiener=True, chunk_seconds=0.5)
    for key in plain:
        assert filtered[key].shape == x.shape and np.all(np.isfinite(filtered[key]))
        assert not np.allclose(filtered[key], plain[key], atol=1e-4)
    total = stacked(filtered).sum(0)
    assert 10 * np.log10(np.sum(x**2) / np.sum((total - x) ** 2)) > 30.0


def test_models_command_lists_every_architecture(capsys):
    from shotoku.cli import main

    assert main(["models", "--targets", "vocals,accompaniment"]) == 0
    out = capsys.readouterr().out
    for name in ARCHITECTURES:
        assert name in out
    assert "paper" in out and "small" in out and "receptive field" in out
    assert main(["models", "no-such-net"]) == 2


def test_models_command_describes_checkpoint(tmp_path, capsys):
    from shotoku.cli import main

    path = save_checkpoint(tmp_path / "w.pt", small_model("waveunet"), training={"seed": 3, "steps": 5, "loss": [0.5, 0.1]})
    assert main(["models", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert "waveunet" in out and "voice, drums" in out and "5 steps" in out
    assert main(["models", "--checkpoint", str(tmp_path / "missing.pt")]) == 2


def test_separate_command_with_model(tmp_path):
    from shotoku.cli import main
    from shotoku.io import load, save

    wav = tmp_path / "mix.wav"
    x = noise(0.6, 44100)
    save(wav, x, 44100)
    net = small_model("deepconvsep")
    ckpt = save_checkpoint(tmp_path / "dcs.pt", net)
    assert main(["separate", str(wav), "--model", str(ckpt), "-o", str(tmp_path / "out")]) == 0
    expected = separate_with_model(net, load(wav)[0], 44100)
    for name, image in expected.items():
        y, rate = load(tmp_path / "out" / f"{name}.wav")
        assert rate == 44100 and y.shape == x.shape
        np.testing.assert_allclose(y, image, atol=1e-6)
    assert main(["separate", str(wav), "--model", str(tmp_path / "none.pt"), "-o", str(tmp_path / "o2")]) == 2


def test_bf16_autocast_is_an_option():
    """Off by default; a model with ``autocast_dtype`` runs its forward pass in bfloat16 and the
    images stay float32 and close to the float32 ones."""
    net = small_model("mmdensenet")
    x = noise(0.5, net.sample_rate)
    exact = stacked(separate_with_model(net, x, net.sample_rate))
    net.autocast_dtype = torch.bfloat16
    try:
        low = stacked(separate_with_model(net, x, net.sample_rate))
    finally:
        del net.autocast_dtype
    assert low.dtype == np.float32 and not np.array_equal(low, exact)
    err = 10 * np.log10(np.sum(exact**2) / np.sum((low - exact) ** 2))
    assert err > 20.0, err
