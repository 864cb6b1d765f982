"""``shotoku evaluate`` as a user runs it: a subprocess; user errors are one line on stderr, exit 2."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from shotoku import io
from shotoku.metrics import bss_eval_images


def shotoku(*args, cwd=None):
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "shotoku", "evaluate", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _user_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "Traceback" not in r.stderr


RATE = 16000


def _sources(seed=0, seconds=2.5, names=("vocals", "drums", "bass")):
    """Full-rank stereo references and good estimates, float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    refs = 0.1 * rng.standard_normal((len(names), 2, n))
    refs[:, 1] += 0.5 * refs[:, 0]
    ests = refs + 0.15 * refs[np.roll(np.arange(len(names)), 1)] + 0.005 * rng.standard_normal(refs.shape)
    return dict(zip(names, refs.astype(np.float32))), dict(zip(names, ests.astype(np.float32)))


def _write(folder, sources, rate=RATE, rename=lambda n: n):
    folder.mkdir(parents=True, exist_ok=True)
    for name, x in sources.items():
        io.save(folder / f"{rename(name)}.wav", x, rate)
    return folder


def test_named_folders_table_json_plot(tmp_path):
    refs, ests = _sources()
    r = shotoku(_write(tmp_path / "refs", refs), _write(tmp_path / "ests", ests),
                "--json", tmp_path / "scores.json", "--plot", tmp_path / "box.png")
    assert r.returncode == 0, r.stderr
    table = r.stdout
    for name in refs:
        assert name in table
    assert "SDR" in table and "SAR" in table
    data = json.loads((tmp_path / "scores.json").read_text())
    assert {t["name"] for t in data["targets"]} == set(refs)
    frames = data["targets"][0]["frames"]
    assert len(frames) == 2 and frames[1]["time"] == 1.0 and frames[0]["duration"] == 1.0
    assert set(frames[0]["metrics"]) == {"SDR", "SIR", "SAR", "ISR"}
    # the numbers are the library's
    names = sorted(refs)
    scores = bss_eval_images(np.stack([refs[n] for n in names]), np.stack([ests[n] for n in names]), RATE)
    target = next(t for t in data["targets"] if t["name"] == names[0])
    assert target["frames"][0]["metrics"]["SIR"] == pytest.approx(scores.sir[0, 0], abs=1e-4)
    assert (tmp_path / "box.png").stat().st_size > 1000


def test_unnamed_estimates_are_paired_by_sdr(tmp_path):
    refs, ests = _sources(seed=1)
    shuffled = {f"object_{i + 1} ({a}°)": ests[n] for i, (n, a) in enumerate(zip(["bass", "vocals", "drums"], [-30, 0, 30]))}
    r = shotoku(_write(tmp_path / "refs", refs), _write(tmp_path / "ests", shuffled))
    assert r.returncode == 0, r.stderr
    assert "best mean SDR" in r.stdout
    assert "vocals <- object_2 (0°)" in r.stdout and "bass <- object_1 (-30°)" in r.stdout


def test_scene_folder_with_mixture_and_scene_json(tmp_path):
    refs, ests = _sources(seed=2, names=("object_1 (-30°)", "object_2 (30°)"))
    scene = tmp_path / "scene"
    files = ["object_1_-30_.wav", "object_2_30_.wav"]
    scene.mkdir()
    for f, x in zip(files, refs.values()):
        io.save(scene / f, x, RATE)
    io.save(scene / "mixture.wav", sum(refs.values()), RATE)
    (scene / "scene.json").write_text(json.dumps({"objects": list(refs), "files": files}))
    r = shotoku(scene, _write(tmp_path / "ests", ests, rename=lambda n: n.replace("°", "deg")))
    assert r.returncode == 0, r.stderr
    assert "object_1 (-30°)" in r.stdout and "mixture" not in r.stdout.split("dB):")[-1]


def test_mismatched_rates_channels_names_and_missing_folders(tmp_path):
    refs, ests = _sources(seed=3)
    refdir = _write(tmp_path / "refs", refs)
    _user_error(shotoku(refdir, _write(tmp_path / "rate", ests, rate=8000)), "Hz")
    mono = {n: x[:1] for n, x in ests.items()}
    _user_error(shotoku(refdir, _write(tmp_path / "mono", mono)), "channel")
    _user_error(shotoku(refdir, _write(tmp_path / "names", ests, rename=lambda n: n + "_x"), "--match", "name"), "name")
    few = shotoku(refdir, _write(tmp_path / "few", dict(list(ests.items())[:2]), rename=lambda n: "z" + n))
    assert few.returncode == 0 and "Traceback" not in few.stderr, few.stderr  # the stem left over is NaN
    assert "has no estimate" in few.stderr and "(no estimate left)" in few.stdout
    _user_error(shotoku(tmp_path / "nowhere", refdir), "does not exist")
    (tmp_path / "empty").mkdir()
    _user_error(shotoku(refdir, tmp_path / "empty"), "no audio")
    _user_error(shotoku(refdir, refdir, "--window", "0"), "--window")
    silent = dict(ests)
    silent["drums"] = np.zeros_like(silent["drums"])
    r = shotoku(refdir, _write(tmp_path / "silent", silent))
    assert r.returncode == 0, r.stderr
    assert "estimate 'drums'" in r.stderr and "silent" in r.stderr and "Traceback" not in r.stderr


def test_whole_track_window(tmp_path):
    refs, ests = _sources(seed=4, seconds=1.5)
    r = shotoku(_write(tmp_path / "refs", refs), _write(tmp_path / "ests", ests), "--window", "inf",
                "--json", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    frames = json.loads((tmp_path / "s.json").read_text())["targets"][0]["frames"]
    assert len(frames) == 1 and math.isclose(frames[0]["duration"], 1.5)


def test_separate_output_folder_names_come_from_its_record(tmp_path):
    refs, ests = _sources(seed=5, names=("vocals", "accompaniment"))
    out = tmp_path / "sep"
    out.mkdir()
    files = {"vocals": "v.wav", "accompaniment": "a.wav"}
    for name, f in files.items():
        io.save(out / f, ests[name], RATE)
    (out / "separation.json").write_text(json.dumps({"method": "x", "sources": files}))
    r = shotoku(_write(tmp_path / "refs", refs), out)
    assert r.returncode == 0, r.stderr
    assert "best mean SDR" not in r.stdout and "vocals" in r.stdout


def test_fewer_estimates_than_references_scores_those_there_are():
    """A blind method that found 2 objects in a 3-stem song: the two are paired and scored with
    every reference in their projections; the stem left over is NaN and named."""
    from shotoku.evaluation import score

    rng = np.random.default_rng(3)
    refs = {name: rng.standard_normal((2, 3 * 8000)).astype(np.float32) for name in ("bass", "drums", "vocals")}
    ests = {"object_1": refs["vocals"] + 0.1 * rng.standard_normal((2, 3 * 8000)), "object_2": refs["bass"]}
    result = score(refs, ests, 8000)
    assert result.pairing == "sdr" and result.estimates == ["object_2", "", "object_1"]
    med = result.medians()
    assert math.isinf(med["bass"]["SDR"]) and abs(med["vocals"]["SDR"] - 20) < 0.5
    assert all(math.isnan(v) for v in med["drums"].values())
    assert any("'drums' has no estimate" in w for w in result.warnings)
    full = score(refs, {**ests, "object_3": refs["drums"]}, 8000).medians()  # same projections as a full set
    assert med["vocals"] == pytest.approx(full["vocals"], abs=1e-6)
