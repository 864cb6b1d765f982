"""Separation quality metrics: BSS Eval v4 (museval-compatible), BSS Eval v3 sources, SI-SDR."""

from .aggregate import median_over_frames, median_over_tracks
from .bsseval import (
    FILTER_LENGTH,
    REGULARISATION,
    RankDeficientWarning,
    Scores,
    bss_eval_images,
    bss_eval_sources,
    frame_starts,
)
