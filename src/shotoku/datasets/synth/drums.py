"""Recorded drums: sampled kits played from the score's drum notes, and drum loops.

A *kit* maps drum roles (kick, snare, closed hi-hat, ...) to instruments, each a list of velocity
layers (one recorded hit per layer). Two kinds come from Debian packages:

- Hydrogen kits (``hydrogen-drumkits``): a folder of samples and ``drumkit.xml``, whose
  instruments and layers (velocity range, gain, file) are read as they are; an instrument's role
  comes from its name ("Kick", "Hi Hat Closed", "Tom Low", ...).
- Assembled kits: the one-shot samples of Sonic Pi (``sonic-pi-samples``) or LMMS
  (``lmms-common``), grouped by role from their file names.

:func:`render_kit` plays a drum part (General MIDI drum notes) with one instrument per role,
drawn per song: the layer is chosen by velocity, the hit scaled by velocity, placed in the
stereo field like a drum kit seen from the audience (kick and snare near the centre, toms and
cymbals spread), and an open hi-hat is choked by the next hi-hat hit. A role the kit lacks falls
back to a related one (pedal hi-hat to closed, claps to snare, ...); a kit without kick, snare or
hi-hat is not offered. Nothing is random at render time, so a song renders to the same samples.

:func:`render_loop` tiles a recorded drum loop over the song, its speed changed (like a
turntable) so that a whole number of beats matches the song's tempo.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...panning import pan_gains

ROLES = ("kick", "snare", "stick", "clap", "hat", "pedal", "open", "tom_low", "tom_mid", "tom_high",
         "crash", "ride", "shaker", "block", "hand")
# General MIDI drum note -> role.
GM_ROLE = {35: "kick", 36: "kick", 37: "stick", 38: "snare", 40: "snare", 39: "clap", 42: "hat",
           44: "pedal", 46: "open", 41: "tom_low", 43: "tom_low", 45: "tom_mid", 47: "tom_mid",
           48: "tom_high", 50: "tom_high", 49: "crash", 52: "crash", 55: "crash", 57: "crash",
           51: "ride", 53: "ride", 59: "ride", 54: "shaker", 69: "shaker", 70: "shaker", 82: "shaker",
           56: "block", 67: "block", 68: "block", 75: "block", 76: "block", 77: "block", 80: "block",
           81: "block", 60: "hand", 61: "hand", 62: "hand", 63: "hand", 64: "hand", 65: "hand", 66: "hand",
           78: "hand", 79: "hand"}
# Where a missing role goes instead (tried in order).
FALLBACK = {"pedal": ("hat",), "open": ("hat",), "stick": ("snare",), "clap": ("snare",),
            "tom_low": ("tom_mid", "tom_high", "snare"), "tom_mid": ("tom_low", "tom_high", "snare"),
            "tom_high": ("tom_mid", "tom_low", "snare"), "crash": ("ride", "open", "hat"),
            "ride": ("hat",), "shaker": ("hat",), "block": ("stick", "snare"), "hand": ("tom_high", "snare")}
# Role from an instrument's name (Hydrogen) or a sample's file name (lower case), first match wins.
NAME_RULES = (
    ("pedal", r"(hat|hh).*(pedal|\bpd\b|foot)|(pedal|foot).*(hat|hh)"),
    ("open", r"(hat|hh).*(open|\bop\b|semi|ohh)|open.*(hat|hh)|\bohh\b"),
    ("hat", r"hat|\bhh\b|\bch\b|hihat"),
    ("ride", r"ride"),
    ("crash", r"crash|splash|china|cymbal"),
    ("kick", r"kick|bass ?drum|bassdrum|\bbd\b|thump|djembe\d? bass|^bd_|drum_bass"),
    ("stick", r"stick|rim|click"),
    ("clap", r"clap|snap"),
    ("snare", r"snare|\bsn\b|^sn_|cajon slap|djembe\d? slap"),
    ("tom_low", r"tom.*(low|floor|\blo\b)|floor ?tom"),
    ("tom_mid", r"tom.*(mid|\b2\b)"),
    ("tom_high", r"tom.*(hi|\b1\b)|tom"),
    ("shaker", r"shaker|maraca|tambourine|cabasa"),
    ("block", r"cowbell|clave|wood|agogo|clav"),
    ("hand", r"bongo|conga|djembe\d? tone|tabla|cajon"),
)
# Stereo angle (degrees, audience view) of each role before the kit's random width.
ANGLE = {"kick": 0, "snare": -4, "stick": -4, "clap": 0, "hat": -18, "pedal": -18, "open": -18,
         "tom_high": -10, "tom_mid": 8, "tom_low": 22, "crash": -25, "ride": 25, "shaker": 15,
         "block": 12, "hand": -12}


@dataclass(frozen=True)
class Layer:
    """One recorded hit: velocities [low, high) on a 0..1 scale, linear gain, sample file."""

    low: float
    high: float
    gain: float
    path: str


Instrument = tuple[Layer, ...]


def role_of(name: str) -> str | None:
    """The drum role of an instrument or sample named ``name``, or None."""
    n = name.lower().replace("_", " ").replace("-", " ")
    raw = name.lower()
    for role, pattern in NAME_RULES:
        if re.search(pattern, n) or re.search(pattern, raw):
            return role
    return None


def _text(el, tag, default=None):
    for child in el:
        if child.tag.split("}")[-1] == tag:
            return child.text
    return default


def _children(el, tag):
    return [c for c in el.iter() if c.tag.split("}")[-1] == tag]


@functools.lru_cache(maxsize=64)
def hydrogen_kit(folder: str) -> dict[str, tuple[Instrument, ...]] | None:
    """A Hydrogen kit folder as {role: (instrument, ...)}, or None if it lacks kick, snare or hi-hat.

    Reads ``drumkit.xml``: instruments (name, gain/volume) and their layers (velocity range,
    gain, file); instruments without a sample on disk are skipped.
    """
    root = Path(folder)
    try:
        tree = ET.parse(root / "drumkit.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    kit: dict[str, list[Instrument]] = {}
    for inst in _children(tree, "instrument"):
        name = _text(inst, "name") or ""
        role = role_of(name)
        if role is None or "roll" in name.lower():
            continue
        try:
            gain = float(_text(inst, "gain", "1") or 1) * float(_text(inst, "volume", "1") or 1)
        except ValueError:
            gain = 1.0
        layers = []
        for lay in _children(inst, "layer"):
            fn = _text(lay, "filename")
            if not fn or not (root / fn).is_file():
                continue
            try:
                lo, hi = float(_text(lay, "min", "0")), float(_text(lay, "max", "1"))
                g = float(_text(lay, "gain", "1"))
            except (TypeError, ValueError):
                lo, hi, g = 0.0, 1.0, 1.0
            layers.append(Layer(lo, hi, g * gain, str(root / fn)))
        fn = _text(inst, "filename")  # the older format: one sample per instrument
        if not layers and fn and (root / fn).is_file():
            layers.append(Layer(0.0, 1.0, gain, str(root / fn)))
        if layers and gain > 0:
            kit.setdefault(role, []).append(tuple(sorted(layers, key=lambda x: x.low)))
    if not all(r in kit for r in ("kick", "snare", "hat")):
        return None
    return {r: tuple(v) for r, v in kit.items()}


@functools.lru_cache(maxsize=8)
def readable(path) -> bool:
    """Whether libsndfile can open a sample file (packages ship the odd malformed one)."""
    import soundfile as sf

    try:
        sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return False
    return True


def assembled_kit(folder: str) -> dict[str, tuple[Instrument, ...]] | None:
    """One-shot samples in ``folder`` grouped by role from their names: {role: (instrument, ...)}.

    Sonic Pi's names (``drum_heavy_kick``, ``sn_dub``, ``drum_cymbal_closed``) and LMMS's
    (``kick01``, ``hihat_opened02``) both map; effects and melodic samples are left out.
    """
    kit: dict[str, list[Instrument]] = {}
    for p in sorted(Path(folder).iterdir()):
        if p.suffix.lower() not in (".flac", ".ogg", ".wav") or p.name.startswith(("loop_", "ambi_", "bass_")):
            continue
        stem = p.stem.lower()
        if stem.startswith("drum_cymbal_closed"):
            role = "hat"
        elif stem.startswith("drum_cymbal_pedal"):
            role = "pedal"
        elif stem.startswith("drum_cymbal_open"):
            role = "open"
        elif stem.startswith("drum_cymbal_soft"):
            role = "ride"
        elif stem.startswith(("drum_roll", "zap", "nasty_bass", "glitch", "mehackit", "misc", "vinyl",
                              "elec_b", "elec_p", "elec_chime", "elec_t", "elec_f", "perc_")):
            continue
        else:
            role = role_of(stem)
        if role is not None and readable(p):
            kit.setdefault(role, []).append((Layer(0.0, 1.0, 1.0, str(p)),))
    if not all(r in kit for r in ("kick", "snare", "hat")):
        return None
    return {r: tuple(v) for r, v in kit.items()}


def kit_of(source) -> dict[str, tuple[Instrument, ...]]:
    """The kit of a catalogue source of family "drumkit"."""
    kit = hydrogen_kit(source.path) if source.kind == "hydrogen" else assembled_kit(source.path)
    if kit is None:
        from ...errors import ShotokuError

        raise ShotokuError(f"drum kit '{source.name}' at {source.path} has no kick, snare or hi-hat")
    return kit


@functools.lru_cache(maxsize=512)
def sample(path: str, rate: int) -> np.ndarray:
    """A recorded hit as float32 [shape=(2, samples)] at ``rate`` Hz (mono files are doubled).

    Leading silence (below -60 dB of the peak) is trimmed so the hit starts on its note.
    """
    import soundfile as sf

    from ...io import resample

    x, r = sf.read(path, dtype="float32", always_2d=True)
    x = x.T[:2]
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    if r != rate:
        x = resample(x, r, rate)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > 0:
        start = int(np.argmax(np.abs(x).max(axis=0) > 1e-3 * peak))
        x = x[:, start:]
    x = np.ascontiguousarray(x, dtype=np.float32)
    x.setflags(write=False)
    return x


def _resolve(kit, role):
    if role in kit:
        return role
    for alt in FALLBACK.get(role, ()):
        if alt in kit:
            return alt
    return None


def pick_instruments(kit, rng: np.random.Generator) -> dict[str, Instrument]:
    """One instrument per role of ``kit``, drawn with ``rng``."""
    return {role: insts[int(rng.integers(len(insts)))] for role, insts in sorted(kit.items())}


def render_kit(events, kit, rng: np.random.Generator, samples: int, rate: int) -> np.ndarray:
    """Play drum ``events`` on ``kit``: float32 [shape=(2, samples)].

    events: iterable of (time_s, gm_note, velocity 1..127), any order
    kit: {role: (instrument, ...)} from :func:`hydrogen_kit` / :func:`assembled_kit`
    rng: draws the instrument of each role, the kit's stereo width and its level balance

    Notes outside :data:`GM_ROLE`, or whose role (and its fallbacks) the kit lacks, are dropped.
    """
    chosen = pick_instruments(kit, rng)
    width = float(rng.uniform(0.3, 1.0)) * (1 if rng.random() < 0.5 else -1)  # drummer's or audience view
    balance = {role: 10 ** (float(rng.uniform(-3, 3)) / 20) for role in ROLES}
    out = np.zeros((2, samples + 1), dtype=np.float32)
    events = sorted((float(t), int(n), int(v)) for t, n, v in events)
    hat_times = np.array([t for t, n, _ in events if GM_ROLE.get(n) in ("hat", "pedal", "open")])
    for t, note, vel in events:
        role = _resolve(kit, GM_ROLE.get(note, ""))
        if role is None:
            continue
        a = int(round(t * rate))
        if a >= samples:
            continue
        v = vel / 127.0
        layers = chosen[role]
        layer = next((x for x in layers if x.low <= v < x.high), layers[-1] if v >= layers[-1].low else layers[0])
        hit = sample(layer.path, rate)
        n = min(hit.shape[1], samples - a)
        if GM_ROLE.get(note) == "open" and hat_times.size:  # choked by the next hi-hat hit
            later = hat_times[hat_times > t + 1e-6]
            if later.size:
                n = min(n, int(round((later[0] - t) * rate)))
        if n <= 0:
            continue
        left, right = pan_gains(float(np.clip(ANGLE.get(role, 0) * width, -45, 45)))
        g = layer.gain * v * balance[role]
        seg = hit[:, :n] * np.float32(g)
        fade = min(n, int(0.01 * rate))
        if n < hit.shape[1] and fade > 0:
            seg[:, n - fade:n] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        out[0, a:a + n] += seg[0] * np.float32(left * np.sqrt(2))
        out[1, a:a + n] += seg[1] * np.float32(right * np.sqrt(2))
    return out[:, :samples]


@functools.lru_cache(maxsize=32)
def _loop_audio(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, r = sf.read(path, dtype="float32", always_2d=True)
    x = np.ascontiguousarray(x.T[:2] if x.shape[1] >= 2 else np.repeat(x.T, 2, axis=0))
    x.setflags(write=False)
    return x, r


def render_loop(path: str, tempo: float, samples: int, rate: int) -> tuple[np.ndarray, dict]:
    """Tile the drum loop at ``path`` over ``samples`` samples at ``tempo`` BPM.

    The loop is taken to last a whole number of beats (1, 2, 4, 8 or 16: the count whose tempo
    is nearest ``tempo``) and its speed is changed by the ratio of the two tempi (resampling, so
    its pitch moves with it). Returns float32 [shape=(2, samples)] and a record of the beats and
    the speed ratio.
    """
    from scipy.signal import resample_poly

    x, r = _loop_audio(path)
    length = x.shape[1] / r
    beats = min((1, 2, 4, 8, 16), key=lambda b: abs(np.log(b * 60.0 / length / tempo)))
    target = beats * 60.0 / tempo  # seconds the loop must last
    ratio = Fraction(target * rate / (x.shape[1])).limit_denominator(200)
    # resample to ``rate`` and to the new length at once: up/down = new samples / old samples
    y = resample_poly(x.astype(np.float64), ratio.numerator, ratio.denominator, axis=-1)
    period = int(round(target * rate))
    y = y[:, :period]
    if y.shape[1] < period:
        y = np.pad(y, ((0, 0), (0, period - y.shape[1])))
    reps = int(np.ceil(samples / period))
    out = np.tile(y, (1, reps))[:, :samples].astype(np.float32)
    return out, {"beats": beats, "speed": round(length / target, 4)}
