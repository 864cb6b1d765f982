"""Training examples from multitrack recordings: random excerpts with augmentation.

Each example is an excerpt of one track (or, with ``mix_tracks``, each source from its own track,
as Open-Unmix's random track mixing), every source scaled by a random gain drawn uniformly from
:data:`GAIN_RANGE` and, for
stereo, its left and right channels swapped with probability 1/2 (the augmentations of
Uhlich et al., ICASSP 2017, as Open-Unmix and the MMDenseNet recipes use them). The mixture is
the sum of the augmented sources, so that it always matches its targets exactly.

Stems that are not targets of the model are summed into one ``rest`` source, which is augmented
like the others and enters the mixture but is not a target.

:class:`ExcerptBatches` serves the same batches as a :class:`torch.utils.data.Dataset` indexed by
the optimiser step: batch ``k`` of a run depends only on the run's seed, the process rank and
``k``, so that loader workers may build batches in any order and a resumed run continues the
stream where it stopped (:class:`StepSampler` starts at the restored step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ChannelError, MismatchError, ParameterError

#: Range of the uniform random gain applied to every source of a training example (Uhlich et al.).
GAIN_RANGE = (0.25, 1.25)


@dataclass
class SourceSet:
    """Sources of the tracks, ready to draw excerpts from.

    sources: per track, float32 [shape=(S + 1, C, N)] -- the targets in model order, then the rest
    names: track names
    rate: sample rate in Hz
    """

    sources: list[np.ndarray]
    names: list[str]
    rate: int


def prepare_sources(tracks, targets: list[str], rate: int) -> SourceSet:
    """Stack each track's target stems (model order) and the sum of its other stems.

    tracks: list of :class:`shotoku.datasets.track.Track`, all with the same channel count
    targets: stem names the model estimates
    rate: the model's sample rate; tracks at another rate are resampled with :func:`shotoku.io.resample`
    Raises :class:`shotoku.errors.MismatchError` when a track lacks a target stem or the channel
    counts differ, :class:`shotoku.errors.ParameterError` when there is no track.
    """
    from ..io import resample

    if not tracks:
        raise ParameterError("training needs at least one track")
    sources, names, channels = [], [], None
    for track in tracks:
        missing = [t for t in targets if t not in track.stems]
        if missing:
            raise MismatchError(
                f"track '{track.name}' has no stem {', '.join(missing)}; its stems: {', '.join(track.stems)}"
            )
        rest = [np.asarray(s, np.float32) for k, s in track.stems.items() if k not in targets]
        first = np.asarray(track.stems[targets[0]], np.float32)
        stack = [np.asarray(track.stems[t], np.float32) for t in targets]
        stack.append(np.sum(rest, axis=0, dtype=np.float32) if rest else np.zeros_like(first))
        x = np.stack(stack)
        if int(track.rate) != int(rate):
            S, C, N = x.shape
            x = resample(x.reshape(S * C, N), int(track.rate), int(rate)).reshape(S, C, -1)
        if channels is None:
            channels = x.shape[1]
        elif x.shape[1] != channels:
            raise MismatchError(f"track '{track.name}' has {x.shape[1]} channels, the others {channels}")
        sources.append(np.ascontiguousarray(x, dtype=np.float32))
        names.append(track.name)
    return SourceSet(sources, names, int(rate))


def sample_batch(
    data: SourceSet,
    rng: np.random.Generator,
    batch_size: int,
    length: int,
    channels: int,
    *,
    gain: tuple[float, float] | None = GAIN_RANGE,
    channel_swap: bool = True,
    mix_tracks: bool | float = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a batch of augmented excerpts.

    data: from :func:`prepare_sources`
    rng: the generator every random choice comes from (same state, same batch)
    length: excerpt length in samples (tracks shorter than that are zero-padded)
    channels: channels the model takes; from stereo data a mono model gets one channel drawn at
        random per example, a stereo model fed mono data gets the channel twice
    gain: range of the uniform random gain per source, or None for none
    channel_swap: swap left/right per source with probability 1/2 (stereo only)
    mix_tracks: draw every source from its own random track and position; a number in 0..1 is
        the probability of doing so per example (True: always)
    Returns ``(mixture, targets)``: float32 [shape=(B, channels, length)] and
    [shape=(B, S, channels, length)], mixture = sum of the targets and the rest.
    """
    n_sources, data_channels = data.sources[0].shape[:2]
    if not (channels == data_channels or channels == 1 or data_channels == 1):
        raise ChannelError(f"the model takes {channels} channels, the tracks have {data_channels}")
    batch = np.zeros((batch_size, n_sources, channels, length), dtype=np.float32)
    p_mix = float(mix_tracks)
    for b in range(batch_size):
        mixed = p_mix >= 1.0 or (p_mix > 0.0 and rng.random() < p_mix)
        track_ids = rng.integers(len(data.sources), size=n_sources if mixed else 1)
        starts = [rng.integers(0, max(data.sources[i].shape[-1] - length, 0) + 1) for i in track_ids]
        pick = rng.integers(data_channels) if (channels == 1 and data_channels > 1) else None
        for j in range(n_sources):
            k = j if mixed else 0
            src = data.sources[track_ids[k]][j, :, starts[k] : starts[k] + length]
            if pick is not None:
                src = src[pick : pick + 1]
            elif data_channels == 1 and channels > 1:
                src = np.repeat(src, channels, axis=0)
            if gain is not None:
                src = src * np.float32(rng.uniform(*gain))
            if channel_swap and src.shape[0] == 2 and rng.random() < 0.5:
                src = src[::-1]
            batch[b, j, :, : src.shape[-1]] = src
    return batch.sum(axis=1), batch[:, :-1]


def step_generator(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    """The generator of batch ``step`` of process ``rank`` in a run seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32, int(rank), int(step)]))


class ExcerptBatches:
    """Augmented training batches as a map-style dataset: item ``k`` is the batch of step ``k``.

    data: from :func:`prepare_sources`
    batch_size, length, channels: as :func:`sample_batch` (length: samples of mixture read)
    seed: the run's seed; rank: the process's rank among data-parallel processes (each draws
        its own batches)
    augment: random gain in :data:`GAIN_RANGE` and channel swap; mix_tracks: probability of
        drawing every source of an example from its own track
    ``batches[k]`` -> ``(mixture, targets)`` float32 torch tensors [shape=(B, channels, length)] and
    [shape=(B, S, channels, length)]; the same ``k`` gives the same batch in any process. Use it
    with ``DataLoader(batches, sampler=StepSampler(...), batch_size=None)``.
    """

    def __init__(self, data: SourceSet, batch_size: int, length: int, channels: int, *, seed: int = 0,
                 rank: int = 0, augment: bool = True, mix_tracks: bool | float = 0.0):
        self.data, self.batch_size, self.length, self.channels = data, int(batch_size), int(length), int(channels)
        self.seed, self.rank, self.augment, self.mix_tracks = int(seed), int(rank), bool(augment), mix_tracks

    def __getitem__(self, step: int):
        import torch

        mix, tgt = sample_batch(
            self.data, step_generator(self.seed, step, self.rank), self.batch_size, self.length, self.channels,
            gain=GAIN_RANGE if self.augment else None, channel_swap=self.augment, mix_tracks=self.mix_tracks)
        return torch.from_numpy(mix), torch.from_numpy(tgt)


class StepSampler:
    """Endless sampler of step numbers ``start(), start() + 1, ...``.

    start: a callable giving the first step, read each time iteration begins (a trainer's
        restored ``global_step``), or an integer
    """

    def __init__(self, start=0):
        self.start = start

    def __iter__(self):
        step = int(self.start() if callable(self.start) else self.start)
        while True:
            yield step
            step += 1
