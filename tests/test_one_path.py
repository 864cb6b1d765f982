"""One path from mixture to images to scores: every way to reach a separator gives the same
files and records, and the demo, evaluate and the scene module agree."""

import json
import os
import subprocess
import sys

import numpy as np

import shotoku
from shotoku import io, registry
from shotoku.datasets.scenes import read_scene
from shotoku.models.catalog import shipped

RATE = 44100


def run(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))
    return subprocess.run([sys.executable, "-m", "shotoku", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_a_checkpoint_is_a_method_like_any_other(tmp_path):
    ckpt = shipped()["mmdensenet"]
    t = np.arange(3 * RATE) / RATE
    x = np.stack([np.sin(2 * np.pi * 220 * t), 0.5 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32) * 0.3
    song = io.save(tmp_path / "song.wav", x, RATE)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run("separate", song, "-o", a, "--model", ckpt).returncode == 0
    assert run("separate", song, "-o", b, "--method", "model", "--param", f"checkpoint={ckpt}").returncode == 0
    r = run("separate", song, "-o", c, "--method", "mmdensenet")
    assert r.returncode == 0, r.stderr
    images = shotoku.separate(x, RATE, method="model", checkpoint=str(ckpt))
    ra, rb = (json.loads((d / "separation.json").read_text()) for d in (a, b))
    assert ra["method"] == rb["method"] == "model" and ra["parameters"] == rb["parameters"]
    assert ra["parameters"]["checkpoint"] == str(ckpt) and "chunk_seconds" in ra["parameters"]
    assert "postfilter" in ra["parameters"] and "device" in ra["parameters"]
    assert list(ra["sources"]) == ["vocals", "drums", "bass", "other"]
    for name, f in ra["sources"].items():
        data = (a / f).read_bytes()
        assert data == (b / f).read_bytes() == (c / f).read_bytes()
        np.testing.assert_allclose(io.load(a / f)[0], images[name], atol=1e-6)  # threads may round differently
    names = {m.name for m in registry.available()}
    assert {"model", "mmdensenet"} <= names


def test_demo_evaluate_and_scene_agree(tmp_path):
    r = run("demo", "--outdir", tmp_path / "demo", "--seconds", "4")
    assert r.returncode == 0, r.stderr
    table = r.stdout.split("== adress")[1].split("== oracle-irm")[0]
    scene = read_scene(tmp_path / "demo" / "example")
    assert scene.names == ["drums", "bass", "other", "vocals"] and scene.angles == [-45.0, -15.0, 15.0, 45.0]
    np.testing.assert_allclose(scene.mixture, scene.images.sum(0), atol=1e-6)
    e = run("evaluate", tmp_path / "demo" / "example", tmp_path / "demo" / "separated")
    assert e.returncode == 0, e.stderr
    rows = [ln for ln in e.stdout.splitlines() if ln.split()[:1] and ln.split()[0] in scene.names and "<-" not in ln]
    assert len(rows) == 4 and all(row in table for row in rows)  # the same numbers from the same call
