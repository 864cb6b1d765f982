"""The study's tables: medians per method × condition, gaps to the oracles, time, ``summary.md``.

Aggregation: each object's score is the median over 1 s frames (BSS Eval v4, as SiSEC 2018);
a method's number in a condition is the median over every object of every scene. The gap to an
oracle is the method's median SDR minus the oracle's, in the same condition (negative: below
the oracle).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

METRICS = ("SDR", "ISR", "SIR", "SAR")
ORACLES = ("oracle-irm", "oracle-wiener")
CONDITION_TITLES = {"10": "10°", "20": "20°", "30": "30°", "20d": "20° + delays"}
#: Full-size studies the projection is given for: name -> number of songs.
FULL_SIZE = {"MUSDB18 (150 songs)": 150, "DSD100 (100 songs)": 100}
PROJECTION_WORKERS = (1, 16, 64, 256)


def _median(values) -> float:
    v = np.asarray([x for x in values if isinstance(x, (int, float)) and math.isfinite(x)], dtype=np.float64)
    return float(np.median(v)) if v.size else math.nan


def medians(rows: list[dict], labels, conditions) -> dict:
    """{label: {condition: {metric: median dB}}} over every object of every scene (NaN skipped)."""
    out = {}
    for label in labels:
        mine = [r for r in rows if r["label"] == label]
        out[label] = {c: {m: _median(r[m] for r in mine if r["condition"] == c) for m in METRICS}
                      for c in conditions}
        out[label]["all"] = {m: _median(r[m] for r in mine) for m in METRICS}
    return out


def oracle_gaps(table: dict, conditions) -> dict:
    """{label: {oracle: {condition: method's median SDR - oracle's}}} for the oracles in the table."""
    gaps = {}
    for label, per in table.items():
        if label in ORACLES:
            continue
        gaps[label] = {o: {c: per[c]["SDR"] - table[o][c]["SDR"] for c in list(conditions) + ["all"]}
                       for o in ORACLES if o in table}
    return gaps


def timing(records: list[dict]) -> dict:
    """Seconds spent separating and scoring: totals, the scoring share, and per method.

    records: task records (:func:`shotoku.experiments.study.run_task`)
    Returns ``{"tasks", "separation_s", "scoring_s", "scoring_share", "audio_s", "per_method":
    {label: {"tasks", "separation_s" (median per task), "scoring_s" (median), "realtime"
    (separation seconds per second of audio, median)}}}``.
    """
    sep = float(sum(r["separation_s"] for r in records))
    sco = float(sum(r["scoring_s"] for r in records))
    per = {}
    for label in dict.fromkeys(r["label"] for r in records):
        mine = [r for r in records if r["label"] == label]
        per[label] = {"tasks": len(mine),
                      "separation_s": _median(r["separation_s"] for r in mine),
                      "scoring_s": _median(r["scoring_s"] for r in mine),
                      "realtime": _median(r["separation_s"] / r["duration"] for r in mine if r["duration"])}
    return {"tasks": len(records), "separation_s": round(sep, 3), "scoring_s": round(sco, 3),
            "scoring_share": (sco / (sep + sco)) if sep + sco > 0 else math.nan,
            "audio_s": float(sum(r["duration"] for r in records)), "per_method": per}


def projection(records: list[dict], duration: float, conditions: int = 4) -> dict:
    """Projected wall time of full-size studies: {study: {workers: hours}}.

    Each task's time (separation + scoring) is taken as its median here per method, scaled to
    ``duration`` seconds of audio (times grow about linearly with length), for ``conditions``
    scenes per song; N workers divide the total (no start-up or scheduling cost counted).
    Also ``"task_s_per_scene"``: seconds of work per scene (all methods) at that duration.
    """
    per = {}
    for label in dict.fromkeys(r["label"] for r in records):
        mine = [r for r in records if r["label"] == label]
        per[label] = _median((r["separation_s"] + r["scoring_s"]) * duration / r["duration"] for r in mine)
    per_scene = float(sum(v for v in per.values() if math.isfinite(v)))
    out = {"task_s_per_scene": per_scene, "duration": duration}
    for name, songs in FULL_SIZE.items():
        out[name] = {n: songs * conditions * per_scene / n / 3600 for n in PROJECTION_WORKERS}
    return out


def _f(x: float, digits: int = 1) -> str:
    return "–" if not isinstance(x, (int, float)) or not math.isfinite(x) else f"{x:.{digits}f}"


def _hours(h: float) -> str:
    return f"{h:.1f} h" if h >= 1 else f"{60 * h:.0f} min"


def _revisions(records: list[dict]) -> str:
    """A sentence naming the code revisions behind the records when there is more than one."""
    codes = sorted({r.get("code") or "unknown" for r in records})
    if len(codes) <= 1:
        return f" Code revision {codes[0]}." if codes else ""
    return (f" These results mix {len(codes)} code revisions ({', '.join(codes)}): "
            "tasks that finished before a code change were kept.")


def tables(rows: list[dict], failures: list[dict], labels, conditions, records: list[dict], pending: int = 0,
           total: int = 0) -> str:
    """The summary as Markdown: median SDR, all metrics, gaps to the oracles, time, failures."""
    table = medians(rows, labels, conditions)
    labels = [label for label in labels if any(r["label"] == label for r in rows)]
    conds = list(conditions)
    titles = [CONDITION_TITLES.get(c, c) for c in conds]
    scenes = len({r["scene"] for r in rows})
    lines = [f"Median over objects × scenes of each object's median over 1 s frames (dB); {scenes} scenes, "
             f"{len(rows)} object scores."
             + (f" Partial: {pending} of {total} tasks not run yet." if pending else "")
             + _revisions(records), "",
             "### Median SDR (dB)", "",
             "| method | " + " | ".join(titles) + " | all |", "|---" * (len(conds) + 2) + "|"]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(_f(table[label][c]["SDR"]) for c in conds + ["all"]) + " |")
    lines += ["", "### SDR / ISR / SIR / SAR (dB)", "",
              "| method | condition | SDR | ISR | SIR | SAR |", "|---|---|---|---|---|---|"]
    for label in labels:
        for c, title in zip(conds, titles):
            lines.append(f"| {label} | {title} | " + " | ".join(_f(table[label][c][m]) for m in METRICS) + " |")
    gaps = oracle_gaps({k: v for k, v in table.items() if k in labels}, conds)
    oracles = [o for o in ORACLES if o in labels]
    if gaps and oracles:
        lines += ["", "### Gap to the oracles (method's median SDR − oracle's, dB)", "",
                  "| method | oracle | " + " | ".join(titles) + " | all |", "|---" * (len(conds) + 3) + "|"]
        for label, per in gaps.items():
            for o in oracles:
                lines.append(f"| {label} | {o} | " + " | ".join(_f(per[o][c]) for c in conds + ["all"]) + " |")
    if records:
        t = timing(records)
        lines += ["", "### Time", "",
                  f"Separation {t['separation_s']:.0f} s and scoring {t['scoring_s']:.0f} s of task time in all "
                  f"({t['tasks']} tasks, {t['audio_s']:.0f} s of audio): scoring is "
                  f"{100 * t['scoring_share']:.0f} % of the task time.", "",
                  "| method | tasks | separation s per task (median) | scoring s per task (median) | "
                  "separation s per s of audio |", "|---|---|---|---|---|"]
        for label in labels:
            p = t["per_method"].get(label)
            if p:
                lines.append(f"| {label} | {p['tasks']} | {_f(p['separation_s'], 2)} | {_f(p['scoring_s'], 2)} | "
                             f"{_f(p['realtime'], 3)} |")
        duration = _median(r["duration"] for r in records)
        proj = projection(records, duration)
        lines += ["", f"### Projection to full size ({duration:g} s excerpts, 4 conditions, these methods)", "",
                  f"One scene × every method here: {proj['task_s_per_scene']:.0f} s of task time "
                  "(separation + scoring, the median task of each method). Wall time on N workers, "
                  "if the workers are as fast as these and the tasks spread evenly:", "",
                  "| study | " + " | ".join(f"{n} workers" for n in PROJECTION_WORKERS) + " |",
                  "|---" * (len(PROJECTION_WORKERS) + 1) + "|"]
        for name in FULL_SIZE:
            lines.append(f"| {name} | " + " | ".join(_hours(proj[name][n]) for n in PROJECTION_WORKERS) + " |")
    if failures:
        lines += ["", f"### Failures ({len(failures)} tasks)", "", "| method | scene | error |", "|---|---|---|"]
        for f in failures:
            lines.append(f"| {f['label']} | {f['scene']} | {str(f['error']).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def write_summary(path, rows, failures, labels, conditions, records, pending: int = 0, total: int = 0) -> Path:
    """Write ``summary.md`` (:func:`tables` under a title) atomically."""
    from ..io import write_text

    text = tables(rows, failures, labels, conditions, records, pending, total)
    return write_text(path, "# Spatial study: summary\n\n" + text)
