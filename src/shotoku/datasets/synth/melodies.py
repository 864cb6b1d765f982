"""Sung melodies from folk-song collections in music21's corpus (PyPI ``music21``, in its wheel).

The Essen folk-song collection and the Nottingham dataset of folk tunes ship as ABC files inside
the ``music21`` package. :func:`corpus_melody` draws one tune, reads its notes (onset and
duration in quarter notes, which the song treats as beats), and fits it to the song:

- key: the tune's tonic moves to the song's tonic (music21's key analysis finds the tune's key);
  each note keeps its scale degree, so a minor tune sung in a major song takes the major scale;
- harmony: notes on the strong beats (1 and 3) move to the nearest tone of the song's chord
  there, at most a whole tone; the others stay on the scale;
- register: the tune is moved by octaves to the middle of the voice's range, and notes still
  outside it fold back by an octave;
- rhythm: notes shorter than an eighth are merged into the previous note (one syllable each must
  fit), rests stay, and the tune repeats until the song is long enough.

Tunes in triple or compound meters are skipped (the song is in 4/4). Parsing needs no network:
only files inside the installed wheel are read.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from .compose import Note, scale_pcs

COLLECTIONS = ("essenFolksong", "nottingham-dataset")


@functools.lru_cache(maxsize=1)
def _corpus_root() -> Path | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("music21")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]) / "corpus"
    return root if root.is_dir() else None


@functools.lru_cache(maxsize=1)
def tunes() -> tuple[tuple[str, int], ...]:
    """Every (ABC file, tune number) of the collections; empty when music21 is not installed."""
    root = _corpus_root()
    if root is None:
        return ()
    out = []
    for name in COLLECTIONS:
        folder = root / name
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.abc")):
            try:
                text = f.read_text(encoding="latin-1")
            except OSError:
                continue
            out += [(str(f), int(x)) for x in re.findall(r"^X:\s*(\d+)", text, flags=re.MULTILINE)]
    return tuple(out)


def available() -> bool:
    """Whether corpus melodies can be drawn (music21 and its corpus are installed)."""
    return bool(tunes())


def _tune_text(path: str, number: int) -> str | None:
    """The ABC text of tune ``number`` in ``path`` (the file header, then that tune alone)."""
    try:
        text = Path(path).read_text(encoding="latin-1")
    except OSError:
        return None
    parts = re.split(r"^(?=X:)", text, flags=re.MULTILINE)
    head = parts[0] if parts and not parts[0].startswith("X:") else ""
    for part in parts:
        m = re.match(r"X:\s*(\d+)", part)
        if m and int(m.group(1)) == number:
            return head + part
    return None


@functools.lru_cache(maxsize=256)
def _read(path: str, number: int):
    """(notes [(onset, duration, midi or None for a rest)], tonic pitch class, mode) or None."""
    from music21 import converter, meter

    text = _tune_text(path, number)
    if text is None:
        return None
    try:
        score = converter.parse(text, format="abc")
    except Exception:  # a tune music21 cannot read is skipped
        return None
    sigs = list(score.recurse().getElementsByClass(meter.TimeSignature))
    if sigs and sigs[0].numerator % 3 == 0:
        return None
    flat = score.flatten()
    notes = []
    for n in flat.notesAndRests:
        dur = float(n.quarterLength)
        if dur <= 0:
            continue
        if n.isNote:
            notes.append((float(n.offset), dur, int(n.pitch.midi)))
        elif n.isRest:
            notes.append((float(n.offset), dur, None))
    if sum(1 for x in notes if x[2] is not None) < 8:
        return None
    try:
        key = score.analyze("key")
        tonic, mode = int(key.tonic.pitchClass), ("minor" if key.mode == "minor" else "major")
    except Exception:
        return None
    return tuple(notes), tonic, mode


def _merge_short(notes, shortest=0.5):
    out = []
    for start, dur, pitch in notes:
        if out and dur < shortest - 1e-9 and out[-1][2] is not None:
            s0, d0, p0 = out[-1]
            out[-1] = (s0, start + dur - s0, p0)
        else:
            out.append((start, dur, pitch))
    return [x for x in out if x[1] >= shortest - 1e-9 or x[2] is None]


def _fit_degree(pitch: int, tune_tonic: int, tune_mode: str, tonic: int, mode: str) -> int:
    """Move ``pitch`` from the tune's key to the song's, keeping its scale degree."""
    src = [(tune_tonic + s) % 12 for s in (0, 2, 4, 5, 7, 9, 11)] if tune_mode == "major" else \
        [(tune_tonic + s) % 12 for s in (0, 2, 3, 5, 7, 8, 10)]
    dst = scale_pcs(tonic, mode)
    shift = (tonic - tune_tonic) % 12
    if shift > 6:
        shift -= 12
    pc = pitch % 12
    if pc in src:
        deg = src.index(pc)
        target = pitch + shift
        return target + ((dst[deg] - target) % 12 if (dst[deg] - target) % 12 <= 6 else (dst[deg] - target) % 12 - 12)
    return pitch + shift  # a chromatic note keeps its interval to the tonic


def corpus_melody(rng: np.random.Generator, tonic: int, mode: str, low: int, high: int, n_bars: int,
                  chord_at, tries: int = 6) -> tuple[list[Note], str] | None:
    """A corpus tune fitted to the song: (notes in beats, "file#number"), or None.

    tonic, mode: the song's key; low, high: the voice's range (MIDI pitches); n_bars: bars of 4/4
    to fill; chord_at(beat) -> pitch classes of the chord there (root first). Returns None when
    music21 is not installed or no suitable tune was found in ``tries`` draws.
    """
    pool = tunes()
    if not pool:
        return None
    for _ in range(tries):
        path, number = pool[int(rng.integers(len(pool)))]
        read = _read(path, number)
        if read is None:
            continue
        raw, t_tonic, t_mode = read
        raw = _merge_short(list(raw))
        first = next(s for s, _, p in raw if p is not None)
        raw = [(s - first, d, p) for s, d, p in raw if s >= first]
        length = max(s + d for s, d, _ in raw)
        length = float(np.ceil(length / 4.0) * 4.0)
        pitched = [_fit_degree(p, t_tonic, t_mode, tonic, mode) for _, _, p in raw if p is not None]
        centre = (low + high) / 2.0
        octave = 12 * int(round((centre - float(np.median(pitched))) / 12.0))
        sc = set(scale_pcs(tonic, mode))
        notes: list[Note] = []
        total = n_bars * 4.0
        offset = 0.0
        while offset < total and length > 0:
            for start, dur, pitch in raw:
                t = offset + start
                if t >= total:
                    break
                if pitch is None:
                    continue
                p = _fit_degree(pitch, t_tonic, t_mode, tonic, mode) + octave
                strong = abs(t - round(t)) < 1e-6 and int(round(t)) % 2 == 0
                pcs = chord_at(t) if strong else sc
                if p % 12 not in pcs:
                    near = min((p + d for d in (-2, -1, 1, 2) if (p + d) % 12 in pcs), key=lambda q: abs(q - p),
                               default=p)
                    p = near
                while p < low:
                    p += 12
                while p > high:
                    p -= 12
                notes.append(Note(t, min(dur, total - t), int(p), int(np.clip(96 + rng.integers(-10, 11), 1, 127))))
            offset += length
        if len(notes) >= 4:
            name = f"{Path(path).parent.name}/{Path(path).stem}#{number}"
            return notes, name
    return None

