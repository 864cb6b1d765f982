"""MMDenseNet: multi-scale multi-band DenseNets on magnitude spectrograms.

Takahashi & Mitsufuji, "Multi-scale multi-band DenseNets for audio source separation",
WASPAA 2017 (arXiv:1706.09588).

For every target the network takes the stereo magnitude spectrogram (channels as input channels,
STFT 2048/1024 at 44.1 kHz) and runs three multi-scale DenseNets (MDenseNets) in parallel: one on
the low band (bins ``0 .. split_bin-1``), one on the high band (``split_bin ..``) and one on the
full band. The two band outputs are concatenated along frequency, joined with the full-band output
along channels, passed through a final dense block and a 1×1 convolution that gives one mask per
input channel; the estimate is ``sigmoid(mask) × input magnitude`` (non-negative).

An MDenseNet is: an initial convolution, ``scales`` dense blocks each followed by 2×2 average
pooling, a bottleneck dense block, then ``scales`` times a 2×2 stride-2 transposed convolution,
concatenation with the dense block of the same scale (skip connection) and a dense block.
A dense layer is BN → ReLU → convolution ("same" zero padding); layer ``l`` of a block sees the
block input and the outputs of layers ``0..l-1`` concatenated.

Where this departs from (or pins down) the paper:

- A dense block passes on the output of its last layer only (``k`` maps), not the concatenation
  of all layers. With the paper's band settings this gives 0.34 M parameters per target, close to
  the size given for MMDenseNet (about 0.3 M per network); concatenating every layer would give
  0.8 M, and keeping the block input too (classic DenseNet) 8 M.
- When the two bands end with different numbers of maps (16 and 10 in the paper), the narrower
  one is brought to the wider one's count by a 1×1 convolution before the frequency concatenation.
- The output is a sigmoid mask times the input magnitude, trained like a direct estimate (MSE on
  magnitudes); the mask keeps the output non-negative and no larger than the mixture.
- Bands and frames are zero-padded inside ``forward`` to a multiple of ``2**scales`` and cropped
  back, so any number of frames ``T >= 1`` works; because of the pooling grid, chunked processing
  reproduces one-shot processing only when chunk offsets are multiples of ``frame_multiple``.
- The STFT window is recorded in the config ("hann"; the paper does not name one).

The band-net settings of the ``paper`` configuration (growth rates, layer counts, kernels) follow
the paper's architecture table as public re-implementations reproduce it.

This module also holds the two helpers every architecture in :mod:`shotoku.models` uses to
resolve its configuration and describe itself (:func:`resolve_config`, :func:`describe_model`).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ParameterError


def resolve_config(cls, targets, channels: int, config, overrides: dict) -> dict:
    """The full, JSON-serialisable configuration of an architecture instance.

    cls: the architecture class (``NAME``, ``CONFIGS``)
    targets: list of source names (at least one, unique)
    channels: number of audio channels of the input (>= 1)
    config: a name in ``cls.CONFIGS`` or a dict; a dict is laid over the preset it names under
        ``"preset"`` (default ``"paper"``), so a saved ``config`` rebuilds the same network
    overrides: top-level keys to replace (e.g. ``sample_rate=16000``); a nested dict replaces the
        whole entry
    Returns a new dict: the preset's keys, updated, plus ``preset``, ``targets``, ``channels``.
    Raises :class:`shotoku.errors.ParameterError` for an unknown preset or key, or bad targets.
    """
    if isinstance(config, str):
        if config not in cls.CONFIGS:
            raise ParameterError(
                f"unknown {cls.NAME} configuration '{config}'; choose one of {', '.join(cls.CONFIGS)}"
            )
        preset, given = config, {}
    elif isinstance(config, dict):
        given = {k: v for k, v in config.items() if k not in ("targets", "channels", "preset")}
        preset = config.get("preset") or "paper"
        if preset not in cls.CONFIGS:
            raise ParameterError(
                f"unknown {cls.NAME} configuration '{preset}'; choose one of {', '.join(cls.CONFIGS)}"
            )
    else:
        raise ParameterError(f"{cls.NAME} config must be a configuration name or a dict, not {type(config).__name__}")
    out = copy.deepcopy(cls.CONFIGS[preset])
    for key, value in list(given.items()) + list(overrides.items()):
        if key not in out:
            raise ParameterError(
                f"unknown {cls.NAME} setting '{key}'; known settings: {', '.join(sorted(out))}"
            )
        out[key] = copy.deepcopy(value)
    targets = [str(t) for t in targets]
    if not targets or len(set(targets)) != len(targets):
        raise ParameterError(f"{cls.NAME} needs at least one target and no repeated names, got {targets}")
    if int(channels) < 1:
        raise ParameterError(f"{cls.NAME} needs channels >= 1, got {channels}")
    out["preset"] = preset
    out["targets"] = targets
    out["channels"] = int(channels)
    return out


def describe_model(model) -> dict:
    """Summary of an architecture instance: name, domain, config, parameters, receptive field.

    The receptive field is in samples for waveform models and in STFT frames for spectrogram models.
    """
    return {
        "name": model.NAME,
        "domain": model.DOMAIN,
        "config": copy.deepcopy(model.config),
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "receptive_field": model.receptive_field,
        "receptive_field_unit": "samples" if model.DOMAIN == "waveform" else "frames",
    }


def _conv_same(c_in: int, c_out: int, kernel: tuple[int, int]) -> nn.Module:
    """Stride-1 convolution that keeps (freq, time) sizes; an even kernel gets the extra row/column
    of zeros after the signal (as ``padding="same"`` would, without its warning)."""
    kf, kt = kernel
    if kf % 2 and kt % 2:
        return nn.Conv2d(c_in, c_out, kernel, padding=(kf // 2, kt // 2))
    pad = nn.ZeroPad2d(((kt - 1) // 2, kt - 1 - (kt - 1) // 2, (kf - 1) // 2, kf - 1 - (kf - 1) // 2))
    return nn.Sequential(pad, nn.Conv2d(c_in, c_out, kernel))


def _conv_of(module: nn.Module) -> nn.Conv2d:
    """The :class:`nn.Conv2d` of a :func:`_conv_same` module."""
    return module if isinstance(module, nn.Conv2d) else module[1]


def _conv_same_fast(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``_conv_same`` without the padding pass: symmetric zero padding inside the convolution
    (``ceil((k-1)/2)`` each side), then the surplus first row/column of an even kernel cropped
    (a view). Same sums as the padded convolution; the output is a strided view."""
    kf, kt = conv.kernel_size
    y = F.conv2d(x, conv.weight, conv.bias, padding=(kf // 2, kt // 2))
    return y[..., 1 - kf % 2 :, 1 - kt % 2 :] if (kf % 2 == 0 or kt % 2 == 0) else y


def _eval_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference-mode batch normalisation as ``x * scale + shift`` [each shape=(1, C, 1, 1)]."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    return scale.view(1, -1, 1, 1), shift.view(1, -1, 1, 1)


def _fast_path(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``module`` may take its inference path: eval mode, no autograd, running statistics."""
    return not module.training and not torch.is_grad_enabled() and x.device.type == "cpu"


class Architecture(nn.Module):
    """What every architecture shares: its resolved configuration, targets, channels and rate.

    ``Model(targets, channels, config, **overrides)``: ``config`` names one of the class's
    ``CONFIGS`` (or is a dict); ``overrides`` replace single entries. ``self.config`` is then the
    full configuration (:func:`resolve_config`) that checkpoints store. Spectrogram models also
    get ``n_fft``, ``hop`` and ``window`` from it. Subclasses set ``NAME``, ``DOMAIN`` and
    ``CONFIGS`` and build their layers in :meth:`build`, which gets that configuration.
    """

    def __init__(self, targets: list[str] = ("vocals", "accompaniment"), channels: int = 2, config="paper",
                 **overrides):
        super().__init__()
        self.config = resolve_config(type(self), targets, channels, config, overrides)
        cfg = self.config
        self.targets = list(cfg["targets"])
        self.channels = cfg["channels"]
        self.sample_rate = int(cfg["sample_rate"])
        if getattr(self, "DOMAIN", None) == "spectrogram":
            self.n_fft = int(cfg["n_fft"])
            self.hop = int(cfg["hop"])
            self.window = str(cfg["window"])
        self.build(cfg)

    def build(self, cfg: dict) -> None:
        """Make the layers from the resolved configuration ``cfg`` (``self.config``)."""
        raise NotImplementedError


class _DenseBlock(nn.Module):
    """``layers`` dense layers (BN → ReLU → conv) of growth ``growth``; returns the last layer's maps.

    Input [shape=(B, in_channels, F, T)] → output [shape=(B, growth, F, T)].

    Training (or any call with autograd on) runs the layers as written: each layer normalises the
    concatenation of the block input and all earlier outputs (the ReLU overwrites the normalised
    copy in place: batch normalisation's backward pass needs only its input). Inference (eval mode, no autograd)
    computes the same sums without re-concatenating: one channels-last buffer holds the block
    input and every layer's output side by side, each layer reads a prefix of it through its
    batch normalisation folded to ``x·scale + shift`` and ReLU (one fused pass into a fresh
    channels-last tensor), and its convolution writes straight into the next slice.
    """

    def __init__(self, in_channels: int, growth: int, layers: int, kernel: tuple[int, int]):
        super().__init__()
        self.layers = nn.ModuleList()
        self.in_channels, self.growth = in_channels, growth
        width = in_channels
        for _ in range(layers):
            self.layers.append(
                nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True), _conv_same(width, growth, kernel))
            )
            width += growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fast_path(self, x):
            return self._forward_buffered(x)
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return features[-1]

    def _forward_buffered(self, x: torch.Tensor) -> torch.Tensor:
        batch, width, n_f, n_t = x.shape
        last = len(self.layers) - 1
        cl = torch.channels_last
        buf = torch.empty(batch, width + last * self.growth, n_f, n_t, dtype=x.dtype, device=x.device, memory_format=cl)
        buf[:, :width].copy_(x)
        y = x
        for i, layer in enumerate(self.layers):
            scale, shift = _eval_affine(layer[0])
            act = torch.empty(batch, width, n_f, n_t, dtype=x.dtype, device=x.device, memory_format=cl)
            torch.addcmul(shift.to(x.dtype), buf[:, :width], scale.to(x.dtype), out=act)
            y = _conv_same_fast(_conv_of(layer[2]), act.relu_())
            if i < last:
                buf[:, width : width + self.growth].copy_(y)
                width += self.growth
        return y


class _MDenseNet(nn.Module):
    """One multi-scale DenseNet (one band of one target).

    in_channels: input maps (audio channels); first_channels: maps of the initial convolution;
    kernel: (freq, time) kernel of every convolution; growth, layers: per dense block, ``2*scales+1``
    entries (down blocks, bottleneck, up blocks).
    Input [shape=(B, in_channels, F, T)] → output [shape=(B, growth[-1], F, T)], any F, T >= 1.
    """

    def __init__(self, in_channels: int, first_channels: int, kernel, growth: list[int], layers: list[int]):
        super().__init__()
        if len(growth) != len(layers) or len(growth) % 2 != 1:
            raise ParameterError(
                f"MMDenseNet band: growth and layers need the same odd length (2*scales+1), got {growth} and {layers}"
            )
        kernel = (int(kernel[0]), int(kernel[1]))
        self.scales = len(growth) // 2
        self.first = _conv_same(in_channels, first_channels, kernel)
        self.down = nn.ModuleList()
        width = first_channels
        skips = []
        for i in range(self.scales):
            self.down.append(_DenseBlock(width, growth[i], layers[i], kernel))
            width = growth[i]
            skips.append(width)
        self.bottleneck = _DenseBlock(width, growth[self.scales], layers[self.scales], kernel)
        width = growth[self.scales]
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in range(self.scales):
            j = self.scales + 1 + i
            self.upsample.append(nn.ConvTranspose2d(width, width, kernel_size=2, stride=2))
            self.up.append(_DenseBlock(width + skips[-1 - i], growth[j], layers[j], kernel))
            width = growth[j]
        self.out_channels = width
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_bins, n_frames = x.shape[-2:]
        step = 2**self.scales
        pad_f, pad_t = -n_bins % step, -n_frames % step
        if pad_f or pad_t:
            x = nn.functional.pad(x, (0, pad_t, 0, pad_f))
        # Channels-last (maps innermost): the layout oneDNN convolutions run fastest in, kept
        # through the network (pooling, concatenation and batch normalisation preserve it).
        x = x.contiguous(memory_format=torch.channels_last)
        x = _conv_same_fast(_conv_of(self.first), x) if _fast_path(self, x) else self.first(x)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for upsample, block in zip(self.upsample, self.up):
            x = block(torch.cat([upsample(x), skips.pop()], dim=1))
        return x[..., :n_bins, :n_frames]


def _band_reach(kernel_t: int, layers: list[int]) -> tuple[int, int]:
    """Frames (left, right) that one output frame of an MDenseNet can reach, worst pooling phase.

    A feature at scale f (one cell = f frames) reaches ``left``/``right`` frames beyond its cell:
    a convolution adds its one-sided padding times f, pooling adds nothing (the coarse cell is the
    union of its children), a stride-2 transposed convolution adds f on one side, depending on
    the phase (counted on both sides here).
    """
    pl = (kernel_t - 1) // 2
    pr = kernel_t - 1 - pl
    scales = len(layers) // 2
    left, right = pl, pr  # initial convolution
    skips = []
    for i in range(scales + 1):  # down blocks, then the bottleneck
        left += layers[i] * pl * 2**i
        right += layers[i] * pr * 2**i
        skips.append((left, right))
    skips.pop()
    for i in range(scales):
        f = 2 ** (scales - 1 - i)
        skip_left, skip_right = skips.pop()
        left, right = max(left + f, skip_left), max(right + f, skip_right)
        left += layers[scales + 1 + i] * pl * f
        right += layers[scales + 1 + i] * pr * f
    return left, right


class _TargetNet(nn.Module):
    """The low, high and full-band MDenseNets and the final block of one target.

    Input magnitude [shape=(B, C, F, T)] → mask logits [shape=(B, C, F, T)].
    """

    def __init__(self, channels: int, split_bin: int, bands: dict, final: dict):
        super().__init__()
        self.split_bin = split_bin
        self.nets = nn.ModuleDict(
            {
                name: _MDenseNet(channels, b["first_channels"], b["kernel"], b["growth"], b["layers"])
                for name, b in bands.items()
            }
        )
        band_width = max(self.nets["low"].out_channels, self.nets["high"].out_channels)
        self.match = nn.ModuleDict(
            {
                name: nn.Conv2d(self.nets[name].out_channels, band_width, 1)
                for name in ("low", "high")
                if self.nets[name].out_channels != band_width
            }
        )
        kernel = (int(final["kernel"][0]), int(final["kernel"][1]))
        self.final = _DenseBlock(band_width + self.nets["full"].out_channels, final["growth"], final["layers"], kernel)
        self.head = nn.Conv2d(final["growth"], channels, 1)

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        parts = []
        for name, band in (("low", mag[:, :, : self.split_bin]), ("high", mag[:, :, self.split_bin :])):
            y = self.nets[name](band)
            parts.append(self.match[name](y) if name in self.match else y)
        joined = torch.cat([torch.cat(parts, dim=2), self.nets["full"](mag)], dim=1)
        return self.head(self.final(joined))


def _band(first_channels, kernel, growth, layers) -> dict:
    return {"first_channels": first_channels, "kernel": list(kernel), "growth": list(growth), "layers": list(layers)}


def _config(n_fft: int, split_bin: int, low: dict, high: dict, full: dict, final_layers: int) -> dict:
    """A configuration of the paper's layout: 44.1 kHz, Hann window, hop n_fft/2, final growth 4, 3x3."""
    return {"sample_rate": 44100, "n_fft": n_fft, "hop": n_fft // 2, "window": "hann", "split_bin": split_bin,
            "bands": {"low": low, "high": high, "full": full},
            "final": {"growth": 4, "layers": final_layers, "kernel": [3, 3]}}


class MMDenseNet(Architecture):
    """Multi-scale multi-band DenseNet (Takahashi & Mitsufuji 2017): one network per target.

    targets: names of the sources estimated, in output order
    channels: audio channels of the input magnitude (stereo: 2, used as input maps)
    config: "paper", "small", or a dict (see :func:`resolve_config`); overrides: top-level keys
        of the configuration (``sample_rate``, ``n_fft``, ``hop``, ``window``, ``split_bin``,
        ``bands``, ``final``)

    ``forward(mag)``: mixture magnitude [shape=(B, C, F, T), float, >= 0, F = n_fft//2+1, any
    T >= 1] → target magnitudes [shape=(B, S, C, F, T)], ``S = len(targets)``, each a sigmoid mask
    times ``mag``. Frames need ``frame_context`` frames of real context on each side for an output
    that does not depend on the chunking; ``frame_multiple`` is the pooling grid.
    """

    NAME = "mmdensenet"
    DOMAIN = "spectrogram"
    CONFIGS = {
        # Takahashi & Mitsufuji 2017, Table 1 (44.1 kHz, STFT 2048/1024, 3 scales).
        "paper": _config(2048, 512, _band(32, (4, 3), [14, 16, 16, 16, 16, 16, 16], [4] * 7),
                         _band(32, (3, 3), [10] * 7, [3] * 7), _band(32, (4, 3), [6] * 7, [2, 2, 2, 4, 2, 2, 2]),
                         final_layers=2),
        # The paper's STFT, bands and layout at about a fifth of its arithmetic (1.3 GFLOP per
        # second of stereo audio and target, 61 k parameters per target): what trains on a
        # two-core CPU in useful time (see docs/benchmarks.md, "Neural models").
        "cpu": _config(2048, 512, _band(12, (4, 3), [8] * 7, [3] * 7), _band(12, (3, 3), [6] * 7, [2] * 7),
                       _band(12, (4, 3), [4] * 7, [2] * 7), final_layers=2),
        # About 10 k parameters per target: for tests and quick CPU training.
        "small": _config(512, 128, _band(8, (3, 3), [6] * 5, [2] * 5), _band(8, (3, 3), [4] * 5, [1] * 5),
                         _band(8, (3, 3), [4] * 5, [1] * 5), final_layers=1),
    }

    def build(self, cfg: dict) -> None:
        bins = self.n_fft // 2 + 1
        split = int(cfg["split_bin"])
        if not 0 < split < bins:
            raise ParameterError(f"mmdensenet split_bin must lie in 1..{bins - 1} for n_fft {self.n_fft}, got {split}")
        if set(cfg["bands"]) != {"low", "high", "full"}:
            raise ParameterError("mmdensenet bands must be exactly 'low', 'high' and 'full'")
        self.nets = nn.ModuleList(
            [_TargetNet(self.channels, split, cfg["bands"], cfg["final"]) for _ in self.targets]
        )
        scales = [len(b["layers"]) // 2 for b in cfg["bands"].values()]
        self.frame_multiple = 2 ** max(scales)
        reaches = [_band_reach(int(b["kernel"][1]), b["layers"]) for b in cfg["bands"].values()]
        kt = int(cfg["final"]["kernel"][1])
        left = max(r[0] for r in reaches) + cfg["final"]["layers"] * ((kt - 1) // 2)
        right = max(r[1] for r in reaches) + cfg["final"]["layers"] * (kt - 1 - (kt - 1) // 2)
        self._receptive_field = left + right + 1
        # Rounded up to the pooling grid, so that chunk offsets stay on it.
        reach = max(left, right)
        self.frame_context = int(math.ceil(reach / self.frame_multiple) * self.frame_multiple)

    @property
    def receptive_field(self) -> int:
        """Frames that one output frame can depend on (worst case over the pooling grid's phase)."""
        return self._receptive_field

    def describe(self) -> dict:
        """Name, domain, config, parameter count and receptive field (frames)."""
        return describe_model(self)

    def activation_floats(self, frames: float) -> float:
        """Rough peak of float32 values alive in one inference pass over ``frames`` frames of one
        batch item: the widest full-resolution dense block (its buffer, one normalised copy and
        its output) plus the input, the masks and the skip maps (a quarter more)."""
        bins = self.n_fft // 2 + 1
        peak = 0.0
        for name, band in self.config["bands"].items():
            width = band["first_channels"] + band["layers"][0] * band["growth"][0]
            rows = int(self.config["split_bin"]) if name == "low" else bins - int(self.config["split_bin"]) if name == "high" else bins
            peak = max(peak, (2 * width + 2 * band["growth"][0]) * rows)
        return 1.25 * frames * (peak + (2 + len(self.targets)) * self.channels * bins)

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """Mixture magnitude [shape=(B, C, F, T)] → target magnitudes [shape=(B, S, C, F, T)]."""
        if mag.dim() != 4 or mag.shape[1] != self.channels or mag.shape[2] != self.n_fft // 2 + 1:
            raise ValueError(
                f"mmdensenet expects a magnitude of shape (batch, {self.channels}, {self.n_fft // 2 + 1}, frames), "
                f"got {tuple(mag.shape)}"
            )
        masks = torch.stack([torch.sigmoid(net(mag)) for net in self.nets], dim=1)
        return masks * mag.unsqueeze(1)
