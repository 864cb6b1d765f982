"""Dataset readers over tiny generated folders, and the stempeg excerpt."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from shotoku import datasets
from shotoku.datasets import musdb18, open_dataset, track_folder
from shotoku.errors import InputFileError, MismatchError, ParameterError, ShotokuError

RATE = 8000
STEMS = ("drums", "bass", "other", "vocals")


def _write(path, audio):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.T, RATE, subtype="FLOAT" if path.suffix == ".wav" else "PCM_24")


def _stems(seed, n=RATE, channels=2):
    rng = np.random.default_rng(seed)
    return {s: (0.1 * rng.standard_normal((channels, n))).astype(np.float32) for s in STEMS}


def _make_track(folder, seed, mixture=True, n=RATE, suffix=".wav"):
    stems = _stems(seed, n)
    for name, audio in stems.items():
        _write(folder / f"{name}{suffix}", audio)
    mix = np.sum([stems[s] for s in STEMS], axis=0).astype(np.float32)
    if mixture:
        _write(folder / f"mixture{suffix}", mix)
    return stems, mix


def test_track_folder_with_and_without_mixture(tmp_path):
    a = _make_track(tmp_path / "b_song", 1)
    b = _make_track(tmp_path / "a_song", 2, mixture=False, suffix=".flac")
    (tmp_path / "b_song" / "track.json").write_text(json.dumps({"seed": 1, "tempo": 120}))
    (tmp_path / "empty").mkdir()
    ds = track_folder(tmp_path)
    assert len(ds) == 2 and ds.names == ["a_song", "b_song"]
    t = ds["b_song"]
    assert t.rate == RATE and list(t.stems) == list(STEMS)
    assert t.meta["tempo"] == 120 and t.meta["seed"] == 1
    for s in STEMS:
        np.testing.assert_array_equal(t.stems[s], a[0][s])
    np.testing.assert_array_equal(t.mixture, a[1])
    # no mixture file: the mixture is the sum of the stems (flac: 24-bit)
    t = ds[0]
    assert t.name == "a_song"
    np.testing.assert_allclose(t.mixture, np.sum(list(t.stems.values()), axis=0), atol=1e-6)
    np.testing.assert_allclose(t.mixture, b[1], atol=1e-5)
    assert [x.name for x in ds] == ["a_song", "b_song"]
    assert ds[1:].names == ["b_song"]
    assert ds.info("b_song")["samples"] == RATE


def test_excerpts_and_targets(tmp_path):
    stems, mix = _make_track(tmp_path / "song", 3, n=3 * RATE)
    ds = track_folder(tmp_path, targets=["vocals", "accompaniment"], offset=0.5, duration=1.0)
    t = ds[0]
    lo, hi = RATE // 2, RATE // 2 + RATE
    assert list(t.stems) == ["vocals", "accompaniment"]
    assert t.mixture.shape == (2, RATE) and t.meta["offset"] == 0.5 and t.meta["duration"] == 1.0
    np.testing.assert_array_equal(t.mixture, mix[:, lo:hi])
    np.testing.assert_array_equal(t.stems["vocals"], stems["vocals"][:, lo:hi])
    acc = (stems["drums"].astype(np.float64) + stems["bass"] + stems["other"])[:, lo:hi]
    np.testing.assert_allclose(t.stems["accompaniment"], acc, atol=1e-6)
    # an excerpt past the end is cut short; one starting past the end is an error
    t = ds.load(0, offset=2.5, duration=2.0)
    assert t.mixture.shape == (2, RATE // 2)
    with pytest.raises(ParameterError, match="past the end"):
        ds.load(0, offset=5.0)
    t = ds.load(0, offset=0.0, duration=None, targets={"rhythm": ["drums", "bass"]})
    np.testing.assert_allclose(t.stems["rhythm"], stems["drums"] + stems["bass"], atol=1e-6)


def test_excerpt_reads_only_the_requested_samples(tmp_path, monkeypatch):
    _make_track(tmp_path / "song", 4, n=4 * RATE)
    calls = []
    real = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        calls.append(frames)
        return real(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    track_folder(tmp_path, duration=0.25, offset=1.0)[0]
    # 1: io.info checks that the last declared frame decodes (a cut file is counted instead)
    assert calls and all(c in (1, RATE // 4) for c in calls) and calls.count(RATE // 4) >= 1


def _musdb_hq(root):
    for subset, names in {"train": ["Actions - One Minute Smile", "Zzz - Train Song"],
                          "test": ["Test - Song"]}.items():
        for i, name in enumerate(names):
            _make_track(root / subset / name, 10 + i + (5 if subset == "test" else 0))


def test_musdb_hq_subsets_split_targets(tmp_path):
    _musdb_hq(tmp_path)
    assert len(musdb18(tmp_path)) == 3
    assert musdb18(tmp_path, subsets="test").names == ["Test - Song"]
    assert musdb18(tmp_path, split="valid").names == ["Actions - One Minute Smile"]
    assert musdb18(tmp_path, split="train").names == ["Zzz - Train Song"]
    ds = musdb18(tmp_path, subsets="train", targets=["vocals", "accompaniment"], duration=0.5)
    t = ds[0]
    assert t.meta["subset"] == "train" and t.stems["vocals"].shape == (2, RATE // 2)
    assert len(datasets.VALIDATION_TRACKS) == 14
    assert open_dataset(tmp_path).names == musdb18(tmp_path).names
    with pytest.raises(ParameterError):
        musdb18(tmp_path, subsets="test", split="valid")
    with pytest.raises(ParameterError):
        musdb18(tmp_path, subsets="dev")
    with pytest.raises(ParameterError, match="karaoke"):
        musdb18(tmp_path, targets=["karaoke"])


def test_dsd100_layout(tmp_path):
    for subset, name, seed in [("Dev", "051 - AM Contra - Heart Peripheral", 20),
                               ("Dev", "001 - Actions - One Minute Smile", 21),
                               ("Test", "005 - Angela Thomas Wade - Milk Cow Blues", 22)]:
        stems, mix = _stems(seed), None
        mix = np.sum([stems[s] for s in STEMS], axis=0).astype(np.float32)
        _write(tmp_path / "Mixtures" / subset / name / "mixture.wav", mix)
        for s in STEMS:
            _write(tmp_path / "Sources" / subset / name / f"{s}.wav", stems[s])
    ds = musdb18(tmp_path)
    assert len(ds) == 3 and datasets.detect_layout(tmp_path) == "dsd100"
    assert musdb18(tmp_path, subsets="test").names == ["005 - Angela Thomas Wade - Milk Cow Blues"]
    assert musdb18(tmp_path, split="valid").names == ["001 - Actions - One Minute Smile"]
    t = ds["051 - AM Contra - Heart Peripheral"]
    assert list(t.stems) == list(STEMS) and t.meta["subset"] == "train"
    np.testing.assert_allclose(t.mixture, np.sum(list(t.stems.values()), axis=0), atol=1e-6)


def test_stempeg_example_loads_with_four_named_stems():
    ds = datasets.example()
    assert len(ds) == 1
    t = ds[0]
    assert list(t.stems) == ["drums", "bass", "other", "vocals"]
    assert t.rate == 44100 and t.mixture.shape[0] == 2 and t.duration > 5.5
    for name, stem in t.stems.items():
        assert stem.shape == t.mixture.shape and stem.dtype == np.float32
        assert np.sqrt(np.mean(stem ** 2)) > 1e-3, name
    # the mastered mixture is close to, not exactly, the sum of the stems
    residual = t.mixture - np.sum(list(t.stems.values()), axis=0)
    assert np.sum(t.mixture ** 2) / np.sum(residual ** 2) > 10
    part = ds.load(0, offset=1.0, duration=2.0, targets=["vocals", "accompaniment"])
    np.testing.assert_array_equal(part.stems["vocals"], t.stems["vocals"][:, 44100:3 * 44100])
    assert ds.info(0)["samples"] == t.mixture.shape[1]


def test_errors_are_one_line(tmp_path):
    cases = [
        (InputFileError, lambda: track_folder(tmp_path / "missing")),
        (InputFileError, lambda: track_folder(tmp_path)),
        (InputFileError, lambda: musdb18(tmp_path)),
        (ParameterError, lambda: datasets.example(duration=-1)),
    ]
    _make_track(tmp_path / "x" / "song", 1)
    cases.append((ParameterError, lambda: track_folder(tmp_path / "x")["nope"]))
    cases.append((ParameterError, lambda: track_folder(tmp_path / "x")[3]))
    for exc, call in cases:
        with pytest.raises(exc) as info:
            call()
        assert isinstance(info.value, ShotokuError) and "\n" not in str(info.value)


def test_mismatched_stems_raise(tmp_path):
    _make_track(tmp_path / "song", 1)
    _write(tmp_path / "song" / "vocals.wav", np.zeros((1, RATE), np.float32))
    with pytest.raises(MismatchError):
        track_folder(tmp_path)[0]


def _musdb_stems_folder(root):
    """A MUSDB18 (.stem.mp4) folder made of links to the stempeg example."""
    import os
    import shutil

    source = datasets.example_path()
    for subset, name in (("train", "Actions - One Minute Smile"), ("test", "X - Y")):
        (root / subset).mkdir(parents=True)
        target = root / subset / f"{name}.stem.mp4"
        try:
            os.symlink(source, target)
        except OSError:
            shutil.copyfile(source, target)


def test_musdb18_stem_files(tmp_path):
    _musdb_stems_folder(tmp_path)
    ds = musdb18(tmp_path, targets=["vocals", "accompaniment"], offset=1.0, duration=2.0)
    assert datasets.detect_layout(tmp_path) == "stems" and ds.names == ["Actions - One Minute Smile", "X - Y"]
    assert musdb18(tmp_path, split="valid").names == ["Actions - One Minute Smile"]
    t = ds["X - Y"]
    assert t.meta["subset"] == "test" and t.mixture.shape == (2, 88200)
    whole = datasets.example()[0]
    np.testing.assert_array_equal(t.stems["vocals"], whole.stems["vocals"][:, 44100:132300])
    assert ds.info(0)["samples"] == whole.mixture.shape[1]


def test_musdb_package_backend_agrees(tmp_path):
    import musdb  # noqa: F401  (installed by make test; stempeg inside needs ffmpeg, which make installs)

    _musdb_stems_folder(tmp_path)
    ours = musdb18(tmp_path, subsets="test", targets=["vocals", "accompaniment"], offset=1.0, duration=2.0)
    theirs = musdb18(tmp_path, subsets="test", targets=["vocals", "accompaniment"], offset=1.0,
                     duration=2.0, backend="musdb")
    a, b = ours[0], theirs[0]
    assert a.mixture.shape == b.mixture.shape and list(a.stems) == list(b.stems)
    for name in a.stems:  # two AAC decoders (PyAV and the ffmpeg program)
        assert np.max(np.abs(a.stems[name] - b.stems[name])) < 1e-3
