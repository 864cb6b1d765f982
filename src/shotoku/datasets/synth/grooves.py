"""Accompaniment in many genres from Musical MIDI Accompaniment (``mma``, Debian package ``mma``).

MMA's standard library holds over a thousand grooves (rhumba, swing, polka, bossa nova, rock,
ballads, marches, ...), each a set of drum, bass, walking-bass, chord, arpeggio and scale
patterns. :func:`arrange` writes a small MMA file (the song's tempo, one groove, the song's
chords bar by bar, a fixed random seed so MMA's own humanising is repeatable), runs ``mma``, and
reads the MIDI file back into :class:`~.compose.Part` objects by stem: MMA's drum tracks become
``drums``, its ``Bass`` and ``Walk`` tracks ``bass``, and every other track (chords, arpeggios,
scales, plectrum, sustained voices) ``other``.

Only grooves in 4/4 whose names mark no intro, ending, fill or break are offered, so the sung
melody (composed in 4/4) fits them.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...errors import ShotokuError
from .compose import NOTE_NAMES, Note, Part

LIBRARY = Path("/usr/share/mma/lib/stdlib")
SKIP = re.compile(r"intro|end|fill|break|metronome|none|sus$", re.IGNORECASE)


def mma() -> str | None:
    """The ``mma`` program, or None when it is not installed."""
    return shutil.which("mma")


@functools.lru_cache(maxsize=1)
def grooves() -> tuple[str, ...]:
    """Names of MMA's 4/4 grooves in the standard library (empty when mma is not installed)."""
    if mma() is None or not LIBRARY.is_dir():
        return ()
    names = []
    for f in sorted(LIBRARY.glob("*.mma")):
        try:
            text = f.read_text(encoding="latin-1")
        except OSError:
            continue
        times = re.findall(r"^\s*Time\s+(\S+)", text, flags=re.IGNORECASE | re.MULTILINE)
        if not times or any(t != "4" for t in times):
            continue
        for name in re.findall(r"^\s*DefGroove\s+(\S+)", text, flags=re.IGNORECASE | re.MULTILINE):
            if not SKIP.search(name):
                names.append(name)
    return tuple(sorted(set(names), key=str.lower))


def chord_symbol(pcs) -> str:
    """MMA's name of a triad given as pitch classes, root first (``(9, 0, 4)`` -> ``"Am"``)."""
    third, fifth = (pcs[1] - pcs[0]) % 12, (pcs[2] - pcs[0]) % 12
    quality = "dim" if fifth == 6 else ("m" if third == 3 else "")
    return NOTE_NAMES[pcs[0]] + quality


def _script(groove: str, tempo: float, chords, n_bars: int, seed: int) -> str:
    starts = [c[0] for c in chords]
    lines = [f"RndSeed {seed % 100000}", f"Tempo {tempo:g}", f"Groove {groove}"]
    for bar in range(n_bars):
        beats = []
        for beat in range(4):
            t = bar * 4.0 + beat
            i = max(k for k, s in enumerate(starts) if s <= t + 1e-9)
            beats.append(chord_symbol(chords[i][1]))
        cells = [beats[0]] + [b if b != beats[k] else "/" for k, b in enumerate(beats[1:])]
        lines.append(f"{bar + 1} " + " ".join(cells))
    return "\n".join(lines) + "\n"


def _hold_drums(part: Part, hold: float = 0.25) -> None:
    """Hold drum notes ``hold`` beats (or until the same drum's next hit).

    MMA writes drum hits a few milliseconds long; some soundfonts' drum presets release at
    the note-off and would sound only a click.
    """
    following: dict[int, float] = {}
    for n in reversed(part.notes):
        gap = following.get(n.pitch, n.start + hold) - n.start
        n.dur = max(n.dur, min(hold, gap)) if gap > 0 else n.dur
        following[n.pitch] = n.start


def arrange(groove: str, tempo: float, chords, n_bars: int, seed: int) -> dict[str, list[Part]]:
    """The accompaniment of ``groove`` over ``chords``: {"drums": [...], "bass": [...], "other": [...]}.

    chords: [(start_beat, pitch classes root first), ...] as in :class:`~.compose.Score`
    n_bars: bars of 4/4 to write; seed: MMA's random seed (its timing and velocity variation)

    Note times are in beats. Channels are renumbered per stem (0, 1, ... skipping 9; drums on 9)
    and pans are left at the centre for the caller to place. Raises
    :class:`~shotoku.errors.ShotokuError` if mma fails.
    """
    import mido

    exe = mma()
    if exe is None:
        raise ShotokuError("mma is not installed; install it with 'apt-get install mma'")
    with tempfile.TemporaryDirectory(prefix="shotoku-mma-") as tmp:
        src, mid = Path(tmp) / "song.mma", Path(tmp) / "song.mid"
        src.write_text(_script(groove, tempo, chords, n_bars, seed), encoding="ascii")
        proc = subprocess.run([exe, str(src), "-f", str(mid)], capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0 or not mid.is_file():
            msg = (proc.stdout + proc.stderr).strip().splitlines()
            raise ShotokuError(f"mma failed on groove {groove}: {msg[-1] if msg else 'no output'}")
        midi = mido.MidiFile(str(mid))
    tpb = midi.ticks_per_beat
    parts: dict[str, list[Part]] = {"drums": [], "bass": [], "other": []}
    next_channel = {"bass": 0, "other": 0}
    for track in midi.tracks:
        channels = {m.channel for m in track if hasattr(m, "channel")}
        if not channels:
            continue
        name = track.name or "track"
        programs = [m.program for m in track if m.type == "program_change"]
        if 9 in channels:
            stem = "drums"
        elif name.lower().startswith(("bass", "walk")):
            stem = "bass"
        else:
            stem = "other"
        if stem == "drums":
            channel = 9
        else:
            channel = next_channel[stem]
            next_channel[stem] += 1 + (next_channel[stem] == 8)
        part = Part(name.lower(), programs[0] if programs else 0, channel, 64)
        now, on = 0, {}
        for m in track:
            now += m.time
            if m.type == "note_on" and m.velocity > 0:
                on[m.note] = (now, m.velocity)
            elif m.type in ("note_off", "note_on") and m.note in on:
                start, vel = on.pop(m.note)
                part.notes.append(Note(start / tpb, max(now - start, 1) / tpb, int(m.note), int(vel)))
        if part.notes and channel < 16:
            part.notes.sort(key=lambda n: (n.start, n.pitch))
            if stem == "drums":
                _hold_drums(part)
            parts[stem].append(part)
    return parts
