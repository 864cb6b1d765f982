"""End to end in headless Chromium: upload, separate, move controls, and check that the page's
own Web Audio mix and the server's download both equal ``shotoku remix`` with the same mix.

Uses Debian's chromium (/usr/bin/chromium) driven by Playwright; nothing downloads a browser.
Set SHOTOKU_SCREENSHOT=PATH to save a screenshot of the console (docs/img/console.png).
"""

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
import fastapi  # noqa: F401  (the web extra, installed by make test)
import uvicorn  # noqa: F401
from playwright import sync_api
assert os.path.exists(CHROMIUM), "Debian's chromium is missing: make test installs it (apt-get install chromium)"

from shotoku import remix  # noqa: E402
from shotoku.cli import main  # noqa: E402
from shotoku.datasets.scenes import make_scene  # noqa: E402
from shotoku.io import load, save  # noqa: E402
from shotoku.outputs import load_images  # noqa: E402
from shotoku.web.app import create_app, start_in_thread  # noqa: E402
from shotoku.web.jobs import JobStore, Limits  # noqa: E402

RATE = 16000
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def song(seconds=3.0, seed=7):
    """Three panned parts: a chord of tones, a noise hi-hat pattern and a bass line."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * seconds)) / RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (440.0, 554.4, 659.3)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    hats = rng.standard_normal(t.size) * (np.mod(t, 0.25) < 0.05)
    bass = np.sign(np.sin(2 * np.pi * 55.0 * t)) * 0.5
    mixture, _ = make_scene(np.stack([chord, hats, bass]), [-30, 5, 35])
    return mixture * np.float32(0.5)  # room for +6 dB


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    store = JobStore(root, Limits(workers=1, queue=2, timeout_s=120))
    running = start_in_thread(create_app(store))
    yield running.url, store
    running.stop()
    store.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


def test_console_mix_equals_shotoku_remix(server, browser, tmp_path):
    url, store = server
    mixture = song()
    save(tmp_path / "song.wav", mixture, RATE)
    page = browser.new_page(viewport={"width": 1200, "height": 860}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.set_input_files("#file", str(tmp_path / "song.wav"))
    page.wait_for_selector("#setup:not([hidden])", timeout=30000)
    page.select_option("#method", "adress")
    page.click("#separate")
    page.wait_for_function("() => window.shotokuConsole.ready", timeout=90000)
    job = page.evaluate("window.shotokuConsole.job()")
    strips = page.locator("#strips .strip")
    assert strips.count() == 1 + len(page.evaluate("window.shotokuConsole.matrices()"))

    # a fader up 6 dB and a pan 10 degrees to the left, with the keyboard on the controls
    first, second = strips.nth(1), strips.nth(2)
    first.locator(".gain").focus()
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    second.locator(".pan").focus()
    start = float(second.locator(".pan").input_value())
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    mix = page.evaluate("window.shotokuConsole.getMix()")
    names = list(mix["sources"])
    assert mix["sources"][names[0]]["gain_db"] == 6.0
    assert mix["sources"][names[1]]["pan"] == start - 10
    # shortcuts: 3 mutes the third source, ctrl+z takes it back; space plays and pauses
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("3")
    assert page.evaluate("window.shotokuConsole.getMix()")["sources"].get(names[0])  # unchanged
    third = [n for n in page.evaluate("window.shotokuConsole.getMix()")["sources"] if n not in names]
    assert third and page.evaluate("window.shotokuConsole.getMix()")["sources"][third[0]]["mute"]
    page.keyboard.press("Control+z")
    assert page.evaluate("window.shotokuConsole.getMix()") == mix
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    page.keyboard.press("Space")
    assert "mix=" in page.url

    # the page's own remix, rendered offline by the same graph
    out = page.evaluate("window.shotokuConsole.renderOffline()")
    browser_mix = np.stack([np.frombuffer(base64.b64decode(c), dtype="<f4") for c in out["channels"]])
    assert out["rate"] == RATE and browser_mix.shape == mixture.shape

    # the server's remix, downloaded
    with page.expect_download() as info:
        page.click("#download")
    server_file = tmp_path / "server.wav"
    info.value.save_as(server_file)
    server_mix, rate = load(server_file)

    # shotoku remix with the same mix JSON on the job's stems
    (tmp_path / "mix.json").write_text(json.dumps(mix))
    stems = Path(store.root) / job["id"] / "stems"
    assert main(["remix", str(stems), "-o", str(tmp_path / "cli.wav"), "--mix", str(tmp_path / "mix.json")]) == 0
    cli_mix, _ = load(tmp_path / "cli.wav")
    assert rate == RATE
    print(f"relative error to shotoku remix: server {rel(server_mix, cli_mix):.1e}, "
          f"browser {rel(browser_mix, cli_mix):.1e}")
    assert rel(server_mix, cli_mix) <= 1e-6
    assert rel(browser_mix, cli_mix) <= 1e-4, rel(browser_mix, cli_mix)

    # every other control through the page's own model: width, solo, master, a second pan
    richer = {"version": 1, "master_gain_db": -3.5, "sources": {
        names[0]: {"gain_db": 2.0, "pan": 40.0, "width": 0.4, "solo": True},
        names[1]: {"width": 1.8, "solo": True, "pan": None}, third[0]: {"gain_db": 12.0}}}
    page.evaluate("(doc) => window.shotokuConsole.setMix(doc)", richer)
    out = page.evaluate("window.shotokuConsole.renderOffline()")
    browser_mix = np.stack([np.frombuffer(base64.b64decode(c), dtype="<f4") for c in out["channels"]])
    images, _ = load_images(stems)
    assert rel(browser_mix, remix.render(images, remix.Mix.from_dict(richer))) <= 1e-4
    assert not errors, errors
    shot = os.environ.get("SHOTOKU_SCREENSHOT")
    if shot:
        page.evaluate("(doc) => window.shotokuConsole.setMix(doc)", mix)
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.screenshot(path=shot, full_page=True)
    page.close()
