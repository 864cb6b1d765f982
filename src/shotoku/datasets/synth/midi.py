"""Standard MIDI files for the synthesised stems (written with ``mido``).

Each stem becomes one type-1 MIDI file: a conductor track with the tempo, then one track per
instrument. Every instrument track opens with its program, pan (CC10), volume (CC7), expression
(CC11) and its reverb and chorus sends (CC91, CC93) set to zero, so that a synthesiser adds no
effect that would leak one stem's sound into time or space another stem occupies.
"""

from __future__ import annotations

from pathlib import Path

import mido

from .compose import Part, Score

TICKS_PER_BEAT = 960


def _ticks(score: Score, beat: float) -> int:
    """MIDI tick of ``beat`` after the score's swing (constant tempo: ticks follow seconds)."""
    return int(round(score.time(beat) * score.tempo / 60.0 * TICKS_PER_BEAT))


def _track(score: Score, part: Part) -> mido.MidiTrack:
    ch = part.channel
    head = [mido.Message("control_change", channel=ch, control=c, value=v)
            for c, v in ((121, 0), (7, 100), (11, 127), (10, part.pan), (91, 0), (93, 0))]
    if ch != 9 or part.program:  # on the drum channel the program chooses the drum kit
        head.append(mido.Message("program_change", channel=ch, program=part.program))
    events = []  # (tick, order, message); note-offs sort before note-ons at the same tick
    for n in part.notes:
        on, off = _ticks(score, n.start), _ticks(score, n.start + n.dur)
        off = max(off, on + 1)
        events.append((on, 1, mido.Message("note_on", channel=ch, note=n.pitch, velocity=n.velocity)))
        events.append((off, 0, mido.Message("note_off", channel=ch, note=n.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1], e[2].note))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=part.name, time=0))
    track.extend(head)
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


def write_midi(path, score: Score, parts: list[Part], end_seconds: float) -> Path:
    """Write ``parts`` of ``score`` as one MIDI file lasting ``end_seconds``.

    path: target ``.mid`` file
    end_seconds: the end-of-track time; notes after it are kept, so the file lasts at least this
        long (a renderer stops at the last event, so this sets how much release tail is rendered)
    """
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(score.tempo), time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    end_tick = int(round(end_seconds * score.tempo / 60.0 * TICKS_PER_BEAT))
    conductor.append(mido.MetaMessage("end_of_track", time=end_tick))
    mid.tracks.append(conductor)
    for part in parts:
        mid.tracks.append(_track(score, part))
    path = Path(path)
    mid.save(str(path))
    return path
