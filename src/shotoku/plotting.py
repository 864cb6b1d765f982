"""Figures: box plots of framewise scores (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import OutputError

#: Formats matplotlib writes without extra backends.
FORMATS = (".png", ".pdf", ".svg")


def check_figure_path(path) -> Path:
    """``path`` if a figure can be written there (known suffix, existing folder), else
    :class:`~shotoku.errors.OutputError` — checked before any expensive work."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise OutputError(f"cannot draw a figure to '{path}': use a file name ending in {', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise OutputError(f"the folder of '{path}' does not exist; create it first")
    if path.is_dir():
        raise OutputError(f"'{path}' is a folder; give a file name for the figure")
    return path


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend; a clear error when not installed."""
    try:
        import matplotlib
    except ModuleNotFoundError as exc:
        from .extras import missing

        raise missing(exc) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> Path:
    """Write a matplotlib figure atomically to ``path`` and close it."""
    from .io import atomic_path

    plt = pyplot()
    path = check_figure_path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format=path.suffix.lstrip(".").lower())
    finally:
        plt.close(fig)
    return path


def score_boxplots(path, names, scores) -> Path:
    """Box plots of the framewise SDR, ISR, SIR and SAR of each source (NaN frames left out).

    path: a .png/.pdf/.svg file
    names: one name per source, in the order of the scores' rows
    scores: :class:`~shotoku.metrics.Scores` [shape=(sources, frames)]
    """
    from .metrics import METRICS

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(max(6.0, 2.0 + 1.4 * len(names)), 6.5), squeeze=False)
    for ax, metric in zip(axes.ravel(), METRICS):
        values = scores.metric(metric)
        data = [v[np.isfinite(v)] for v in values]
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{metric} (dB)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"BSS Eval v4, {scores.window:g} s frames", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
