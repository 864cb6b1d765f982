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


@dataclass
class Separation:
    """What a run of :func:`run` gives: the images and how they were made.

    images: {source name: float32 [shape=(channels, samples)]}
    method: the registered method's name
    parameters: every parameter's value, defaults filled in (``references`` left out)
    seconds: wall-clock time of the separation
    """

    images: dict[str, np.ndarray]
    method: str
    parameters: dict
    seconds: float


def run(mixture, rate: int, method: str | None = None, **params) -> Separation:
    """Separate a mixture and say how: :func:`separate` plus the parameters used and the time.

    Same arguments as :func:`separate`. ``separation.json`` records ``method`` and
    ``parameters`` from here, so every run, whatever its method, lists what produced it.
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
    t0 = time.perf_counter()
    images = m.func(x, rate, **arguments)
    seconds = time.perf_counter() - t0
    return Separation(check_images(name, images, x.shape), name, m.settings(arguments), seconds)


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
