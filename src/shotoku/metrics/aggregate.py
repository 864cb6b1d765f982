"""Aggregating framewise scores the way the field reports them (SiSEC 2018 / museval):
the median over a track's frames (NaN frames skipped), then the median over tracks."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["median_over_frames", "median_over_tracks"]


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN quietly
        return np.nanmedian(x, axis=axis)


def median_over_frames(values, axis: int = -1) -> np.ndarray:
    """Median of framewise scores over frames, skipping NaN frames (museval's ``np.nanmedian``).

    Parameters
    ----------
    values: float [shape=(..., frames)] in dB; ±inf counts as a value, NaN is skipped
    axis: the frames axis

    Returns
    -------
    float64 [shape=(...)]; NaN where every frame is NaN

    Example
    -------
    >>> median_over_frames(np.array([[1.0, np.nan, 3.0, 10.0]]))
    array([3.])
    """
    return _nanmedian(np.asarray(values, dtype=np.float64), axis)


def median_over_tracks(values, axis: int = 0) -> np.ndarray:
    """Median over tracks of per-track medians (NaN tracks skipped): the SiSEC 2018 summary.

    Parameters
    ----------
    values: float [shape=(tracks, ...)], each track's :func:`median_over_frames`
    axis: the tracks axis

    Returns
    -------
    float64 [shape=(...)]

    Example
    -------
    >>> median_over_tracks([[5.0, 1.0], [7.0, np.nan], [6.0, 3.0]])
    array([6., 2.])
    """
    return _nanmedian(np.asarray(values, dtype=np.float64), axis)
