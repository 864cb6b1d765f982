"""Shapes, lengths, configurations and parameter counts of the four network architectures.

Each model maps a batch of its expected input to the expected output shape for several lengths;
waveform models' ``output_length``/``input_length`` agree with ``forward``; chunked processing with
the advertised context reproduces one-shot processing; the paper configurations' parameter counts
match closed-form counts derived from the papers' layer tables, and the published totals where a
paper gives one; the inference forms (MMDenseNet's buffered dense blocks, WaveNet's fused blocks,
Wave-U-Net's in-place activations) compute what the layers as written compute.
"""

from __future__ import annotations

import json

import pytest
import torch

from shotoku.errors import ParameterError
from shotoku.models.deepconvsep import DeepConvSep
from shotoku.models.mmdensenet import MMDenseNet
from shotoku.models.waveunet import WaveUNet
from shotoku.models.wavenet import WaveNet

SPECTROGRAM = [MMDenseNet, DeepConvSep]
WAVEFORM = [WaveNet, WaveUNet]
ALL = SPECTROGRAM + WAVEFORM


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # One intra-op thread: these small convolutions gain nothing from more, and on a busy
    # machine OpenMP threads waiting for each other make them many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


# --- contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.NAME)
def test_contract_attributes_and_config_round_trip(cls):
    assert cls.DOMAIN in ("spectrogram", "waveform")
    assert {"paper", "small", "cpu"} <= set(cls.CONFIGS)
    model = cls(["vocals", "accompaniment"], channels=2, config="small", sample_rate=8000)
    assert model.targets == ["vocals", "accompaniment"] and model.channels == 2
    assert model.sample_rate == 8000 and model.config["sample_rate"] == 8000
    assert model.config["preset"] == "small"
    json.dumps(model.config)  # serialisable
    info = model.describe()
    assert info["name"] == cls.NAME and info["domain"] == cls.DOMAIN
    assert info["parameters"] == n_params(model) and info["receptive_field"] == model.receptive_field
    # The stored config (minus targets/channels, as checkpoints keep it) rebuilds the same network.
    stored = {k: v for k, v in model.config.items() if k not in ("targets", "channels")}
    again = cls(["vocals", "accompaniment"], channels=2, config=stored)
    assert again.config == model.config
    again.load_state_dict(model.state_dict())
    if cls.DOMAIN == "spectrogram":
        assert model.n_fft > 0 and model.hop > 0 and model.frame_context >= 0 and model.frame_multiple >= 1
    with pytest.raises(ParameterError):
        cls(["vocals", "accompaniment"], config="small", no_such_setting=1)
    with pytest.raises(ParameterError):
        cls(["vocals", "accompaniment"], config="no-such-config")


def test_paper_sample_rates():
    assert MMDenseNet().sample_rate == 44100 and (MMDenseNet().n_fft, MMDenseNet().hop) == (2048, 1024)
    assert DeepConvSep().sample_rate == 44100 and (DeepConvSep().n_fft, DeepConvSep().hop) == (1024, 512)
    assert DeepConvSep().window == "blackmanharris"
    assert WaveNet().sample_rate == 16000
    assert WaveUNet().sample_rate == 44100


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.NAME)
def test_small_configs_are_small(cls):
    assert n_params(cls(["vocals", "accompaniment"], channels=2, config="small")) < 50_000


# --- shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", SPECTROGRAM, ids=lambda c: c.NAME)
@pytest.mark.parametrize("channels", [1, 2])
def test_spectrogram_shapes_small(cls, channels):
    targets = ["vocals", "drums", "bass"]
    model = cls(targets, channels=channels, config="small")
    bins = model.n_fft // 2 + 1
    for frames in (1, 6, 19):
        mag = torch.rand(2, channels, bins, frames)
        with torch.no_grad():
            out = model(mag)
        assert out.shape == (2, len(targets), channels, bins, frames)
        assert torch.isfinite(out).all() and (out >= 0).all()


@pytest.mark.parametrize("cls", SPECTROGRAM, ids=lambda c: c.NAME)
def test_spectrogram_shapes_paper(cls):
    model = cls(["vocals", "accompaniment"], channels=2, config="paper").eval()
    bins = model.n_fft // 2 + 1
    with torch.no_grad():
        out = model(torch.rand(1, 2, bins, 5))
    assert out.shape == (1, 2, 2, bins, 5) and (out >= 0).all()


def test_deepconvsep_masks_add_up_to_mixture():
    model = DeepConvSep(["vocals", "drums", "bass", "other"], channels=2, config="small")
    mag = torch.rand(1, 2, model.n_fft // 2 + 1, 23)
    assert torch.allclose(model(mag).sum(dim=1), mag, atol=1e-5)


@pytest.mark.parametrize("cls", SPECTROGRAM, ids=lambda c: c.NAME)
def test_spectrogram_chunks_with_context_match_one_shot(cls):
    # Fewer bins than "small" to keep it quick: the context depends on frames only.
    narrow = {"n_fft": 128, "split_bin": 32} if cls is MMDenseNet else {"n_fft": 128}
    model = cls(["vocals", "accompaniment"], channels=2, config="small", **narrow).eval()
    bins, ctx, step = model.n_fft // 2 + 1, model.frame_context, model.frame_multiple
    assert ctx % step == 0
    mag = torch.rand(1, 2, bins, 4 * ctx + 10 * step)
    with torch.no_grad():
        full = model(mag)
        for start in (ctx + step, 2 * ctx + 3 * step):
            stop = start + 4 * step
            part = model(mag[..., start - ctx : stop + ctx])
            assert torch.allclose(part[..., ctx : ctx + stop - start], full[..., start:stop], atol=1e-5)


def test_mmdensenet_context_is_exact():
    """Changing input frames beyond ``frame_context`` never changes an output frame."""
    model = MMDenseNet(["vocals"], channels=1, config="small", n_fft=128, split_bin=32).eval()
    bins, ctx = model.n_fft // 2 + 1, model.frame_context
    mag = torch.rand(1, 1, bins, 3 * ctx)
    t0 = int(1.5 * ctx)
    noisy = mag.clone()
    noisy[..., : t0 - ctx] = torch.rand_like(noisy[..., : t0 - ctx])
    noisy[..., t0 + ctx + 1 :] = torch.rand_like(noisy[..., t0 + ctx + 1 :])
    with torch.no_grad():
        assert torch.allclose(model(mag)[..., t0], model(noisy)[..., t0], atol=1e-6)


@pytest.mark.parametrize("cls", WAVEFORM, ids=lambda c: c.NAME)
@pytest.mark.parametrize("channels", [1, 2])
def test_waveform_shapes_and_lengths_small(cls, channels):
    targets = ["vocals", "drums", "bass"]
    model = cls(targets, channels=channels, config="small")
    smallest = model.input_length(1)
    assert model.output_length(smallest) >= 1 and model.output_length(smallest - 1) == 0
    for n_in in (smallest, smallest + 1, smallest + 37, 3 * smallest + 5):
        x = torch.randn(2, channels, n_in) * 0.3
        out = model(x)
        n_out = model.output_length(n_in)
        assert out.shape == (2, len(targets), channels, n_out)
        assert torch.isfinite(out).all()
    for n_out in (1, 10, 100, 257):
        n_in = model.input_length(n_out)
        assert model.output_length(n_in) >= n_out
        assert model.output_length(n_in - 1) < n_out  # smallest such input
    with pytest.raises(ValueError):
        model(torch.zeros(1, channels, smallest - 1))


@pytest.mark.parametrize("cls", WAVEFORM, ids=lambda c: c.NAME)
def test_waveform_output_is_centre_of_input(cls):
    """A chunk whose input starts on the shift grid reproduces the one-shot output at its centre."""
    model = cls(["vocals", "accompaniment"], channels=2, config="small").eval()
    n_in = 4 * model.input_length(1)
    x = torch.randn(1, 2, n_in) * 0.3
    with torch.no_grad():
        full = model(x)
        offset = (n_in - full.shape[-1]) // 2
        valid = model.input_length(model.output_length(n_in))  # the part of x that forward uses
        first = (n_in - valid) // 2
        chunk_in = model.input_length(50)
        start = first + 3 * model.sample_multiple
        part = model(x[..., start : start + chunk_in])
        centre = start + (chunk_in - part.shape[-1]) // 2
        assert torch.allclose(part, full[..., centre - offset : centre - offset + part.shape[-1]], atol=1e-5)


def test_waveunet_difference_output_adds_up_to_mixture():
    model = WaveUNet(["vocals", "drums", "bass", "other"], channels=2, config="small")
    n_in = model.input_length(100)
    x = torch.randn(1, 2, n_in) * 0.3
    out = model(x)
    n_out = out.shape[-1]
    mix = x[..., (n_in - n_out) // 2 : (n_in - n_out) // 2 + n_out]
    assert torch.allclose(out.sum(dim=1), mix, atol=1e-5)


def test_waveunet_paper_lengths():
    # Stoller et al. 2018, section 5: 147443 input samples give 16389 output samples.
    model = WaveUNet(["vocals", "accompaniment"], channels=2, config="paper")
    assert model.output_length(147443) == 16389
    assert model.input_length(16389) == 147443
    assert model.output_length(147443 + model.sample_multiple) == 16389 + model.sample_multiple


def test_wavenet_paper_fields():
    # Lluís et al. 2019: 4 stacks of dilations 1..512 with kernel 3 → 2·4·1023 = 8184 samples of
    # context from the dilated layers; the initial (k3) and two head (k3) convolutions are valid
    # here, adding 6, so 1601 target samples need 1601 + 8190 = 9791 input samples (9785 in the paper).
    model = WaveNet(["vocals", "drums", "bass"], channels=1, config="paper")
    assert model.receptive_field == 8191
    assert model.target_field == 1601 and model.input_length(1601) == 9791
    assert model.output_length(9785) == 1595


def test_waveform_paper_forward():
    wavenet = WaveNet(["vocals", "drums", "bass"], channels=2, config="paper").eval()
    waveunet = WaveUNet(["vocals", "accompaniment"], channels=2, config="paper").eval()
    with torch.no_grad():
        y = wavenet(torch.randn(1, 2, wavenet.input_length(7)) * 0.1)
        assert y.shape == (1, 3, 2, 7)
        n_in = waveunet.input_length(1)
        y = waveunet(torch.randn(1, 2, n_in) * 0.1)
        assert y.shape == (1, 2, 2, waveunet.output_length(n_in))


# --- parameter counts ---------------------------------------------------------------------------


def _dense_block(c_in: int, growth: int, layers: int, kernel: tuple[int, int]) -> tuple[int, int]:
    """Parameters of a dense block (BN γ,β + conv weights and bias per layer) and its output maps."""
    total, width = 0, c_in
    for _ in range(layers):
        total += 2 * width + width * growth * kernel[0] * kernel[1] + growth
        width += growth
    return total, growth


def _mdensenet(c_in: int, first: int, kernel, growth, layers) -> tuple[int, int]:
    scales = len(growth) // 2
    total = c_in * first * kernel[0] * kernel[1] + first
    width, skips = first, []
    for i in range(scales + 1):
        p, width = _dense_block(width, growth[i], layers[i], kernel)
        total += p
        skips.append(width)
    skips.pop()
    for i in range(scales):
        total += width * width * 4 + width  # 2x2 transposed convolution
        p, width = _dense_block(width + skips.pop(), growth[scales + 1 + i], layers[scales + 1 + i], kernel)
        total += p
    return total, width


def test_mmdensenet_paper_parameter_count():
    # Takahashi & Mitsufuji 2017 (Table 1): low band k = 14 then 16, L = 4, kernel 4×3; high band
    # k = 10, L = 3, kernel 3×3; full band k = 6, L = 2,2,2,4,2,2,2, kernel 4×3; 32 initial maps;
    # final dense block k = 4, L = 2. The reported size of MMDenseNet is about 0.3 M parameters
    # per network (one network per source); quoted to one significant figure, so ±17 %.
    low = _mdensenet(2, 32, (4, 3), [14] + [16] * 6, [4] * 7)
    high = _mdensenet(2, 32, (3, 3), [10] * 7, [3] * 7)
    full = _mdensenet(2, 32, (4, 3), [6] * 7, [2, 2, 2, 4, 2, 2, 2])
    band = max(low[1], high[1])
    match = (min(low[1], high[1]) * band + band) if low[1] != high[1] else 0
    final, width = _dense_block(band + full[1], 4, 2, (3, 3))
    per_target = low[0] + high[0] + full[0] + match + final + width * 2 + 2
    model = MMDenseNet(["vocals", "drums", "bass", "other"], channels=2, config="paper")
    count = n_params(model)
    print(f"MMDenseNet paper: {count} parameters for 4 targets, {count // 4} per target")
    assert count == 4 * per_target
    assert abs(per_target - 0.3e6) <= 0.17 * 0.3e6


def test_wavenet_paper_parameter_count():
    # Lluís, Pons & Serra 2019, section 3: 3.28 M parameters for the 3-source model.
    r, s, blocks = 64, 64, 40
    count = (1 * r * 3 + r)  # initial convolution
    count += blocks * (r * 2 * r * 3 + 2 * r + r * s + s) + (blocks - 1) * (r * r + r)
    count += (s * 2048 * 3 + 2048) + (2048 * 256 * 3 + 256) + (256 * 3 + 3)
    model = WaveNet(["vocals", "drums", "bass"], channels=2, config="paper")
    print(f"WaveNet paper: {n_params(model)} parameters (paper: 3.28 M)")
    assert n_params(model) == count
    assert abs(count - 3.28e6) <= 0.01 * 3.28e6


def test_deepconvsep_paper_parameter_count():
    # Chandna et al. 2017: conv 50×(513×1), conv 50×(1×15) over 30 frames (16 remain), dense 128,
    # per source dense 128 → 50·16 and tied transposed convolutions (no weights of their own),
    # one output bias per source.
    code = 50 * 16
    count = (513 * 50 + 50) + (50 * 50 * 15 + 50) + (code * 128 + 128) + 4 * (128 * code + code) + 4
    model = DeepConvSep(["vocals", "bass", "drums", "other"], channels=2, config="paper")
    print(f"DeepConvSep paper: {n_params(model)} parameters")
    assert n_params(model) == count == 578_582


def test_waveunet_paper_parameter_count():
    # Stoller et al. 2018: 12 down convolutions of 24·i maps (kernel 15), a bottleneck of 24·13,
    # 12 up convolutions of 24·i maps (kernel 5) on [up-sampled, skip], stereo in and out,
    # output 1×1 convolution on [features, mixture] for S − 1 sources (difference output),
    # learned up-sampling: one weight per up-sampled map. The paper states no total.
    L, fc, c, sources = 12, 24, 2, 4
    count, width = 0, c
    for i in range(1, L + 1):
        count += width * fc * i * 15 + fc * i
        width = fc * i
    count += width * fc * (L + 1) * 15 + fc * (L + 1)
    width = fc * (L + 1)
    for i in range(L, 0, -1):
        count += width  # learned interpolation weights
        count += (width + fc * i) * fc * i * 5 + fc * i
        width = fc * i
    count += (width + c) * c * (sources - 1) + c * (sources - 1)
    model = WaveUNet(["vocals", "drums", "bass", "other"], channels=2, config="paper")
    print(f"Wave-U-Net paper: {n_params(model)} parameters")
    assert n_params(model) == count
    assert 10.2e6 < count < 10.3e6


def test_cpu_configurations():
    # MMDenseNet: the paper's layout with 12 initial maps, growth 8/6/4 and 3/2/2 layers per band.
    low = _mdensenet(2, 12, (4, 3), [8] * 7, [3] * 7)
    high = _mdensenet(2, 12, (3, 3), [6] * 7, [2] * 7)
    full = _mdensenet(2, 12, (4, 3), [4] * 7, [2] * 7)
    band = max(low[1], high[1])
    match = min(low[1], high[1]) * band + band  # high band (6 maps) brought to the low band's 8
    final, width = _dense_block(band + full[1], 4, 2, (3, 3))
    per_target = low[0] + high[0] + full[0] + match + final + width * 2 + 2
    mmd = MMDenseNet(["vocals", "drums", "bass", "other"], channels=2, config="cpu")
    assert n_params(mmd) == 4 * per_target and (mmd.n_fft, mmd.hop) == (2048, 1024)
    # WaveNet: 2 stacks of dilations 1..512, 24 maps, head 128/64: 4099 samples of receptive field.
    wn = WaveNet(["vocals", "drums", "bass", "other"], channels=2, config="cpu")
    r, blocks = 24, 20
    count = (3 * r + r) + blocks * (r * 2 * r * 3 + 2 * r + r * r + r) + (blocks - 1) * (r * r + r)
    count += (r * 128 * 3 + 128) + (128 * 64 * 3 + 64) + (64 * 4 + 4)
    assert n_params(wn) == count and wn.receptive_field == 2 + 2 * 2 * 1023 + 2 * 2 + 1
    assert DeepConvSep(config="cpu").config == {**DeepConvSep(config="paper").config, "preset": "cpu"}
    wun = WaveUNet(["vocals", "drums", "bass", "other"], channels=2, config="cpu")
    assert wun.layers == 10 and wun.receptive_field < WaveUNet(config="paper").receptive_field


# --- inference forms against the layers as written ----------------------------------------------


def _randomise_batch_norm(model, seed: int = 1):
    """Running statistics and affine weights away from their initial values (a trained look)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.data.copy_(0.4 * torch.rand(n, generator=g) - 0.2)
    return model


def _close(a, b):
    """Equal to float32 rounding (torch.testing's first call imports too much for a quick test)."""
    assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6), float((a - b).abs().max())


@pytest.mark.parametrize("config", ["small", "cpu"])
def test_mmdensenet_inference_form_equals_layers(config):
    from shotoku.models import mmdensenet

    model = _randomise_batch_norm(MMDenseNet(["vocals", "drums"], channels=2, config=config)).eval()
    bins = model.n_fft // 2 + 1
    mag = torch.rand(2, 2, bins, 11, generator=torch.Generator().manual_seed(2))  # 11: padded inside
    with torch.no_grad():
        assert mmdensenet._fast_path(model.nets[0].final, mag)
        fast = model(mag)
    with torch.enable_grad():  # autograd on: the layers as written (concatenation, BN, ReLU, pad, conv)
        reference = model(mag).detach()
    _close(fast, reference)
    # Training mode normalises with batch statistics: the inference form must not be taken.
    model.train()
    with torch.no_grad():
        batch_stats = model(mag)
    with torch.enable_grad():
        _close(batch_stats, model(mag).detach())
    assert not torch.allclose(batch_stats, fast, atol=1e-3)


@pytest.mark.parametrize(("cls", "config"), [(WaveNet, "small"), (WaveNet, "cpu"), (WaveUNet, "small")])
def test_waveform_inference_form_equals_layers(cls, config):
    model = cls(["vocals", "drums", "bass"], channels=2, config=config).eval()
    x = 0.3 * torch.randn(2, 2, model.input_length(37), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast = model(x)
    with torch.enable_grad():
        reference = model(x).detach()
    assert fast.shape == reference.shape and fast.shape[:3] == (2, 3, 2) and fast.shape[-1] >= 37
    _close(fast, reference)


def test_inference_forms_keep_state_dict_layout():
    """The inference forms add no weights: a state dict moves between configurations' instances."""
    for cls in (MMDenseNet, WaveNet):
        a = cls(["vocals", "drums"], channels=2, config="small")
        b = cls(["vocals", "drums"], channels=2, config="small")
        b.load_state_dict(a.state_dict(), strict=True)
        assert list(a.state_dict()) == list(b.state_dict())
