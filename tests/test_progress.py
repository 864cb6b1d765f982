"""Progress as a user sees it: bars (stage, percent, time left) on a terminal, nothing when piped
or with --quiet. The terminal is a pseudo-terminal of 100 columns."""

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest

from shotoku import io

SRC = os.path.join(os.path.dirname(__file__), "..", "src")
RATE = 8000


def shotoku_on_terminal(*args, terminal=True):
    """Run ``python -m shotoku ARGS`` with stderr on a pseudo-terminal (or a pipe): (exit, stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "shotoku", *map(str, args)]
    if not terminal:
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        return r.returncode, r.stderr
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def long_scene(tmp_path_factory):
    """50 s of a two-object stereo scene at 8 kHz (longer than one block) and its true images."""
    folder = tmp_path_factory.mktemp("progress")
    rng = np.random.default_rng(0)
    n = 50 * RATE
    t = np.arange(n) / RATE
    a = np.sin(2 * np.pi * 330 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    b = 0.2 * rng.standard_normal(n)
    images = {"a": np.stack([0.9 * a, 0.3 * a]), "b": np.stack([0.3 * b, 0.9 * b])}
    (folder / "truth").mkdir()
    for k, v in images.items():
        io.save(folder / "truth" / f"{k}.wav", v, RATE)
    io.save(folder / "mix.wav", images["a"] + images["b"], RATE)
    return folder


def test_separate_and_evaluate_show_bars_on_a_terminal_only(long_scene, tmp_path):
    out = tmp_path / "out"
    code, err = shotoku_on_terminal("separate", long_scene / "mix.wav", "-o", out, "--sources", "2")
    assert code == 0, err
    assert "adress: blocks" in err and "%|" in err and ("block/s" in err or "s/block" in err), err
    code, err = shotoku_on_terminal("evaluate", long_scene / "truth", out)
    assert code == 0, err
    assert "scoring" in err and "%|" in err and "frame" in err, err
    for quiet in (("-q",), ()):
        code, err = shotoku_on_terminal(*quiet, "evaluate", long_scene / "truth", out, terminal=bool(quiet))
        assert code == 0, err
        assert "%|" not in err and "scoring" not in err, err


def test_synth_and_simulate_show_bars_on_a_terminal(tmp_path):
    code, err = shotoku_on_terminal("synth", "-n", "2", "--seconds", "2", "-o", tmp_path / "songs", "--seed", "0")
    assert code == 0, err
    assert "synth" in err and "%|" in err and "2/2" in err, err
    code, err = shotoku_on_terminal("simulate", "--synth", "2", "--seconds", "2", "-o", tmp_path / "scenes",
                                    "--condition", "20")
    assert code == 0, err
    assert "scenes" in err and "%|" in err, err
