"""Separation quality metrics.

- :func:`bss_eval_images`: BSS Eval v4 image metrics (SDR, ISR, SIR, SAR) per source and frame,
  museval 0.4.1-compatible and about 60x faster (docs/benchmarks.md);
- :func:`bss_eval_sources`: BSS Eval v3 ``bss_eval_sources`` criteria (filters fitted per frame);
- :func:`framewise_sdr`, :func:`match_sources`: SDR of every estimate against every reference and
  the best one-to-one pairing (Hungarian assignment), for unnamed outputs;
- :func:`si_sdr`: scale-invariant SDR;
- :func:`median_over_frames`, :func:`median_over_tracks`: the SiSEC 2018 aggregation;
- :func:`score_table`, :func:`museval_json`, :func:`write_museval_json`: tables and museval's JSON;
- :func:`prepare_pair`: the input checks all of them run (layout, channels, equal lengths unless
  ``pad=True``), for callers that validate before scoring;
- :class:`Sources`: inputs read a range at a time, from arrays or files
  (:class:`shotoku.io.AudioFile`), so that a long track is scored in bounded memory.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> refs = rng.standard_normal((2, 2, 16000))
>>> ests = refs + 0.1 * rng.standard_normal(refs.shape)
>>> scores = bss_eval_images(refs, ests, rate=8000)
>>> np.round(scores.median()["SDR"], 1)
array([20., 20.])
"""

from .aggregate import median_over_frames, median_over_tracks
from . import bsseval
from .bsseval import *  # noqa: F403  (its __all__: the BSS Eval functions, constants, warnings)
from .inputs import Sources, prepare_pair, prepare_sources
from .matching import framewise_sdr, match_sources, si_sdr
from .report import museval_json, score_table, write_museval_json

__all__ = [
    *bsseval.__all__,
    "Sources", "framewise_sdr", "match_sources", "median_over_frames", "median_over_tracks", "museval_json",
    "prepare_pair", "prepare_sources", "score_table", "si_sdr", "write_museval_json",
]
