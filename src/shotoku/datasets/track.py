"""The one record every dataset yields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Track:
    """A multitrack recording with known stems.

    name: track name (unique within its dataset)
    mixture: float32 [shape=(channels, samples)]
    stems: {stem name: float32 [shape=(channels, samples)]}, same shape as ``mixture``
    rate: sample rate in Hz
    meta: free-form metadata (seed, tempo, key, source path...), JSON-serialisable
    """

    name: str
    mixture: np.ndarray
    stems: dict[str, np.ndarray]
    rate: int
    meta: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.mixture.shape[-1] / float(self.rate)
