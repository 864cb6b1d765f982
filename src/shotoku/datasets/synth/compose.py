"""Procedural composition: a seed becomes a short song, one part per stem.

Everything here is symbolic: times in beats (4/4 meter, quarter note = 1 beat), pitches as MIDI
note numbers, velocities 1..127. :func:`compose` draws every choice (tempo, key, mode, chord
progression, drum groove, bass style, accompaniment instruments and patterns, vocal melody and
its syllables) from one ``numpy.random.Generator`` seeded with the song's seed, so the same seed
always gives the same score.

The rules are a small subset of common-practice pop writing: diatonic triads from a list of
familiar progressions, one chord per bar (or two per bar at slow tempi), chord tones for the bass
and the melody's strong beats, stepwise motion in between, two-bar phrases that may repeat their
rhythm, and sixteen-step drum grooves with fills every fourth bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")

# Progressions as scale degrees (0 = tonic); the triad on each degree is diatonic.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 5, 4), (1, 4, 0, 5),
              (0, 2, 3, 4), (3, 0, 4, 5), (0, 4, 3, 4), (0, 3, 0, 4), (0, 5, 1, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 5, 4), (0, 5, 3, 4),
              (3, 0, 4, 0), (0, 2, 6, 3), (5, 6, 0, 0)),
}

# GM drum notes.
KICK, STICK, SNARE, CLAP, HAT, PEDAL, OPEN, LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = (
    36, 37, 38, 39, 42, 44, 46, 45, 47, 50, 49, 51)

# Sixteen-step drum grooves: {drum note: pattern}; "X" accent, "x" normal, "o" ghost.
GROOVES = {
    "rock": {KICK: "X.....x.X.x.....", SNARE: "....X.......X...", HAT: "x.x.x.x.x.x.x.x."},
    "four-on-the-floor": {KICK: "X...X...X...X...", CLAP: "....X.......X...",
                          HAT: "x.x.x.x.x.x.x.x.", OPEN: "..x...x...x...x."},
    "half-time": {KICK: "X.........x.....", SNARE: "........X.......", HAT: "x.x.x.x.x.x.x.x."},
    "funk": {KICK: "X..x..x...X..x..", SNARE: "....X..o.o..X..o", HAT: "XxxxXxxxXxxxXxxx"},
    "ballad": {KICK: "X.......x.......", STICK: "....X.......X...", RIDE: "x...x...x...x..."},
    "shuffle": {KICK: "X.....x.X.......", SNARE: "....X.......X...", HAT: "x.xxx.xxx.xxx.xx"},
    "disco": {KICK: "X...X...X...X...", SNARE: "....X.......X...", HAT: "x.X.x.X.x.X.x.X.",
              OPEN: "..x...x...x...x."},
    "bossa": {KICK: "X..xX..xX..xX..x", STICK: "x..x..x...x..x..", HAT: "xxxxxxxxxxxxxxxx"},
}
# Swing: delay of the off-beat eighths (fraction of a beat) per groove.
SWING = {"shuffle": 0.16, "funk": 0.04, "bossa": 0.0}
TEMPO_RANGE = {"rock": (96, 140), "four-on-the-floor": (110, 130), "half-time": (70, 95),
               "funk": (90, 112), "ballad": (64, 88), "shuffle": (84, 120), "disco": (108, 124),
               "bossa": (120, 144)}

BASS_PROGRAMS = {32: "acoustic bass", 33: "finger bass", 34: "pick bass", 35: "fretless bass",
                 36: "slap bass 1", 38: "synth bass 1", 39: "synth bass 2"}
PAD_PROGRAMS = {48: "string ensemble 1", 49: "string ensemble 2", 50: "synth strings 1",
                89: "warm pad", 88: "new age pad", 16: "drawbar organ", 19: "church organ",
                90: "polysynth pad"}
CHORD_PROGRAMS = {0: "acoustic grand piano", 1: "bright acoustic piano", 4: "electric piano 1",
                  5: "electric piano 2", 24: "nylon guitar", 25: "steel guitar",
                  27: "clean electric guitar", 17: "percussive organ"}
ARP_PROGRAMS = {0: "acoustic grand piano", 46: "orchestral harp", 11: "vibraphone",
                24: "nylon guitar", 8: "celesta", 12: "marimba", 80: "square lead", 6: "harpsichord"}

# Sung syllables in espeak-ng phoneme notation: onset consonant + stressed vowel.
CONSONANTS = ("l", "n", "m", "d", "b", "w", "j", "h", "s", "S", "t", "k", "g", "v", "r", "")
VOWELS = ("A:", "i:", "u:", "oU", "eI", "aI")
SPELLING = {"l": "l", "n": "n", "m": "m", "d": "d", "b": "b", "w": "w", "j": "y", "h": "h",
            "s": "s", "S": "sh", "t": "t", "k": "k", "g": "g", "v": "v", "r": "r", "": "",
            "A:": "ah", "i:": "ee", "u:": "oo", "oU": "oh", "eI": "ay", "aI": "eye"}
VOICES = {"en-us+f2": (57, 74), "en-us+f3": (57, 74), "en-us+f4": (57, 74),
          "en-us+m1": (48, 65), "en-us+m3": (48, 65), "en-us+m7": (48, 65)}


@dataclass
class Note:
    """One note: start and duration in beats, MIDI pitch, velocity (1..127)."""

    start: float
    dur: float
    pitch: int
    velocity: int


@dataclass
class Part:
    """One instrument: GM program (ignored for drums), MIDI channel (9 = drums), pan 0..127."""

    name: str
    program: int
    channel: int
    pan: int
    notes: list[Note] = field(default_factory=list)


@dataclass
class Score:
    """A composed song: tempo, key, harmony, and the parts of each stem.

    parts: {stem name: [Part, ...]} for the stems rendered with a synthesiser
    melody: the sung notes; lyrics[i] is the syllable (espeak-ng phonemes) sung on melody[i]
    swing: delay of off-beat eighths in beats, applied to every part by :meth:`time`
    """

    seed: int
    tempo: float
    tonic: int
    mode: str
    groove: str
    swing: float
    progression: tuple[int, ...]
    chords: list[tuple[float, tuple[int, ...]]]
    parts: dict[str, list[Part]]
    melody: list[Note]
    lyrics: list[str]
    voice: str

    def time(self, beat: float) -> float:
        """Seconds at ``beat`` after swing: off-beat eighths move later by ``swing`` beats."""
        whole = np.floor(beat + 1e-9)
        frac = beat - whole
        if abs(frac - 0.5) < 1e-6:
            frac += self.swing
        return float((whole + frac) * 60.0 / self.tempo)

    @property
    def key(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    def chord_name(self, degree: int) -> str:
        pcs = triad(self.tonic, self.mode, degree)
        third = (pcs[1] - pcs[0]) % 12
        fifth = (pcs[2] - pcs[0]) % 12
        quality = "dim" if fifth == 6 else ("m" if third == 3 else "")
        return NOTE_NAMES[pcs[0]] + quality

    def roman(self, degree: int) -> str:
        pcs = triad(self.tonic, self.mode, degree)
        minor = (pcs[1] - pcs[0]) % 12 == 3
        numeral = ROMAN[degree].lower() if minor else ROMAN[degree]
        return numeral + ("°" if (pcs[2] - pcs[0]) % 12 == 6 else "")


def scale_pcs(tonic: int, mode: str) -> list[int]:
    """Pitch classes (0..11) of the key's scale, tonic first."""
    return [(tonic + s) % 12 for s in SCALES[mode]]


def triad(tonic: int, mode: str, degree: int) -> tuple[int, ...]:
    """Pitch classes of the diatonic triad on scale ``degree`` (0 = tonic), root first."""
    sc = scale_pcs(tonic, mode)
    return tuple(sc[(degree + s) % 7] for s in (0, 2, 4))


def pitches_in(pcs, low: int, high: int) -> list[int]:
    """Every MIDI pitch in [low, high] whose pitch class is in ``pcs``."""
    pcs = set(pcs)
    return [p for p in range(low, high + 1) if p % 12 in pcs]


def voice_chord(pcs, low: int, high: int, target: float) -> list[int]:
    """Close voicing of ``pcs`` inside [low, high] whose mean pitch is nearest ``target``."""
    best, best_cost = None, np.inf
    for base in range(low, high + 1):
        notes = [base + (pc - base) % 12 for pc in pcs]
        if max(notes) > high:
            continue
        cost = abs(float(np.mean(notes)) - target)
        if cost < best_cost:
            best, best_cost = sorted(notes), cost
    return best if best is not None else sorted(low + (pc - low) % 12 for pc in pcs)


def _vel(rng: np.random.Generator, base: int, spread: int = 8) -> int:
    return int(np.clip(base + rng.integers(-spread, spread + 1), 1, 127))


def _drums(rng, groove: str, n_bars: int) -> Part:
    part = Part("drums", 0, 9, 64)
    pattern = GROOVES[groove]
    levels = {"X": 112, "x": 88, "o": 50}
    for bar in range(n_bars):
        fill = n_bars >= 4 and bar % 4 == 3 and rng.random() < 0.7
        for note, steps in pattern.items():
            for i, ch in enumerate(steps):
                if ch == "." or (fill and i >= 12):
                    continue
                part.notes.append(Note(bar * 4 + i / 4, 0.25, note, _vel(rng, levels[ch])))
        if fill:
            toms = [HIGH_TOM, HIGH_TOM, MID_TOM, MID_TOM, LOW_TOM, LOW_TOM, SNARE, SNARE]
            if rng.random() < 0.5:
                toms = [SNARE] * 4 + toms[2:6]
            for i, note in enumerate(toms[::2] if rng.random() < 0.5 else toms[:4]):
                part.notes.append(Note(bar * 4 + 3 + i / 4, 0.25, note, _vel(rng, 100)))
            part.notes.append(Note(bar * 4 + 3, 0.25, KICK, _vel(rng, 100)))
        if bar % 4 == 0:
            part.notes.append(Note(bar * 4, 1.0, CRASH, _vel(rng, 100)))
    return part


def _bass_root(pc: int) -> int:
    """The bass register's root for pitch class ``pc``: G1 (31) .. F#2 (42)."""
    return 31 + (pc - 31) % 12


def _bass(rng, score_chords, n_beats: float, kick_steps: str) -> Part:
    program = int(rng.choice(list(BASS_PROGRAMS)))
    part = Part("bass", program, 0, 64)
    style = rng.choice(["roots", "eighths", "root-fifth", "kick", "walking"])
    for idx, (start, pcs) in enumerate(score_chords):
        end = score_chords[idx + 1][0] if idx + 1 < len(score_chords) else n_beats
        root = _bass_root(pcs[0])
        fifth = root + 7
        length = end - start
        if style == "roots":
            times = np.arange(start, end, 1.0)
            notes = [root] * len(times)
            durs = [0.9] * len(times)
        elif style == "eighths":
            times = np.arange(start, end, 0.5)
            notes = [root + (12 if (i % 8 == 7 and rng.random() < 0.5) else 0) for i in range(len(times))]
            durs = [0.45] * len(times)
        elif style == "root-fifth":
            times = np.arange(start, end, 1.0)
            notes = [root if i % 2 == 0 else fifth for i in range(len(times))]
            durs = [0.9] * len(times)
        elif style == "kick":  # on the kick drum's steps, each note held until the next
            times, notes = [], []
            for b in np.arange(start, end, 4.0):
                for i, ch in enumerate(kick_steps):
                    t = b + i / 4
                    if ch != "." and t < end:
                        times.append(t)
                        notes.append(root if rng.random() < 0.8 else root + 12)
            durs = [0.95 * min(nxt - t, 2.0) for t, nxt in zip(times, times[1:] + [end])]
        else:  # walking: chord tones, then a step towards the next root
            times = np.arange(start, end, 1.0)
            nxt_root = _bass_root(score_chords[(idx + 1) % len(score_chords)][1][0])
            tones = [root, root + (pcs[1] - pcs[0]) % 12, fifth, root + 12]
            approach = nxt_root + (1 if rng.random() < 0.5 else -1)
            notes = [tones[min(i, 3)] if i < len(times) - 1 else approach for i in range(len(times))]
            durs = [0.95] * len(times)
        for t, n, d in zip(times, notes, durs):
            if length > 0:
                part.notes.append(Note(float(t), float(d), int(n), _vel(rng, 96, 10)))
    return part


def _comp(rng, score_chords, n_beats: float, pan: int, channel: int) -> Part:
    """Chords: sustained pad or rhythmic block chords (piano, guitar strums)."""
    if rng.random() < 0.5:
        program = int(rng.choice(list(PAD_PROGRAMS)))
        part = Part("pad", program, channel, pan)
        rhythm = [(0.0, None)]  # None: hold to the next chord
        velocity = 76
    else:
        program = int(rng.choice(list(CHORD_PROGRAMS)))
        part = Part("chords", program, channel, pan)
        rhythm = [[(0.0, 1.0), (1.5, 0.5), (2.0, 1.0), (3.5, 0.5)],
                  [(0.0, 1.5), (1.5, 1.0), (3.0, 1.0)],
                  [(0.0, 0.5), (1.0, 0.5), (2.0, 0.5), (3.0, 0.5)],
                  [(0.5, 0.5), (1.5, 0.5), (2.5, 0.5), (3.5, 0.5)],
                  [(0.0, 2.0), (2.0, 2.0)]][int(rng.integers(5))]
        velocity = 84
    strum = 0.02 if program in (24, 25, 27) else 0.0
    target = float(rng.uniform(62, 68))
    for idx, (start, pcs) in enumerate(score_chords):
        end = score_chords[idx + 1][0] if idx + 1 < len(score_chords) else n_beats
        notes = voice_chord(pcs, 52, 79, target)
        target = 0.7 * target + 0.3 * float(np.mean(notes))
        for b in np.arange(start, end, 4.0):
            for off, dur in rhythm:
                t = b + off
                if t >= end:
                    continue
                d = (end - t - 0.05) if dur is None else min(dur * 0.9, end - t)
                v = _vel(rng, velocity)
                for k, p in enumerate(notes):
                    part.notes.append(Note(float(t + k * strum), float(d), int(p), v))
    return part


def _arp(rng, score_chords, n_beats: float, pan: int, channel: int) -> Part:
    program = int(rng.choice(list(ARP_PROGRAMS)))
    part = Part("arpeggio", program, channel, pan)
    step = 0.5 if rng.random() < 0.6 else 0.25
    shape = rng.choice(["up", "updown", "broken"])
    for idx, (start, pcs) in enumerate(score_chords):
        end = score_chords[idx + 1][0] if idx + 1 < len(score_chords) else n_beats
        tones = voice_chord(pcs, 60, 84, 70.0)
        tones = tones + [tones[0] + 12]
        if shape == "updown":
            order = tones + tones[-2:0:-1]
        elif shape == "broken":
            order = [tones[0], tones[2], tones[1], tones[3]]
        else:
            order = tones
        for i, t in enumerate(np.arange(start, end, step)):
            part.notes.append(Note(float(t), step * 0.95, int(order[i % len(order)]),
                                   _vel(rng, 72 if i % 2 else 84)))
    return part


def _melody_rhythm(rng) -> list[tuple[float, bool]]:
    """One bar of (duration in beats, is_rest); eighth notes or longer so syllables fit."""
    cells = [[1, 1, 1, 1], [0.5, 0.5, 1, 1, 1], [1.5, 0.5, 1, 1], [1, 0.5, 0.5, 2],
             [2, 1, 1], [1, 1, 2], [0.5, 0.5, 0.5, 0.5, 1, 1], [1.5, 1.5, 1], [3, 1], [1, 1, 1.5, 0.5]]
    return [(float(d), False) for d in cells[int(rng.integers(len(cells)))]]


def _melody(rng, chord_at, tonic, mode, low, high, n_bars: int):
    sc = set(scale_pcs(tonic, mode))
    notes: list[Note] = []
    prev = int(rng.integers(low + 3, high - 3))
    motif = None
    for phrase in range(0, n_bars, 2):
        if motif is None or rng.random() < 0.4:
            motif = _melody_rhythm(rng) + _melody_rhythm(rng)
            if rng.random() < 0.5:  # pickup rest
                d0 = motif[0][0]
                motif = [(0.5, True), (d0 - 0.5, False)] + motif[1:] if d0 >= 1.0 else motif
            # phrase ends with a breath
            last_d = motif[-1][0]
            if last_d >= 1.0:
                motif = motif[:-1] + [(last_d / 2, False), (last_d / 2, True)]
            else:
                motif = motif[:-1] + [(last_d, True)]
        t = phrase * 4.0
        for dur, rest in motif:
            if t >= n_bars * 4:
                break
            if not rest:
                pcs = chord_at(t)
                strong = abs(t - round(t)) < 1e-6 and int(round(t)) % 2 == 0
                pool = pitches_in(pcs if strong else sc, low, high)
                dist = np.array([abs(p - prev) for p in pool], dtype=float)
                w = np.exp(-dist / (2.5 if strong else 1.8))
                w[dist == 0] *= 0.35  # discourage too many repeats
                w[dist > 7] = 0.0
                if w.sum() == 0:
                    w = np.exp(-dist)
                w *= 1.0 + 0.3 * (np.abs(np.array(pool) - (low + high) / 2) < 5)
                p = int(rng.choice(pool, p=w / w.sum()))
                notes.append(Note(t, dur, p, _vel(rng, 96, 10)))
                prev = p
            t += dur
    return notes


def compose(seed: int, seconds: float, voices: dict[str, tuple[int, int]] | None = None) -> Score:
    """Compose a song at least ``seconds`` long from ``seed``.

    voices: {voice name: (lowest, highest MIDI pitch)} to choose the singer from; default
        :data:`VOICES` (espeak-ng voices). The melody keeps to the chosen voice's range.

    Returns a :class:`Score` whose parts cover whole bars up to at least ``seconds`` plus one
    beat (the renderer trims the tail). Same seed and length give the same score; each part
    draws from its own generator bar by bar, so a longer song with the same seed starts with
    the shorter song's music. Seeds are non-negative integers below 2**64.
    """
    seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF, 0x5407])
    rng, r_drums, r_bass, r_comp, r_arp, r_melody, r_lyrics = (np.random.default_rng(s) for s in seq.spawn(7))
    groove = str(rng.choice(sorted(GROOVES)))
    lo, hi = TEMPO_RANGE[groove]
    tempo = float(rng.integers(lo, hi + 1))
    mode = "major" if rng.random() < 0.6 else "minor"
    tonic = int(rng.integers(12))
    progression = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    beats_per_chord = 2.0 if (tempo < 90 and rng.random() < 0.4) else 4.0
    voices = VOICES if not voices else voices
    voice = str(rng.choice(sorted(voices)))
    side = 1 if rng.random() < 0.5 else -1
    spread = int(rng.integers(18, 40))
    with_arpeggio = rng.random() < 0.55

    n_bars = int(np.ceil((seconds * tempo / 60.0 + 1.0) / 4.0))
    n_beats = n_bars * 4.0
    chords = [(float(t), triad(tonic, mode, progression[i % len(progression)]))
              for i, t in enumerate(np.arange(0.0, n_beats, beats_per_chord))]
    starts = [c[0] for c in chords]

    def chord_at(beat: float) -> tuple[int, ...]:
        i = int(np.searchsorted(starts, beat + 1e-9, side="right")) - 1
        return chords[max(i, 0)][1]

    # Each part draws from its own generator, so a longer song extends a shorter one.
    drums = _drums(r_drums, groove, n_bars)
    bass = _bass(r_bass, chords, n_beats, GROOVES[groove][KICK])
    other = [_comp(r_comp, chords, n_beats, 64 + side * spread, 0)]
    if with_arpeggio:
        other.append(_arp(r_arp, chords, n_beats, 64 - side * spread, 1))
    low, high = voices[voice]
    melody = _melody(r_melody, chord_at, tonic, mode, low, high, n_bars)
    vocab = [c + "'" + v for c in CONSONANTS for v in VOWELS]
    words = [str(w) for w in r_lyrics.choice(vocab, size=int(r_lyrics.integers(5, 10)), replace=False)]
    lyrics = [words[int(r_lyrics.integers(len(words)))] for _ in melody]
    return Score(seed=int(seed), tempo=tempo, tonic=tonic, mode=mode, groove=groove,
                 swing=SWING.get(groove, 0.0), progression=tuple(progression), chords=chords,
                 parts={"drums": [drums], "bass": [bass], "other": other},
                 melody=melody, lyrics=lyrics, voice=voice)


def spell(phonemes: str) -> str:
    """A readable spelling of a syllable in espeak-ng phonemes (``"S'eI"`` -> ``"shay"``)."""
    onset, vowel = phonemes.split("'")
    return SPELLING[onset] + SPELLING[vowel]
