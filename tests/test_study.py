"""shotoku study spatial: a tiny study on a local Dask cluster, killed and resumed, and on a real
``dask scheduler`` / ``dask worker`` pair, giving the same numbers."""

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import distributed  # noqa: F401  (the study extra, installed by make test)

from shotoku.cli import main  # noqa: E402
from shotoku.experiments import study  # noqa: E402
from shotoku.io import save  # noqa: E402

RATE = 8000
METHODS = "adress:postfilter=false,oracle-irm"
FAILING = "duet:n_fft=3:postfilter=false"   # refused by duet's own checks, on the worker
METRIC_COLUMNS = ("condition", "scene", "label", "object", "estimate", "SDR", "ISR", "SIR", "SAR")


def write_tracks(root: Path, n: int = 2, seconds: float = 4.0) -> Path:
    """``n`` tracks of 4 stems (distinct tones with their own slow envelopes, a little noise)."""
    t = np.arange(int(seconds * RATE)) / RATE
    for k in range(n):
        rng = np.random.default_rng(k)
        for i, stem in enumerate(("drums", "bass", "other", "vocals")):
            env = (0.4 + 0.6 * np.sin(2 * np.pi * (0.5 + 0.7 * i) * t + k) ** 2)
            x = env * np.sin(2 * np.pi * 110 * (i + 1) * (1 + 0.07 * k) * t) + 0.05 * rng.standard_normal(t.size)
            save(root / f"song{k}" / f"{stem}.wav", np.stack([x, x]).astype(np.float32), RATE)
    return root


def args(data, out, methods=METHODS, *extra):
    return ["study", "spatial", "--data", str(data), "--out", str(out), "--methods", methods,
            "--scenes-per-condition", "2", "--duration", "3", *extra]


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def metric_rows(path):
    rows = sorted(read(path), key=lambda r: (r["scene"], r["label"], r["object"]))
    return [{k: r[k] for k in METRIC_COLUMNS} for r in rows]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tracks(tmp_path_factory.mktemp("tracks"))


@pytest.fixture(scope="module")
def local_study(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    code = main(args(data, out, f"{METHODS},{FAILING}", "--workers", "2"))
    return out, code


def test_local_study_files_columns_and_failures(local_study):
    out, code = local_study
    assert code == 1  # some tasks failed: said by the exit status, the others done
    for name in ("results.csv", "failures.csv", "summary.md", "study.json", "study-box-SDR.png",
                 "study-sdr-spacing.png"):
        assert (out / name).is_file(), name
    rows = read(out / "results.csv")
    assert tuple(rows[0]) == study.COLUMNS
    assert len(rows) == 4 * 2 * 2 * 4   # conditions x scenes x methods x objects
    assert {r["label"] for r in rows} == {"adress", "oracle-irm"}
    assert {r["condition"] for r in rows} == {"10", "20", "30", "20d"}
    for r in rows:
        assert all(math.isfinite(float(r[m])) for m in ("SDR", "ISR", "SIR", "SAR"))
        assert float(r["separation_s"]) > 0 and float(r["scoring_s"]) > 0
        assert json.loads(r["parameters"])["sources" if r["method"] == "adress" else "n_fft"]
    sdr = {label: np.median([float(r["SDR"]) for r in rows if r["label"] == label]) for label in ("adress", "oracle-irm")}
    assert sdr["oracle-irm"] > 15.0 and sdr["adress"] > 10.0, sdr
    failures = read(out / "failures.csv")
    assert len(failures) == 8 and {f["method"] for f in failures} == {"duet"}
    assert all("n_fft" in f["error"] for f in failures)
    assert len(list((out / "failed").glob("*.json"))) == 8
    record = json.loads((out / "study.json").read_text())
    assert record["run"]["computed"] == 16 and record["run"]["failed"] == 8
    assert {"shotoku", "numpy", "dask"} <= set(record["versions"])
    assert record["seeds"]["study"] == 0 and record["machine"]["client"]["cpus"] >= 1
    assert 0 < record["timing"]["scoring_share"] < 1
    summary = (out / "summary.md").read_text()
    assert "Gap to the oracles" in summary and "scoring is" in summary and "Failures (8 tasks)" in summary


def test_killed_study_resumes_without_recomputing(data, tmp_path):
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "shotoku", *args(data, out, METHODS, "--workers", "1", "--conditions", "10,20")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not list((out / "tasks").glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its local cluster, mid-run
        proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.json")}
    assert 0 < len(done) < 8, f"{len(done)} of 8 tasks done when killed"
    assert not (out / "results.csv").exists()
    assert main(args(data, out, METHODS, "--inline", "--conditions", "10,20", "--no-figures")) == 0
    record = json.loads((out / "study.json").read_text())
    assert record["run"]["done_before"] == len(done)
    assert record["run"]["computed"] == 8 - len(done)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.json") if p.name in done} == done
    assert len(read(out / "results.csv")) == 8 * 4
    # a third run has nothing left to do and writes the same table
    before = (out / "results.csv").read_text()
    assert main(args(data, out, METHODS, "--inline", "--conditions", "10,20", "--no-figures")) == 0
    assert json.loads((out / "study.json").read_text())["run"] == {"total": 8, "done_before": 8}
    assert (out / "results.csv").read_text() == before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_study_on_a_dask_scheduler_matches_the_local_run(local_study, data, tmp_path):
    port = free_port()
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        procs.append(subprocess.Popen(dask + ["worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                                              "--nworkers", "1", "--no-dashboard", "--memory-limit", "2GB"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        out = tmp_path / "cluster"
        code = main(args(data, out, f"{METHODS},{FAILING}", "--scheduler", f"tcp://127.0.0.1:{port}",
                         "--no-figures"))
        assert code == 1
        record = json.loads((out / "study.json").read_text())
        assert record["run"]["where"].startswith(f"Dask cluster at tcp://127.0.0.1:{port}")
        local, remote = metric_rows(local_study[0] / "results.csv"), metric_rows(out / "results.csv")
        assert [{k: r[k] for k in METRIC_COLUMNS[:5]} for r in remote] == \
               [{k: r[k] for k in METRIC_COLUMNS[:5]} for r in local]
        for a, b in zip(local, remote):
            for m in ("SDR", "ISR", "SIR", "SAR"):
                assert float(a[m]) == pytest.approx(float(b[m]), abs=1e-3), (a, b)
        assert len(read(out / "failures.csv")) == 8
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_method_specs_expand_the_postfilter():
    specs = study.parse_methods("adress,oracle-irm:alpha=1,duet:postfilter=false,projet:postfilter=mnmf")
    assert [s.label for s in specs] == ["adress+mnmf", "adress+wiener", "adress", "oracle-irm:alpha=1", "duet",
                                        "projet+mnmf"]
    assert [s.parameters for s in specs[:3]] == [{"postfilter": "mnmf"}, {"postfilter": "wiener"},
                                                 {"postfilter": "none"}]
    assert specs[3].parameters == {"alpha": 1.0}


def test_bad_study_arguments_are_one_line_errors(data, tmp_path, capsys):
    assert main(args(data, tmp_path / "s", "nosuchmethod")) == 2
    assert "unknown method 'nosuchmethod'" in capsys.readouterr().err
    assert main(args(data, tmp_path / "s", "adress:sources=3")) == 2
    assert main(args(data, tmp_path / "s", METHODS, "--conditions", "15")) == 2
