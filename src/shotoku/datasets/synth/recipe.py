"""The data recipe: which sources, effects, levels and placements a song draws (no audio).

:func:`draw_plan` turns a seed and a split into a :class:`Plan`: for each stem the family and
source it plays from, its effect chain, reverb send, level and stereo angle, which stems are
absent, the arrangement (the procedural composer or an MMA groove) and the voice. Drawing the
plan reads only the catalogue, so the choice of sources can be checked over many seeds without
rendering. The probabilities are the module constants below; ``docs/data.md`` explains them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import effects, grooves, melodies, sources
from .sources import Source

STEMS = ("drums", "bass", "other", "vocals")
#: Chance that a stem uses the song's soundfont rather than a soundfont of its own.
SAME_FONT = 0.6
#: Drum families for training songs (renormalised over what is installed).
DRUM_FAMILIES = {"soundfont": 0.45, "drumkit": 0.45, "loop": 0.10}
#: Chance that a training song's "other" stem is a recorded guitar instead of MIDI parts.
GUITAR = 0.12
#: Chance that the accompaniment (drums, bass, other) comes from an MMA groove.
MMA_GROOVE = 0.4
#: Chance that the sung melody is a folk tune from music21's corpus rather than a composed one.
CORPUS_MELODY = 0.35
#: Chance that each stem is absent (silent) in a song; at least two stems always sound.
ABSENT = 0.1
#: Stem RMS relative to the loudest reference stem, dB: (centre, spread) of a uniform draw.
LEVELS_DB = {"drums": (0.0, 0.0), "bass": (-3.0, 4.0), "other": (-3.0, 4.0), "vocals": (-1.0, 4.0)}
#: Stereo angle range (degrees) of the stems placed by shotoku.panning: (centre, spread).
ANGLES = {"drums": (0.0, 6.0), "bass": (0.0, 6.0), "other": (0.0, 30.0), "vocals": (0.0, 10.0)}


@dataclass
class StemPlan:
    """How one stem is made: ``family`` ("soundfont", "drumkit", "loop", "guitar", "voice"),
    the ``source``, effect ``chain``, reverb ``send``, ``level_db`` and stereo ``angle``."""

    family: str
    source: Source
    chain: list[dict] = field(default_factory=list)
    send: float = 0.0
    level_db: float = 0.0
    angle: float = 0.0
    absent: bool = False

    def to_meta(self) -> dict:
        return {"family": self.family, "source": self.source.to_meta(), "effects": self.chain,
                "reverb_send": self.send, "level_db": round(self.level_db, 2), "angle": round(self.angle, 2),
                "absent": self.absent}


@dataclass
class Plan:
    """Every draw of a song that is not the music itself."""

    split: str
    font: Source
    stems: dict[str, StemPlan]
    arrangement: str  # "compose" or "mma:<groove>"
    reverb: dict | None
    melody: str = "compose"  # "compose" or "corpus"

    def sources(self) -> list[Source]:
        return [self.font] + [p.source for p in self.stems.values()]


def _rng(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0x5EC1, key]))


def _weighted(rng, weights: dict[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def draw_plan(seed: int, split: str = "train", soundfont: Source | None = None) -> Plan:
    """Draw a song's sources, effects, levels and placement from ``seed``.

    split: "train" (train sources only) or "heldout" (held-out soundfonts only; no drum kits,
        loops or recorded guitars, whose timbres training has heard)
    soundfont: a source to use for every MIDI stem instead of a drawn one (then drum kits,
        loops and recorded guitars are not used either)

    Independent generators serve the choice of sources, the effects and the levels, so changing
    one probability does not reshuffle the others.
    """
    split = sources.check_split(split)
    pick = _rng(seed, 1)
    font = soundfont if soundfont is not None else sources.choose(pick, split, "soundfont")
    fixed = soundfont is not None

    def stem_font():
        if fixed or pick.random() < SAME_FONT:
            return font
        return sources.choose(pick, split, "soundfont")

    plans: dict[str, StemPlan] = {}
    families = {k: w for k, w in DRUM_FAMILIES.items()
                if not fixed and split == "train" and sources.has(split, k)}
    drum_family = _weighted(pick, families) if families else "soundfont"
    if drum_family == "soundfont":
        plans["drums"] = StemPlan("soundfont", stem_font())
    else:
        plans["drums"] = StemPlan(drum_family, sources.choose(pick, split, drum_family))
    plans["bass"] = StemPlan("soundfont", stem_font())
    guitar = not fixed and split == "train" and sources.has(split, "guitar") and pick.random() < GUITAR
    if guitar:
        plans["other"] = StemPlan("guitar", sources.choose(pick, split, "guitar"))
    else:
        plans["other"] = StemPlan("soundfont", stem_font())
    plans["vocals"] = StemPlan("voice", sources.choose(pick, split, "voice"))
    arrangement = "compose"
    names = grooves.grooves()
    if names and pick.random() < MMA_GROOVE:
        arrangement = "mma:" + names[int(pick.integers(len(names)))]

    melody = "corpus" if (melodies.available() and pick.random() < CORPUS_MELODY) else "compose"

    fx = _rng(seed, 2)
    reverb = effects.draw_reverb(fx)
    for stem in STEMS:
        plans[stem].chain = effects.draw_chain(fx, stem)
        plans[stem].send = effects.draw_send(fx, stem) if reverb is not None else 0.0

    lv = _rng(seed, 3)
    for stem in STEMS:
        c, w = LEVELS_DB[stem]
        plans[stem].level_db = c + float(lv.uniform(-w, w))
        c, w = ANGLES[stem]
        plans[stem].angle = c + float(lv.uniform(-w, w))
    absent = [s for s in STEMS if lv.random() < ABSENT]
    for stem in absent[:2]:
        plans[stem].absent = True
    return Plan(split=split, font=font, stems=plans, arrangement=arrangement, reverb=reverb, melody=melody)
