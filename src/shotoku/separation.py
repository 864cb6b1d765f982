"""``shotoku.separate``: one entry point to every registered separator."""

from __future__ import annotations

import numpy as np

from . import registry
from .errors import AudioContentError, ParameterError


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


def separate(mixture, rate: int, method: str | None = None, **params) -> dict[str, np.ndarray]:
    """Separate a mixture into source images.

    Parameters
    ----------
    mixture: float array [shape=(channels, samples)] (1-D is taken as mono)
    rate: sample rate in Hz
    method: a registered method name (``shotoku methods`` lists them); default: ``projet`` for
        stereo input, ``auxiva`` for more channels
    **params: the method's parameters (``sources``, ``seed``, ...; oracle methods take
        ``references``: {name: image [shape=(channels, samples)]})

    Returns
    -------
    images: {source name: float32 [shape=(channels, samples)]}, same shape as the mixture.
    Silent input gives silent images.

    Example
    -------
    >>> import numpy as np, shotoku
    >>> x = np.zeros((2, 44100), np.float32)
    >>> images = shotoku.separate(x, 44100, method="projet", sources=2)
    >>> [im.shape for im in images.values()]
    [(2, 44100), (2, 44100)]
    """
    x = check_mixture(mixture)
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ParameterError(f"the sample rate must be a positive integer, got {rate!r}")
    name = method or registry.default_method(x.shape[0])
    m = registry.get(name)
    m.check_channels(x.shape[0])
    if m.needs_references and params.get("references") is None:
        raise ParameterError(f"method '{name}' is an oracle: it needs the reference images (references=...)")
    unknown = set(params) - set(m.params) - {"references", "progress"}
    if unknown:
        known = ", ".join(m.params) or "none"
        raise ParameterError(f"method '{name}' has no parameter {', '.join(sorted(unknown))}; its parameters: {known}")
    images = m.func(x, int(rate), **params)
    out = {}
    for k, v in images.items():
        v = np.asarray(v, dtype=np.float32)
        if v.shape != x.shape:
            raise RuntimeError(f"method '{name}' returned image '{k}' of shape {v.shape}, expected {x.shape}")
        out[k] = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    return out
