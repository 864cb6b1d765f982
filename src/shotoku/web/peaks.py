"""Waveform peaks for the console's canvases."""

from __future__ import annotations

import numpy as np

#: Columns of a waveform overview.
COLUMNS = 1000


def peaks(audio: np.ndarray, columns: int = COLUMNS) -> list[list[float]]:
    """Per-column ``[min, max]`` of a recording, over all its channels.

    audio: float [shape=(channels, samples)]
    columns: how many columns the overview has (fewer for a recording with fewer samples)
    returns: ``columns`` pairs ``[min, max]`` (floats rounded to 4 decimals), column ``k``
        covering samples ``[k·N/columns, (k+1)·N/columns)``
    """
    x = np.asarray(audio, dtype=np.float32)
    n = x.shape[-1]
    columns = max(1, min(int(columns), n))
    edges = (np.arange(columns + 1) * n) // columns
    lo = np.minimum.reduceat(x.min(axis=0), edges[:-1])
    hi = np.maximum.reduceat(x.max(axis=0), edges[:-1])
    return np.round(np.stack([lo, hi], axis=1).astype(np.float64), 4).tolist()
