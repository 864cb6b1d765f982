"""Synthetic multitrack songs with exact stems: drums, bass, other, vocals.

A seed composes a short song (:mod:`.compose`: tempo, key, chord progression, groove,
instruments, melody, lyrics) and draws its recipe (:mod:`.recipe`) from the catalogue of
installed Debian material (:mod:`.sources`):

- the accompaniment: the procedural composer's parts, or an MMA groove of many genres over the
  same chords (:mod:`.grooves`);
- per song and per stem, the source: a General MIDI soundfont rendered with FluidSynth, reverb
  and chorus off (:mod:`.midi`, :mod:`.render`); a sampled drum kit (Hydrogen, Sonic Pi, LMMS)
  or a recorded drum loop (:mod:`.drums`); a recorded guitar (:mod:`.guitar`);
- the sung line: a composed melody or a folk tune from music21's corpus (:mod:`.melodies`),
  sung by espeak-ng or a Festival voice re-pitched and re-timed with WORLD (:mod:`.voice`);
- per-stem effects and a shared reverb send (:mod:`.effects`), stereo placement with
  :mod:`shotoku.panning`, random levels, and stems absent with a small probability.

``split="train"`` (the default) can only draw training sources; ``split="heldout"`` draws only
the FluidR3 soundfonts reserved for evaluation. ``plain=True`` keeps the first recipe (one
soundfont, espeak-ng, no effects). All stems are scaled by one common factor so that nothing
clips, and the mixture is their sum.

The stems are rounded to a grid of 2**-21 (about -126 dBFS, finer than 20-bit audio) so that
the float32 sum is exact whatever the order of addition: ``mixture == drums + bass + other +
vocals`` holds bit for bit, in memory and in the float WAV files. :func:`write_dataset` writes
songs in the MUSDB18-HQ layout; :func:`remix` mixes new examples from the stems of a written
pool. ``docs/data.md`` is the recipe in prose.

    >>> from shotoku.datasets.synth import render_song     # doctest: +SKIP
    >>> track = render_song(seed=7, seconds=6.0)            # doctest: +SKIP
    >>> track.mixture.shape, sorted(track.stems)            # doctest: +SKIP
    ((2, 264600), ['bass', 'drums', 'other', 'vocals'])
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ...errors import OutputError, ParameterError
from ...io import save
from ...panning import RIGHT, midi_angle, pan, pan_gains
from ..track import Track
from . import compose as _compose
from . import drums as _drums
from . import effects as _effects
from . import grooves as _grooves
from . import guitar as _guitar
from . import melodies as _melodies
from . import midi as _midi
from . import recipe as _recipe
from . import render as _render
from . import sources as _sources
from . import voice as _voice
from .render import DEFAULT_SOUNDFONT

__all__ = ["STEMS", "DEFAULT_SOUNDFONT", "render_song", "write_dataset", "track_seed", "remix"]

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


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _melody(score, seconds):
    out = []
    for note, syllable in zip(score.melody, score.lyrics):
        start, end = score.time(note.start), score.time(note.start + note.dur)
        if start < seconds:
            out.append((start, min(end, seconds), note.pitch, note.velocity, syllable))
    return out


def _finish_levels(stems: dict, levels: dict) -> tuple[dict, np.ndarray]:
    """Bring stems to their levels (dB re the first sounding of drums/bass/other/vocals), scale
    all by one factor so nothing passes :data:`PEAK`, round to :data:`GRID`; returns the mixture."""
    ref = next((_rms(stems[s]) for s in STEMS if _rms(stems[s]) > 0), 1.0)
    for stem in STEMS:
        r = _rms(stems[stem])
        if r > 0:
            stems[stem] = (stems[stem] * (ref / r * 10.0 ** (levels[stem] / 20.0))).astype(np.float32)
    mix = sum(stems[s].astype(np.float64) for s in STEMS)
    peak = max([float(np.abs(mix).max())] + [float(np.abs(stems[s]).max()) for s in STEMS])
    scale = PEAK / peak if peak > 0 else 1.0
    for stem in STEMS:
        stems[stem] = (np.round(stems[stem].astype(np.float64) * (scale / GRID)) * GRID).astype(np.float32)
    return stems, stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"]


def _track(seed: int, mixture, stems: dict, rate: int, meta: dict, vibrato, melody) -> Track:
    """The song as a :class:`Track`, its record completed with what every recipe states."""
    from ... import __version__

    meta.update({
        "vibrato": {"cents": round(vibrato[0], 2), "hz": round(vibrato[1], 2)},
        "duration": mixture.shape[-1] / rate,
        "rate": rate,
        "shotoku_version": __version__,
        "lyrics": [_compose.spell(m[4]) for m in melody],
        "melody": [[round(m[0], 6), round(m[1], 6), int(m[2])] for m in melody],
    })
    return Track(name=f"synth-{seed}", mixture=mixture, stems={s: stems[s] for s in STEMS}, rate=rate, meta=meta)


def render_song(seed: int, seconds: float = 10.0, rate: int = 44100, soundfont: str | None = None,
                split: str = "train", plain: bool = False) -> Track:
    """Compose and render one song with known stems.

    seed: non-negative integer; it chooses everything (tempo, key, progression, groove,
        instruments, melody, lyrics, voice, sources, effects, levels, pans). Same arguments give
        identical samples, in any process; a different seed gives different music.
    seconds: length in seconds (0.5 .. 3600)
    rate: sample rate in Hz of the result
    soundfont: a General MIDI .sf2/.sf3 file for every MIDI stem; default: drawn per song and
        per stem from the catalogue (:mod:`.sources`), with drum kits, drum loops and recorded
        guitars among the choices
    split: "train" (default) draws only training sources; "heldout" draws only the held-out
        soundfonts (FluidR3), reserved for evaluation. An explicit ``soundfont`` that is held out
        is refused for ``split="train"``.
    plain: the first recipe: one soundfont (``soundfont`` or TimGM6mb) for every stem, the
        procedural arrangement, espeak-ng, no effects, every stem present, MIDI pans. It is kept
        for code that needs exactly that (four sounding stems at fixed levels)

    Returns a :class:`~shotoku.datasets.track.Track`: ``mixture`` float32
    [shape=(2, round(seconds * rate))], ``stems`` {"drums", "bass", "other", "vocals"} of the same
    shape that sum to the mixture exactly (an absent stem is all zeros), ``rate``, and ``meta``
    (JSON-serialisable: seed, split, tempo, key, groove, arrangement, progression, chords,
    instruments, sources per stem with their effects, reverb, levels and angles, absent stems,
    voice, soundfont, duration, rate, shotoku version, lyrics, and ``melody``: the sung notes as
    [start_s, end_s, midi_pitch] lists, cut at ``seconds``).

    Rendering needs ``fluidsynth``, ``espeak-ng`` (or ``festival``) and at least one soundfont;
    their absence raises :class:`~shotoku.errors.ShotokuError` naming the packages to install.
    """
    seed, seconds, rate = _check(seed, seconds, rate)
    split = _sources.check_split(split)
    if soundfont is not None and split == "train" and _sources.is_heldout_path(_render.find_soundfont(soundfont)):
        raise ParameterError(f"soundfont '{soundfont}' is held out for evaluation; "
                             "use split='heldout' to render with it")
    if plain:
        return _render_plain(seed, seconds, rate, soundfont)
    return _render_varied(seed, seconds, rate, soundfont, split)


def _render_plain(seed, seconds, rate, soundfont) -> Track:
    font = _render.find_soundfont(soundfont)
    score = _compose.compose(seed, seconds)
    samples = int(round(seconds * rate))
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0x313C]))
    levels = {s: c + float(rng.uniform(-w, w)) for s, (c, w) in LEVELS_DB.items()}
    vocal_pan = int(64 + rng.integers(-8, 9))
    vibrato = (float(rng.uniform(10.0, 20.0)), float(rng.uniform(4.8, 6.2)))
    melody = _melody(score, seconds)

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
            _kill(jobs)
    stems["vocals"] = pan(vocals, midi_angle(vocal_pan))
    stems, mixture = _finish_levels(stems, levels)

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
        "recipe": "plain",
        "tempo": score.tempo,
        "key": score.key,
        "groove": score.groove,
        "swing": score.swing,
        "progression": [score.roman(d) for d in score.progression],
        "chords": [score.chord_name(d) for d in score.progression],
        "instruments": instruments,
        "levels_db": {s: round(v, 2) for s, v in levels.items()},
        "soundfont": str(font),
    }
    return _track(seed, mixture, stems, rate, meta, vibrato, melody)


def _kill(jobs):
    for proc, _ in jobs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _fit_programs(parts, font: str, rng) -> None:
    """Give every part a program ``font`` defines (bank 0; drum kits from bank 128)."""
    have = _sources.presets(font)
    for part in parts:
        if part.channel == 9:
            kits = sorted(p for b, p in have if b == 128 and p < 56)  # 56 and up: sound effects
            part.program = int(kits[int(rng.integers(len(kits)))]) if kits else 0
        elif (0, part.program) not in have:
            family = [p for b, p in have if b == 0 and p // 8 == part.program // 8]
            pool = family or sorted(p for b, p in have if b == 0) or [0]
            part.program = int(min(pool, key=lambda p: abs(p - part.program)))


def _midi_pan(angle: float) -> int:
    """The MIDI pan value (0..127) that places a FluidSynth part at ``angle`` degrees.

    FluidSynth pans with the constant-power sine/cosine law of
    :func:`shotoku.panning.pan_gains`, reading pan value v as (v − 64) / 64 × 45° (measured:
    0 → −45°, 32 → −22.5°, 64 → 0°, 96 → +22.5°); this inverts that reading.
    """
    return int(np.clip(round(64 + angle / RIGHT * 64), 0, 127))


def _voice_id(source) -> str:
    return (_voice.FESTIVAL_PREFIX + source.name) if source.kind == "festival" else source.name


def _corpus_tune(seed, score, voice, n_bars) -> str | None:
    """Replace the score's melody by a corpus tune fitted to it; returns the tune's name or None."""
    starts = [c[0] for c in score.chords]

    def chord_at(beat):
        i = int(np.searchsorted(starts, beat + 1e-9, side="right")) - 1
        return score.chords[max(i, 0)][1]

    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0x3E1]))
    found = _melodies.corpus_melody(rng, score.tonic, score.mode, voice.low, voice.high, n_bars, chord_at)
    if found is None:
        return None
    notes, name = found
    words = sorted(set(score.lyrics)) or ["l'A:"]
    score.melody = notes
    score.lyrics = [words[int(rng.integers(len(words)))] for _ in notes]
    return name


def _render_varied(seed, seconds, rate, soundfont, split) -> Track:
    fixed = None
    if soundfont is not None:
        path = _render.find_soundfont(soundfont)
        fixed = _sources.Source("soundfont", path.name, str(path), split, "", path.suffix[1:])
    plan = _recipe.draw_plan(seed, split, fixed)
    voice = plan.stems["vocals"].source
    vid = _voice_id(voice)
    score = _compose.compose(seed, seconds, voices={vid: (voice.low, voice.high)})
    n_bars = int(np.ceil((seconds * score.tempo / 60.0 + 1.0) / 4.0))  # as many bars as the composer wrote
    parts = {k: list(v) for k, v in score.parts.items()}
    if plan.arrangement.startswith("mma:"):
        arranged = _grooves.arrange(plan.arrangement[4:], score.tempo, score.chords, n_bars, seed)
        for stem in ("drums", "bass", "other"):
            if arranged[stem]:
                parts[stem] = arranged[stem]
        score.swing = 0.0
    tune = None
    if plan.melody == "corpus":
        tune = _corpus_tune(seed, score, voice, n_bars)
    samples = int(round(seconds * rate))
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0x313D]))
    vibrato = (float(rng.uniform(8.0, 25.0)), float(rng.uniform(4.5, 6.5)))
    spread = float(rng.uniform(10.0, 40.0))
    for k, part in enumerate(parts["other"]):  # accompaniment parts spread around the stem's angle
        offset = spread * (1 if k % 2 == 0 else -1) * (0.5 if k >= 2 else 1.0) if len(parts["other"]) > 1 else 0.0
        angle = float(np.clip(plan.stems["other"].angle + offset, -45.0, 45.0))
        part.pan = _midi_pan(angle)
    for stem in ("drums", "bass"):
        for part in parts[stem]:
            part.pan = _midi_pan(plan.stems[stem].angle)
    melody = _melody(score, seconds)

    stems: dict[str, np.ndarray] = {}
    info: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="shotoku-synth-") as tmp:
        jobs = {}
        try:
            for stem in ("drums", "bass", "other"):
                sp = plan.stems[stem]
                if sp.absent or sp.family != "soundfont":
                    continue
                _fit_programs(parts[stem], sp.source.path, rng)
                mid = _midi.write_midi(Path(tmp) / f"{stem}.mid", score, parts[stem], seconds + 0.1)
                wav = Path(tmp) / f"{stem}.wav"
                jobs[stem] = (_render.start(mid, wav, Path(sp.source.path), rate), wav)
            sp = plan.stems["drums"]
            if not sp.absent and sp.family == "drumkit":
                events = [(score.time(n.start), n.pitch, n.velocity) for p in parts["drums"] for n in p.notes]
                kit_rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0xD4]))
                stems["drums"] = _drums.render_kit(events, _drums.kit_of(sp.source), kit_rng, samples, rate)
            elif not sp.absent and sp.family == "loop":
                stems["drums"], info["drums"] = _drums.render_loop(sp.source.path, score.tempo, samples, rate)
            sp = plan.stems["other"]
            if not sp.absent and sp.family == "guitar":
                g_rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0x6A]))
                audio, start = _guitar.excerpt(sp.source.path, g_rng, samples, rate)
                left, right = pan_gains(sp.angle)
                stems["other"] = audio * np.array([[left], [right]], dtype=np.float32) * np.float32(np.sqrt(2))
                info["other"] = {"start_s": round(start, 3)}
            if not plan.stems["vocals"].absent:
                stems["vocals"] = pan(_voice.sing(melody, seconds, vid, rate, *vibrato), plan.stems["vocals"].angle)
            for stem, (proc, wav) in jobs.items():  # silence: an accompaniment that enters later
                stems[stem] = _render.finish(proc, wav, samples, allow_silence=True)
        finally:
            _kill(jobs)
    for stem in STEMS:
        sp = plan.stems[stem]
        if sp.absent or stem not in stems or not np.any(stems[stem]):
            sp.absent = True  # drawn absent, or nothing of it falls inside the song
            stems[stem] = np.zeros((2, samples), dtype=np.float32)
            continue
        stems[stem] = _effects.process(stems[stem], sp.chain, plan.reverb, sp.send, rate, score.tempo)
    levels = {s: plan.stems[s].level_db for s in STEMS}
    stems, mixture = _finish_levels(stems, levels)

    def part_meta(stem):
        sp = plan.stems[stem]
        if sp.family != "soundfont":
            return []
        return [{"name": _program_name(p.program) if p.channel != 9 else "drum kit", "role": p.name,
                 "program": p.program, "bank": 128 if p.channel == 9 else 0, "pan": p.pan} for p in parts[stem]]

    sources_meta = {}
    for stem in STEMS:
        d = plan.stems[stem].to_meta()
        d.update(info.get(stem, {}))
        sources_meta[stem] = d
    meta = {
        "seed": seed,
        "recipe": "varied",
        "split": split,
        "tempo": score.tempo,
        "key": score.key,
        "groove": plan.arrangement[4:] if plan.arrangement.startswith("mma:") else score.groove,
        "arrangement": "mma" if plan.arrangement.startswith("mma:") else "compose",
        "swing": score.swing,
        "progression": [score.roman(d) for d in score.progression],
        "chords": [score.chord_name(d) for d in score.progression],
        "instruments": {**{s: part_meta(s) for s in ("drums", "bass", "other")},
                        "vocals": [{"name": vid, "voice": vid, "angle": round(plan.stems["vocals"].angle, 2)}]},
        "sources": sources_meta,
        "reverb": plan.reverb,
        "absent": [s for s in STEMS if plan.stems[s].absent],
        "voice": vid,
        "melody_source": tune or "composed",
        "soundfont": plan.font.path,
    }
    return _track(seed, mixture, stems, rate, meta, vibrato, melody)


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
                  rate: int = 44100, split: str = "train") -> list[Path]:
    """Render ``n`` songs into ``out_dir`` in the MUSDB18-HQ folder layout.

    Writes ``out_dir/synth-0000/{mixture,drums,bass,other,vocals}.wav`` (float32 WAV, stereo,
    ``rate`` Hz) and ``track.json`` (the song's ``meta``, see :func:`render_song`), one folder
    per track. Track ``i`` is :func:`render_song` (:func:`track_seed` (``seed``, ``i``), ``seconds``,
    ``rate``, ``soundfont``, ``split``). Each track is written
    into a hidden temporary folder beside its target and renamed into place once complete, so
    an interrupted run leaves only whole tracks; running again with the same settings skips the
    tracks already there. Returns the track folders in order.

    Raises :class:`~shotoku.errors.OutputError` if a track folder exists with other settings or
    ``out_dir`` cannot be written.
    """
    from ...progress import bar

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be a positive integer, got {n!r}")
    seed, seconds, rate = _check(seed, seconds, rate)
    split = _sources.check_split(split)
    font = _render.find_soundfont(soundfont) if soundfont is not None else None
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder '{out}': {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"output folder '{out}' is not writable; choose another with -o")
    paths = []
    for i in bar(range(int(n)), desc="synth", unit="song"):
        name = f"synth-{i:04d}"
        target = out / name
        s = track_seed(seed, i)
        expected = {"seed": s, "duration": round(seconds * rate) / rate, "rate": rate, "split": split}
        if font is not None:
            expected["soundfont"] = str(font)
        if target.exists():
            if _same_settings(target, expected):
                paths.append(target)
                continue
            raise OutputError(f"'{target}' already exists with other settings or is incomplete; "
                              "remove it or choose another output folder")
        track = render_song(s, seconds, rate, None if font is None else str(font), split=split)
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


def remix(folders, seed: int, seconds: float | None = None) -> Track:
    """A new training example mixed from the stems of rendered songs (a pool on disk).

    folders: track folders written by :func:`write_dataset` (or its output folder, meaning every
        ``synth-*`` track in it); all at one sample rate
    seed: chooses, for each stem, the song it comes from and where the excerpt starts
    seconds: excerpt length; default the shortest song's length

    Each stem comes from a different song drawn from the pool (as long as the pool has four),
    so one rendered pool yields many more combinations than songs. Stems written by
    :func:`write_dataset` lie on the :data:`GRID`, so their float32 sum is exact; if the sum
    would pass :data:`PEAK`, every stem is halved (exact too) until it does not. Returns a
    :class:`~shotoku.datasets.track.Track` whose ``meta`` says where each stem came from.
    Raises :class:`~shotoku.errors.ParameterError` for an empty pool, mixed rates, or an
    excerpt longer than a song.
    """
    import soundfile as sf

    paths = []
    for f in ([folders] if isinstance(folders, (str, os.PathLike)) else list(folders)):
        f = Path(f)
        paths += sorted(p for p in f.glob("synth-*") if p.is_dir()) if not (f / "mixture.wav").is_file() else [f]
    paths = [p for p in paths if all((p / f"{s}.wav").is_file() for s in STEMS)]
    if not paths:
        raise ParameterError(f"no rendered songs found in {folders}; write some with write_dataset")
    infos = {p: sf.info(str(p / "drums.wav")) for p in paths}
    rates = {i.samplerate for i in infos.values()}
    if len(rates) != 1:
        raise ParameterError(f"the pool mixes sample rates {sorted(rates)}; use songs of one rate")
    rate = rates.pop()
    shortest = min(i.frames for i in infos.values())
    n = shortest if seconds is None else int(round(float(seconds) * rate))
    if not 0 < n <= shortest:
        raise ParameterError(f"seconds must be in (0, {shortest / rate:g}] for this pool, got {seconds}")
    seed = _check(seed, 1.0, rate)[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, 0x9001]))
    order = rng.permutation(len(paths))
    stems, origin = {}, {}
    for k, stem in enumerate(STEMS):
        p = paths[int(order[k % len(order)])]
        start = int(rng.integers(infos[p].frames - n + 1))
        audio, _ = sf.read(str(p / f"{stem}.wav"), start=start, frames=n, dtype="float32", always_2d=True)
        stems[stem] = np.ascontiguousarray(audio.T)
        origin[stem] = {"track": p.name, "start_s": round(start / rate, 6)}
    halvings = 0
    while True:
        mixture = stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"]
        if float(np.abs(mixture).max(initial=0.0)) <= PEAK or halvings > 8:
            break
        stems = {k: v * np.float32(0.5) for k, v in stems.items()}
        halvings += 1
    meta = {"seed": seed, "remix": origin, "gain_db": round(-6.0206 * halvings, 2), "rate": rate,
            "duration": n / rate}
    return Track(name=f"remix-{seed}", mixture=mixture, stems=stems, rate=rate, meta=meta)
