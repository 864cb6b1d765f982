"""``shotoku train`` through the command line: train, resume (same data stream), DDP on 2 CPU
processes, and separation with the checkpoint written.

Two synthetic songs of 3 s are rendered once for the module (one trains, one validates).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lightning  # noqa: F401  (the train extra, installed by make test)

from shotoku import cli  # noqa: E402
from shotoku.models.checkpoint import load_checkpoint  # noqa: E402
from shotoku.training.data import ExcerptBatches, StepSampler, prepare_sources  # noqa: E402

SONG_SECONDS = "3"


def train_args(cache, out, *extra):
    return ["train", "--model", "mmdensenet", "--config", "small", "--data", "synth:2", "--song-seconds", SONG_SECONDS,
            "--cache", str(cache), "--out", str(out), "--batch-size", "2", "--excerpt-seconds", "0.3",
            "--val-every", "2", "--threads", "1", "--accelerator", "cpu", "--no-progress", *extra]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The rendered songs, shared by the tests (rendered by the first run that needs them)."""
    return tmp_path_factory.mktemp("synth-cache")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_train_resume_and_separate(cache, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli.main(train_args(cache, straight, "--steps", "4")) == 0
    assert cli.main(train_args(cache, split, "--steps", "2")) == 0
    first, info = load_checkpoint(split / "last.pt")
    assert info["training"]["steps"] == 2
    # a resumed run keeps what shapes its data stream
    assert cli.main(train_args(cache, split, "--steps", "4", "--seed", "3", "--resume")) == 2
    assert cli.main(["train", "--out", str(split), "--steps", "4", "--resume", "--no-progress", "--threads", "1"]) == 0

    a, info_a = load_checkpoint(straight / "last.pt")
    b, info_b = load_checkpoint(split / "last.pt")
    assert info_b["training"]["steps"] == 4
    assert [p["step"] for p in info_b["training"]["curve"]] == [2, 4]
    assert [p["step"] for p in info_a["training"]["curve"]] == [2, 4]
    assert info_a["training"]["data"]["train_tracks"] == ["synth-0000"]
    assert info_a["training"]["data"]["valid_tracks"] == ["synth-0001"]
    # the interrupted run saw the same batches as the uninterrupted one: same weights
    for key, value in a.state_dict().items():
        assert torch.allclose(value, b.state_dict()[key], atol=1e-6), key
    assert any(not torch.equal(p, q) for p, q in zip(first.parameters(), b.parameters()))  # it trained on
    point = info_a["training"]["curve"][-1]
    assert np.isfinite(point["val_sdr"]) and np.isfinite(point["sdr_mixture"])
    assert (straight / "best.pt").is_file() and (straight / "last.ckpt").is_file()
    assert list((straight / "logs").rglob("metrics.csv"))
    # a finished run refuses to start again without --resume
    assert cli.main(train_args(cache, straight, "--steps", "4")) == 2

    song = next(cache.glob("synth-seed0-3s/synth-0001/mixture.wav"))
    sep = tmp_path / "sep"
    assert cli.main(["separate", str(song), "-o", str(sep), "--model", str(straight / "best.pt")]) == 0
    record = json.loads((sep / "separation.json").read_text())
    assert sorted(record["sources"]) == ["bass", "drums", "other", "vocals"]
    assert all((sep / f).is_file() for f in record["sources"].values())


def test_ddp_two_cpu_processes(cache, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # the songs are there when the first test ran; otherwise rank 0 renders them first
    proc = subprocess.run(
        [sys.executable, "-m", "shotoku", *train_args(cache, out, "--steps", "2", "--devices", "2", "--strategy", "ddp")],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0 of 2" in proc.stderr and "rank 1 of 2" in proc.stderr
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    assert files == ["best.pt", "last.ckpt", "last.pt", "run.json"]
    _, info = load_checkpoint(out / "last.pt")
    assert info["training"]["steps"] == 2 and len(info["training"]["curve"]) == 1


def test_step_batches_are_seeded_per_step_and_rank():
    rng = np.random.default_rng(0)
    from shotoku.datasets.track import Track

    stems = {s: rng.standard_normal((2, 8000)).astype(np.float32) for s in ("vocals", "drums")}
    track = Track("t", stems["vocals"] + stems["drums"], stems, 8000)
    data = prepare_sources([track], ["vocals", "drums"], 8000)
    batches = ExcerptBatches(data, 3, 1000, 2, seed=5, mix_tracks=0.5)
    other_rank = ExcerptBatches(data, 3, 1000, 2, seed=5, rank=1)
    assert torch.equal(batches[7][0], batches[7][0]) and torch.equal(batches[7][1], batches[7][1])
    assert not torch.equal(batches[7][0], batches[8][0])
    assert not torch.equal(batches[7][0], other_rank[7][0])
    mix, tgt = batches[3]
    assert mix.shape == (3, 2, 1000) and tgt.shape == (3, 2, 2, 1000)
    assert torch.allclose(tgt.sum(1), mix, atol=1e-6)  # no rest: the targets add up to the mixture
    it = iter(StepSampler(lambda: 41))
    assert [next(it) for _ in range(3)] == [41, 42, 43]


def test_train_errors(tmp_path):
    assert cli.main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert cli.main(["train", "--out", str(tmp_path / "x"), "--data", "synth:1"]) == 2
    assert cli.main(["train", "--out", str(tmp_path / "y"), "--data", str(tmp_path / "missing")]) == 2
