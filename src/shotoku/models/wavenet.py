"""Non-causal WaveNet for music source separation on raw audio.

Lluís, Pons & Serra, "End-to-end music source separation: is it possible in the waveform
domain?", Interspeech 2019 — itself built on the speech-denoising WaveNet of Rethage, Pons &
Serra (ICASSP 2018).

The network works on mono audio at 16 kHz: an initial convolution (64 maps, kernel 3), 4 stacks
of 10 residual blocks whose dilations run 1, 2, 4, ..., 512 and restart in every stack; a block is
a dilated convolution to 2×64 maps (kernel 3), the gated unit ``tanh(a) ⊙ sigmoid(b)``, a 1×1
convolution back to the 64 residual maps (added to the block input) and a 1×1 convolution to 64
skip maps. The head sums the skips and applies ReLU → conv 2048 (kernel 3) → ReLU → conv 256
(kernel 3) → conv 1×1 to one output per target: all targets are regressed at once.

Where this departs from the paper:

- Every convolution is "valid" (no padding), so the output is the centre of the input and does
  not depend on how a long signal is chunked. The paper's 9785-sample input for a 1601-sample
  target field counts only the dilated layers' context (2·4·1023 = 8184 samples; its initial and
  head convolutions are zero-padded); here the same network needs 9791 samples for 1601
  (receptive field 8191), see :meth:`WaveNet.input_length`.
- The last residual block has no residual 1×1 convolution: its residual output is never used.
- Stereo and multichannel input: each channel is separated on its own by the same mono network
  (channels are folded into the batch), as the paper's model is mono.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ParameterError
from .mmdensenet import Architecture, describe_model


class _ResidualBlock(nn.Module):
    """Dilated gated block. Input [shape=(B, R, N)] → (residual [shape=(B, R, N-2d)] or None, skip)."""

    def __init__(self, residual: int, skip: int, kernel: int, dilation: int, last: bool):
        super().__init__()
        self.trim = dilation * (kernel - 1) // 2
        self.dilated = nn.Conv1d(residual, 2 * residual, kernel, dilation=dilation)
        self.residual = None if last else nn.Conv1d(residual, residual, 1)
        self.skip = nn.Conv1d(residual, skip, 1)

    def forward(self, x: torch.Tensor):
        a, b = self.dilated(x).chunk(2, dim=1)
        z = torch.tanh(a) * torch.sigmoid(b)
        out = None
        if self.residual is not None:
            out = x[..., self.trim : x.shape[-1] - self.trim] + self.residual(z)
        return out, self.skip(z)

    def forward_into(self, x: torch.Tensor, total: torch.Tensor):
        """Inference form of :meth:`forward` (no autograd): the gate computed in place, the
        residual and skip 1×1 convolutions as one, and the skip maps added into ``total``
        [shape=(B, S, n)] for its centre ``n`` samples only. Returns the residual output (or None)."""
        h = self.dilated(x)
        a, b = h.chunk(2, dim=1)
        z = a.tanh_().mul_(b.sigmoid_())
        n, res = total.shape[-1], x.shape[1]
        start = (z.shape[-1] - n) // 2
        if self.residual is None:
            total += F.conv1d(z[..., start : start + n], self.skip.weight, self.skip.bias)
            return None
        weight = torch.cat([self.residual.weight, self.skip.weight])
        bias = torch.cat([self.residual.bias, self.skip.bias])
        y = F.conv1d(z, weight, bias)
        total += y[:, res:, start : start + n]
        return y[:, :res].add_(x[..., self.trim : x.shape[-1] - self.trim])


class WaveNet(Architecture):
    """Non-causal WaveNet separator (Lluís, Pons & Serra 2019).

    targets: names of the sources regressed, in output order
    channels: audio channels of the input (each separated by the same mono network)
    config: "paper", "small", or a dict (see :func:`shotoku.models.mmdensenet.resolve_config`);
        overrides: top-level keys (``sample_rate``, ``stacks``, ``layers_per_stack``, ``kernel``,
        ``residual_channels``, ``skip_channels``, ``initial_kernel``, ``head_channels``,
        ``head_kernel``, ``target_field``)

    ``forward(x)``: mixture [shape=(B, C, N_in), float, at ``sample_rate``] → sources
    [shape=(B, S, C, N_out)] with ``N_out = output_length(N_in) = N_in - receptive_field + 1``,
    the estimate for the centre of the input (``(N_in - N_out) // 2`` samples of context each side).
    """

    NAME = "wavenet"
    DOMAIN = "waveform"
    CONFIGS = {
        # Lluís, Pons & Serra 2019, section 3 (after Rethage et al. 2018).
        "paper": {
            "sample_rate": 16000,
            "stacks": 4,
            "layers_per_stack": 10,
            "kernel": 3,
            "residual_channels": 64,
            "skip_channels": 64,
            "initial_kernel": 3,
            "head_channels": [2048, 256],
            "head_kernel": 3,
            "target_field": 1601,
        },
        # The paper's layout at a twenty-fifth of its arithmetic (two stacks of dilations 1..512,
        # 24 residual and skip maps, a 128/64 head; 8.3 GFLOP per second of stereo audio instead
        # of 216): what runs below 0.5 s per second on two cores and trains on them. Receptive
        # field 4099 samples (0.26 s); a target field of 8192 samples per training example.
        "cpu": {
            "sample_rate": 16000,
            "stacks": 2,
            "layers_per_stack": 10,
            "kernel": 3,
            "residual_channels": 24,
            "skip_channels": 24,
            "initial_kernel": 3,
            "head_channels": [128, 64],
            "head_kernel": 3,
            "target_field": 8192,
        },
        # Two stacks of dilations 1..16, 16 maps: about 31 k parameters, receptive field 131.
        "small": {
            "sample_rate": 16000,
            "stacks": 2,
            "layers_per_stack": 5,
            "kernel": 3,
            "residual_channels": 16,
            "skip_channels": 16,
            "initial_kernel": 3,
            "head_channels": [64, 32],
            "head_kernel": 3,
            "target_field": 1024,
        },
    }

    def build(self, cfg: dict) -> None:
        for key in ("kernel", "initial_kernel", "head_kernel"):
            if int(cfg[key]) < 1 or int(cfg[key]) % 2 == 0:
                raise ParameterError(f"wavenet {key} must be an odd number >= 1, got {cfg[key]}")
        if int(cfg["stacks"]) < 1 or int(cfg["layers_per_stack"]) < 1:
            raise ParameterError("wavenet needs stacks >= 1 and layers_per_stack >= 1")
        kernel, res, skip = int(cfg["kernel"]), int(cfg["residual_channels"]), int(cfg["skip_channels"])
        self.initial = nn.Conv1d(1, res, int(cfg["initial_kernel"]))
        dilations = [2**i for _ in range(int(cfg["stacks"])) for i in range(int(cfg["layers_per_stack"]))]
        self.blocks = nn.ModuleList(
            [_ResidualBlock(res, skip, kernel, d, last=(i == len(dilations) - 1)) for i, d in enumerate(dilations)]
        )
        head = []
        width = skip
        for out in cfg["head_channels"]:
            head += [nn.ReLU(), nn.Conv1d(width, int(out), int(cfg["head_kernel"]))]
            width = int(out)
        head.append(nn.Conv1d(width, len(self.targets), 1))
        self.head = nn.Sequential(*head)
        shrink = int(cfg["initial_kernel"]) - 1
        shrink += sum(d * (kernel - 1) for d in dilations)
        shrink += len(cfg["head_channels"]) * (int(cfg["head_kernel"]) - 1)
        self._receptive_field = shrink + 1
        # Shift-equivariant for any shift: chunks may start anywhere.
        self.sample_multiple = 1

    @property
    def receptive_field(self) -> int:
        """Input samples that one output sample depends on (8191 for the paper configuration)."""
        return self._receptive_field

    @property
    def target_field(self) -> int:
        """Output samples per training example (the paper's 1601)."""
        return int(self.config["target_field"])

    def output_length(self, n_in: int) -> int:
        """Output samples for ``n_in`` input samples (0 when the input is shorter than the receptive field)."""
        return max(0, int(n_in) - self._receptive_field + 1)

    def input_length(self, n_out: int) -> int:
        """Smallest input length whose output has ``n_out`` samples (every length is valid)."""
        return int(n_out) + self._receptive_field - 1

    def activation_floats(self, samples: float) -> float:
        """Rough peak of float32 values alive in one inference pass over ``samples`` input samples
        of one batch item (all channels): a residual block's maps, or the head's widest two
        layers, whichever is larger (a quarter more)."""
        cfg = self.config
        res, skip = int(cfg["residual_channels"]), int(cfg["skip_channels"])
        head = sorted([int(h) for h in cfg["head_channels"]] + [skip])[-2:]
        per_sample = max(5 * res + 2 * skip, 2 * head[-1] + head[0] + skip)
        return 1.25 * samples * per_sample * self.channels

    def describe(self) -> dict:
        """Name, domain, config, parameter count and receptive field (samples)."""
        info = describe_model(self)
        info["target_field"] = self.target_field
        info["input_length"] = self.input_length(self.target_field)
        return info

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mixture [shape=(B, C, N_in)] → sources [shape=(B, S, C, N_out)]."""
        if x.dim() != 3 or x.shape[1] != self.channels:
            raise ValueError(f"wavenet expects audio of shape (batch, {self.channels}, samples), got {tuple(x.shape)}")
        batch, channels, n_in = x.shape
        if n_in < self._receptive_field:
            raise ValueError(f"wavenet needs at least {self._receptive_field} input samples, got {n_in}")
        h = self.initial(x.reshape(batch * channels, 1, n_in))
        if not self.training and not torch.is_grad_enabled():
            n_out = self.output_length(n_in)
            head_shrink = len(self.config["head_channels"]) * (int(self.config["head_kernel"]) - 1)
            total = torch.zeros(batch * channels, self.blocks[0].skip.out_channels, n_out + head_shrink, dtype=h.dtype, device=h.device)
            for block in self.blocks:
                h = block.forward_into(h, total)
            y = self.head(total)
            return y.reshape(batch, channels, len(self.targets), -1).transpose(1, 2)
        skips = []
        for block in self.blocks:
            h_next, s = block(h)
            skips.append(s)
            if h_next is not None:
                h = h_next
        n = skips[-1].shape[-1]
        total = skips[-1]
        for s in skips[:-1]:
            trim = (s.shape[-1] - n) // 2
            total = total + s[..., trim : trim + n]
        y = self.head(total)  # (B*C, S, N_out)
        return y.reshape(batch, channels, len(self.targets), -1).transpose(1, 2)
