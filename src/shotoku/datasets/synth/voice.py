"""A sung line from spoken syllables: espeak-ng or Festival speech re-pitched and re-timed with WORLD.

Each syllable (an onset consonant and a stressed vowel, in espeak-ng phoneme notation) is spoken
once, by espeak-ng (formant synthesis) or by a Festival voice (recorded diphones or an HTS
voice: ``festvox-kallpc16k``, ``festvox-kdlpc16k``, ``festvox-us-slt-hts``; the phonemes are
mapped to Festival's phone set and all of a song's syllables are spoken in one Festival run),
and analysed with the WORLD vocoder (Morise et al., "WORLD: a vocoder-based
high-quality speech synthesis system for real-time applications", IEICE Trans. Inf. & Syst. 2016):
DIO + StoneMask for the fundamental frequency, CheapTrick for the spectral envelope, D4C for the
aperiodicity. The analysis is cached per (syllable, voice), so a song pays for each distinct
syllable once and later songs in the same process pay nothing.

Singing a note of the melody then needs no signal processing beyond WORLD's synthesis:

- time: the syllable's frames are split into onset (the consonant, up to 125 ms, kept at its
  natural speed unless the note is too short), nucleus (the loud voiced stretch: the vowel) and
  release (up to 40 ms). The nucleus is stretched or squeezed (linear interpolation of the
  log envelope and of the aperiodicity between analysis frames) so the syllable fills the note
  exactly, from its start frame to its end frame; the consonant starts on the note's onset.
- pitch: every voiced frame takes the note's frequency, with a gentle vibrato on long notes.
- level: each syllable's nucleus is normalised to unit mean envelope power, then scaled by the
  note's velocity; the last 15 ms of each note fade out.

Departures from natural singing: no pitch glides between notes, the consonant starts on the beat
rather than before it, and one syllable per note. Analysis and synthesis run at 22.05 kHz,
espeak-ng's own rate (no resampling before analysis; its speech holds nothing above 11 kHz), with
5 ms frames; the result is resampled to the song's rate.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ShotokuError

ANALYSIS_RATE = 22050
FRAME_MS = 5.0
F0_FLOOR, F0_CEIL = 60.0, 700.0
ENVELOPE_FLOOR = 1e-10  # envelope power in rests, relative to a syllable's nucleus (-100 dB)
MAX_ONSET, MAX_RELEASE, FADE = 25, 8, 3  # frames


@functools.lru_cache(maxsize=1)
def pyworld():
    """The ``pyworld`` extension module.

    pyworld 0.3.5's ``__init__`` reads its version through ``pkg_resources``, which recent
    setuptools no longer ships; the compiled module itself needs nothing, so when that import
    fails it is loaded directly.
    """
    try:
        import pyworld as pw

        return pw
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise
    spec = importlib.util.find_spec("pyworld")
    if spec is None or not spec.submodule_search_locations:
        raise ShotokuError("pyworld is not installed; install it with 'pip install pyworld'")
    folder = Path(list(spec.submodule_search_locations)[0])
    lib = sorted(folder.glob("pyworld*.so")) + sorted(folder.glob("pyworld*.pyd"))
    if not lib:
        raise ShotokuError("pyworld's compiled module is missing; reinstall it with 'pip install pyworld'")
    ext = importlib.util.spec_from_file_location("pyworld.pyworld", lib[0])
    module = importlib.util.module_from_spec(ext)
    ext.loader.exec_module(module)
    return module


def midi_to_hz(pitch) -> np.ndarray:
    """Frequency in Hz of MIDI pitch(es) (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def speak(phonemes: str, voice: str, folder) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of ``phonemes`` (its ``[[...]]`` notation) as float64 mono, rate."""
    import soundfile as sf

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ShotokuError("espeak-ng is not installed; install it with 'apt-get install espeak-ng'")
    wav = Path(folder) / "syllable.wav"
    cmd = [exe, "-v", voice, "-s", "120", "-p", "50", "-a", "100", "-w", str(wav), f"[[{phonemes}]]"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not wav.is_file():
        msg = proc.stderr.decode(errors="replace").strip()
        raise ShotokuError(f"espeak-ng failed for voice '{voice}': {msg or 'no output'}")
    x, rate = sf.read(str(wav), dtype="float64")
    return x, rate


# espeak-ng phonemes of the sung syllables -> Festival's "radio" phone set (kal, ked, slt voices).
FESTIVAL_PHONES = {"l": "l", "n": "n", "m": "m", "d": "d", "b": "b", "w": "w", "j": "y", "h": "hh",
                   "s": "s", "S": "sh", "t": "t", "k": "k", "g": "g", "v": "v", "r": "r", "": "",
                   "A:": "aa", "i:": "iy", "u:": "uw", "oU": "ow", "eI": "ey", "aI": "ay"}
FESTIVAL_PREFIX = "festival:"
_spoken: dict[tuple[str, str], tuple[np.ndarray, int]] = {}


def festival_phones(phonemes: str) -> str:
    """A syllable in espeak-ng notation (``"S'eI"``) as Festival phones (``"sh ey"``)."""
    onset, vowel = phonemes.split("'")
    return " ".join(p for p in (FESTIVAL_PHONES[onset], FESTIVAL_PHONES[vowel]) if p)


def speak_festival(syllables, voice: str) -> None:
    """Speak every syllable in ``syllables`` with Festival ``voice`` in one run; results are cached.

    Each syllable is added to the lexicon as a one-syllable word with its phones and stress, and
    that word is synthesised; ``voice`` is a Festival voice name such as ``kal_diphone``.
    """
    import soundfile as sf

    todo = sorted({s for s in syllables if (s, voice) not in _spoken})
    if not todo:
        return
    exe = shutil.which("festival")
    if exe is None:
        raise ShotokuError("festival is not installed; install it with 'apt-get install festival festvox-kallpc16k'")
    if not re.fullmatch(r"[A-Za-z0-9_]+", voice):
        raise ShotokuError(f"bad Festival voice name '{voice}'")
    with tempfile.TemporaryDirectory(prefix="shotoku-festival-") as tmp:
        lines = [f"(voice_{voice})"]
        for i, syl in enumerate(todo):
            word = f"zzshotoku{chr(97 + i // 26)}{chr(97 + i % 26)}"
            wav = Path(tmp) / f"{i}.wav"
            lines += [f'(lex.add.entry \'("{word}" nil ((({festival_phones(syl)}) 1))))',
                      f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{wav}" \'riff)']
        script = Path(tmp) / "sing.scm"
        script.write_text("\n".join(lines) + "\n", encoding="ascii")
        proc = subprocess.run([exe, "--batch", str(script)], capture_output=True)
        for i, syl in enumerate(todo):
            wav = Path(tmp) / f"{i}.wav"
            if proc.returncode != 0 or not wav.is_file():
                msg = proc.stderr.decode(errors="replace").strip().splitlines()
                raise ShotokuError(f"festival failed for voice '{voice}': {msg[-1] if msg else 'no output'}")
            x, rate = sf.read(str(wav), dtype="float64")
            _spoken[(syl, voice)] = (x if x.ndim == 1 else x.mean(axis=1), rate)


@dataclass(frozen=True)
class Syllable:
    """WORLD analysis of one spoken syllable, frames of :data:`FRAME_MS`.

    voiced: bool [shape=(frames,)]
    sp: spectral envelope, power [shape=(frames, bins)], nucleus mean power 1
    ap: aperiodicity in [0, 1] [shape=(frames, bins)]
    onset, release: the nucleus is frames [onset, release)
    """

    voiced: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    onset: int
    release: int


@functools.lru_cache(maxsize=2048)
def analyse(phonemes: str, voice: str) -> Syllable:
    """Speak ``phonemes`` with ``voice`` and analyse it with WORLD (cached).

    voice: an espeak-ng voice (``"en-us+f3"``) or ``"festival:<voice>"`` (``"festival:kal_diphone"``)
    """
    pw = pyworld()
    if voice.startswith(FESTIVAL_PREFIX):
        name = voice[len(FESTIVAL_PREFIX):]
        speak_festival([phonemes], name)
        x, rate = _spoken[(phonemes, name)]
    else:
        with tempfile.TemporaryDirectory(prefix="shotoku-voice-") as tmp:
            x, rate = speak(phonemes, voice, tmp)
    if rate != ANALYSIS_RATE:
        from ...io import resample

        x = resample(x, rate, ANALYSIS_RATE).astype(np.float64)
    # Trim the silence espeak-ng leaves around the word (threshold -40 dB of the peak).
    hop = ANALYSIS_RATE // 200
    env = np.sqrt(np.convolve(x ** 2, np.ones(hop) / hop, mode="same"))
    loud = np.flatnonzero(env > 0.01 * env.max()) if env.size and env.max() > 0 else np.array([], int)
    if loud.size == 0:
        raise ShotokuError(f"espeak-ng produced silence for '{phonemes}' with voice '{voice}'")
    x = np.ascontiguousarray(x[max(loud[0] - hop, 0): loud[-1] + hop])
    f0, t = pw.dio(x, ANALYSIS_RATE, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, ANALYSIS_RATE)
    fft_size = pw.get_cheaptrick_fft_size(ANALYSIS_RATE, 71.0)
    sp = pw.cheaptrick(x, f0, t, ANALYSIS_RATE, fft_size=fft_size)
    ap = pw.d4c(x, f0, t, ANALYSIS_RATE, fft_size=fft_size)
    power = sp.mean(axis=1)
    voiced = f0 > 0
    if not voiced.any():
        voiced = power >= 0.25 * power.max()
    strong = np.flatnonzero(voiced & (power >= 0.25 * power[voiced].max()))
    onset, release = int(strong[0]), int(strong[-1]) + 1
    sp = sp / power[onset:release].mean()
    start = max(0, onset - MAX_ONSET)
    end = min(len(f0), release + MAX_RELEASE)
    syl = Syllable(voiced[start:end].copy(), np.ascontiguousarray(sp[start:end]),
                   np.ascontiguousarray(ap[start:end]), onset - start, release - start)
    for a in (syl.voiced, syl.sp, syl.ap):
        a.setflags(write=False)
    return syl


def _pick(n_out: int, n_in: int) -> np.ndarray:
    """Indices of ``n_out`` frames spread evenly over ``n_in`` (nearest frame)."""
    if n_out <= 0 or n_in <= 0:
        return np.zeros(0, dtype=int)
    return np.round(np.linspace(0, n_in - 1, n_out)).astype(int)


def stretch(syl: Syllable, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``syl`` into exactly ``frames`` frames: (voiced, sp, ap) with that many rows.

    The onset and release keep their speed unless together they would leave the nucleus less
    than 40% of the note; then they are shortened by dropping frames evenly.
    """
    n_on, n_rel = syl.onset, len(syl.voiced) - syl.release
    min_nucleus = max(2, int(0.4 * frames))
    budget = max(frames - min_nucleus, 0)
    if n_on + n_rel > budget:
        scale = budget / max(n_on + n_rel, 1)
        n_on_out, n_rel_out = int(n_on * scale), int(n_rel * scale)
    else:
        n_on_out, n_rel_out = n_on, n_rel
    m = frames - n_on_out - n_rel_out
    idx_on = _pick(n_on_out, n_on)
    idx_rel = syl.release + _pick(n_rel_out, n_rel)
    # nucleus: fractional positions, linear interpolation in the log envelope
    pos = np.linspace(syl.onset, syl.release - 1, m) if m > 1 else np.full(m, float(syl.onset))
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, syl.release - 1)
    w = (pos - lo)[:, None]
    log_sp = np.log(np.maximum(syl.sp, 1e-300))
    sp_nuc = np.exp((1 - w) * log_sp[lo] + w * log_sp[hi])
    ap_nuc = (1 - w) * syl.ap[lo] + w * syl.ap[hi]
    voiced = np.concatenate([syl.voiced[idx_on], np.ones(m, dtype=bool), syl.voiced[idx_rel]])
    sp = np.concatenate([syl.sp[idx_on], sp_nuc, syl.sp[idx_rel]])
    ap = np.concatenate([syl.ap[idx_on], ap_nuc, syl.ap[idx_rel]])
    return voiced, sp, ap


def sing(notes, seconds: float, voice: str, rate: int, vibrato_cents: float = 15.0,
         vibrato_hz: float = 5.5) -> np.ndarray:
    """Sing ``notes`` with ``voice`` (espeak-ng, or ``"festival:<voice>"``): mono float32 [shape=(round(seconds * rate),)].

    notes: iterable of (start_s, end_s, midi_pitch, velocity, phonemes); start and end in seconds,
        velocity 1..127, phonemes one syllable in espeak-ng notation (``"l'A:"``). Notes must not
        overlap; anything past ``seconds`` is cut.
    vibrato_cents, vibrato_hz: depth (peak deviation) and rate of the vibrato, which fades in
        from 150 ms to 350 ms into each note.

    The level is arbitrary (the caller balances stems); the analysis settings are in the module
    docstring.
    """
    pw = pyworld()
    notes = list(notes)
    if voice.startswith(FESTIVAL_PREFIX):  # one Festival run for the song's syllables
        speak_festival([n[4] for n in notes], voice[len(FESTIVAL_PREFIX):])
    fp = FRAME_MS / 1000.0
    n_frames = int(np.ceil(seconds / fp)) + 2
    f0 = np.zeros(n_frames)
    sp = None
    ap = None
    for start, end, pitch, velocity, phonemes in notes:
        a = int(round(start / fp))
        b = min(int(round(end / fp)), n_frames)
        if b - a < 2 or a >= n_frames:
            continue
        syl = analyse(phonemes, voice)
        if sp is None:
            sp = np.full((n_frames, syl.sp.shape[1]), ENVELOPE_FLOOR)
            ap = np.ones((n_frames, syl.sp.shape[1]))
        voiced, s, p = stretch(syl, b - a)
        t = np.arange(b - a) * fp
        ramp = np.clip((t - 0.15) / 0.2, 0.0, 1.0)
        cents = vibrato_cents * ramp * np.sin(2 * np.pi * vibrato_hz * t)
        hz = midi_to_hz(pitch) * 2.0 ** (cents / 1200.0)
        gain = np.full(b - a, (velocity / 100.0) ** 2)
        k = min(FADE, b - a)
        gain[-k:] *= np.linspace(0.6, 0.05, k) ** 2
        f0[a:b] = np.where(voiced, hz, 0.0)
        sp[a:b] = np.maximum(s * gain[:, None], ENVELOPE_FLOOR)
        ap[a:b] = p
    samples = int(round(seconds * rate))
    if sp is None:
        return np.zeros(samples, dtype=np.float32)
    y = pw.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), ANALYSIS_RATE, FRAME_MS)
    if rate != ANALYSIS_RATE:
        from ...io import resample

        y = resample(y, ANALYSIS_RATE, rate)
    out = np.zeros(samples, dtype=np.float32)
    n = min(samples, y.shape[-1])
    out[:n] = y[:n]
    return out
