"""``shotoku.separate``: one entry point to every registered separator."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import registry
from .errors import AudioContentError, ParameterError, SeparatorBug


def check_mixture(mixture) -> np.ndarray:
    """Validate a mixture and return it as contiguous float32 [shape=(channels, samples)].

    A 1-D array is taken as mono. Raises :class:`~shotoku.errors.AudioContentError` for
    empty audio, more than 2 dimensions or NaN/Inf samples.
    """
    x = np.asarray(mixture)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise AudioContentError(f"a mixture must be (channels, samples), got shape {x.shape}")
    if x.shape[0] > x.shape[1] and x.shape[0] > 64:
        raise AudioContentError(
            f"a mixture must be (channels, samples), got {x.shape}: transpose it (audio.T)"
        )
    if x.shape[1] == 0 or x.shape[0] == 0:
        raise AudioContentError("the mixture is empty (no samples)")
    if not np.all(np.isfinite(x)):
        raise AudioContentError("the mixture contains NaN or infinite samples")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_rate(rate) -> int:
    """``rate`` as an int, or :class:`~shotoku.errors.ParameterError` unless a positive integer."""
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ParameterError(f"the sample rate must be a positive integer, got {rate!r}")
    return int(rate)


def check_images(name: str, images, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """A method's output as {name: contiguous float32 (C, N)}, checked against the mixture.

    A wrong shape or a non-finite sample is a bug of the method, not something the user did:
    :class:`~shotoku.errors.SeparatorBug` names the method and the image.
    """
    if not isinstance(images, dict) or not images:
        raise SeparatorBug(f"method '{name}' returned {type(images).__name__} instead of a non-empty dict of images")
    out = {}
    for k, v in images.items():
        v = np.ascontiguousarray(v, dtype=np.float32)
        if v.shape != shape:
            raise SeparatorBug(f"method '{name}' returned image '{k}' of shape {v.shape}, expected {shape}")
        if not np.all(np.isfinite(v)):
            raise SeparatorBug(f"method '{name}' returned non-finite samples in image '{k}'")
        out[str(k)] = v
    return out


#: The shortest mixture any method is asked to separate (positions, spectra and masks need
#: at least a few STFT frames).
MIN_SAMPLES = 1024


class SilentInputWarning(UserWarning):
    """The mixture is all zeros: the images are silent too."""


#: Long inputs are separated block by block, so that memory is bounded by the block, not by the
#: song: blocks of BLOCK_SECONDS, each given CONTEXT_SECONDS of audio on either side, joined by
#: raised-cosine crossfades of FADE_SECONDS centred on the block boundaries (the weights of two
#: neighbours sum to 1, so images that add up to the mixture still do). An input up to
#: BLOCK_SECONDS + CONTEXT_SECONDS long is one block: separated exactly as a whole.
BLOCK_SECONDS = 40.0
CONTEXT_SECONDS = 2.0
FADE_SECONDS = 1.0
#: A "planned" method fixes its global decisions on a summary of a long input: PLAN_SEGMENTS
#: excerpts spread evenly over it, PLAN_SECONDS in all (the whole input when it is shorter).
PLAN_SECONDS = 60.0
PLAN_SEGMENTS = 15


@dataclass
class Separation:
    """What a run of :func:`run` gives: the images and how they were made.

    images: {source name: float32 [shape=(channels, samples)]}
    method: the registered method's name
    parameters: every parameter's value, defaults filled in (``references`` left out); for a
        planned method on a long input, with the values its plan fixed (positions, ...)
    seconds: wall-clock time of the separation
    blocks: how the input was split: {"count", "seconds", "context_s", "fade_s"} (count 1: whole)
    """

    images: dict[str, np.ndarray]
    method: str
    parameters: dict
    seconds: float
    blocks: dict | None = None


def block_bounds(samples: int, rate: int) -> list[int]:
    """Boundaries ``[0, b1, ..., samples]`` of the blocks a ``samples`` long input is split into."""
    block = max(int(round(BLOCK_SECONDS * rate)), 1)
    context = int(round(CONTEXT_SECONDS * rate))
    if samples <= block + context:
        return [0, samples]
    count = int(np.ceil(samples / block))
    return [min(k * block, samples) for k in range(count)] + [samples]


def _rise(samples: np.ndarray, start: int, fade: int) -> np.ndarray:
    """Raised-cosine weights at absolute ``samples``: 0 before ``start``, 1 from ``start + fade``."""
    t = np.clip((samples - start + 0.5) / max(fade, 1), 0.0, 1.0)
    return (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)


def summary_excerpt(x: np.ndarray, rate: int) -> np.ndarray:
    """PLAN_SEGMENTS excerpts spread evenly over ``x`` [shape=(channels, samples)], joined; ``x``
    itself when it is no longer than PLAN_SECONDS."""
    total = int(round(PLAN_SECONDS * rate))
    if x.shape[1] <= total:
        return x
    seg = total // PLAN_SEGMENTS
    starts = np.linspace(0, x.shape[1] - seg, PLAN_SEGMENTS).astype(np.int64)
    return np.ascontiguousarray(np.concatenate([x[:, s:s + seg] for s in starts], axis=1))


def _slice_references(references, a: int, b: int):
    """Samples a:b of an oracle's references: arrays are sliced, files
    (:class:`~shotoku.io.AudioFile`) read, so that a block holds only its own span."""
    def part(v):
        return v.read(a, b) if hasattr(v, "read") else np.asarray(v)[..., a:b]

    if isinstance(references, dict):
        return {k: part(v) for k, v in references.items()}
    return part(references)


class _Collect:
    """The images of a run in memory: its pieces copied into arrays of the mixture's shape."""

    def __init__(self, shape: tuple[int, int]):
        self.shape, self.images, self.at = shape, {}, 0

    def __call__(self, piece: dict[str, np.ndarray]) -> None:
        n = next(iter(piece.values())).shape[1]
        if n == self.shape[1]:  # the whole run at once: keep its arrays
            self.images = piece
            return
        if not self.images:
            self.images = {k: np.empty(self.shape, np.float32) for k in piece}
        for k, v in piece.items():
            self.images[k][:, self.at:self.at + n] = v
        self.at += n


def _run_blocks(m, x: np.ndarray, rate: int, arguments: dict, bounds: list[int], emit) -> dict:
    """Separate ``x`` block by block; hands the joined images to ``emit`` in order, a piece at a
    time (only a block and one crossfade are held). Returns the values the method's plan fixed."""
    from .progress import bar

    show = arguments.get("progress") if m.takes_progress else None
    fixed = {}
    if m.plan is not None:
        fixed = dict(m.plan(summary_excerpt(x, rate), rate, **arguments))
    args = {**arguments, **fixed}
    if m.takes_progress:
        args["progress"] = False
    context = int(round(CONTEXT_SECONDS * rate))
    half = min(int(round(FADE_SECONDS * rate)), 2 * context) // 2
    n, count = x.shape[1], len(bounds) - 1
    names, pending, pending_lo = None, None, 0
    for k in bar(range(count), desc=f"{m.name}: blocks", total=count, unit="block", show=show):
        start, stop = bounds[k], bounds[k + 1]
        a, b = max(start - context, 0), min(stop + context, n)
        block_args = dict(args)
        if m.needs_references:
            block_args["references"] = _slice_references(args["references"], a, b)
        images = check_images(m.name, m.func(x[:, a:b], rate, **block_args), (x.shape[0], b - a))
        if names is None:
            names = list(images)
        elif list(images) != names:
            raise SeparatorBug(f"method '{m.name}' named its outputs {list(images)} in block {k + 1} "
                               f"and {names} before")
        # this block's share: from half a fade before its start to half a fade after its end
        lo = start - half if k > 0 else 0
        hi = min(stop + half, n) if k < count - 1 else n
        where = np.arange(lo, hi)
        weight = np.ones(hi - lo, np.float32)
        if k > 0:
            weight *= _rise(where, start - half, 2 * half)
        if k < count - 1:
            weight *= 1.0 - _rise(where, stop - half, 2 * half)
        share = {name: weight * image[:, lo - a:hi - a] for name, image in images.items()}
        del images
        if pending is not None:  # the crossfade with the previous block; what lies before it is final
            emit({name: v[:, : lo - pending_lo] for name, v in pending.items()})
            for name, v in share.items():
                v[:, : pending_lo + pending[name].shape[1] - lo] += pending[name][:, lo - pending_lo:]
        pending, pending_lo = share, lo
    emit(pending)
    return fixed


def run(mixture, rate: int, method: str | None = None, *, sink=None, **params) -> Separation:
    """Separate a mixture and say how: :func:`separate` plus the parameters used and the time.

    Same arguments as :func:`separate`. ``separation.json`` records ``method`` and
    ``parameters`` from here, so every run, whatever its method, lists what produced it.

    sink: None (the images are returned), or a callable that receives the images in order, a
        piece at a time, as {name: float32 [shape=(channels, n)]} (the pieces of one run cover
        the mixture once; a method that runs whole gives one piece): a long separation then holds
        one block, not the whole song's images (:class:`shotoku.outputs.StagedImages` writes
        them). The returned :class:`Separation` has no images then.
    """
    x = check_mixture(mixture)
    rate = check_rate(rate)
    if x.shape[1] < MIN_SAMPLES:
        raise AudioContentError(f"the mixture is {x.shape[1]} sample(s) long; separation needs at least "
                                f"{MIN_SAMPLES} ({MIN_SAMPLES / rate * 1000:.0f} ms at {rate} Hz)")
    if not np.any(x):
        warnings.warn("the mixture is silent: every image will be silent", SilentInputWarning, stacklevel=2)
    name = method or registry.default_method(x.shape[0])
    m = registry.get(name)
    m.check_channels(x.shape[0])
    arguments = m.arguments(params)
    bounds = block_bounds(x.shape[1], rate) if m.blocks != "whole" else [0, x.shape[1]]
    collect = _Collect(x.shape)
    emit = sink if sink is not None else collect
    t0 = time.perf_counter()
    if len(bounds) > 2:
        arguments = {**arguments, **_run_blocks(m, x, rate, arguments, bounds, emit)}
    else:
        if m.needs_references:
            arguments = {**arguments, "references": _slice_references(arguments["references"], 0, x.shape[1])}
        emit(check_images(name, m.func(x, rate, **arguments), x.shape))
    seconds = time.perf_counter() - t0
    images = collect.images
    blocks = {"count": len(bounds) - 1, "seconds": BLOCK_SECONDS, "context_s": CONTEXT_SECONDS,
              "fade_s": FADE_SECONDS} if len(bounds) > 2 else {"count": 1}
    return Separation(images, name, m.settings(arguments), seconds, blocks)


def separate(mixture, rate: int, method: str | None = None, **params) -> dict[str, np.ndarray]:
    """Separate a mixture into source images.

    Parameters
    ----------
    mixture: float array [shape=(channels, samples)] (1-D is taken as mono)
    rate: sample rate in Hz
    method: a registered method name (``shotoku methods`` lists them: spatial methods, oracles,
        ``model`` with ``checkpoint=PATH``, shipped models); default: ``adress`` for stereo
        input, ``auxiva`` for more channels
    **params: the method's parameters, and the shared ones any method accepts
        (:data:`shotoku.registry.SHARED`: ``sources``, ``seed``, ``device``, ``progress``;
        oracles take ``references``: {name: image [shape=(channels, samples)]})

    Returns
    -------
    images: {source name: float32 [shape=(channels, samples)]}, each with the mixture's shape.
    Silent input gives silent images.

    Example
    -------
    >>> import numpy as np, shotoku
    >>> x = np.zeros((2, 44100), np.float32)
    >>> images = shotoku.separate(x, 44100, method="projet", sources=2)
    >>> [im.shape for im in images.values()]
    [(2, 44100), (2, 44100)]
    """
    return run(mixture, rate, method, **params).images
