"""Checks shared by every metric: array layout, sample rate, finite samples, equal lengths.

:func:`prepare_pair` is what :func:`~shotoku.metrics.bss_eval_images`,
:func:`~shotoku.metrics.bss_eval_sources`, :func:`~shotoku.metrics.framewise_sdr`,
:func:`~shotoku.metrics.match_sources` and :func:`~shotoku.metrics.si_sdr` run on their inputs;
the errors are :mod:`shotoku.errors` classes with one-line messages.

Lengths: references and estimates of different lengths are refused with a
:class:`~shotoku.errors.MismatchError` naming both lengths, unless ``pad=True`` asks for
museval's rule (``museval.evaluate(..., padding=True)``): the estimates are cut to the
references' length, or zero-padded at the end up to it.
"""

from __future__ import annotations

import numpy as np

from ..errors import AudioContentError, MismatchError, ParameterError

__all__ = ["as_sources", "check_finite", "check_rate", "prepare_pair"]


def check_rate(rate) -> float:
    """The sample rate in Hz, or :class:`~shotoku.errors.ParameterError` unless it is positive.

    >>> check_rate(8000)
    8000
    """
    if rate is None or not rate > 0:
        raise ParameterError(f"rate must be a positive sample rate in Hz (got {rate})")
    return rate


def as_sources(x, what: str) -> np.ndarray:
    """``x`` as a float array [shape=(sources, channels, samples)].

    x: array-like [shape=(sources, channels, samples)], or [shape=(sources, samples)] for mono
    sources (a channel axis of 1 is added); float32 and float64 are kept, anything else becomes
    float64. what: the name used in error messages ("references", "estimates").

    Raises :class:`~shotoku.errors.AudioContentError` for another number of dimensions or an
    empty axis.

    >>> as_sources(np.zeros((2, 5)), "references").shape
    (2, 1, 5)
    """
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise AudioContentError(f"{what} must be an array (sources, channels, samples); got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[-1] == 0:
        raise AudioContentError(f"{what} is empty (shape {x.shape})")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return x


def check_finite(values, what: str = "references or estimates") -> None:
    """:class:`~shotoku.errors.AudioContentError` if ``values`` (any array) holds NaN or ±inf."""
    if not np.all(np.isfinite(values)):
        raise AudioContentError(f"{what} contain NaN or infinite samples; repair the audio")


def prepare_pair(
    references, estimates, *, pad: bool = False, same_count: bool = True, finite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Validated references and estimates for a metric.

    Parameters
    ----------
    references: [shape=(J, channels, samples)] (or [shape=(J, samples)] for mono)
    estimates: [shape=(K, channels, samples)] (or [shape=(K, samples)])
    pad: cut or zero-pad the estimates to the references' length (museval's ``padding=True``)
        instead of refusing different lengths
    same_count: require K == J (one estimate per reference)
    finite: also scan every sample for NaN/inf (metrics that find them on the way skip this)

    Returns
    -------
    refs [shape=(J, C, N)], ests [shape=(K, C, N)]: float32 or float64 arrays (see
    :func:`as_sources`), the estimates of the references' length N.

    Raises :class:`~shotoku.errors.MismatchError` when source counts (if ``same_count``), channel
    counts or (unless ``pad``) lengths differ; :class:`~shotoku.errors.AudioContentError` for a
    bad layout, an empty array or (if ``finite``) NaN/inf samples.

    Example
    -------
    >>> refs, ests = prepare_pair(np.ones((2, 2, 10)), np.ones((2, 2, 8)), pad=True)
    >>> ests.shape, float(ests[0, 0, -1])
    ((2, 2, 10), 0.0)
    >>> prepare_pair(np.ones((2, 2, 10)), np.ones((2, 2, 8)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shotoku.errors.MismatchError: references are 10 samples long but estimates 8; ...
    """
    refs = as_sources(references, "references")
    ests = as_sources(estimates, "estimates")
    if same_count and refs.shape[0] != ests.shape[0]:
        raise MismatchError(
            f"{refs.shape[0]} references but {ests.shape[0]} estimates; give one estimate per reference"
        )
    if refs.shape[1] != ests.shape[1]:
        raise MismatchError(
            f"references have {refs.shape[1]} channels but estimates {ests.shape[1]}; "
            "give estimates with the references' channel count"
        )
    n, k = refs.shape[-1], ests.shape[-1]
    if k != n:
        if not pad:
            raise MismatchError(
                f"references are {n} samples long but estimates {k}; cut or pad them to one length "
                "first (or pass pad=True: estimates cut or zero-padded to the references' length, as museval)"
            )
        if k > n:
            ests = ests[..., :n]
        else:
            ests = np.concatenate([ests, np.zeros(ests.shape[:2] + (n - k,), dtype=ests.dtype)], axis=-1)
    if finite:
        check_finite(refs, "references")
        check_finite(ests, "estimates")
    return refs, ests
