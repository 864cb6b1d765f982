"""DeepConvSep: a convolutional encoder-decoder on blocks of magnitude spectrogram.

Chandna, Miron, Janer & Gómez, "Monoaural audio source separation using deep convolutional
neural networks", LVA/ICA 2017.

The network sees a block of ``block`` frames (30 in the paper, STFT 1024/512 Blackman-Harris at
44.1 kHz, 513 bins) of one channel's magnitude:

- a vertical convolution (50 filters spanning all bins of one frame: timbre),
- a horizontal convolution (50 filters spanning 15 frames of each vertical feature: time),
- a dense bottleneck of 128 units (ReLU),
- one decoder per source: a dense layer (ReLU) back to the horizontal convolution's output size,
  then the transposed horizontal and vertical convolutions with the encoder's own weights (tied),
- per-source bias and ReLU, then soft ratio masks ``m_j = y_j / Σ_k y_k`` applied to the mixture
  magnitude (the estimates add up to the mixture).

Both convolutions are linear (no activation), as in the authors' code.

Where this departs from the paper, or fills in what it leaves open:

- Arbitrary lengths: ``forward`` cuts the input into blocks of ``block`` frames every
  ``block_hop`` frames (the authors overlap blocks by 25 of 30 frames at separation time), runs
  them as one batch and averages the estimates of the blocks covering each frame. The input is
  zero-padded by ``block - block_hop`` frames on both sides so that every frame, the first and
  the last included, is covered by the same number of blocks. The block grid is anchored at the
  first frame: chunked processing equals one-shot processing when chunk offsets are multiples of
  ``frame_multiple`` (= ``block_hop``) and chunks carry ``frame_context`` frames each side.
- Stereo and multichannel input: every channel is separated on its own by the same mono network
  (channels folded into the batch); the paper's model is mono.
- The ratio masks add ``eps`` to every source's output so that they stay defined (uniform) where
  all outputs are zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ParameterError
from .mmdensenet import Architecture, describe_model


class DeepConvSep(Architecture):
    """Convolutional encoder with one tied-weight decoder per source (Chandna et al. 2017).

    targets: names of the sources estimated, in output order (2 or more for meaningful masks)
    channels: audio channels of the input (each separated by the same mono network)
    config: "paper", "small", or a dict (see :func:`shotoku.models.mmdensenet.resolve_config`);
        overrides: top-level keys (``sample_rate``, ``n_fft``, ``hop``, ``window``, ``block``,
        ``block_hop``, ``vertical_filters``, ``horizontal_filters``, ``horizontal_kernel``,
        ``bottleneck``, ``eps``)

    ``forward(mag)``: mixture magnitude [shape=(B, C, F, T), float, >= 0, F = n_fft//2+1, any
    T >= 1] → source magnitudes [shape=(B, S, C, F, T)], ratio masks times ``mag``.
    """

    NAME = "deepconvsep"
    DOMAIN = "spectrogram"
    CONFIGS = {
        # Chandna et al. 2017, section 3; block overlap at separation from the authors' code.
        "paper": {
            "sample_rate": 44100,
            "n_fft": 1024,
            "hop": 512,
            "window": "blackmanharris",
            "block": 30,
            "block_hop": 5,
            "vertical_filters": 50,
            "horizontal_filters": 50,
            "horizontal_kernel": 15,
            "bottleneck": 128,
            "eps": 1e-8,
        },
        # About 20 k parameters for two targets.
        "small": {
            "sample_rate": 44100,
            "n_fft": 512,
            "hop": 256,
            "window": "hann",
            "block": 16,
            "block_hop": 8,
            "vertical_filters": 16,
            "horizontal_filters": 16,
            "horizontal_kernel": 8,
            "bottleneck": 32,
            "eps": 1e-8,
        },
    }
    # The paper's network: it already runs at about 0.15 s per second of stereo audio on two
    # cores and trains on them (see docs/benchmarks.md); named for the registry of CPU models.
    CONFIGS["cpu"] = dict(CONFIGS["paper"])

    def build(self, cfg: dict) -> None:
        self.block = int(cfg["block"])
        self.block_hop = int(cfg["block_hop"])
        self.eps = float(cfg["eps"])
        k_time = int(cfg["horizontal_kernel"])
        if not 1 <= k_time <= self.block:
            raise ParameterError(f"deepconvsep horizontal_kernel must lie in 1..block ({self.block}), got {k_time}")
        if not 1 <= self.block_hop <= self.block:
            raise ParameterError(f"deepconvsep block_hop must lie in 1..block ({self.block}), got {self.block_hop}")
        bins = self.n_fft // 2 + 1
        v, h = int(cfg["vertical_filters"]), int(cfg["horizontal_filters"])
        self._code_shape = (h, self.block - k_time + 1)
        code = h * (self.block - k_time + 1)
        # The vertical convolution spans every bin of one frame: a 1-wide convolution over time
        # with the bins as input maps; the horizontal one spans k_time frames of each feature.
        self.vertical = nn.Conv1d(bins, v, 1)
        self.horizontal = nn.Conv1d(v, h, k_time)
        self.bottleneck = nn.Sequential(nn.Flatten(), nn.Linear(code, int(cfg["bottleneck"])), nn.ReLU())
        self.decoders = nn.ModuleList(
            [nn.Sequential(nn.Linear(int(cfg["bottleneck"]), code), nn.ReLU()) for _ in self.targets]
        )
        self.source_bias = nn.Parameter(torch.zeros(len(self.targets)))
        self.frame_multiple = self.block_hop
        self.frame_context = int(math.ceil((self.block - 1) / self.block_hop) * self.block_hop)

    @property
    def receptive_field(self) -> int:
        """Frames one output frame depends on: every block covering it (2·block − 1)."""
        return 2 * self.block - 1

    def describe(self) -> dict:
        """Name, domain, config, parameter count and receptive field (frames)."""
        return describe_model(self)

    def activation_floats(self, frames: float) -> float:
        """Rough peak of float32 values alive in one inference pass over ``frames`` frames of one
        batch item (all channels): every frame sits in ``block / block_hop`` blocks, each held as
        input, per-source outputs, masks and estimates (a quarter more)."""
        bins = self.n_fft // 2 + 1
        copies = self.block / self.block_hop
        return 1.25 * frames * bins * copies * (2 + 3 * len(self.targets)) * self.channels

    def separate_blocks(self, blocks: torch.Tensor) -> torch.Tensor:
        """One pass of the network as in the paper.

        blocks: mono magnitude blocks [shape=(N, F, block)] → source magnitudes [shape=(N, S, F, block)].
        """
        n_blocks, bins, block = blocks.shape
        code = self.bottleneck(self.horizontal(self.vertical(blocks)))
        y = torch.stack([decoder(code) for decoder in self.decoders], dim=1)  # (N, S, code)
        y = y.reshape(-1, *self._code_shape)
        y = F.conv_transpose1d(F.conv_transpose1d(y, self.horizontal.weight), self.vertical.weight)
        y = y.reshape(n_blocks, len(self.targets), bins, block)
        y = torch.relu(y + self.source_bias.view(1, -1, 1, 1)) + self.eps
        masks = y / y.sum(dim=1, keepdim=True)
        return masks * blocks.unsqueeze(1)

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """Mixture magnitude [shape=(B, C, F, T)] → source magnitudes [shape=(B, S, C, F, T)]."""
        bins = self.n_fft // 2 + 1
        if mag.dim() != 4 or mag.shape[1] != self.channels or mag.shape[2] != bins:
            raise ValueError(
                f"deepconvsep expects a magnitude of shape (batch, {self.channels}, {bins}, frames), got {tuple(mag.shape)}"
            )
        batch, channels, _, n_frames = mag.shape
        edge = self.block - self.block_hop
        padded = n_frames + 2 * edge
        extra = -(padded - self.block) % self.block_hop
        x = F.pad(mag.reshape(batch * channels, bins, n_frames), (edge, edge + extra))
        length = x.shape[-1]
        blocks = x.unfold(-1, self.block, self.block_hop)  # (B*C, F, K, block)
        n_blocks = blocks.shape[2]
        est = self.separate_blocks(blocks.permute(0, 2, 1, 3).reshape(-1, bins, self.block))
        n_src = len(self.targets)
        # (B*C*K, S, F, block) -> (B*C*S, F*block, K) for overlap-add with fold.
        est = est.reshape(batch * channels, n_blocks, n_src, bins * self.block).permute(0, 2, 3, 1)
        est = est.reshape(batch * channels * n_src, bins * self.block, n_blocks)
        total = F.fold(est, (1, length), (1, self.block), stride=(1, self.block_hop))
        ones = torch.ones(1, self.block, n_blocks, dtype=mag.dtype, device=mag.device)
        count = F.fold(ones, (1, length), (1, self.block), stride=(1, self.block_hop))
        out = (total / count)[..., edge : edge + n_frames]
        return out.reshape(batch, channels, n_src, bins, n_frames).transpose(1, 2)
