"""Pan/delay scenes: the angles and delays written are the ones measured back from the images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy import signal as sps

from shotoku.datasets import scenes
from shotoku.errors import AudioContentError, ParameterError, ShotokuError

RATE = 16000


def _noise(seed: int, n: int = 2 * RATE) -> np.ndarray:
    """Band-limited (below 0.4 fs) Gaussian noise, float64 [shape=(n,)]."""
    rng = np.random.default_rng(seed)
    sos = sps.butter(8, 0.8, output="sos")
    return sps.sosfilt(sos, rng.standard_normal(n + 512))[512:]


def measured_angle(image: np.ndarray) -> float:
    """Pan angle in degrees from the inter-channel level ratio of a (2, N) image."""
    e_left, e_right = np.sqrt(np.sum(np.asarray(image, np.float64) ** 2, axis=1))
    return float(np.degrees(np.arctan2(e_right, e_left)) - 45.0)


def measured_delay(image: np.ndarray, max_lag: int = 20, step: float = 1 / 16) -> float:
    """Delay of the right channel behind the left one, in samples.

    The cross-correlation r(τ) = Σ_k Re(conj(L_k) R_k e^{i2πkτ/M}) (zero-padded DFTs, M = 2N),
    peak first on integer lags within ±max_lag, then on a grid of ``step`` samples within ±1
    of it (its band-limited interpolation), refined by a parabola through the top three points.
    """
    left, right = np.asarray(image, np.float64)
    m = 2 * left.shape[0]
    cross = np.conj(np.fft.rfft(left, m)) * np.fft.rfft(right, m)
    r = np.fft.irfft(cross, m)
    lags = np.arange(-max_lag, max_lag + 1)
    coarse = lags[int(np.argmax(r[lags]))]
    fine = coarse + np.arange(-1.0, 1.0 + step / 2, step)
    k = np.arange(cross.shape[0])
    weights = np.where((k == 0) | (k == m // 2), 1.0, 2.0)
    values = (np.exp(2j * np.pi * np.outer(fine, k) / m) @ (weights * cross)).real
    i = int(np.clip(np.argmax(values), 1, len(fine) - 2))
    a, b, c = values[i - 1], values[i], values[i + 1]
    offset = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float(fine[i] + offset * step)


@pytest.mark.parametrize("angle", [-45.0, -30.0, -15.0, -5.0, 0.0, 5.0, 10.0, 20.0, 37.5, 45.0])
def test_pan_angle_measured_back(angle):
    image = scenes.pan(_noise(1).astype(np.float32), angle)
    assert image.shape == (2, 2 * RATE) and image.dtype == np.float32
    assert abs(measured_angle(image) - angle) < 0.5
    left, right = scenes.pan_gains(angle)
    assert abs(left ** 2 + right ** 2 - 1.0) < 1e-12


def test_pan_law_endpoints():
    assert scenes.pan_gains(-45) == (1.0, 0.0)
    assert scenes.pan_gains(45) == (0.0, 1.0)
    left, right = scenes.pan_gains(0)
    assert abs(left - right) < 1e-12 and abs(left - np.sqrt(0.5)) < 1e-12
    image = scenes.pan(np.ones(8), -45.0, delay=3)
    assert np.all(image[1] == 0) and np.all(image[0] == 1)


@pytest.mark.parametrize("tau", [0.0, 1.0, 3.0, -2.0, 0.5, 1.5, -2.25, 4.7])
def test_delay_measured_back(tau):
    image = scenes.pan(_noise(2), 10.0, delay=tau)
    assert abs(measured_delay(image) - tau) < 0.1
    assert abs(measured_angle(image) - 10.0) < 0.5


def test_fractional_delay_is_exact_on_a_sinusoid():
    n = 4096
    t = np.arange(n)
    f = 0.0371  # cycles per sample
    x = np.sin(2 * np.pi * f * t) * sps.windows.tukey(n, 0.2)
    y = scenes.delay_signal(x, 2.5)
    expected = np.sin(2 * np.pi * f * (t - 2.5)) * sps.windows.tukey(n, 0.2)
    # the interior matches the analytic shift (the window's edges are smooth but not band-limited)
    inner = slice(n // 4, 3 * n // 4)
    assert np.max(np.abs(y[inner] - expected[inner])) < 1e-4


def test_integer_delay_is_an_exact_shift():
    x = np.arange(10, dtype=np.float32)
    assert np.array_equal(scenes.delay_signal(x, 3), np.r_[0, 0, 0, x[:7]].astype(np.float32))
    assert np.array_equal(scenes.delay_signal(x, -2), np.r_[x[2:], 0, 0].astype(np.float32))


def test_make_scene_sums_and_measures_back():
    objects = np.stack([_noise(s) for s in range(4)]) * np.array([[0.1], [1.0], [3.0], [0.5]])
    angles = [-30.0, -10.0, 10.0, 30.0]
    delays = [2.0, -1.5, 0.0, 3.25]
    mixture, images = scenes.make_scene(objects, angles, delays)
    assert mixture.shape == (2, objects.shape[1]) and images.shape == (4, 2, objects.shape[1])
    assert mixture.dtype == np.float32 and images.dtype == np.float32
    np.testing.assert_allclose(mixture, images.sum(0), atol=1e-6)
    rms = np.sqrt(np.mean(images.astype(np.float64) ** 2, axis=(1, 2)))
    np.testing.assert_allclose(rms, rms[0], rtol=1e-2)  # equal-RMS objects
    assert np.max(np.abs(mixture)) <= scenes.PEAK_LIMIT + 1e-6
    for image, angle, tau in zip(images, angles, delays):
        assert abs(measured_angle(image) - angle) < 0.5
        assert abs(measured_delay(image) - tau) < 0.1


def test_make_scene_without_normalisation_keeps_levels():
    objects = np.stack([_noise(5), 0.25 * _noise(6)])
    mixture, images = scenes.make_scene(objects, [0.0, 45.0], normalize=None)
    np.testing.assert_allclose(images[1, 1], 0.25 * _noise(6), atol=1e-6)
    assert np.all(images[1, 0] == 0)


def test_make_scene_errors():
    objects = np.stack([_noise(1), np.zeros(2 * RATE)])
    with pytest.raises(AudioContentError, match="silent"):
        scenes.make_scene(objects, [0, 10])
    with pytest.raises(ParameterError):
        scenes.make_scene(np.stack([_noise(1)] * 2), [0, 60])
    with pytest.raises(ParameterError):
        scenes.make_scene(np.stack([_noise(1)] * 2), [0, 10, 20])
    with pytest.raises(ParameterError):
        scenes.make_scene(np.stack([_noise(1)] * 2), [0, 10], normalize="peak")
    with pytest.raises(ShotokuError):
        scenes.pan(np.zeros((2, 10)), 0.0)
    with pytest.raises(ShotokuError) as info:
        scenes.make_scene(np.stack([_noise(1)] * 2), [0, 99])
    assert "\n" not in str(info.value) and "-45" in str(info.value)


# --------------------------------------------------------------------------------------------
# study scenes, files and the command


def _tracks(count=2, seconds=4.0, silent_head=2.0):
    """Tracks of 4 noise stems; the vocals are silent for the first ``silent_head`` seconds."""
    from shotoku.datasets import Track

    tracks = []
    for t in range(count):
        n = int(seconds * RATE)
        stems = {}
        for k, name in enumerate(("drums", "bass", "other", "vocals")):
            x = np.stack([_noise(100 * t + k, n), _noise(100 * t + k + 50, n)]).astype(np.float32) * 0.1
            if name == "vocals":
                x[:, : int(silent_head * RATE)] = 0
            stems[name] = x
        mixture = np.sum(list(stems.values()), axis=0)
        tracks.append(Track(name=f"song{t}", mixture=mixture, stems=stems, rate=RATE))
    return tracks


def test_conditions_have_the_study_angles():
    assert scenes.CONDITIONS["10"][0] == (-15, -5, 5, 15)
    assert scenes.CONDITIONS["20"][0] == (-30, -10, 10, 30)
    assert scenes.CONDITIONS["30"][0] == (-45, -15, 15, 45)
    angles, delays = scenes.CONDITIONS["20d"]
    assert angles == (-30, -10, 10, 30) and len(set(delays)) == 4 and max(map(abs, delays)) <= 5
    for name, (angles, _) in scenes.CONDITIONS.items():
        assert np.allclose(np.diff(angles), np.diff(angles)[0]) and sum(angles) == 0
    assert scenes.conditions("all") == ["10", "20", "30", "20d"]
    with pytest.raises(ParameterError, match="condition"):
        scenes.conditions("15")


def test_study_scenes_excerpts_are_active_paired_and_seeded():
    tracks = _tracks()
    built = scenes.study_scenes(tracks, "all", n_scenes=3, seconds=1.0, seed=4)
    assert [s.meta["condition"] for s in built] == ["10"] * 3 + ["20"] * 3 + ["30"] * 3 + ["20d"] * 3
    for s in built:
        assert s.names == ["drums", "bass", "other", "vocals"]
        assert s.mixture.shape == (2, RATE) and s.images.shape == (4, 2, RATE)
        assert s.meta["offset"] >= 2.0  # the vocals are silent before 2 s
        np.testing.assert_allclose(s.mixture, s.images.sum(0), atol=1e-6)
        assert np.all(np.sqrt(np.mean(s.images.astype(np.float64) ** 2, axis=(1, 2))) > 0.05)
    # the same excerpts in every condition; the same seed gives the same scenes
    assert [s.meta["offset"] for s in built[:3]] == [s.meta["offset"] for s in built[9:]]
    again = scenes.study_scenes(tracks, "20d", n_scenes=3, seconds=1.0, seed=4)
    for a, b in zip(built[9:], again):
        np.testing.assert_array_equal(a.images, b.images)
    other = scenes.study_scenes(tracks, "20d", n_scenes=3, seconds=1.0, seed=5)
    assert any(a.meta["offset"] != b.meta["offset"] or a.meta["track"] != b.meta["track"]
               for a, b in zip(again, other))
    with pytest.raises(ParameterError):
        scenes.study_scenes(tracks, "bad")
    with pytest.raises(ParameterError):
        scenes.study_scenes(tracks, "10", n_scenes=0)


def test_written_scene_measures_back(tmp_path):
    scene = scenes.study_scenes(_tracks(1), "20d", seconds=1.5, seed=0)[0]
    scenes.write_scene(tmp_path / "s", scene)
    record = json.loads((tmp_path / "s" / "scene.json").read_text())
    assert list(record["sources"]) == ["drums", "bass", "other", "vocals"]
    assert record["kind"] == "scene" and record["mixture"] == "mixture.wav"
    assert record["angles"] == [-30.0, -10.0, 10.0, 30.0] and record["delays"] == list(scenes.DELAYS_20D)
    assert record["rate"] == RATE and record["track"] == "song0" and record["seed"] == 0
    mixture, rate = sf.read(str(tmp_path / "s" / "mixture.wav"), dtype="float32", always_2d=True)
    images = [sf.read(str(tmp_path / "s" / f"{n}.wav"), dtype="float32", always_2d=True)[0].T
              for n in record["sources"]]
    np.testing.assert_allclose(mixture.T, np.sum(images, axis=0), atol=1e-6)
    for image, angle, tau in zip(images, record["angles"], record["delays"]):
        assert abs(measured_angle(image) - angle) < 0.5
        assert abs(measured_delay(image) - tau) < 0.1
    back = scenes.read_scene(tmp_path / "s")
    np.testing.assert_array_equal(back.images, scene.images)
    assert back.meta["condition"] == "20d" and back.delays == list(scenes.DELAYS_20D)


def test_simulate_command(tmp_path):
    from shotoku import cli

    folder = tmp_path / "data"
    for t in _tracks(2, seconds=3.0, silent_head=0.0):
        for name, audio in t.stems.items():
            (folder / t.name).mkdir(parents=True, exist_ok=True)
            sf.write(str(folder / t.name / f"{name}.wav"), audio.T, RATE, subtype="FLOAT")
    out = tmp_path / "study"
    assert cli.main(["simulate", "--dataset", str(folder), "-o", str(out), "--condition", "all",
                     "--seconds", "1", "--seed", "1"]) == 0
    index = json.loads((out / "scenes.json").read_text())
    assert len(index["scenes"]) == 8
    for entry in index["scenes"]:
        record = json.loads((out / entry["path"] / "scene.json").read_text())
        assert record["angles"] == list(scenes.CONDITIONS[entry["condition"]][0])
    image = sf.read(str(out / "30" / "000" / "drums.wav"), always_2d=True)[0].T
    assert abs(measured_angle(image) + 45.0) < 0.5

    # one explicit scene from files; "--angles -30,..." reads as numbers, not as an option
    files = [str(folder / "song0" / f"{n}.wav") for n in ("drums", "bass", "vocals")]
    one = tmp_path / "one"
    assert cli.main(["simulate", "--stems", *files, "--angles", "-30,0,30", "--delays", "0,2,-3.5",
                     "-o", str(one)]) == 0
    record = json.loads((one / "scene.json").read_text())
    assert list(record["sources"]) == ["drums", "bass", "vocals"] and record["delays"] == [0.0, 2.0, -3.5]
    vocals = sf.read(str(one / "vocals.wav"), always_2d=True)[0].T
    assert abs(measured_delay(vocals) + 3.5) < 0.1 and abs(measured_angle(vocals) - 30) < 0.5


def test_simulate_command_errors(tmp_path, capsys):
    from shotoku import cli

    cases = [
        ["simulate", "--dataset", str(tmp_path / "missing"), "-o", str(tmp_path / "o")],
        ["simulate", "--stems", str(tmp_path / "missing.wav"), "--angles", "0", "-o", str(tmp_path / "o")],
    ]
    for argv in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("shotoku: error:") and "\n" not in err
    sf.write(str(tmp_path / "a.wav"), np.zeros(100) + 0.1, RATE)
    for extra in (["--angles", "-60"], ["--angles", "0,10"], ["--angles", "x"], []):
        assert cli.main(["simulate", "--stems", str(tmp_path / "a.wav"), *extra, "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("shotoku: error:") and "\n" not in err


def test_study_scene_from_the_stempeg_example():
    from shotoku import datasets

    scene = scenes.study_scenes(datasets.example(), "20d", seconds=2.0, seed=0)[0]
    assert scene.names == ["drums", "bass", "other", "vocals"] and scene.rate == 44100
    assert scene.mixture.shape == (2, 88200)
    for image, angle, tau in zip(scene.images, scene.angles, scene.delays):
        assert abs(measured_angle(image) - angle) < 0.5
        assert abs(measured_delay(image) - tau) < 0.1


def test_a_track_with_a_silent_stem_is_left_out_with_a_warning():
    tracks = _tracks(3)
    silent = tracks[1]
    silent.stems["bass"] = np.zeros_like(silent.stems["bass"])
    with pytest.warns(UserWarning, match="left out"):
        built = scenes.study_scenes(tracks, "30", n_scenes=3, seconds=1.0, seed=0)
    assert len(built) == 3 and silent.name not in {s.meta["track"] for s in built}
    silent_all = _tracks(1)
    silent_all[0].stems["drums"] = np.zeros_like(silent_all[0].stems["drums"])
    with pytest.raises(AudioContentError), pytest.warns(UserWarning):
        scenes.study_scenes(silent_all, "30", n_scenes=1, seconds=1.0)
