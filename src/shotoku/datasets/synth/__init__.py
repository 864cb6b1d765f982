"""Synthetic multitrack songs with exact stems: drums, bass, other, vocals.

A seed composes a short song (:mod:`.compose`: tempo, key, chord progression, groove,
instruments, melody, lyrics), writes one MIDI file per instrumental stem (:mod:`.midi`), renders
each with FluidSynth, reverb and chorus off (:mod:`.render`), and sings the melody with
espeak-ng syllables re-pitched and re-timed by the WORLD vocoder (:mod:`.voice`). Each stem is
brought to a level drawn from the seed, all stems are scaled by one common factor so that
nothing clips, and the mixture is their sum.

The stems are rounded to a grid of 2**-21 (about -126 dBFS, finer than 20-bit audio) so that
the float32 sum is exact whatever the order of addition: ``mixture == drums + bass + other +
vocals`` holds bit for bit, in memory and in the float WAV files.

    >>> from shotoku.datasets.synth import render_song     # doctest: +SKIP
    >>> track = render_song(seed=7, seconds=6.0)            # doctest: +SKIP
    >>> track.mixture.shape, sorted(track.stems)            # doctest: +SKIP
    ((2, 264600), ['bass', 'drums', 'other', 'vocals'])
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ...errors import OutputError, ParameterError
from ...io import save
from ..track import Track
from . import compose as _compose
from . import midi as _midi
from . import render as _render
from . import voice as _voice
from .render import DEFAULT_SOUNDFONT

__all__ = ["STEMS", "DEFAULT_SOUNDFONT", "render_song", "write_dataset", "track_seed"]

STEMS = ("drums", "bass", "other", "vocals")
PEAK = 0.89  # about -1 dBFS: the highest sample of the mixture or of any stem
GRID = 2.0 ** -21
# Stem RMS relative to the drums, dB: (centre, spread) of a uniform draw per song.
LEVELS_DB = {"drums": (0.0, 0.0), "bass": (-3.0, 2.0), "other": (-4.0, 2.0), "vocals": (-1.0, 2.0)}


def _check(seed, seconds, rate):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 64:
        raise ParameterError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise ParameterError(f"seconds must be a number, got {seconds!r}") from None
    if not 0.5 <= seconds <= 3600.0:
        raise ParameterError(f"seconds must be between 0.5 and 3600, got {seconds}")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not 8000 <= int(rate) <= 192000:
        raise ParameterError(f"rate must be an integer sample rate in [8000, 192000] Hz, got {rate!r}")
    return int(seed), seconds, int(rate)


def _pan(mono: np.ndarray, pan: int) -> np.ndarray:
    """Constant-power pan of mono [shape=(samples,)] to stereo; pan 0 left, 64 centre, 127 right."""
    theta = (np.clip(pan, 0, 127) / 127.0) * (np.pi / 2)
    return np.stack([mono * np.cos(theta), mono * np.sin(theta)]).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def render_song(seed: int, seconds: float = 10.0, rate: int = 44100, soundfont: str | None = None) -> Track:
    """Compose and render one song with known stems.

    seed: non-negative integer; it chooses everything (tempo, key, progression, groove,
        instruments, melody, lyrics, voice, levels, pans). Same seed, length, rate and soundfont
        give identical samples; a different seed gives different music.
    seconds: length in seconds (0.5 .. 3600)
    rate: sample rate in Hz of the result
    soundfont: General MIDI .sf2/.sf3 file; default :data:`DEFAULT_SOUNDFONT` (Debian package
        ``timgm6mb-soundfont``)

    Returns a :class:`~shotoku.datasets.track.Track`: ``mixture`` float32
    [shape=(2, round(seconds * rate))], ``stems`` {"drums", "bass", "other", "vocals"} of the same
    shape that sum to the mixture exactly, ``rate``, and ``meta`` (JSON-serialisable: seed, tempo,
    key, groove, progression, chords, instruments with GM programs and pans, voice, soundfont,
    duration, rate, shotoku version, lyrics, and ``melody``: the sung notes as
    [start_s, end_s, midi_pitch] lists, cut at ``seconds``).

    Rendering needs the ``fluidsynth`` and ``espeak-ng`` programs; their absence, or a missing
    soundfont, raises :class:`~shotoku.errors.ShotokuError` with the package to install.
    """
    from ... import __version__

    seed, seconds, rate = _check(seed, seconds, rate)
    font = _render.find_soundfont(soundfont)
    score = _compose.compose(seed, seconds)
    samples = int(round(seconds * rate))
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0x313C]))
    levels = {s: c + float(rng.uniform(-w, w)) for s, (c, w) in LEVELS_DB.items()}
    vocal_pan = int(64 + rng.integers(-8, 9))
    vibrato = (float(rng.uniform(10.0, 20.0)), float(rng.uniform(4.8, 6.2)))

    melody = []
    for note, syllable in zip(score.melody, score.lyrics):
        start, end = score.time(note.start), score.time(note.start + note.dur)
        if start < seconds:
            melody.append((start, min(end, seconds), note.pitch, note.velocity, syllable))

    stems: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="shotoku-synth-") as tmp:
        jobs = {}
        try:
            for stem, parts in score.parts.items():
                mid = _midi.write_midi(Path(tmp) / f"{stem}.mid", score, parts, seconds + 0.1)
                wav = Path(tmp) / f"{stem}.wav"
                jobs[stem] = (_render.start(mid, wav, font, rate), wav)
            vocals = _voice.sing(melody, seconds, score.voice, rate, *vibrato)
            for stem, (proc, wav) in jobs.items():
                stems[stem] = _render.finish(proc, wav, samples)
        finally:
            for proc, _ in jobs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    stems["vocals"] = _pan(vocals, vocal_pan)

    ref = _rms(stems["drums"]) or 1.0
    for stem in STEMS:
        r = _rms(stems[stem])
        if r > 0:
            stems[stem] = (stems[stem] * (ref / r * 10.0 ** (levels[stem] / 20.0))).astype(np.float32)
    mix = sum(stems[s].astype(np.float64) for s in STEMS)
    peak = max([float(np.abs(mix).max())] + [float(np.abs(stems[s]).max()) for s in STEMS])
    scale = PEAK / peak if peak > 0 else 1.0
    for stem in STEMS:
        stems[stem] = (np.round(stems[stem].astype(np.float64) * (scale / GRID)) * GRID).astype(np.float32)
    mixture = stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"]

    instruments = {
        "drums": [{"name": "standard kit", "program": 0, "bank": 128, "pan": 64}],
        "bass": [{"name": _compose.BASS_PROGRAMS[p.program], "program": p.program, "pan": p.pan}
                 for p in score.parts["bass"]],
        "other": [{"name": _program_name(p.program), "role": p.name, "program": p.program, "pan": p.pan}
                  for p in score.parts["other"]],
        "vocals": [{"name": "espeak-ng " + score.voice, "voice": score.voice, "pan": vocal_pan}],
    }
    meta = {
        "seed": seed,
        "tempo": score.tempo,
        "key": score.key,
        "groove": score.groove,
        "swing": score.swing,
        "progression": [score.roman(d) for d in score.progression],
        "chords": [score.chord_name(d) for d in score.progression],
        "instruments": instruments,
        "levels_db": {s: round(v, 2) for s, v in levels.items()},
        "vibrato": {"cents": round(vibrato[0], 2), "hz": round(vibrato[1], 2)},
        "soundfont": str(font),
        "duration": samples / rate,
        "rate": rate,
        "shotoku_version": __version__,
        "lyrics": [_compose.spell(m[4]) for m in melody],
        "melody": [[round(m[0], 6), round(m[1], 6), int(m[2])] for m in melody],
    }
    return Track(name=f"synth-{seed}", mixture=mixture, stems={s: stems[s] for s in STEMS},
                 rate=rate, meta=meta)


def _program_name(program: int) -> str:
    for table in (_compose.PAD_PROGRAMS, _compose.CHORD_PROGRAMS, _compose.ARP_PROGRAMS):
        if program in table:
            return table[program]
    return f"program {program}"


def track_seed(seed: int, index: int) -> int:
    """The seed of track ``index`` in a dataset made with ``seed`` (a 32-bit integer)."""
    entropy = [int(seed) & 0xFFFFFFFF, int(seed) >> 32, int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _write_track(track: Track, folder: Path) -> None:
    for name, audio in [("mixture", track.mixture)] + [(s, track.stems[s]) for s in STEMS]:
        save(folder / f"{name}.wav", audio, track.rate)
    text = json.dumps(track.meta, indent=2, ensure_ascii=False) + "\n"
    (folder / "track.json").write_text(text, encoding="utf-8")


def _same_settings(folder: Path, expected: dict) -> bool:
    try:
        meta = json.loads((folder / "track.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = all((folder / f"{n}.wav").is_file() for n in ("mixture",) + STEMS)
    return files and all(meta.get(k) == v for k, v in expected.items())


def write_dataset(out_dir, n: int, seed: int, seconds: float = 10.0, soundfont: str | None = None,
                  rate: int = 44100) -> list[Path]:
    """Render ``n`` songs into ``out_dir`` in the MUSDB18-HQ folder layout.

    Writes ``out_dir/synth-0000/{mixture,drums,bass,other,vocals}.wav`` (float32 WAV, stereo,
    ``rate`` Hz) and ``track.json`` (the song's ``meta``, see :func:`render_song`), one folder
    per track. Track ``i`` uses seed :func:`track_seed` (``seed``, ``i``). Each track is written
    into a hidden temporary folder beside its target and renamed into place once complete, so
    an interrupted run leaves only whole tracks; running again with the same settings skips the
    tracks already there. Returns the track folders in order.

    Raises :class:`~shotoku.errors.OutputError` if a track folder exists with other settings or
    ``out_dir`` cannot be written.
    """
    from tqdm import tqdm

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be a positive integer, got {n!r}")
    seed, seconds, rate = _check(seed, seconds, rate)
    font = _render.find_soundfont(soundfont)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder '{out}': {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"output folder '{out}' is not writable; choose another with -o")
    paths = []
    for i in tqdm(range(int(n)), desc="synth", unit="song", disable=not sys.stderr.isatty()):
        name = f"synth-{i:04d}"
        target = out / name
        s = track_seed(seed, i)
        expected = {"seed": s, "duration": round(seconds * rate) / rate, "rate": rate, "soundfont": str(font)}
        if target.exists():
            if _same_settings(target, expected):
                paths.append(target)
                continue
            raise OutputError(f"'{target}' already exists with other settings or is incomplete; "
                              "remove it or choose another output folder")
        track = render_song(s, seconds, rate, str(font))
        track.name = name
        track.meta = {"name": name, "dataset_seed": seed, "index": i, **track.meta}
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
        try:
            os.chmod(tmp, 0o755)
            _write_track(track, tmp)
            os.rename(tmp, target)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError):
                raise OutputError(f"cannot write '{target}': {exc.strerror or exc}") from None
            raise
        paths.append(target)
    return paths
