"""Presenting BSS Eval scores: a plain-text table and museval's JSON layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import OutputError
from .bsseval import METRICS, Scores

__all__ = ["museval_json", "score_table", "write_museval_json"]


def score_table(names, scores: Scores, title: str | None = None) -> str:
    """A text table of each source's median (over frames, NaN skipped) SDR, ISR, SIR and SAR.

    Parameters
    ----------
    names: one name per source, in the order of the scores' rows
    scores: :class:`~shotoku.metrics.Scores` [shape=(sources, frames)]
    title: optional first line

    Returns
    -------
    str, one line per source plus a header; values in dB with two decimals, ``nan`` where every
    frame is NaN.

    Example
    -------
    >>> s = Scores(*(np.array([[1.0, 2.0, 3.0]]),) * 4, times=np.arange(3.0), window=1.0, hop=1.0)
    >>> print(score_table(["vocals"], s))
    source     SDR     ISR     SIR     SAR
    vocals    2.00    2.00    2.00    2.00
    """
    medians = scores.median()
    width = max([len("source")] + [len(str(n)) for n in names])
    lines = [] if title is None else [title]
    lines.append("source".ljust(width) + "".join(f"{m:>8}" for m in METRICS))
    for i, name in enumerate(names):
        lines.append(str(name).ljust(width) + "".join(f"{medians[m][i]:8.2f}" for m in METRICS))
    return "\n".join(lines)


def _value(x: float) -> float:
    """museval stores ±inf as NaN and rounds to 5 decimals."""
    if not np.isfinite(x):
        return math.nan
    return round(float(x), 5)


def museval_json(names, scores: Scores) -> dict:
    """Scores in the layout museval's ``TrackStore`` writes (``museval.aggregate.json2df`` reads it).

    ``{"targets": [{"name": .., "frames": [{"time": t, "duration": d, "metrics": {"SDR": ..,
    "SIR": .., "SAR": .., "ISR": ..}}, ...]}, ...]}`` with times and durations in seconds;
    values rounded to 5 decimals and ±inf stored as NaN, as museval does (its files are written
    with ``allow_nan``, so NaN appears as the bare token ``NaN``).

    Example
    -------
    >>> s = Scores(*(np.array([[1.0, np.inf]]),) * 4, times=np.arange(2.0), window=1.0, hop=1.0)
    >>> museval_json(["vocals"], s)["targets"][0]["frames"][1]["metrics"]["SDR"]
    nan
    """
    targets = []
    for i, name in enumerate(names):
        frames = []
        for f in range(len(scores.times)):
            frames.append(
                {
                    "time": float(f * scores.hop),
                    "duration": float(scores.window),
                    "metrics": {m: _value(scores.metric(m)[i, f]) for m in ("SDR", "SIR", "SAR", "ISR")},
                }
            )
        targets.append({"name": str(name), "frames": frames})
    return {"targets": targets}


def write_museval_json(path, names, scores: Scores) -> Path:
    """Write :func:`museval_json` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write '{path}': folder '{folder}' does not exist")
    text = json.dumps(museval_json(names, scores), indent=2, allow_nan=True)
    from ..io import write_text

    write_text(path, text + "\n")
    return path

