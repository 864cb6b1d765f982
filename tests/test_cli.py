"""The CLI as a user runs it: a subprocess, one line on stderr and exit 2 for user errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from shotoku import io


def shotoku(*args, cwd=None):
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "shotoku", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


def _scene(tmp_path, seconds=3.0, rate=22050):
    """Two panned noise-like objects, their references, and the mixture file."""
    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    a = np.sin(2 * np.pi * 330 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
    b = rng.standard_normal(n) * 0.2
    refs = {"left": np.stack([a, 0.2 * a]), "right": np.stack([0.2 * b, b])}
    refdir = tmp_path / "refs"
    for k, v in refs.items():
        io.save(refdir / f"{k}.wav", v.astype(np.float32), rate)
    mix = io.save(tmp_path / "mix.wav", sum(refs.values()).astype(np.float32), rate)
    return mix, refdir, refs


def _assert_user_error(r, pattern):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert pattern in lines[0], lines[0]


def test_separate_oracle_writes_images_and_record(tmp_path):
    mix, refdir, refs = _scene(tmp_path)
    out = tmp_path / "out"
    r = shotoku("separate", mix, "-o", out, "--method", "oracle-wiener", "--references", refdir,
                "--param", "n_fft=1024")
    assert r.returncode == 0, r.stderr
    rec = json.loads((out / "separation.json").read_text())
    assert rec["method"] == "oracle-wiener" and rec["parameters"] == {"n_fft": 1024, "hop": 512}
    assert rec["seed"] == 0 and "shotoku" in rec["versions"] and rec["timings"]["separate_s"] > 0
    x, rate = io.load(mix)
    total = 0
    for name, f in rec["sources"].items():
        y, r2 = io.load(out / f)
        assert r2 == rate and y.shape == x.shape
        total = total + y
    assert np.linalg.norm(total - x) / np.linalg.norm(x) < 1e-4
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_methods_lists_parameters():
    r = shotoku("methods", "--json")
    assert r.returncode == 0
    names = {m["name"]: m for m in json.loads(r.stdout)}
    assert {"oracle-irm", "oracle-wiener"} <= set(names)
    assert names["oracle-irm"]["parameters"]["n_fft"]["default"] == 2048


def test_info(tmp_path):
    mix, _, _ = _scene(tmp_path)
    r = shotoku("info", mix)
    assert r.returncode == 0 and "22050 Hz" in r.stdout and "channels:  2" in r.stdout


def _write_raw(path, data, rate=22050):
    sf.write(str(path), np.asarray(data, np.float32).T, rate, subtype="FLOAT")
    return path


USER_ERRORS = {
    "missing": lambda d: (d / "nope.wav", "no such file"),
    "not_audio": lambda d: ((d / "t.wav").write_text("plain text, not audio " * 30) and d / "t.wav",
                            "not a readable audio file"),
    "header_only": lambda d: (_header_only(d), "no samples"),
    "empty": lambda d: ((d / "e.wav").write_bytes(b"") or d / "e.wav", "empty"),
    "nan": lambda d: (_write_raw(d / "n.wav", np.full((2, 1000), np.nan)), "NaN"),
    "inf": lambda d: (_write_raw(d / "i.wav", np.full((2, 1000), np.inf)), "NaN or infinite"),
}


def _header_only(d):
    p = io.save(d / "full.wav", np.zeros((2, 100), np.float32), 22050)
    data = bytearray(p.read_bytes())
    # keep the header, declare an empty data chunk
    i = data.index(b"data")
    hdr = data[: i + 4] + (0).to_bytes(4, "little")
    out = d / "h.wav"
    out.write_bytes(bytes(hdr))
    return out


@pytest.mark.parametrize("case", sorted(USER_ERRORS))
def test_bad_input_exits_2_and_writes_nothing(tmp_path, case):
    path, pattern = USER_ERRORS[case](tmp_path)
    out = tmp_path / "out"
    r = shotoku("separate", path, "-o", out, "--method", "oracle-irm", "--references", tmp_path)
    _assert_user_error(r, pattern)
    assert not out.exists() or not any(out.iterdir())


def test_mono_into_stereo_method(tmp_path):
    rate = 22050
    mono = io.save(tmp_path / "mono.wav", np.random.default_rng(0).standard_normal((1, rate)).astype(np.float32) * 0.1, rate)
    out = tmp_path / "out"
    r = shotoku("separate", mono, "-o", out)
    _assert_user_error(r, "channel")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("where", ["file", "under_file", "proc"])
def test_unwritable_output(tmp_path, where):
    mix, refdir, _ = _scene(tmp_path, seconds=1.0)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    out = {"file": blocker, "under_file": blocker / "sub", "proc": "/proc/shotoku-out"}[where]
    r = shotoku("separate", mix, "-o", out, "--method", "oracle-irm", "--references", refdir)
    _assert_user_error(r, "output")
    assert blocker.read_text() == "x"


def test_unknown_method_and_bad_param(tmp_path):
    mix, refdir, _ = _scene(tmp_path, seconds=1.0)
    _assert_user_error(shotoku("separate", mix, "-o", tmp_path / "o", "--method", "nope"), "unknown method")
    _assert_user_error(shotoku("separate", mix, "-o", tmp_path / "o", "--method", "oracle-irm",
                               "--references", refdir, "--param", "n_fft=big"), "expects int")
    _assert_user_error(shotoku("separate", mix, "-o", tmp_path / "o", "--method", "oracle-irm",
                               "--references", refdir, "--param", "colour=3"), "no parameter")


def test_never_overwrites_input(tmp_path):
    mix, refdir, refs = _scene(tmp_path, seconds=1.0)
    before = {p.name: p.read_bytes() for p in refdir.iterdir()}
    # the output folder is the references folder: the images would be named like the inputs
    r = shotoku("separate", mix, "-o", refdir, "--method", "oracle-irm", "--references", refdir)
    _assert_user_error(r, "--overwrite")
    # even when told to overwrite, the inputs are protected
    r = shotoku("separate", mix, "-o", refdir, "--method", "oracle-irm", "--references", refdir, "--overwrite")
    _assert_user_error(r, "refusing to overwrite the input")
    for name, data in before.items():
        assert (refdir / name).read_bytes() == data


def test_truncated_file_separates_with_warning(tmp_path):
    mix, refdir, _ = _scene(tmp_path, seconds=2.0)
    data = mix.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    x, rate = io.load(mix)
    out = tmp_path / "out"
    r = shotoku("separate", cut, "-o", out, "--method", "adress", "--sources", "2")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "cut off" in r.stderr
    # the oracle refuses references longer than the mixture instead of cutting them silently
    r = shotoku("separate", cut, "-o", tmp_path / "oracle", "--method", "oracle-irm", "--references", refdir)
    assert r.returncode == 2 and "samples" in r.stderr and "44100" in r.stderr
    rec = json.loads((out / "separation.json").read_text())
    assert 0 < rec["samples"] < x.shape[1]


def test_silent_input_gives_silent_images(tmp_path):
    rate = 22050
    z = io.save(tmp_path / "z.wav", np.zeros((2, rate), np.float32), rate)
    refdir = tmp_path / "refs"
    io.save(refdir / "a.wav", np.zeros((2, rate), np.float32), rate)
    io.save(refdir / "b.wav", np.zeros((2, rate), np.float32), rate)
    out = tmp_path / "out"
    r = shotoku("separate", z, "-o", out, "--method", "oracle-wiener", "--references", refdir)
    assert r.returncode == 0, r.stderr
    for f in json.loads((out / "separation.json").read_text())["sources"].values():
        y, _ = io.load(out / f)
        assert np.all(y == 0)
