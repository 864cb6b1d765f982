"""The one inference path: any shotoku model (or checkpoint) becomes a separator.

Long input is cut into chunks, each read with the context its model needs, the chunks run in
batches, and their outputs are put back together. Every kept output sample has its model's full
receptive field, so chunks join exactly (the output equals one pass over the whole signal, up
to float rounding) and need no crossfade: by default they do not overlap, and automatic chunks
are long enough that the context read around them adds at most ``CONTEXT_OVERHEAD`` (15 %) to
the audio the network runs over. An ``overlap`` > 0 shares that fraction of a chunk with the
next one and fades them together with complementary raised-cosine fades (``sin²`` rising where
``cos²`` falls, so the weights sum to one at every sample: a signal the model passes unchanged
comes out unchanged, with no seam); the Wiener post-filter, whose statistics are per chunk,
always crossfades over at least ``WIENER_CROSSFADE_SECONDS``. The layout follows Demucs'
``apply.py`` (Défossez et al., 2019/2021) in spirit; it departs from it in cutting chunks so
that every kept output sample has its model's full receptive field (no reliance on the fade to
hide edge effects) and in aligning spectrogram chunks to the global STFT frame grid.

- waveform models (``DOMAIN == "waveform"``): a chunk producing ``n_out`` output samples reads
  ``model.input_length(n_out)`` input samples, ``(n_in - n_out) // 2`` of context on the left; the
  signal is zero-padded beyond its ends; chunk offsets are multiples of the model's
  ``sample_multiple`` (its decimation grid), if it has one.
- spectrogram models (``DOMAIN == "spectrogram"``): each chunk reads ``model.n_fft +
  model.frame_context * model.hop`` samples of real signal each side (rounded up to whole hops, none
  beyond the signal's ends; chunk offsets on the model's ``frame_multiple`` grid, if it has
  one), takes :func:`shotoku.spectral.stft` of that segment, the model maps
  its magnitude to target magnitudes, ratio masks of their powers (the Wiener gains with the
  model's magnitudes as PSDs) filter the mixture STFT with its own phase, or the multichannel
  Wiener post-filter :func:`shotoku.refinement.wiener_refinement` does when ``wiener=True``. A single-
  target model gets a residual ``max(|X| - |Ŝ|, 0)`` as the competing source, so that its mask
  is not identically one.

Input whose length fits in one chunk is processed in one piece, exactly as a direct call of the
model on the whole signal would (waveform: zero-padded by the model's context; spectrogram: the
STFT of the whole signal).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..devices import resolve_device
from ..errors import AudioContentError, ChannelError, ParameterError

DEFAULT_CHUNK_SECONDS = 10.0
# Chunks join exactly (every kept sample has its model's whole receptive field), so no
# crossfade is needed; a non-zero overlap costs ``overlap / (1 - overlap)`` more computation.
DEFAULT_OVERLAP = 0.0
DEFAULT_BATCH_SIZE = 4
MASK_EPS = 1e-10
# Automatic chunks are made long enough that the context read on both sides adds at most this
# fraction to the audio the network runs over (long inputs), within the memory budget below.
CONTEXT_OVERHEAD = 0.15
# Float32 activation memory one forward pass may take when the chunk length is chosen
# automatically (from the model's ``activation_floats`` estimate, if it has one).
ACTIVATION_BUDGET = 3 * 2**29
MAX_CHUNK_SECONDS = 120.0
# The Wiener post-filter estimates its spatial covariances per chunk: chunks that use it are
# crossfaded over at least this long, so that the change of filter does not step.
WIENER_CROSSFADE_SECONDS = 1.0


def context_samples(model) -> int:
    """Samples of input each chunk reads beyond its output region, both sides together.

    Spectrogram models: twice ``n_fft + frame_context · hop`` rounded up to whole hops on the
    model's frame grid; waveform models: ``input_length(n) − n`` (receptive field minus one,
    plus any rounding to valid lengths) for a one-second output.
    """
    if model.DOMAIN == "spectrogram":
        grid = _chunk_grid(model)
        return 2 * grid * math.ceil((int(model.n_fft) + int(model.hop) * int(model.frame_context)) / grid)
    n = int(model.sample_rate)
    return int(model.input_length(n)) - n


def _activation_floats(model, n_samples: int) -> float:
    """Float32 values one forward pass keeps alive for ``n_samples`` input samples (one batch item).

    From the model's own ``activation_floats(units)`` (units: STFT frames or samples; one batch
    item of all the model's channels) when it has one; otherwise three copies of its widest
    convolution's maps at every input sample or frame (times the bins of a spectrogram model).
    """
    import torch

    if model.DOMAIN == "spectrogram":
        units = n_samples / float(model.hop) + 1
    else:
        units = float(n_samples)
    if hasattr(model, "activation_floats"):
        return float(model.activation_floats(units))
    convs = (torch.nn.Conv1d, torch.nn.Conv2d)
    widest = max((m.out_channels for m in model.modules() if isinstance(m, convs)), default=1)
    per_unit = 3 * widest * int(model.channels)
    if model.DOMAIN == "spectrogram":
        per_unit *= int(model.n_fft) // 2 + 1
    return per_unit * units


def auto_chunking(model, batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[float, int]:
    """Default ``(chunk_seconds, batch_size)`` for ``model``.

    The chunk is made long enough that the context read around it (:func:`context_samples`)
    adds at most ``CONTEXT_OVERHEAD`` to the audio the network runs over — at least
    ``DEFAULT_CHUNK_SECONDS``, at most ``MAX_CHUNK_SECONDS`` — and then shortened until one
    chunk's activations (the model's ``activation_floats`` estimate, 4 bytes each) fit
    ``ACTIVATION_BUDGET``, but never below twice its context; the batch is cut to what still fits.
    MMDenseNet (paper) gets about 35 s chunks one at a time, the WaveNet of the paper (2048-map
    head) 1.7 s.
    """
    sr = float(model.sample_rate)
    ctx = context_samples(model)
    seconds = min(MAX_CHUNK_SECONDS, max(DEFAULT_CHUNK_SECONDS, ctx / CONTEXT_OVERHEAD / sr))
    while seconds > 2 * ctx / sr and 4.0 * _activation_floats(model, int(seconds * sr) + ctx) > ACTIVATION_BUDGET:
        seconds *= 0.9
    seconds = max(seconds, 2 * ctx / sr, 1.0 / sr)
    chunk_bytes = 4.0 * _activation_floats(model, int(seconds * sr) + ctx)
    return seconds, max(1, min(batch_size, int(ACTIVATION_BUDGET // max(chunk_bytes, 1.0))))


def _check_mixture(mixture) -> np.ndarray:
    x = np.asarray(mixture)
    if x.ndim != 2:
        raise AudioContentError(f"mixture must have shape (channels, samples), got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise AudioContentError(f"mixture holds no samples (shape {x.shape}); give a non-empty signal")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise AudioContentError("mixture contains NaN or infinite samples; clean or re-export the audio")
    return x


def chunk_plan(n: int, chunk: int, overlap: int) -> list[tuple[int, int]]:
    """Output regions ``[(start, end), ...]`` covering ``0..n``.

    n: signal length in samples; chunk: region length; overlap: samples shared by consecutive
    regions (``0 <= overlap <= chunk // 2``). One region ``(0, n)`` when ``n <= chunk``; otherwise
    regions start every ``chunk - overlap`` samples, all of length ``chunk`` except the last, which
    ends at ``n`` and still overlaps its predecessor by exactly ``overlap``.
    """
    if n <= chunk:
        return [(0, n)]
    step = chunk - overlap
    count = math.ceil((n - chunk) / step) + 1
    return [(i * step, min(i * step + chunk, n)) for i in range(count)]


def fade_weights(length: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """Weights [shape=(length,)] of one region: ``sin²`` rise over its first ``overlap`` samples
    (unless ``first``), ``cos²`` fall over its last ``overlap`` (unless ``last``), one elsewhere.
    Neighbouring regions' weights sum to one on their shared samples."""
    w = np.ones(length, dtype=np.float32)
    if overlap > 0:
        rise = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
        if not first:
            w[:overlap] = rise
        if not last:
            w[-overlap:] = 1.0 - rise
    return w


def _window(x: np.ndarray, start: int, length: int) -> np.ndarray:
    """``x[:, start:start+length]`` with zeros where that runs beyond the signal."""
    n = x.shape[-1]
    lo, hi = max(start, 0), min(start + length, n)
    if lo == start and hi == start + length:
        return x[:, lo:hi]
    out = np.zeros((x.shape[0], length), dtype=x.dtype)
    if hi > lo:
        out[:, lo - start : hi - start] = x[:, lo:hi]
    return out


class _ChannelFold:
    """Maps a mixture's C channels onto the network's own channel count.

    Same count: one batch item. Mono network on C channels: C batch items of one channel.
    A network with more channels on mono input: the channel repeated, outputs averaged back.
    """

    def __init__(self, model_channels: int, channels: int, name: str):
        self.mc, self.c = int(model_channels), int(channels)
        if not (self.mc == self.c or self.mc == 1 or self.c == 1):
            raise ChannelError(
                f"model '{name}' takes {self.mc} channel(s), the mixture has {self.c}; "
                f"give a {self.mc}-channel or mono mixture"
            )

    @property
    def items(self) -> int:
        return self.c if (self.mc == 1 and self.c > 1) else 1

    def fold(self, t):
        """(C, ...) → (items, model channels, ...)."""
        if self.mc == self.c:
            return t.unsqueeze(0)
        if self.mc == 1:
            return t.unsqueeze(1)
        return t.expand(self.mc, *t.shape[1:]).unsqueeze(0)

    def unfold(self, t):
        """(items, S, model channels, ...) → (S, C, ...)."""
        if self.mc == self.c:
            return t[0]
        if self.mc == 1:
            return t[:, :, 0].transpose(0, 1)
        return t[0].mean(dim=1, keepdim=True)


def _groups(keys: list, batch_size: int) -> list[list[int]]:
    """Indices of consecutive equal ``keys`` grouped into batches of at most ``batch_size``."""
    groups: list[list[int]] = []
    for i, key in enumerate(keys):
        if groups and len(groups[-1]) < batch_size and keys[groups[-1][0]] == key:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _forward(model, pieces: list, device) -> list:
    """One forward pass over ``pieces`` (tensors (items, Cm, ...)) concatenated along the batch
    dimension; returns the outputs (items, S, Cm, ...) split back per piece.

    A model with an ``autocast_dtype`` attribute (e.g. ``torch.bfloat16``) runs under
    :func:`torch.autocast` with that type. Off by default: bf16 made MMDenseNet's convolutions
    faster, but its cost in SDR has not been measured on a trained model; set
    ``model.autocast_dtype = torch.bfloat16`` to try it.
    """
    import torch

    batch = torch.cat(pieces).to(device)
    dtype = getattr(model, "autocast_dtype", None)
    if dtype is None:
        out = model(batch)
    else:
        with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
            out = model(batch)
    out = out.float()
    return list(torch.split(out, [p.shape[0] for p in pieces]))


def _overlap_add(model, n: int, channels: int, regions, keys, batch_size: int, overlap: int, progress: bool, process):
    """Fade together the outputs of ``process(indices) -> [(S, C, end - start) arrays]`` over
    ``regions``, processed in batches of equal ``keys``; returns (S, C, n) float32."""
    from ..progress import bar as progress_bar

    images = np.zeros((len(model.targets), channels, n), dtype=np.float32)
    groups = _groups(keys, batch_size)
    bar = progress_bar(groups, desc=model.NAME, unit="batch", show=progress)
    for group in bar:
        for k, y in zip(group, process(group)):
            s, e = regions[k]
            images[..., s:e] += y * fade_weights(e - s, overlap, k == 0, k == len(regions) - 1)
    return images


def _separate_waveform(model, x: np.ndarray, chunk: int, overlap: int, batch_size: int, device, progress: bool):
    import torch

    C, n = x.shape
    fold = _ChannelFold(model.channels, C, model.NAME)
    regions = chunk_plan(n, chunk, overlap)
    size = regions[0][1] - regions[0][0]
    n_in = int(model.input_length(size))
    n_out = int(model.output_length(n_in))
    if n_out < size:
        raise RuntimeError(f"{model.NAME}: input_length({size}) = {n_in} yields only {n_out} output samples")
    ctx = (n_in - n_out) // 2

    def process(group):
        pieces = [fold.fold(torch.from_numpy(np.ascontiguousarray(_window(x, regions[k][0] - ctx, n_in)))) for k in group]
        outs = _forward(model, pieces, device)
        return [fold.unfold(o)[..., : regions[k][1] - regions[k][0]].cpu().numpy() for k, o in zip(group, outs)]

    return _overlap_add(model, n, C, regions, [n_in] * len(regions), batch_size, overlap, progress, process)


def _spectrogram_images(X, magnitudes, wiener: bool):
    """Images (S, C, F, T) complex from the mixture STFT X (C, F, T) and estimates (S, C, F, T)."""
    import torch

    est = magnitudes.clamp_min(0.0)
    power = est**2
    if est.shape[0] == 1:
        residual = (X.abs() - est[0]).clamp_min(0.0) ** 2
        masks = power / (power[0] + residual + MASK_EPS)
    else:
        masks = power / (power.sum(dim=0, keepdim=True) + MASK_EPS)
    images = masks * X.unsqueeze(0)
    if wiener:
        from ..refinement import wiener_refinement

        filtered = wiener_refinement(X.cpu().numpy(), images.cpu().numpy(), iterations=1)
        images = torch.as_tensor(np.asarray(filtered)).to(X.device)
    return images


def _frame_multiple(model) -> int:
    """Frames between chunk offsets that keep a model's pooling grid (``frame_multiple``, else 1)."""
    return max(1, int(getattr(model, "frame_multiple", 1)))


def _chunk_grid(model) -> int:
    """Samples that chunk offsets and lengths are multiples of: whole hops on the model's frame
    grid (spectrogram), the model's decimation grid ``sample_multiple`` (waveform, else 1)."""
    if model.DOMAIN == "spectrogram":
        return int(model.hop) * _frame_multiple(model)
    return max(1, int(getattr(model, "sample_multiple", 1)))


def _separate_spectrogram(model, x: np.ndarray, chunk: int, overlap: int, batch_size: int, device, progress: bool, wiener: bool):
    import torch

    from .. import spectral

    C, n = x.shape
    n_fft, hop = int(model.n_fft), int(model.hop)
    window = getattr(model, "window", "hann")
    fold = _ChannelFold(model.channels, C, model.NAME)
    grid = hop * _frame_multiple(model)
    margin = grid * math.ceil((n_fft + hop * int(model.frame_context)) / grid)
    regions = chunk_plan(n, chunk, overlap)
    segments = [(max(0, s - margin), min(n, e + margin)) for s, e in regions]

    def process(group):
        spectra = []
        for k in group:
            a, b = segments[k]
            seg = torch.from_numpy(np.ascontiguousarray(x[:, a:b])).to(device)
            spectra.append(spectral.stft(seg, n_fft=n_fft, hop=hop, window=window))
        outs = _forward(model, [fold.fold(X.abs()) for X in spectra], device)
        result = []
        for k, X, out in zip(group, spectra, outs):
            (s, e), (a, b) = regions[k], segments[k]
            Y = _spectrogram_images(X, fold.unfold(out), wiener)
            y = spectral.istft(Y, n_fft=n_fft, hop=hop, window=window, length=b - a)
            result.append(y[..., s - a : e - a].float().cpu().numpy())
        return result

    keys = [b - a for a, b in segments]
    return _overlap_add(model, n, C, regions, keys, batch_size, overlap, progress, process)


def _plan_lengths(model, n: int, chunk_seconds: float, overlap: float, automatic: bool, wiener: bool) -> tuple[int, int]:
    """``(chunk, shared)`` in samples at the model's rate for a signal of ``n`` samples.

    Both are multiples of the model's chunk grid. An automatic chunk length is evened out over
    the chunks the signal needs (the same length for all, so that they batch together and the
    last one is not a short one paying the full context). With the Wiener post-filter, whose
    spatial covariances are estimated per chunk, neighbouring chunks are crossfaded over at
    least ``WIENER_CROSSFADE_SECONDS``.
    """
    unit = _chunk_grid(model)
    sr = float(model.sample_rate)
    chunk = max(unit, unit * round(chunk_seconds * sr / unit))
    if automatic and overlap == 0 and not wiener and n > chunk:
        count = math.ceil(n / chunk)
        chunk = unit * math.ceil(math.ceil(n / count) / unit)
    shared = unit * round(overlap * chunk / unit)
    if wiener:
        shared = max(shared, unit * math.ceil(WIENER_CROSSFADE_SECONDS * sr / unit))
    return chunk, min(shared, unit * (chunk // unit // 2))


def network_coverage(model, n: int, *, chunk_seconds: float | None = None, overlap: float = DEFAULT_OVERLAP, wiener: bool = False) -> float:
    """Audio the network runs over, as a multiple of the signal, for ``n`` samples at the model's
    rate: the sum of every chunk's input (output region plus the context read around it, none
    beyond the signal's ends) divided by ``n``. 1.0 means no sample is computed twice.

    chunk_seconds, overlap, wiener: as for :func:`separate_with_model` (None: automatic chunks)
    """
    automatic = chunk_seconds is None
    if automatic:
        chunk_seconds = auto_chunking(model)[0]
    chunk, shared = _plan_lengths(model, int(n), float(chunk_seconds), float(overlap), automatic, wiener)
    regions = chunk_plan(int(n), chunk, shared)
    if model.DOMAIN == "spectrogram":
        half = context_samples(model) // 2
        total = sum(min(int(n), e + half) - max(0, s - half) for s, e in regions)
    else:
        size = regions[0][1] - regions[0][0]
        total = len(regions) * int(model.input_length(size))
    return total / float(n)


def separate_with_model(
    model,
    mixture: np.ndarray,
    rate: int,
    *,
    chunk_seconds: float | None = None,
    overlap: float = DEFAULT_OVERLAP,
    batch_size: int | None = None,
    device: str | None = None,
    wiener: bool = False,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Separate ``mixture`` with a shotoku model; returns ``{target: image}``.

    model: a shotoku architecture instance (moved to ``device`` and put in eval mode)
    mixture: float32 [shape=(channels, samples)] at ``rate``; channels must equal the model's, or
        be 1, or the model be mono (then each channel is separated on its own)
    rate: sample rate of ``mixture`` in Hz; resampled to ``model.sample_rate`` and back
        with :func:`shotoku.io.resample`
    chunk_seconds: output length of one chunk in seconds (context comes on top); None: from
        :func:`auto_chunking` (long enough that the context costs at most 15 % more, within a
        memory budget), evened out over the chunks the signal needs
    overlap: fraction of a chunk shared with the next one, crossfaded (0 to 0.5); 0 (default):
        chunks join exactly, since each carries its model's whole receptive field
    batch_size: chunks per forward pass; None: from :func:`auto_chunking` (at most 4)
    device: None/"cpu", "cuda", "cuda:N" or "auto" (a GPU when present)
    wiener: spectrogram models only: multichannel Wiener post-filter (one iteration) after masking
    progress: show a progress bar on a terminal
    Returns {target name: float32 [shape=(channels, samples)]}, same shape as ``mixture``.
    """
    import torch

    x = _check_mixture(mixture)
    auto_seconds, auto_batch = auto_chunking(model, DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
    automatic = chunk_seconds is None
    if automatic:
        chunk_seconds = auto_seconds
        batch_size = auto_batch
    elif batch_size is None:
        batch_size = DEFAULT_BATCH_SIZE
    if not (0.0 <= overlap <= 0.5):
        raise ParameterError(f"overlap must lie between 0 and 0.5, got {overlap}")
    if chunk_seconds <= 0 or batch_size < 1:
        raise ParameterError("chunk_seconds must be positive and batch_size at least 1")
    if wiener and model.DOMAIN != "spectrogram":
        raise ParameterError(f"the Wiener post-filter needs a spectrogram model; '{model.NAME}' works on waveforms")
    dev = resolve_device(device)
    model.to(dev).eval()
    C, n = x.shape
    sr = int(model.sample_rate)
    if int(rate) != sr:
        from ..io import resample

        x = np.ascontiguousarray(resample(x, int(rate), sr), dtype=np.float32)
        if x.shape[1] == 0:  # shorter than one sample at the model's rate
            x = np.zeros((C, 1), np.float32)
    chunk, shared = _plan_lengths(model, x.shape[1], chunk_seconds, overlap, automatic, wiener)
    with torch.inference_mode():
        if model.DOMAIN == "spectrogram":
            images = _separate_spectrogram(model, x, chunk, shared, batch_size, dev, progress, wiener)
        elif model.DOMAIN == "waveform":
            images = _separate_waveform(model, x, chunk, shared, batch_size, dev, progress)
        else:
            raise ValueError(f"model '{model.NAME}' has unknown DOMAIN '{model.DOMAIN}'")
    S = images.shape[0]
    if int(rate) != sr:
        from ..io import resample

        images = np.asarray(resample(images.reshape(S * C, -1), sr, int(rate)), dtype=np.float32).reshape(S, C, -1)
    if images.shape[-1] < n:
        images = np.pad(images, ((0, 0), (0, 0), (0, n - images.shape[-1])))
    images = images[..., :n]
    return {t: np.ascontiguousarray(images[j], dtype=np.float32) for j, t in enumerate(model.targets)}


def load_separator(
    path,
    *,
    device: str | None = None,
    wiener: bool = False,
    chunk_seconds: float | None = None,
    overlap: float = DEFAULT_OVERLAP,
    batch_size: int | None = None,
    progress: bool = True,
) -> Callable[..., dict[str, np.ndarray]]:
    """Load the checkpoint at ``path`` and return ``separator(mixture, rate, **overrides) -> dict``.

    The keywords set the defaults of :func:`separate_with_model` (a progress bar shows on a
    terminal only, never when stderr is piped); ``overrides`` may change
    ``chunk_seconds``, ``overlap``, ``batch_size``, ``wiener`` and ``progress`` per call.
    The returned function carries ``model``, ``targets``, ``sample_rate`` and ``info`` (the
    checkpoint's metadata) as attributes. Raises :class:`shotoku.errors.InputFileError` for a
    missing or bad checkpoint and :class:`shotoku.errors.ParameterError` for an unusable device.
    """
    from .checkpoint import load_checkpoint

    dev = resolve_device(device)
    model, info = load_checkpoint(path, device=str(dev))
    defaults = dict(chunk_seconds=chunk_seconds, overlap=overlap, batch_size=batch_size, wiener=wiener, progress=progress)
    if wiener and model.DOMAIN != "spectrogram":
        raise ParameterError(f"the Wiener post-filter needs a spectrogram model; '{model.NAME}' works on waveforms")

    def separator(mixture: np.ndarray, rate: int, **overrides) -> dict[str, np.ndarray]:
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise ParameterError(f"unknown option(s) for a model separator: {', '.join(sorted(unknown))}")
        return separate_with_model(model, mixture, rate, device=str(dev), **{**defaults, **overrides})

    separator.model = model
    separator.targets = list(model.targets)
    separator.sample_rate = int(model.sample_rate)
    separator.info = info
    return separator
