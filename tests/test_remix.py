"""The remix model (shotoku.remix) and ``shotoku remix``."""

import json
import math
import warnings

import numpy as np
import pytest

from shotoku import panning, remix
from shotoku.cli import main
from shotoku.datasets.scenes import make_scene
from shotoku.errors import ParameterError
from shotoku.io import load, save
from shotoku.outputs import write_images

RATE = 8000


@pytest.fixture(scope="module")
def scene():
    """Three panned noise objects (vocals at -20°, drums at 10°, bass at 35°), 1 s at 8 kHz."""
    rng = np.random.default_rng(3)
    objects = rng.standard_normal((3, RATE)).astype(np.float32)
    mixture, images = make_scene(objects, [-20, 10, 35])
    return mixture, dict(zip(["vocals", "drums", "bass"], images))


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


def energy_db(x):
    return 10 * math.log10(float(np.sum(np.asarray(x, np.float64) ** 2)))


def test_unity_gives_the_sum(scene):
    mixture, images = scene
    total = np.sum([a.astype(np.float64) for a in images.values()], axis=0)
    assert rel(remix.render(images), total) <= 1e-6
    unity = remix.Mix.from_dict({"version": 1, "sources": {n: {} for n in images}, "master_gain_db": 0})
    assert rel(remix.render(images, unity), total) <= 1e-6
    assert rel(remix.render(images), mixture) <= 1e-6


def test_gain_raises_exactly_that_image(scene):
    _, images = scene
    y = remix.render(images, remix.Mix().with_source("vocals", gain_db=6.0))
    rest = images["drums"].astype(np.float64) + images["bass"]
    vocals_out = y - rest
    assert energy_db(vocals_out) - energy_db(images["vocals"]) == pytest.approx(6.0, abs=1e-3)
    assert rel(vocals_out, images["vocals"] * 10 ** (6 / 20)) < 1e-5


@pytest.mark.parametrize("name", ["vocals", "drums", "bass"])
def test_repan_moves_to_the_angle_keeping_energy(scene, name):
    _, images = scene
    y = remix.render({name: images[name]}, remix.Mix().with_source(name, pan=30.0))
    e_l, e_r = np.sum(y.astype(np.float64) ** 2, axis=1)
    assert float(panning.angle_of(math.sqrt(e_l), math.sqrt(e_r))) == pytest.approx(30.0, abs=1e-3)
    assert energy_db(y) == pytest.approx(energy_db(images[name]), abs=1e-4)


def test_repan_of_a_wide_source_keeps_its_level():
    rng = np.random.default_rng(1)
    wide = rng.standard_normal((2, RATE)) * [[1.0], [0.5]]  # two independent channels
    stats = remix.source_stats(wide)
    moved = remix.pan_matrix(stats, -40.0) @ wide
    assert energy_db(moved) == pytest.approx(energy_db(wide), abs=1e-6)
    e_l, e_r = np.sum(moved ** 2, axis=1)
    assert float(panning.angle_of(math.sqrt(e_l), math.sqrt(e_r))) == pytest.approx(-40.0, abs=1e-6)


def test_width_scales_the_side(scene):
    _, images = scene
    x = images["vocals"].astype(np.float64)
    y = remix.render({"v": images["vocals"]}, remix.Mix().with_source("v", width=0.5)).astype(np.float64)
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
    assert rel((y[0] + y[1]) / 2, mid) < 1e-6
    assert rel((y[0] - y[1]) / 2, 0.5 * side) < 1e-6
    mono = remix.render({"v": images["vocals"]}, remix.Mix().with_source("v", width=0.0))
    np.testing.assert_array_equal(mono[0], mono[1])


def test_mute_solo_and_karaoke(scene):
    _, images = scene
    sum_of = lambda *names: np.sum([images[n].astype(np.float64) for n in names], axis=0)  # noqa: E731
    assert rel(remix.render(images, remix.Mix().with_source("drums", mute=True)), sum_of("vocals", "bass")) < 1e-6
    solo = remix.Mix().with_source("bass", solo=True)
    assert rel(remix.render(images, solo), sum_of("bass")) < 1e-6
    both = solo.with_source("drums", solo=True, gain_db=-6.0)
    assert rel(remix.render(images, both), sum_of("bass") + images["drums"] * 10 ** (-6 / 20)) < 1e-6
    muted_solo = solo.with_source("bass", mute=True)  # mute wins over solo
    assert not np.any(remix.render(images, muted_solo))
    assert rel(remix.render(images, remix.karaoke(list(images))), sum_of("drums", "bass")) < 1e-6
    up = remix.render(images, remix.vocals_up(list(images)))
    assert rel(up, sum_of("drums", "bass") + images["vocals"] * 10 ** (6 / 20)) < 1e-6


def test_master_gain_and_clipping_warning(scene):
    _, images = scene
    loud = remix.Mix(master_gain_db=30.0 - 6.0)
    with pytest.warns(remix.ClippingWarning, match="dBTP"):
        y = remix.render(images, loud)
    assert np.max(np.abs(y)) > 1.0  # kept, not limited
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        remix.render(images)


def test_true_peak_sees_between_samples():
    n = np.arange(4000)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / 400.0)  # no click at the ends
    x = (np.sin(2 * np.pi * n / 4 + np.pi / 4) * fade)[None]  # samples at ±0.707 of a full-scale sine
    assert np.max(np.abs(x)) == pytest.approx(math.sqrt(0.5))
    assert remix.true_peak(x, block=1000) == pytest.approx(1.0, abs=0.01)


def test_mix_document_round_trip_and_errors(tmp_path):
    mix = remix.Mix().with_source("object_1 (-30°)", gain_db=-3.0, pan=12.5, width=1.5, solo=True)
    mix.master_gain_db = -2.0
    path = mix.save(tmp_path / "m.json")
    assert remix.Mix.load(path) == mix
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["sources"]["object_1 (-30°)"]["pan"] == 12.5
    for bad, match in [({"version": 2, "sources": {}}, "version"),
                       ({"version": 1, "sources": {"a": {"gain": 1}}}, "unknown setting"),
                       ({"version": 1, "sources": {"a": {"pan": 60}}}, "outside"),
                       ({"version": 1, "sources": {"a": {"width": -1}}}, "outside"),
                       ({"version": 1, "sources": {"a": {"mute": "yes"}}}, "true or false"),
                       ({"version": 1, "sources": {"a": {"gain_db": float("nan")}}}, "number")]:
        with pytest.raises(ParameterError, match=match):
            remix.Mix.from_dict(bad)
    with pytest.raises(ParameterError, match="sets source"):
        remix.render({"b": np.zeros((2, 10), np.float32)}, remix.Mix().with_source("a", mute=True))


def test_resolve_name():
    names = ["object_1 (-30°)", "object_2 (10°)", "vocals"]
    assert remix.resolve_name(names, "object_1") == names[0]
    assert remix.resolve_name(names, "object_2_10deg") == names[1]
    assert remix.resolve_name(names, "3") == "vocals"
    assert remix.resolve_name(names, "VOCALS") == "vocals"
    with pytest.raises(ParameterError, match="no source"):
        remix.resolve_name(names, "object")


def test_cli_remix_from_stems(tmp_path, scene, capsys):
    mixture, images = scene
    save(tmp_path / "song.wav", mixture, RATE)
    write_images(tmp_path / "stems", images, RATE, {"method": "test"})
    out = tmp_path / "out" / "remix.wav"
    rc = main(["remix", str(tmp_path / "song.wav"), "--stems", str(tmp_path / "stems"), "-o", str(out),
               "--gain", "drums=+6", "--pan", "bass=-30", "--width", "bass=0.5", "--karaoke"])
    assert rc == 0, capsys.readouterr().err
    y, rate = load(out)
    mix = remix.Mix.load(tmp_path / "out" / "remix.mix.json")
    assert mix.settings("vocals").mute and mix.settings("drums").gain_db == 6.0
    assert mix.settings("bass").pan == -30.0 and mix.settings("bass").width == 0.5
    assert rate == RATE and rel(y, remix.render(images, mix)) < 1e-6
    # replay the saved mix: same file
    rc = main(["remix", str(tmp_path / "stems"), "-o", str(tmp_path / "again.wav"), "--mix",
               str(tmp_path / "out" / "remix.mix.json")])
    assert rc == 0
    np.testing.assert_array_equal(load(tmp_path / "again.wav")[0], y)
    assert main(["remix", str(tmp_path / "song.wav"), "--stems", str(tmp_path / "stems"), "-o",
                 str(tmp_path / "x.wav"), "--gain", "guitar=+3"]) == 2
    assert "no source 'guitar'" in capsys.readouterr().err
    assert main(["remix", str(tmp_path / "song.wav"), "--stems", str(tmp_path / "stems"), "-o",
                 str(tmp_path / "song.wav")]) == 2


def test_cli_remix_separates_first(tmp_path, scene, capsys):
    mixture, _ = scene
    save(tmp_path / "song.wav", mixture, RATE)
    rc = main(["remix", str(tmp_path / "song.wav"), "--method", "adress", "-o", str(tmp_path / "r.wav"),
               "--solo", "1"])
    assert rc == 0, capsys.readouterr().err
    mix = remix.Mix.load(tmp_path / "r.mix.json")
    assert [n for n, s in mix.sources.items() if s.solo] and load(tmp_path / "r.wav")[0].shape == mixture.shape
