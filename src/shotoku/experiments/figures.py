"""The study's figures (matplotlib, the ``plot``/``study`` extras).

- ``study-box-<METRIC>.png``: per condition, one box per method of the objects' scores
  (median over 1 s frames of each object of each scene)
- ``study-sdr-spacing.png``: median SDR against the angular spacing (10°, 20°, 30°), one line per
  method; the 20° scenes with delays as open markers at 20°
"""

from __future__ import annotations

import math
from pathlib import Path

from ..plotting import pyplot, save_figure
from .summary import CONDITION_TITLES, METRICS, medians

SPACINGS = {"10": 10.0, "20": 20.0, "30": 30.0}


def boxplots(path, rows: list[dict], labels, conditions, metric: str = "SDR") -> Path:
    """Box plots of ``metric`` (dB): one panel per condition, one box per method. Returns the path."""
    plt = pyplot()
    labels = [label for label in labels if any(r["label"] == label for r in rows)]
    fig, axes = plt.subplots(1, len(conditions), figsize=(3.2 * len(conditions) + 1, 4.2), sharey=True,
                             squeeze=False)
    for ax, c in zip(axes[0], conditions):
        data = []
        for label in labels:
            v = [r[metric] for r in rows if r["label"] == label and r["condition"] == c]
            data.append([x for x in v if isinstance(x, float) and math.isfinite(x)] or [math.nan])
        ax.boxplot(data, showfliers=True, flierprops={"markersize": 3})
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=60, ha="right", fontsize=8)
        ax.set_title(CONDITION_TITLES.get(c, c))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"{metric} (dB)")
    fig.suptitle(f"{metric} per object (median over 1 s frames)")
    fig.tight_layout()
    return save_figure(fig, path)


def sdr_vs_spacing(path, rows: list[dict], labels, conditions) -> Path:
    """Median SDR against angular spacing, one line per method. Returns the path."""
    plt = pyplot()
    table = medians(rows, labels, conditions)
    fig, ax = plt.subplots(figsize=(8.0, 4.4))
    spaced = [c for c in conditions if c in SPACINGS]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, label in enumerate(label for label in labels if any(r["label"] == label for r in rows)):
        colour = colours[i % len(colours)]
        style = "--" if label.startswith("oracle") else "-"
        x = [SPACINGS[c] for c in spaced]
        ax.plot(x, [table[label][c]["SDR"] for c in spaced], style, marker="o", color=colour, label=label)
        if "20d" in conditions:
            ax.plot([20.0], [table[label]["20d"]["SDR"]], marker="o", mfc="none", color=colour, ls="none")
    ax.set_xticks(sorted(SPACINGS.values()), [f"{v:g}°" for v in sorted(SPACINGS.values())])
    ax.set_xlabel("angular spacing between objects")
    ax.set_ylabel("median SDR (dB)")
    title = "Median SDR against spacing"
    if "20d" in conditions:
        title += " (open markers: 20° with delays)"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)


def draw_all(folder, rows: list[dict], labels, conditions) -> dict[str, Path]:
    """Every figure into ``folder``: {name: path}."""
    folder = Path(folder)
    out = {f"box-{m}": boxplots(folder / f"study-box-{m}.png", rows, labels, conditions, m) for m in METRICS}
    if any(c in SPACINGS for c in conditions):
        out["sdr-spacing"] = sdr_vs_spacing(folder / "study-sdr-spacing.png", rows, labels, conditions)
    return out
