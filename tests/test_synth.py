"""Synthetic songs: exact stems, distinct instruments, determinism, a sung line on its melody.

The composer's properties are checked on the plain recipe (one soundfont, no effects, every stem
present); the varied recipe's sources, effects and splits are in test_synth_sources.py. The
dataset written by the CLI and by the API uses the default (varied) recipe.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from shotoku.datasets import synth
from shotoku.datasets.synth import STEMS, render_song, write_dataset
from shotoku.datasets.synth.compose import compose
from shotoku.errors import OutputError, ShotokuError

SECONDS = 4.0


@pytest.fixture(scope="module")
def song():
    return render_song(11, SECONDS, plain=True)


@pytest.fixture(scope="module")
def other_song():
    return render_song(12, SECONDS, plain=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The same one-song dataset written by the CLI (a fresh process) and by the Python API.

    Dataset seed 7's song uses an MMA groove, a sampled drum kit and two soundfonts.
    """
    root = tmp_path_factory.mktemp("synth")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cli = subprocess.run([sys.executable, "-m", "shotoku", "synth", "-n", "1", "-o", str(root / "cli"),
                          "--seed", "7", "--seconds", "3"], capture_output=True, text=True, env=env,
                         timeout=600)
    api = write_dataset(root / "api", n=1, seed=7, seconds=3.0)
    return cli, root / "cli", api


def _centroid(x, rate):
    spec = np.abs(np.fft.rfft(x.mean(axis=0).astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1.0 / rate)
    return float((spec * freqs).sum() / spec.sum())


def test_stems_sum_to_mixture_exactly(song, other_song):
    for track in (song, other_song):
        assert sorted(track.stems) == sorted(STEMS)
        n = int(round(SECONDS * track.rate))
        assert track.rate == 44100 and track.mixture.shape == (2, n) and track.mixture.dtype == np.float32
        for stem in STEMS:
            assert track.stems[stem].shape == (2, n) and track.stems[stem].dtype == np.float32
        s = track.stems
        # exact in any order of addition
        assert np.array_equal(s["drums"] + s["bass"] + s["other"] + s["vocals"], track.mixture)
        assert np.array_equal(s["vocals"] + s["other"] + s["bass"] + s["drums"], track.mixture)
        assert np.array_equal(np.sum([s[k] for k in STEMS], axis=0, dtype=np.float32), track.mixture)
        peak = max(np.abs(a).max() for a in [track.mixture, *s.values()])
        assert 0.5 < peak < 1.0


def test_every_stem_sounds_throughout(song, other_song):
    for track in (song, other_song):
        for stem, audio in track.stems.items():
            rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
            assert rms > 10 ** (-35 / 20), (stem, rms)
            # active (above -50 dBFS) in most half-second windows
            win = track.rate // 2
            blocks = audio[:, : audio.shape[1] // win * win].reshape(2, -1, win)
            active = np.sqrt((blocks.astype(np.float64) ** 2).mean(axis=(0, 2))) > 10 ** (-50 / 20)
            assert active.mean() >= 0.6, (stem, active)


def test_stems_have_distinct_spectra(song, other_song):
    for track in (song, other_song):
        c = {k: _centroid(v, track.rate) for k, v in track.stems.items()}
        assert c["bass"] < c["other"], c
        assert c["bass"] < c["vocals"], c
        # average spectra differ pairwise (cosine similarity of long-term power spectra)
        bands = {}
        for k, v in track.stems.items():
            p = np.abs(np.fft.rfft(v.mean(axis=0).astype(np.float64))) ** 2
            bands[k] = np.log10(p[: len(p) // 512 * 512].reshape(512, -1).sum(axis=1) + 1e-12)
        for i, a in enumerate(STEMS):
            for b in STEMS[i + 1:]:
                assert np.abs(bands[a] - bands[b]).mean() > 0.3, (a, b)


def test_same_seed_same_bytes_on_disk(written):
    cli, cli_dir, api = written
    assert cli.returncode == 0, cli.stderr
    assert [p.name for p in api] == ["synth-0000"]
    for name in ("mixture.wav", *(f"{s}.wav" for s in STEMS), "track.json"):
        assert (cli_dir / "synth-0000" / name).read_bytes() == (api[0] / name).read_bytes(), name


def test_different_seed_different_music(song, other_song):
    a, b = song.meta, other_song.meta
    assert (a["tempo"], a["key"], a["progression"], a["instruments"]) != (
        b["tempo"], b["key"], b["progression"], b["instruments"])
    assert a["melody"] != b["melody"]
    assert (a["tempo"], a["groove"]) != (b["tempo"], b["groove"])
    # drums of two songs at one tempo share their downbeats; pitched stems and mixtures must differ
    for stem in ("mixture", "bass", "other", "vocals"):
        x = (song.mixture if stem == "mixture" else song.stems[stem]).ravel()
        y = (other_song.mixture if stem == "mixture" else other_song.stems[stem]).ravel()
        corr = float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))
        assert abs(corr) < 0.5, (stem, corr)


def test_vocals_follow_the_melody(song, other_song):
    from shotoku.datasets.synth.voice import pyworld
    from shotoku.io import resample

    pw = pyworld()
    for track in (song, other_song):
        fs, fp = 16000, 5.0
        x = resample(track.stems["vocals"].mean(axis=0), track.rate, fs).astype(np.float64)
        f0, t = pw.dio(x, fs, f0_floor=60.0, f0_ceil=900.0, frame_period=fp)
        f0 = pw.stonemask(x, f0, t, fs)
        score = np.zeros_like(f0)
        for start, end, pitch in track.meta["melody"]:
            # skip the consonant (at most 125 ms) and the last 30 ms of each note
            a, b = int(np.ceil((start + 0.13) * 1000 / fp)), int((end - 0.03) * 1000 / fp)
            score[a: b + 1] = 440.0 * 2 ** ((pitch - 69) / 12)
        sung = score > 0
        assert sung.sum() * fp / 1000 > 1.0  # over a second of sustained vowels to check
        voiced = sung & (f0 > 0)
        assert voiced.sum() >= 0.8 * sung.sum()
        cents = 1200 * np.log2(f0[voiced] / score[voiced])
        assert np.mean(np.abs(cents) < 50) >= 0.97, np.sort(np.abs(cents))[-10:]
        assert np.median(np.abs(cents)) < 20


def test_cli_writes_musdb_layout(written):
    cli, cli_dir, _ = written
    assert cli.returncode == 0, cli.stderr
    track = cli_dir / "synth-0000"
    assert sorted(p.name for p in cli_dir.iterdir()) == ["synth-0000"]  # no temporary folders left
    assert sorted(p.name for p in track.iterdir()) == sorted(
        ["mixture.wav", "drums.wav", "bass.wav", "other.wav", "vocals.wav", "track.json"])
    audio = {}
    for name in ("mixture", *STEMS):
        info = sf.info(str(track / f"{name}.wav"))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 2, "FLOAT", 3 * 44100)
        audio[name], _ = sf.read(str(track / f"{name}.wav"), dtype="float32")
    assert np.array_equal(audio["drums"] + audio["bass"] + audio["other"] + audio["vocals"], audio["mixture"])
    meta = json.loads((track / "track.json").read_text())
    for key in ("seed", "tempo", "key", "progression", "instruments", "soundfont", "duration",
                "shotoku_version", "melody"):
        assert key in meta, key
    assert meta["seed"] == synth.track_seed(7, 0) and meta["duration"] == 3.0
    assert meta["recipe"] == "varied" and meta["split"] == "train"
    assert set(meta["instruments"]) == set(STEMS)
    assert all(0 <= i["program"] < 128 for s in ("bass", "other") for i in meta["instruments"][s])


def test_rerun_keeps_finished_tracks_and_refuses_others(written, monkeypatch):
    _, _, api = written
    out = api[0].parent

    def no_render(*args, **kwargs):
        raise AssertionError("a finished track was rendered again")

    monkeypatch.setattr(synth, "render_song", no_render)
    assert write_dataset(out, n=1, seed=7, seconds=3.0) == api
    with pytest.raises(OutputError, match="already exists"):
        write_dataset(out, n=1, seed=6, seconds=3.0)


def test_interrupted_write_leaves_nothing(song, tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "render_song", lambda *a, **k: song)

    def broken(track, folder):
        (folder / "mixture.wav").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(synth, "_write_track", broken)
    with pytest.raises(OutputError, match="No space left"):
        write_dataset(tmp_path / "out", n=2, seed=1, seconds=SECONDS)
    assert list((tmp_path / "out").iterdir()) == []


def test_soundfont_errors(monkeypatch, tmp_path):
    with pytest.raises(ShotokuError, match="not found"):
        render_song(1, 1.0, soundfont=str(tmp_path / "missing.sf2"))
    (tmp_path / "text.sf2").write_text("not a soundfont")
    with pytest.raises(ShotokuError, match="not a SoundFont"):
        render_song(1, 1.0, soundfont=str(tmp_path / "text.sf2"))
    monkeypatch.setattr(synth._render, "DEFAULT_SOUNDFONT", str(tmp_path / "TimGM6mb.sf2"))
    with pytest.raises(ShotokuError, match="apt-get install timgm6mb-soundfont"):
        render_song(1, 1.0, plain=True)


def test_bad_parameters():
    for kwargs in ({"seed": -1}, {"seed": 1.5}, {"seed": 1, "seconds": 0.0}, {"seed": 1, "rate": 100},
                   {"seed": 1, "split": "test"}):
        with pytest.raises(ShotokuError):
            render_song(**kwargs)


def test_longer_song_continues_the_shorter_one():
    short, long = compose(3, 4.0), compose(3, 12.0)
    assert (short.tempo, short.key, short.progression) == (long.tempo, long.key, long.progression)
    assert short.melody == long.melody[: len(short.melody)]
    for stem in short.parts:
        for a, b in zip(short.parts[stem], long.parts[stem]):
            assert a.notes == b.notes[: len(a.notes)]
