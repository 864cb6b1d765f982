"""Input a user can throw at the CLI: every case exits with a clear line, leaves no partial file,
and never changes the input.

Each case runs ``shotoku`` in a subprocess, as a user would, and checks: the exit status, one
``shotoku: error:`` line (or a warning and success where the input is usable), no traceback, no
file or staging folder left behind, and the input's bytes unchanged.
"""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

import shotoku
from shotoku import io
from shotoku.errors import ParameterError

RATE = 22050


def run(*args, timeout=300):
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "shotoku", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def user_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("shotoku: error:"), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def leftovers(folder):
    """Everything under ``folder`` (hidden staging folders and temporary files included)."""
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, dirs, files in os.walk(folder)
                  for f in files + [x + "/" for x in dirs])


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 4 s stereo mixture of two panned objects, as a WAV and a FLAC file."""
    folder = tmp_path_factory.mktemp("song")
    t = np.arange(4 * RATE) / RATE
    a = np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t))
    b = np.random.default_rng(1).standard_normal(t.size) * 0.1
    x = np.stack([0.9 * a + 0.2 * b, 0.3 * a + 0.9 * b]).astype(np.float32)
    io.save(folder / "song.wav", x, RATE)
    sf.write(str(folder / "song.flac"), x.T, RATE)
    return folder


@pytest.mark.parametrize("fraction", [0.5, 0.75])
def test_cut_flac_keeps_every_decodable_frame(song, tmp_path, fraction):
    data = (song / "song.flac").read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: int(len(data) * fraction)])
    before = digest(cut)
    r = run("info", cut)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    audio, _ = io.load(cut)
    full = 4 * RATE
    # all but the last, partly written FLAC frame (4096 samples) of the part that is there
    assert audio.shape[1] >= fraction * full * 0.9 - 4096, audio.shape
    assert audio.shape[1] < full
    assert str(audio.shape[1]) in r.stdout  # info counts what decodes, not the header's promise
    out = tmp_path / "out"
    r = run("separate", cut, "-o", out, "--method", "adress", "--sources", "2")
    assert r.returncode == 0, r.stderr
    assert "cut off" in r.stderr and "Traceback" not in r.stderr
    assert digest(cut) == before


def test_output_formats_are_checked_before_the_work(song, tmp_path):
    x, _ = io.load(song / "song.wav")
    high = io.save(tmp_path / "high.wav", np.repeat(x, 2, axis=1)[:, : 2 * RATE], 96000)
    wide = io.save(tmp_path / "wide.wav", np.tile(x[:, : RATE], (4, 1)), RATE)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    user_error(run("separate", high, "-o", out, "--method", "adress", "--format", "mp3"), "mp3", "Hz")
    user_error(run("separate", wide, "-o", out, "--method", "auxiva", "--format", "mp3"), "channels")
    assert leftovers(out) == []
    assert time.perf_counter() - t0 < 120  # refused up front, not after a separation


def test_bad_seeds_and_parameters(song, tmp_path):
    wav = song / "song.wav"
    before = digest(wav)
    user_error(run("separate", wav, "-o", tmp_path / "a", "--method", "projet", "--seed", "-1"), "seed")
    user_error(run("separate", wav, "-o", tmp_path / "b", "--param", "n_fft=abc"), "n_fft")
    user_error(run("separate", wav, "-o", tmp_path / "c", "--method", "nosuch"), "unknown method")
    user_error(run("separate", wav, "-o", tmp_path / "d", "--param", "n_fft=1000000000"), "n_fft", "65536")
    assert digest(wav) == before
    for name in ("a", "b", "c", "d"):
        assert leftovers(tmp_path / name) == []


@pytest.mark.parametrize("method, params, words", [
    ("duet", {"sources": 1000}, "sources must lie in 1..64"),
    ("adress", {"n_fft": 10 ** 9}, "n_fft must lie in 16..65536"),
    ("adress", {"beta": 10 ** 9}, "beta <= 10000"),
    ("projet", {"sources": 60}, "pans 46"),
    ("projet", {"iterations": 10 ** 9}, "iterations must lie"),
    ("projet", {"pans": 10 ** 7}, "'pans'"),
    ("oracle-irm", {"n_fft": 10 ** 9}, "n_fft must lie"),
    ("auxiva", {"n_fft": 10 ** 9}, "n_fft must lie"),
])
def test_parameters_that_drive_memory_are_bounded_before_any_work(method, params, words):
    """A huge ``sources``, ``n_fft``, resolution or iteration count is refused at once, with the
    bound named, instead of exhausting memory or running for days."""
    x = np.random.default_rng(0).standard_normal((2, RATE)).astype(np.float32) * 0.1
    if method.startswith("oracle"):
        params = {**params, "references": {"a": x}}
    with pytest.raises(ParameterError, match=re.escape(words)):
        shotoku.separate(x, RATE, method=method, **params)


def test_too_short_and_silent_input(tmp_path):
    one = io.save(tmp_path / "one.wav", np.full((2, 1), 0.5, np.float32), RATE)
    user_error(run("separate", one, "-o", tmp_path / "o1"), "at least")
    silent = io.save(tmp_path / "silent.wav", np.zeros((2, RATE), np.float32), RATE)
    r = run("separate", silent, "-o", tmp_path / "o2", "--sources", "2")
    assert r.returncode == 0 and "silent" in r.stderr and "Traceback" not in r.stderr, r.stderr
    for f in (tmp_path / "o2").glob("*.wav"):
        assert not np.any(io.load(f)[0])


def test_second_run_into_the_same_folder(song, tmp_path):
    wav = song / "song.wav"
    out = tmp_path / "out"
    assert run("separate", wav, "-o", out, "--method", "adress", "--sources", "3").returncode == 0
    first = {f: digest(out / f) for f in os.listdir(out)}
    user_error(run("separate", wav, "-o", out, "--method", "adress", "--sources", "2"), "--overwrite")
    assert {f: digest(out / f) for f in os.listdir(out)} == first  # nothing touched
    r = run("separate", wav, "-o", out, "--method", "adress", "--sources", "2", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.wav"))) == 2  # the 3 images of the first run do not mix in


def test_sigterm_leaves_no_staging_and_the_next_run_works(song, tmp_path):
    x, _ = io.load(song / "song.wav")
    long = io.save(tmp_path / "long.wav", np.tile(x, (1, 15)), RATE)  # 60 s: PROJET takes a while
    out = tmp_path / "out"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))
    proc = subprocess.Popen([sys.executable, "-m", "shotoku", "separate", str(long), "-o", str(out),
                             "--method", "projet"], stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (143, 0), err
    assert "Traceback" not in err
    if proc.returncode == 143:
        assert leftovers(out) == []
    # a staging folder that a killed process (SIGKILL: no cleanup) left is removed by the next run
    (out / ".shotoku-999999999-abc").mkdir(parents=True, exist_ok=True)
    (out / ".shotoku-999999999-abc" / "half.wav").write_bytes(b"RIFF")
    r = run("separate", song / "song.wav", "-o", out, "--method", "adress", "--sources", "2", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert not any(name.startswith(".shotoku-") for name in os.listdir(out))


def test_scores_that_say_what_they_mean(song, tmp_path):
    x, _ = io.load(song / "song.wav")
    refs, short, silent = tmp_path / "refs", tmp_path / "short", tmp_path / "silent"
    io.save(refs / "a.wav", x * 0.5, RATE)
    io.save(refs / "b.wav", x * 0.5, RATE)
    io.save(short / "a.wav", x[:, :-100] * 0.5, RATE)
    io.save(short / "b.wav", x[:, :-100] * 0.5, RATE)
    user_error(run("evaluate", refs, short), "samples")  # no silent padding
    io.save(silent / "a.wav", x * 0.5, RATE)
    io.save(silent / "b.wav", np.zeros_like(x), RATE)
    r = run("evaluate", refs, silent, "--match", "name")
    assert r.returncode == 0 and "estimate 'b'" in r.stderr and "silent" in r.stderr, r.stderr
    user_error(run("evaluate", refs, refs, "--plot", tmp_path / "out.txt"), "out.txt")
    user_error(run("evaluate", refs, refs, "--json", tmp_path / "nowhere" / "s.json"), "does not exist")


def test_true_stems_scored_against_themselves(tmp_path):
    """Stems with identical channels are rank-deficient; they score +inf against themselves."""
    t = np.arange(3 * RATE) / RATE
    mono = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    folder = tmp_path / "stems"
    io.save(folder / "bass.wav", np.stack([mono, mono]), RATE)                 # identical channels
    io.save(folder / "keys.wav", np.stack([mono * 0.0 + 0.1 * np.cos(2 * np.pi * 3 * t), 0.3 * np.cos(2 * np.pi * 3 * t)]).astype(np.float32), RATE)
    r = run("evaluate", folder, folder)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.count("inf") >= 2, r.stdout


def test_every_file_written_follows_the_umask(song, tmp_path):
    """Images, their record, the scores JSON and a checkpoint all get the user's umask (0o022: 0644)."""
    import torch

    from shotoku.models import build_model
    from shotoku.models.checkpoint import save_checkpoint

    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        r = run("separate", song / "song.wav", "-o", out, "--method", "adress", "--sources", "2")
        assert r.returncode == 0, r.stderr
        r = run("evaluate", out, out, "--json", tmp_path / "scores.json")
        assert r.returncode == 0, r.stderr
        torch.manual_seed(0)
        save_checkpoint(tmp_path / "model.pt", build_model("deepconvsep", ["vocals", "other"]))
    finally:
        os.umask(old)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"scores.json", "model.pt", "separation.json"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: "0o644" for p in written}
