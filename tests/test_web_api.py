"""The console server's API (shotoku.web.app) through FastAPI's TestClient."""

import io
import time

import numpy as np
import pytest

import fastapi  # noqa: F401  (the web extra, installed by make test)
import httpx  # noqa: F401
import soundfile

from fastapi.testclient import TestClient  # noqa: E402

from shotoku import remix  # noqa: E402
from shotoku.datasets.scenes import make_scene  # noqa: E402
from shotoku.outputs import load_images  # noqa: E402
from shotoku.web.app import create_app  # noqa: E402
from shotoku.web.jobs import JobStore, Limits  # noqa: E402

RATE = 8000
H = {"X-Shotoku": "1"}
BASE = "http://127.0.0.1"


def wav_bytes(seconds=1.0, seed=0, fmt="WAV"):
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * seconds)) / RATE
    # three objects apart in frequency (as music is sparse), so the pan histogram shows all three
    tones = np.stack([np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (220.0, 660.0, 1500.0)])
    mixture, _ = make_scene(tones, [-30, 0, 30])
    buf = io.BytesIO()
    soundfile.write(buf, mixture.T, RATE, format=fmt, subtype="FLOAT" if fmt == "WAV" else None)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    store = JobStore(root, Limits(max_upload_bytes=256 * 1024, workers=1, queue=1, max_jobs=6,
                                  timeout_s=120, retention_s=600))
    with TestClient(create_app(store), base_url=BASE) as client:
        yield client, store
    store.close()


def upload(client, data=None, name="song.wav", headers=H):
    return client.post("/api/jobs", files={"file": (name, wav_bytes() if data is None else data, "audio/wav")},
                       headers=headers)


def wait(client, job_id, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("job did not finish")


@pytest.fixture(scope="module")
def done_job(server):
    client, store = server
    r = upload(client)
    assert r.status_code == 201, r.text
    job = r.json()
    r = client.post(f"/api/jobs/{job['id']}/separate", json={"method": "adress"}, headers=H)
    assert r.status_code == 202, r.text
    job = wait(client, job["id"])
    assert job["state"] == "done", job["error"]
    return job


def test_page_and_security_headers(server):
    client, _ = server
    r = client.get("/")
    assert r.status_code == 200 and "console.js" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/console.js").status_code == 200
    assert client.get("/api/limits").json()["max_upload_bytes"] == 256 * 1024


def test_upload_describes_the_job(server):
    client, store = server
    r = upload(client)
    assert r.status_code == 201
    job = r.json()
    assert len(job["id"]) == 32 and job["state"] == "uploaded"
    assert job["channels"] == 2 and job["rate"] == RATE and job["samples"] == RATE
    names = [m["name"] for m in job["methods"]]
    assert "adress" in names and job["default_method"] == "adress"
    assert not {"oracle-irm", "oracle-wiener", "model"} & set(names)  # references / checkpoint needed
    assert sorted(p.name for p in (store.root / job["id"]).iterdir()) == ["mixture.wav"]
    assert client.delete(f"/api/jobs/{job['id']}", headers=H).status_code == 204


def test_separation_console_audio_and_remix(server, done_job):
    client, store = server
    jid = done_job["id"]
    doc = client.get(f"/api/jobs/{jid}/console").json()
    names = [s["name"] for s in doc["sources"]]
    assert len(names) >= 2 and doc["rate"] == RATE
    assert len(doc["mixture"]["peaks"]) == 1000 and len(doc["sources"][0]["stats"]) == 2
    r = client.get(f"/api/jobs/{jid}/audio/0?download=1")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    assert client.get(f"/api/jobs/{jid}/audio/mixture").status_code == 200
    assert client.get(f"/api/jobs/{jid}/audio/{len(names)}").status_code == 404
    images, _ = load_images(store.root / jid / "stems")
    mix = remix.Mix().with_source(names[0], gain_db=6.0).with_source(names[-1], pan=-20.0, width=0.5)
    r = client.post(f"/api/jobs/{jid}/remix", json=mix.to_dict(), headers=H)
    assert r.status_code == 200, r.text
    got, rate = soundfile.read(io.BytesIO(r.content), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(got.T, remix.render(images, mix))
    assert not [p for p in (store.root / jid).iterdir() if p.name.startswith("remix")]  # temp file removed
    assert "x-shotoku-warning" not in r.headers
    r = client.post(f"/api/jobs/{jid}/remix", json={"version": 1, "sources": {}, "master_gain_db": 24},
                    headers=H)
    assert r.status_code == 200 and "dBTP" in r.headers["x-shotoku-warning"]
    bad = {"version": 1, "sources": {"nope": {"gain_db": 1.0}}}
    assert client.post(f"/api/jobs/{jid}/remix", json=bad, headers=H).status_code == 422
    assert client.post(f"/api/jobs/{jid}/separate", json={"method": "adress"}, headers=H).status_code == 409


def test_413_by_content_length_and_by_counting(server):
    client, store = server
    before = set(store.root.iterdir())
    big = b"\0" * (400 * 1024)
    r = upload(client, big)
    assert r.status_code == 413
    r = client.post("/api/jobs", content=iter([b"x" * 65536] * 8),
                    headers={**H, "Content-Type": "multipart/form-data; boundary=b"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413
    assert set(store.root.iterdir()) == before


def test_415_for_what_does_not_decode(server):
    client, store = server
    before = set(store.root.iterdir())
    for data in (b"RIFF....WAVEfmt not really a wave file" * 10, b"<html>hello</html>"):
        r = upload(client, data, name="song.wav")
        assert r.status_code == 415, r.text
    assert set(store.root.iterdir()) == before
    assert client.post("/api/jobs", data={"x": "1"}, headers=H).status_code == 400


def test_flac_upload_is_decoded(server):
    client, _ = server
    r = upload(client, wav_bytes(fmt="FLAC"), name="song.mp3")  # the extension is not trusted
    assert r.status_code == 201 and r.json()["channels"] == 2
    client.delete(f"/api/jobs/{r.json()['id']}", headers=H)


def test_hostile_file_name(server):
    client, store = server
    before = set(store.root.parent.rglob("*"))
    r = upload(client, name="../../../evil\n<script>.wav")
    assert r.status_code == 201
    job = r.json()
    assert "/" not in job["name"] and "\n" not in job["name"]
    new = set(store.root.parent.rglob("*")) - before
    assert new == {store.root / job["id"], store.root / job["id"] / "mixture.wav"}
    r = client.get(f"/api/jobs/{job['id']}/audio/mixture?download=1")
    assert r.status_code == 200 and ".." not in r.headers["content-disposition"]
    client.delete(f"/api/jobs/{job['id']}", headers=H)


@pytest.mark.parametrize("path", ["/api/jobs/abc", "/api/jobs/" + "0" * 32, "/api/jobs/%2e%2e%2f%2e%2e",
                                  "/api/jobs/" + "A" * 32 + "/console", "/api/jobs/..%2Fmixture.wav/audio/0"])
def test_bad_job_ids(server, path):
    client, _ = server
    assert client.get(path).status_code == 404


def test_state_changes_need_the_header_and_our_origin(server, done_job):
    client, store = server
    assert upload(client, headers={}).status_code == 403
    assert upload(client, headers={**H, "Origin": "http://evil.example"}).status_code == 403
    assert client.delete(f"/api/jobs/{done_job['id']}", headers={"Origin": BASE}).status_code == 403
    r = client.post(f"/api/jobs/{done_job['id']}/remix", json={"version": 1, "sources": {}},
                    headers={**H, "Origin": "null"})
    assert r.status_code == 403
    r = upload(client, headers={**H, "Origin": BASE})  # same origin: fine
    assert r.status_code == 201
    client.delete(f"/api/jobs/{r.json()['id']}", headers=H)
    assert (store.root / done_job["id"]).is_dir()


def test_dns_rebinding_host_refused(server):
    client, _ = server
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200


def test_queue_full_gets_503_and_timeout_fails_the_job(tmp_path):
    store = JobStore(tmp_path, Limits(workers=1, queue=0, max_jobs=3, timeout_s=0.01, retention_s=600))
    with TestClient(create_app(store), base_url=BASE) as client:
        a, b = (upload(client).json()["id"] for _ in range(2))
        assert client.post(f"/api/jobs/{a}/separate", json={"method": "adress"}, headers=H).status_code == 202
        r = client.post(f"/api/jobs/{b}/separate", json={"method": "adress"}, headers=H)
        assert r.status_code == 503 and r.headers["retry-after"]
        assert client.post(f"/api/jobs/{b}/separate", json={"method": "nope"}, headers=H).status_code == 422
        upload(client)
        assert upload(client).status_code == 503  # max_jobs folders alive
        job = wait(client, a)
        assert job["state"] == "failed" and "longer than" in job["error"]
    store.close()
    assert not list(tmp_path.iterdir())


def test_delete_and_retention(tmp_path):
    store = JobStore(tmp_path, Limits(retention_s=0.3))
    with TestClient(create_app(store), base_url=BASE) as client:
        a, b = (upload(client).json()["id"] for _ in range(2))
        assert client.delete(f"/api/jobs/{a}", headers=H).status_code == 204
        assert not (tmp_path / a).exists()
        assert client.get(f"/api/jobs/{a}").status_code == 404
        assert client.delete(f"/api/jobs/{a}", headers=H).status_code == 404
        assert client.get(f"/api/jobs/{b}").json()["expires_in"] <= 0.3
        t0 = time.time()
        while (tmp_path / b).exists() and time.time() - t0 < 10:
            time.sleep(0.05)
        assert not (tmp_path / b).exists()
        assert client.get(f"/api/jobs/{b}").status_code == 404
    store.close()


def test_serve_refuses_bad_options(capsys):
    from shotoku.cli import main

    assert main(["serve", "--workers", "0"]) == 2
    assert main(["serve", "--port", "70000"]) == 2
    assert main(["serve", "--retention", "-1"]) == 2
    assert "must be" in capsys.readouterr().err
