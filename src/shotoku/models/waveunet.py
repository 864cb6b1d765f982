"""Wave-U-Net: a one-dimensional U-Net on raw audio.

Stoller, Ewert & Dixon, "Wave-U-Net: a multi-scale neural network for end-to-end audio source
separation", ISMIR 2018 (arXiv:1806.03185).

Down path: ``layers`` blocks (12 in the paper), block ``i = 1..L`` a valid convolution of
``filters·i`` maps and kernel ``down_kernel`` (15) with LeakyReLU (slope 0.2); its output is kept
for the skip connection, then decimated by 2 (every other sample, the first kept). A bottleneck
convolution of ``filters·(L+1)`` maps follows. Up path: ``L`` blocks, block ``i = L..1``
up-samples by 2 (``N → 2N − 1``: linear interpolation between neighbours, or "learned": a
per-map convex weight ``σ(w)`` between the two neighbours), concatenates the centre-cropped skip
of the same level, and applies a valid convolution of ``filters·i`` maps, kernel ``up_kernel``
(5), LeakyReLU. The centre-cropped input mixture is concatenated last and a 1×1 convolution with
tanh gives each source; with the "difference" output only ``S − 1`` sources are computed and the
last one is the cropped mixture minus their sum, so the estimates add up to the mixture.

Lengths (valid convolutions, the output is the centre of the input): an input is valid when every
down-convolution output has an odd length (then decimation keeps both ends and the up-sampled
maps line up with the skips sample for sample). Valid input lengths are
``n(d) = 2**L·(d + down_kernel − 2) − (down_kernel − 2)`` for a bottleneck input length ``d``;
the paper's 147443-sample input gives 16389 output samples. ``forward`` accepts any length
``>= input_length(1)`` and uses its largest valid centre part. Decimation makes the network
shift-equivariant only for shifts by ``sample_multiple = 2**L`` samples: chunks of a long signal
give the one-shot output when their inputs have valid lengths (see :meth:`WaveUNet.input_length`)
and start ``sample_multiple`` apart (or a multiple of it).

The ``paper`` configuration is the multi-instrument M5-HighSR model (stereo at 44.1 kHz, input
context, learned up-sampling, difference output); ``upsampling="linear"`` gives M4.
Stereo is modelled jointly: the channels are the input and output maps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ParameterError
from .mmdensenet import Architecture, describe_model


class _Upsample(nn.Module):
    """Up-sampling ``N → 2N − 1`` by interpolation between neighbours.

    "linear": the new samples are the neighbours' mean; "learned": ``σ(w)·x[t] + (1 − σ(w))·x[t+1]``
    with one weight per map (initialised to the mean). Input [shape=(B, C, N)] → [shape=(B, C, 2N−1)].
    """

    def __init__(self, maps: int, learned: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(maps)) if learned else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x[..., :-1], x[..., 1:]
        if self.weight is None:
            mid = 0.5 * (left + right)
        else:
            w = torch.sigmoid(self.weight).view(1, -1, 1)
            mid = w * left + (1 - w) * right
        inter = torch.stack([left, mid], dim=-1).flatten(-2)
        return torch.cat([inter, x[..., -1:]], dim=-1)


def _centre(x: torch.Tensor, n: int) -> torch.Tensor:
    """The centre ``n`` samples of ``x`` [shape=(..., N)] (``N − n`` must be even)."""
    start = (x.shape[-1] - n) // 2
    return x[..., start : start + n]


class WaveUNet(Architecture):
    """Wave-U-Net separator (Stoller, Ewert & Dixon 2018).

    targets: names of the sources, in output order (the last one is the "difference" source)
    channels: audio channels of the input and of each output source
    config: "paper", "small", or a dict (see :func:`shotoku.models.mmdensenet.resolve_config`);
        overrides: top-level keys (``sample_rate``, ``layers``, ``filters``, ``down_kernel``,
        ``up_kernel``, ``upsampling`` "linear"|"learned", ``output`` "difference"|"direct",
        ``leaky_slope``)

    ``forward(x)``: mixture [shape=(B, C, N_in), float in [−1, 1]] → sources
    [shape=(B, S, C, N_out)], ``N_out = output_length(N_in)``, the estimate for the centre of the
    input (``(N_in − N_out) // 2`` samples of context on each side).
    """

    NAME = "waveunet"
    DOMAIN = "waveform"
    CONFIGS = {
        # Stoller et al. 2018, section 3 and the M5-HighSR model of section 5.
        "paper": {
            "sample_rate": 44100,
            "layers": 12,
            "filters": 24,
            "down_kernel": 15,
            "up_kernel": 5,
            "upsampling": "learned",
            "output": "difference",
            "leaky_slope": 0.2,
        },
        # Ten levels of 16·i maps (the paper: twelve of 24·i): 2.7 M parameters, 6.8 GFLOP per
        # second of stereo audio instead of 22, receptive field 0.74 s instead of 2.97 s, so a
        # training example of 16384 output samples reads 49 k input samples instead of 147 k:
        # what trains on a two-core CPU in useful time.
        "cpu": {
            "sample_rate": 44100,
            "layers": 10,
            "filters": 16,
            "down_kernel": 15,
            "up_kernel": 5,
            "upsampling": "learned",
            "output": "difference",
            "leaky_slope": 0.2,
        },
        # About 35 k parameters; receptive field of a few hundred samples.
        "small": {
            "sample_rate": 44100,
            "layers": 4,
            "filters": 8,
            "down_kernel": 5,
            "up_kernel": 5,
            "upsampling": "linear",
            "output": "difference",
            "leaky_slope": 0.2,
        },
    }

    def build(self, cfg: dict) -> None:
        self.layers = int(cfg["layers"])
        self.down_kernel = int(cfg["down_kernel"])
        self.up_kernel = int(cfg["up_kernel"])
        filters = int(cfg["filters"])
        if cfg["upsampling"] not in ("linear", "learned"):
            raise ParameterError(f"waveunet upsampling must be 'linear' or 'learned', got '{cfg['upsampling']}'")
        if cfg["output"] not in ("difference", "direct"):
            raise ParameterError(f"waveunet output must be 'difference' or 'direct', got '{cfg['output']}'")
        if cfg["output"] == "difference" and len(self.targets) < 2:
            raise ParameterError("waveunet output 'difference' needs at least 2 targets; use output='direct' for one")
        if self.layers < 1 or filters < 1:
            raise ParameterError("waveunet needs layers >= 1 and filters >= 1")
        if self.down_kernel < 1 or self.down_kernel % 2 == 0 or self.up_kernel < 1 or self.up_kernel % 2 == 0:
            raise ParameterError("waveunet down_kernel and up_kernel must be odd numbers >= 1")
        self.act = nn.LeakyReLU(float(cfg["leaky_slope"]))
        self.down = nn.ModuleList()
        width = self.channels
        for i in range(1, self.layers + 1):
            self.down.append(nn.Conv1d(width, filters * i, self.down_kernel))
            width = filters * i
        self.bottleneck = nn.Conv1d(width, filters * (self.layers + 1), self.down_kernel)
        width = filters * (self.layers + 1)
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in range(self.layers, 0, -1):
            self.upsample.append(_Upsample(width, cfg["upsampling"] == "learned"))
            self.up.append(nn.Conv1d(width + filters * i, filters * i, self.up_kernel))
            width = filters * i
        self.difference = cfg["output"] == "difference"
        n_out = len(self.targets) - 1 if self.difference else len(self.targets)
        self.out = nn.Conv1d(width + self.channels, n_out * self.channels, 1)
        self._min_bottom = self._smallest_bottom()
        # Decimation makes the network shift-equivariant only for shifts of 2**layers samples:
        # chunks of a long signal reproduce one-shot output when their (valid) inputs start on
        # this grid.
        self.sample_multiple = 2**self.layers

    # Lengths ---------------------------------------------------------------------------------
    def _input_for_bottom(self, d: int) -> int:
        """Valid input length whose last decimated map (the bottleneck's input) has ``d`` samples."""
        return 2**self.layers * (d + self.down_kernel - 2) - (self.down_kernel - 2)

    def _output_for_bottom(self, d: int) -> int:
        """Output length for bottleneck input length ``d`` (<= 0 when too short)."""
        u = d - self.down_kernel + 1
        for _ in range(self.layers):
            if u < 1:
                return 0
            u = 2 * u - 1 - (self.up_kernel - 1)
        return max(u, 0)

    def _smallest_bottom(self) -> int:
        d = self.down_kernel
        while self._output_for_bottom(d) < 1:
            d += 1
        return d

    def _bottom_for_input(self, n_in: int) -> int:
        """Largest ``d`` with ``_input_for_bottom(d) <= n_in``."""
        return (int(n_in) + self.down_kernel - 2) // 2**self.layers - (self.down_kernel - 2)

    def output_length(self, n_in: int) -> int:
        """Output samples for ``n_in`` input samples (0 when shorter than ``input_length(1)``).

        The network uses the largest valid input length ``<= n_in``; the output is the centre of
        the input either way.
        """
        d = self._bottom_for_input(n_in)
        return self._output_for_bottom(d) if d >= self._min_bottom else 0

    def input_length(self, n_out: int) -> int:
        """Smallest valid input length whose output has at least ``n_out`` samples.

        The output has exactly ``n_out`` samples when ``n_out − up_kernel`` is a multiple of
        ``2**layers`` (e.g. 16389 → 147443 for the paper configuration).
        """
        d = self._min_bottom
        step = 2**self.layers
        have = self._output_for_bottom(d)
        if have < n_out:
            d += -(-(int(n_out) - have) // step)
        return self._input_for_bottom(d)

    @property
    def receptive_field(self) -> int:
        """Input samples used for one output sample: ``input_length(1) − output_length + 1``."""
        n_in = self.input_length(1)
        return n_in - self.output_length(n_in) + 1

    def describe(self) -> dict:
        """Name, domain, config, parameter count and receptive field (samples)."""
        return describe_model(self)

    def activation_floats(self, samples: float) -> float:
        """Rough peak of float32 values alive in one inference pass over ``samples`` input samples
        of one batch item: the skip maps of every level (``Σ filters·i / 2**(i-1)`` per input
        sample, under ``4·filters``) and the top up-sampling block's inputs, concatenation and
        output (about ``10·filters``), plus input and sources (a quarter more)."""
        filters = int(self.config["filters"])
        return 1.25 * samples * (14 * filters + (2 + len(self.targets)) * self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mixture [shape=(B, C, N_in)] → sources [shape=(B, S, C, N_out)]."""
        if x.dim() != 3 or x.shape[1] != self.channels:
            raise ValueError(f"waveunet expects audio of shape (batch, {self.channels}, samples), got {tuple(x.shape)}")
        n_in = x.shape[-1]
        d = self._bottom_for_input(n_in)
        if d < self._min_bottom:
            raise ValueError(f"waveunet needs at least {self.input_length(1)} input samples, got {n_in}")
        n_valid = self._input_for_bottom(d)
        start = (n_in - n_valid) // 2
        mix = x[..., start : start + n_valid]
        # At inference (no autograd) the activations overwrite the convolutions' outputs in place.
        act = self.act if torch.is_grad_enabled() else (lambda t: F.leaky_relu_(t, self.act.negative_slope))
        h = mix
        skips = []
        for conv in self.down:
            h = act(conv(h))
            skips.append(h)
            h = h[..., ::2]
        h = act(self.bottleneck(h))
        for upsample, conv in zip(self.upsample, self.up):
            h = upsample(h)
            h = act(conv(torch.cat([_centre(skips.pop(), h.shape[-1]), h], dim=1)))
        n_out = h.shape[-1]
        mix = _centre(mix, n_out)
        y = torch.tanh(self.out(torch.cat([mix, h], dim=1)))
        y = y.reshape(x.shape[0], -1, self.channels, n_out)
        if self.difference:
            y = torch.cat([y, (mix - y.sum(dim=1)).unsqueeze(1)], dim=1)
        return y
