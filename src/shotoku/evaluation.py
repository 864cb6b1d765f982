"""One scoring call: pair estimates with references, score them, aggregate, present.

``shotoku evaluate``, the demo, ``bench/``, studies and training validation all score through
:func:`score`, so that "separate, then score" means the same everywhere::

    refs = {"vocals": (C, N), "drums": (C, N), ...}       # true source images
    ests = separate(mixture, rate, method=...)            # estimated images
    result = score(refs, ests, rate)                      # pairing + BSS Eval v4 per frame
    result.medians()["vocals"]["SDR"]                     # median over frames, dB
    print(result.table())

Pairing (``match``): ``"name"`` pairs each reference with the estimate of the same name (exact,
or the same letters and digits, so that ``object_1 (-30°)`` matches the file
``object_1_-30deg.wav``); ``"sdr"`` by the best mean framewise SDR (Hungarian assignment), for the
unnamed objects of spatial methods; ``"auto"`` by name when every reference has exactly one
namesake, by SDR otherwise. With fewer estimates than references (a blind method that found
fewer objects than the song has stems), the references left without an estimate are scored
against silence -- NaN in every frame, named in the warnings -- and the others keep every
reference in their projections, as with a full set.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import MismatchError, ParameterError
from .metrics import METRICS, Scores, SilentSourceWarning, Sources, bss_eval_images, match_sources, score_table

MATCHES = ("auto", "name", "sdr")


def name_key(name: str) -> str:
    """A name as it survives in file names: ``'object_1 (-30°)'`` ~ ``'object_1_-30deg'``.

    >>> name_key("object_1 (-30°)") == name_key("object_1_-30deg")
    True
    """
    s = str(name).lower().replace("°", "deg")
    return re.sub(r"[^a-z0-9]+", "", s)


def pair_by_name(ref_names, est_names) -> list[int] | None:
    """Index of each reference's namesake estimate, or ``None`` when any has none or several."""
    order = []
    for name in ref_names:
        exact = [i for i, e in enumerate(est_names) if e == name]
        loose = [i for i, e in enumerate(est_names) if name_key(e) == name_key(name)]
        hits = exact or loose
        if len(hits) != 1:
            return None
        order.append(hits[0])
    return order if len(set(order)) == len(order) else None


@dataclass
class Evaluation:
    """The result of :func:`score`.

    references: reference names, in the order of the scores' rows
    estimates: the estimate paired with each reference (same order; "" for none)
    pairing: ``"name"`` or ``"sdr"``, how the pairs were made
    unused: estimates paired with no reference
    scores: framewise :class:`~shotoku.metrics.Scores` [shape=(references, frames)]
    rate: sample rate in Hz
    warnings: what the scores cannot say: silent sources (by name), rank-deficient references
    """

    references: list[str]
    estimates: list[str]
    pairing: str
    unused: list[str]
    scores: Scores
    rate: int
    warnings: list[str] = field(default_factory=list)

    def medians(self) -> dict[str, dict[str, float]]:
        """{reference: {"SDR": dB, "ISR": .., "SIR": .., "SAR": ..}}, medians over frames (NaN skipped)."""
        med = self.scores.median()
        return {r: {m: float(med[m][j]) for m in METRICS} for j, r in enumerate(self.references)}

    def mean(self, metric: str = "SDR") -> float:
        """Mean over references of each reference's median over frames (NaN references skipped)."""
        values = [v[metric.upper()] for v in self.medians().values()]
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(np.clip(finite, -300.0, 300.0))) if finite else math.nan

    def table(self, title: str | None = None) -> str:
        """Text table of the medians (see :func:`shotoku.metrics.score_table`)."""
        if title is None:
            title = f"median over {len(self.scores.times)} frame(s) of {self.scores.window:g} s (dB):"
        return score_table(self.references, self.scores, title=title)

    def rows(self) -> list[dict]:
        """One dict per reference: reference, estimate and the four medians (for CSV files)."""
        med = self.medians()
        return [{"reference": r, "estimate": e, **med[r]} for r, e in zip(self.references, self.estimates)]

    def museval_json(self) -> dict:
        """The scores in museval's JSON layout."""
        from .metrics import museval_json

        return museval_json(self.references, self.scores)

    def write_json(self, path) -> Path:
        """Write :meth:`museval_json` to ``path`` atomically."""
        from .metrics import write_museval_json

        return write_museval_json(path, self.references, self.scores)

    def plot(self, path) -> Path:
        """Box plots of the framewise SDR, ISR, SIR and SAR of each reference, as a PNG file."""
        from .plotting import score_boxplots

        return score_boxplots(path, self.references, self.scores)


def _as_dict(sources, what: str) -> dict:
    if isinstance(sources, dict):
        out = {str(k): v if hasattr(v, "read") else np.asarray(v) for k, v in sources.items()}
    else:
        arr = np.asarray(sources)
        out = {f"{what}_{j + 1}": arr[j] for j in range(arr.shape[0])}
    if not out:
        raise ParameterError(f"no {what}s to score")
    return out


def _stack(sources: dict, what: str) -> Sources:
    """The sources as one :class:`~shotoku.metrics.Sources` (nothing copied), all of one shape."""
    shapes = {tuple(v.shape) if hasattr(v, "read") else np.shape(v) for v in sources.values()}
    if len(shapes) > 1:
        detail = ", ".join(f"{k}: {tuple(np.shape(v) if not hasattr(v, 'read') else v.shape)}" for k, v in sources.items())
        raise MismatchError(f"{what}s differ in shape ({detail}); give images of one length and channel count")
    return Sources(list(sources.values()))


def score(references, estimates, rate: int, *, match: str = "auto", window: float = 1.0,
          hop: float | None = None, progress: bool = False) -> Evaluation:
    """Pair estimates with references and score every pair with BSS Eval v4 (museval-compatible).

    Parameters
    ----------
    references: {name: float [shape=(channels, samples)]} true source images (an array
        [shape=(sources, channels, samples)] is named ``reference_1`` ...); a value may be a
        :class:`shotoku.io.AudioFile`, read a group of frames at a time (memory bounded
        whatever the length)
    estimates: {name: float [shape=(channels, samples)] or AudioFile}, with
        the references' channels and length (:class:`~shotoku.errors.MismatchError` otherwise:
        nothing is padded or cut, since every frame's filters depend on the whole track)
    rate: sample rate in Hz
    match: ``"auto"``, ``"name"`` or ``"sdr"`` (see the module docstring)
    window: frame length in seconds (1 s as museval/SiSEC; ``math.inf``: the whole track)
    hop: hop between frames in seconds (default: ``window``)
    progress: show a progress bar (stage, percent, time left) on a terminal

    Returns
    -------
    :class:`Evaluation`: the pairs, the framewise scores, medians, a table, museval JSON.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> refs = {"a": rng.standard_normal((2, 8000)), "b": rng.standard_normal((2, 8000))}
    >>> ests = {"x": refs["b"] + 0.1 * rng.standard_normal((2, 8000)), "y": refs["a"]}
    >>> result = score(refs, ests, 8000)
    >>> result.pairing, result.estimates
    ('sdr', ['y', 'x'])
    >>> round(result.medians()["b"]["SDR"])
    20
    """
    if match not in MATCHES:
        raise ParameterError(f"unknown pairing '{match}'; use one of {', '.join(MATCHES)}")
    for value, name in ((window, "window"), (hop, "hop")):
        if value is not None and (math.isnan(value) or value <= 0):
            raise ParameterError(f"the {name} must be a positive number of seconds, got {value}")
    refs = _as_dict(references, "reference")
    ests = _as_dict(estimates, "estimate")
    ref_src = _stack(refs, "reference")
    est_src = _stack(ests, "estimate")
    if est_src.shape[1:] != ref_src.shape[1:]:
        (rc, rn), (ec, en) = ref_src.shape[1:], est_src.shape[1:]
        if rc != ec:
            raise MismatchError(f"estimates have {ec} channel(s) but references {rc}; give the same channel count")
        raise MismatchError(
            f"estimates are {en} samples long but references {rn} ({en / rate:.3f} s against "
            f"{rn / rate:.3f} s); trim or pad them to one length first")
    ref_names, est_names = list(refs), list(ests)
    order = pair_by_name(ref_names, est_names) if match in ("auto", "name") else None
    pairing = "name"
    if order is None:
        if match == "name":
            missing = [r for r in ref_names if not any(name_key(e) == name_key(r) for e in est_names)]
            raise MismatchError(f"no estimate named like reference(s) {', '.join(missing or ref_names)}; "
                                "rename them or pair by SDR")
        order = [int(i) for i in match_sources(ref_src, est_src, rate)[0]]  # -1: no estimate left
        pairing = "sdr"
    win = math.inf if math.isinf(window) else int(round(window * rate))
    hp = None if hop is None else (math.inf if math.isinf(hop) else int(round(hop * rate)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a reference left without an estimate is scored against silence: NaN, and named below
        paired = Sources([est_src.tracks[i] if i >= 0 else None for i in order], length=ref_src.length,
                         channels=ref_src.channels)
        scores = bss_eval_images(ref_src, paired, rate, window=win, hop=hp, progress=progress)
    ref_on, est_on = ref_src.active(), paired.active()
    messages = [f"reference '{r}' is silent all through: its scores are NaN" for r, on in zip(ref_names, ref_on) if not on]
    messages += [f"estimate '{est_names[i]}' (paired with '{r}') is silent all through: its scores are NaN"
                 for r, i, on in zip(ref_names, order, est_on) if i >= 0 and not on]
    messages += [f"reference '{r}' has no estimate ({len(est_names)} estimate(s) for {len(ref_names)} "
                 "references): its scores are NaN" for r, i in zip(ref_names, order) if i < 0]
    for w in caught:
        if issubclass(w.category, SilentSourceWarning):
            continue  # said above, by name
        if issubclass(w.category, UserWarning) and str(w.message) not in messages:
            messages.append(str(w.message))
        elif not issubclass(w.category, UserWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    unused = [est_names[i] for i in range(len(est_names)) if i not in order]
    return Evaluation(references=ref_names, estimates=[est_names[i] if i >= 0 else "" for i in order],
                      pairing=pairing,
                      unused=unused, scores=scores, rate=int(rate), warnings=messages)
