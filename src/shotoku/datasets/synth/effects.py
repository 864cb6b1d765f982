"""Per-stem effects and a shared reverb, drawn per song, applied with ``pedalboard`` (PyPI).

Each stem gets its own chain, each effect present with a probability that depends on the stem
(:data:`CHANCES`): a high-pass filter, equalisation (low shelf, one peak, high shelf),
distortion, chorus, a tempo-synced delay and compression. A song has at most one reverb (a room
drawn per song, :func:`draw_reverb`); each stem sends its own share to it. The reverb runs on
each stem separately (``stem + send * reverb(stem)``), so the mixture, the sum of the processed
stems, is exactly the sum of the stems and holds the same room around each of them.

Effects run on a stem normalised to -20 dBFS RMS, so thresholds and drives mean the same for
every source; the caller sets the final levels afterwards. Every setting is a plain number in a
JSON-serialisable description (:func:`draw_chain`), recorded in the song's metadata; the same
description gives the same samples.
"""

from __future__ import annotations

import numpy as np

REFERENCE_RMS = 0.1  # -20 dBFS
# Probability of each effect per stem.
CHANCES = {
    "drums": {"highpass": 0.3, "eq": 0.6, "distortion": 0.05, "chorus": 0.0, "delay": 0.0, "compressor": 0.6},
    "bass": {"highpass": 0.3, "eq": 0.6, "distortion": 0.15, "chorus": 0.1, "delay": 0.0, "compressor": 0.6},
    "other": {"highpass": 0.4, "eq": 0.6, "distortion": 0.2, "chorus": 0.3, "delay": 0.25, "compressor": 0.4},
    "vocals": {"highpass": 0.5, "eq": 0.6, "distortion": 0.03, "chorus": 0.1, "delay": 0.3, "compressor": 0.6},
}
# Reverb send (wet level) per stem: uniform range.
SENDS = {"drums": (0.0, 0.25), "bass": (0.0, 0.08), "other": (0.0, 0.45), "vocals": (0.05, 0.5)}
REVERB_CHANCE = 0.8


def _u(rng, lo, hi, digits=3) -> float:
    return round(float(rng.uniform(lo, hi)), digits)


def _log_u(rng, lo, hi) -> float:
    return round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 1)


def draw_chain(rng: np.random.Generator, stem: str) -> list[dict]:
    """A random effect chain for ``stem`` as a list of {"effect": name, setting: value} dicts.

    Delay times are in beats (the song's tempo turns them into seconds in :func:`process`).
    """
    p = CHANCES[stem]
    chain = []
    if rng.random() < p["highpass"]:
        lo, hi = (20.0, 45.0) if stem == "bass" else (30.0, 200.0)
        chain.append({"effect": "highpass", "cutoff_hz": _log_u(rng, lo, hi)})
    if rng.random() < p["eq"]:
        chain.append({"effect": "lowshelf", "cutoff_hz": _log_u(rng, 80, 300), "gain_db": _u(rng, -6, 6, 2)})
        chain.append({"effect": "peak", "cutoff_hz": _log_u(rng, 250, 5000), "gain_db": _u(rng, -6, 6, 2),
                      "q": _u(rng, 0.5, 2.0, 2)})
        chain.append({"effect": "highshelf", "cutoff_hz": _log_u(rng, 2500, 10000), "gain_db": _u(rng, -6, 6, 2)})
    if rng.random() < p["distortion"]:
        chain.append({"effect": "distortion", "drive_db": _u(rng, 4, 24, 2)})
    if rng.random() < p["chorus"]:
        chain.append({"effect": "chorus", "rate_hz": _u(rng, 0.2, 2.0), "depth": _u(rng, 0.1, 0.5),
                      "centre_delay_ms": _u(rng, 4, 12, 2), "mix": _u(rng, 0.2, 0.6)})
    if rng.random() < p["delay"]:
        beats = float(rng.choice([0.5, 0.75, 1.0]))
        chain.append({"effect": "delay", "beats": beats,
                      "feedback": _u(rng, 0.1, 0.45), "mix": _u(rng, 0.1, 0.35)})
    if rng.random() < p["compressor"]:
        chain.append({"effect": "compressor", "threshold_db": _u(rng, -30, -10, 2), "ratio": _u(rng, 1.5, 8, 2),
                      "attack_ms": _log_u(rng, 1, 30), "release_ms": _log_u(rng, 40, 300)})
    return chain


def draw_reverb(rng: np.random.Generator) -> dict | None:
    """A song's room (or None: a dry song) as {"room_size", "damping", "width"}."""
    if rng.random() >= REVERB_CHANCE:
        return None
    return {"room_size": _u(rng, 0.1, 0.9), "damping": _u(rng, 0.1, 0.8), "width": _u(rng, 0.5, 1.0)}


def draw_send(rng: np.random.Generator, stem: str) -> float:
    """A stem's reverb send (the reverb's wet level for that stem)."""
    lo, hi = SENDS[stem]
    return _u(rng, lo, hi)


def _plugin(desc: dict, tempo: float):
    import pedalboard as pb

    kind = desc["effect"]
    if kind == "highpass":
        return pb.HighpassFilter(cutoff_frequency_hz=desc["cutoff_hz"])
    if kind == "lowshelf":
        return pb.LowShelfFilter(cutoff_frequency_hz=desc["cutoff_hz"], gain_db=desc["gain_db"])
    if kind == "highshelf":
        return pb.HighShelfFilter(cutoff_frequency_hz=desc["cutoff_hz"], gain_db=desc["gain_db"])
    if kind == "peak":
        return pb.PeakFilter(cutoff_frequency_hz=desc["cutoff_hz"], gain_db=desc["gain_db"], q=desc["q"])
    if kind == "distortion":
        return pb.Distortion(drive_db=desc["drive_db"])
    if kind == "chorus":
        return pb.Chorus(rate_hz=desc["rate_hz"], depth=desc["depth"], centre_delay_ms=desc["centre_delay_ms"],
                         mix=desc["mix"])
    if kind == "delay":
        return pb.Delay(delay_seconds=desc["beats"] * 60.0 / tempo, feedback=desc["feedback"], mix=desc["mix"])
    if kind == "compressor":
        return pb.Compressor(threshold_db=desc["threshold_db"], ratio=desc["ratio"],
                             attack_ms=desc["attack_ms"], release_ms=desc["release_ms"])
    raise ValueError(f"unknown effect {kind!r}")


def process(audio: np.ndarray, chain: list[dict], reverb: dict | None, send: float, rate: int,
            tempo: float = 120.0) -> np.ndarray:
    """Run ``chain`` then the reverb send on one stem.

    tempo: the song's tempo in BPM (delay times are in beats)

    audio: float32 [shape=(2, samples)]; returns float32 of the same shape (effect tails past
    the end are cut), at :data:`REFERENCE_RMS` before the chain. Silence stays silence.
    """
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if rms == 0.0 or (not chain and (reverb is None or send <= 0)):
        return audio.astype(np.float32)
    import pedalboard as pb  # the "synth" extra; the CLI names it when it is missing

    x = np.ascontiguousarray(audio * np.float32(REFERENCE_RMS / rms), dtype=np.float32)
    if chain:
        x = pb.Pedalboard([_plugin(d, tempo) for d in chain])(x, float(rate))
    if reverb is not None and send > 0:
        room = pb.Reverb(room_size=reverb["room_size"], damping=reverb["damping"], width=reverb["width"],
                         wet_level=1.0, dry_level=0.0)
        x = x + np.float32(send) * room(np.ascontiguousarray(x), float(rate))
    return np.ascontiguousarray(x[:, : audio.shape[1]], dtype=np.float32)
