"""Load on localhost: 20 concurrent uploads against ``shotoku serve`` with a small queue.

The server runs as its own process (the command a user starts), the clients in this one. The
page keeps answering within 1 s, every accepted separation finishes, every refusal is a 503, and
nothing is left once the (short) retention time has passed. Bounded: 20 clients, each with its
own time limits, and one deadline for the whole run; the server is stopped with Ctrl-C (SIGINT).
"""

import io
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastapi  # noqa: F401  (the web extra, installed by make test)
import uvicorn  # noqa: F401
import httpx
import soundfile

from shotoku.datasets.scenes import make_scene  # noqa: E402

RATE = 8000
CLIENTS = 20
DEADLINE_S = 120.0
H = {"X-Shotoku": "1"}


def wav(seed):
    rng = np.random.default_rng(seed)
    mixture, _ = make_scene(rng.standard_normal((2, RATE // 2)), [-20, 20])
    buf = io.BytesIO()
    soundfile.write(buf, mixture.T, RATE, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def start_server(jobs_dir):
    cmd = [sys.executable, "-m", "shotoku", "serve", "--port", "0", "--jobs-dir", str(jobs_dir),
           "--workers", "1", "--queue", "2", "--max-jobs", "12", "--timeout", "60", "--retention", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(DEADLINE_S, proc.kill)  # never wait for ever on a server that hangs
    watchdog.daemon = True
    watchdog.start()
    line = proc.stdout.readline()  # the server prints its address once it listens
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        proc.kill()
        raise AssertionError(f"shotoku serve did not start: {line}{proc.stdout.read()}")
    return proc, found.group(0)


def test_twenty_concurrent_uploads(tmp_path):
    payloads = [wav(k) for k in range(CLIENTS)]
    proc, url = start_server(tmp_path)
    assert httpx.get(url + "/").status_code == 200  # connected once before the load
    results = [None] * CLIENTS
    latencies = []
    finished = threading.Event()
    t_end = time.monotonic() + DEADLINE_S
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(CLIENTS)]

    def client(k):
        with clients[k] as c:
            r = c.post("/api/jobs", files={"file": (f"song{k}.wav", payloads[k], "audio/wav")}, headers=H)
            if r.status_code != 201:
                results[k] = ("upload", r.status_code, None)
                return
            jid = r.json()["id"]
            r = c.post(f"/api/jobs/{jid}/separate", json={"method": "adress"}, headers=H)
            results[k] = ("separate", r.status_code, jid)

    def probe():
        with httpx.Client(base_url=url, timeout=5) as c:
            while not finished.is_set() and time.monotonic() < t_end:
                t0 = time.monotonic()
                status = c.get("/").status_code
                latencies.append((time.monotonic() - t0, status))
                time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, t_end - time.monotonic()))
        assert all(r is not None for r in results), results
        accepted = [jid for step, status, jid in results if step == "separate" and status == 202]
        refused = [(step, status) for step, status, _ in results if not (step == "separate" and status == 202)]
        assert accepted and refused, results
        assert all(status == 503 for _, status in refused), refused
        states = {}
        with httpx.Client(base_url=url, timeout=10) as c:
            while len(states) < len(accepted) and time.monotonic() < t_end:
                for jid in accepted:
                    if jid not in states:
                        r = c.get(f"/api/jobs/{jid}")
                        assert r.status_code == 200, r.text
                        if r.json()["state"] in ("done", "failed"):
                            states[jid] = r.json()["state"]
                time.sleep(0.1)
        assert set(states.values()) == {"done"} and len(states) == len(accepted), states
        finished.set()
        prober.join()
        worst = max(t for t, _ in latencies)
        print(f"{len(accepted)} accepted, {len(refused)} refused with 503; page answered in "
              f"{worst * 1000:.0f} ms at worst over {len(latencies)} requests")
        assert {status for _, status in latencies} == {200}
        assert worst < 1.0
        # nothing left after the retention time
        while any(tmp_path.iterdir()) and time.monotonic() < t_end:
            time.sleep(0.1)
        assert not any(tmp_path.iterdir())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        finished.set()
        prober.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
