// shotoku mixing console: upload, separation progress, and a live mix of the stems.
//
// The remix arithmetic mirrors shotoku/remix.py exactly (mixMatrices below): every source gets a
// real 2x2 matrix A_j = master * g_j * W(width) * P(pan), built in Web Audio as a channel splitter,
// four gain nodes and a channel merger, so what plays here is what `shotoku remix` writes.
"use strict";

// ---------------------------------------------------------------------------------------------
// The remix model (mirror of shotoku.remix; keep the two identical)
// ---------------------------------------------------------------------------------------------
const MIX_VERSION = 1;
const MAX_PAN_BOOST = 4.0;

function unity() {
  return { gain_db: 0, pan: null, width: 1, mute: false, solo: false };
}

function settingsOf(mix, name) {
  return Object.assign(unity(), mix.sources[name] || {});
}

function dbToGain(db) {
  return Math.pow(10, db / 20);
}

// shotoku.panning.pan_gains: constant power, -45 hard left ... +45 hard right
function panGains(angle) {
  const a = Math.min(45, Math.max(-45, angle));
  const phi = ((a + 45) * Math.PI) / 180;
  let left = Math.cos(phi), right = Math.sin(phi);
  if (a <= -45) right = 0;
  if (a >= 45) left = 0;
  return [left, right];
}

// shotoku.panning.angle_of
function angleOf(left, right) {
  return (Math.atan2(right, left) * 180) / Math.PI - 45;
}

// shotoku.remix.position: the image's position from its channel energies
function position(st) {
  return angleOf(Math.sqrt(Math.max(st[0][0], 0)), Math.sqrt(Math.max(st[1][1], 0)));
}

// shotoku.remix.pan_matrix: P = c u' u^T, c keeps the energy (capped at MAX_PAN_BOOST)
function panMatrix(st, angle) {
  const u = panGains(position(st)), v = panGains(angle);
  const energy = st[0][0] + st[1][1];
  const folded = u[0] * (st[0][0] * u[0] + st[0][1] * u[1]) + u[1] * (st[1][0] * u[0] + st[1][1] * u[1]);
  let c = 1.0;
  if (energy > 0) c = folded * MAX_PAN_BOOST * MAX_PAN_BOOST > energy ? Math.sqrt(energy / folded) : MAX_PAN_BOOST;
  return [[c * v[0] * u[0], c * v[0] * u[1]], [c * v[1] * u[0], c * v[1] * u[1]]];
}

// shotoku.remix.width_matrix: the side (L-R)/2 scaled by w, the mid kept
function widthMatrix(w) {
  return [[0.5 * (1 + w), 0.5 * (1 - w)], [0.5 * (1 - w), 0.5 * (1 + w)]];
}

function matmul(a, b) {
  return a.map((row) => b[0].map((_, k) => row.reduce((s, x, i) => s + x * b[i][k], 0)));
}

function identity(c) {
  return Array.from({ length: c }, (_, i) => Array.from({ length: c }, (_, k) => (i === k ? 1 : 0)));
}

// shotoku.remix.matrices: [{name, stats}] -> one C x C matrix per source, master gain included
function mixMatrices(mix, sources) {
  const anySolo = sources.some((s) => settingsOf(mix, s.name).solo);
  const master = dbToGain(mix.master_gain_db);
  return sources.map((s) => {
    const set = settingsOf(mix, s.name);
    const c = s.stats.length;
    const g = set.mute || (anySolo && !set.solo) ? 0 : dbToGain(set.gain_db);
    let a = identity(c);
    if (c === 2 && (set.pan !== null || set.width !== 1)) {
      if (set.pan !== null) a = panMatrix(s.stats, set.pan);
      a = matmul(widthMatrix(set.width), a);
    }
    return a.map((row) => row.map((x) => master * g * x));
  });
}

// ---------------------------------------------------------------------------------------------
// The Web Audio graph (the same for playback and for an offline render)
// ---------------------------------------------------------------------------------------------
function buildGraph(ctx, buffers, mixtureBuffer, matrices) {
  const graph = { remixBus: ctx.createGain(), origBus: ctx.createGain(), inputs: [], gains: [] };
  graph.remixBus.connect(ctx.destination);
  graph.origBus.connect(ctx.destination);
  buffers.forEach((buf, j) => {
    const c = buf.numberOfChannels;
    const split = ctx.createChannelSplitter(c);
    const merge = ctx.createChannelMerger(c);
    const gains = [];
    for (let i = 0; i < c; i++) {
      gains.push([]);
      for (let k = 0; k < c; k++) {
        const g = ctx.createGain();
        g.gain.value = matrices[j][i][k];
        split.connect(g, k);
        g.connect(merge, 0, i);
        gains[i].push(g);
      }
    }
    merge.connect(graph.remixBus);
    graph.inputs.push(split);
    graph.gains.push(gains);
  });
  graph.mixtureInput = graph.origBus;
  graph.start = (when, offset, loop) => {
    const nodes = [];
    const play = (buf, dest) => {
      const n = ctx.createBufferSource();
      n.buffer = buf;
      if (loop) {
        n.loop = true;
        n.loopStart = loop[0];
        n.loopEnd = loop[1];
      }
      n.connect(dest);
      n.start(when, offset);
      nodes.push(n);
    };
    buffers.forEach((buf, j) => play(buf, graph.inputs[j]));
    if (mixtureBuffer) play(mixtureBuffer, graph.origBus);
    return nodes;
  };
  return graph;
}

// ---------------------------------------------------------------------------------------------
// Page state
// ---------------------------------------------------------------------------------------------
const HEADERS = { "X-Shotoku": "1" };
const $ = (id) => document.getElementById(id);
const S = {
  job: null, doc: null, buffers: [], mixtureBuffer: null, ctx: null, graph: null, nodes: [],
  mix: { version: MIX_VERSION, sources: {}, master_gain_db: 0 },
  playing: false, startedAt: 0, offset: 0, loop: false, loopStart: 0, loopEnd: 0, ab: "remix",
  undo: [], gesture: false, strips: [], urlMix: null, ready: false, poll: null, waveScale: 1,
};

function setStatus(text, error) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", !!error);
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  if (opts.method && opts.method !== "GET") opts.headers = Object.assign({}, HEADERS, opts.headers || {});
  const r = await fetch(path, opts);
  if (!r.ok) {
    let message = r.status + " " + r.statusText;
    try { message = (await r.json()).error || message; } catch (e) { /* not JSON */ }
    const err = new Error(message);
    err.status = r.status;
    throw err;
  }
  return r;
}

function fmtTime(t) {
  const m = Math.floor(t / 60), s = t - 60 * m;
  return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
}

function fmtPan(a) {
  const r = Math.round(a);
  return r === 0 ? "C" : r < 0 ? "L" + -r + "°" : "R" + r + "°";
}

function b64urlEncode(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function b64urlDecode(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

function hashParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

// ---------------------------------------------------------------------------------------------
// Upload and separation
// ---------------------------------------------------------------------------------------------
async function upload(file) {
  if (S.job) {
    api("/api/jobs/" + S.job.id, { method: "DELETE" }).catch(() => {});
    closeConsole();
  }
  $("setup").hidden = true;
  $("busy").hidden = false;
  setStatus("uploading " + file.name + " ...");
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const job = await (await api("/api/jobs", { method: "POST", body: form })).json();
    S.job = job;
    showSetup(job);
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    $("busy").hidden = true;
  }
}

function showSetup(job) {
  $("song").textContent = job.name;
  const sel = $("method");
  sel.replaceChildren();
  job.methods.forEach((m) => {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = m.name;
    o.title = m.description;
    if (m.name === job.default_method) o.selected = true;
    sel.appendChild(o);
  });
  showMethodDoc();
  $("setup").hidden = false;
  $("separate").disabled = false;
  setStatus(job.channels + " channel(s), " + job.rate + " Hz, " + job.seconds.toFixed(1) + " s: pick a method");
  location.hash = "job=" + job.id;
}

function showMethodDoc() {
  const m = S.job && S.job.methods.find((x) => x.name === $("method").value);
  $("method-doc").textContent = m ? m.description : "";
}

async function separate() {
  $("separate").disabled = true;
  try {
    await api("/api/jobs/" + S.job.id + "/separate", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ method: $("method").value }),
    });
    $("busy").hidden = false;
    follow();
  } catch (e) {
    setStatus(e.message, true);
    $("separate").disabled = false;
  }
}

function follow() {
  clearTimeout(S.poll);
  const tick = async () => {
    let job;
    try {
      job = await (await api("/api/jobs/" + S.job.id)).json();
    } catch (e) {
      setStatus(e.message, true);
      $("busy").hidden = true;
      return;
    }
    S.job = job;
    if (job.state === "queued") {
      setStatus("queued" + (job.queue_position ? " (" + job.queue_position + " ahead)" : "") + " ...");
    } else if (job.state === "running") {
      setStatus("separating with " + job.method + " ... " + (job.elapsed || 0).toFixed(1) + " s");
    } else if (job.state === "done") {
      $("busy").hidden = true;
      setStatus("separated with " + job.method + " in " + (job.elapsed || 0).toFixed(1) + " s; loading the stems ...");
      openConsole().catch((e) => setStatus(e.message, true));
      return;
    } else if (job.state === "failed") {
      $("busy").hidden = true;
      $("separate").disabled = false;
      setStatus(job.error || "the separation failed", true);
      return;
    }
    S.poll = setTimeout(tick, 400);
  };
  tick();
}

// ---------------------------------------------------------------------------------------------
// The console
// ---------------------------------------------------------------------------------------------
function storageKey() {
  return "shotoku-mix:" + S.job.sha256 + ":" + S.job.method;
}

function cleanMix(doc) {
  // keep only the sources of this separation, with every setting present
  const mix = { version: MIX_VERSION, sources: {}, master_gain_db: 0 };
  if (!doc || doc.version !== MIX_VERSION) return mix;
  if (typeof doc.master_gain_db === "number") mix.master_gain_db = doc.master_gain_db;
  S.doc.sources.forEach((s) => {
    if (doc.sources && doc.sources[s.name]) mix.sources[s.name] = settingsOf(doc, s.name);
  });
  return mix;
}

async function fetchBuffer(key) {
  const data = await (await api("/api/jobs/" + S.job.id + "/audio/" + key)).arrayBuffer();
  return S.ctx.decodeAudioData(data);
}

async function openConsole() {
  S.doc = await (await api("/api/jobs/" + S.job.id + "/console")).json();
  if (S.ctx && S.ctx.sampleRate !== S.doc.rate) {  // decoding must not resample: one context per rate
    S.ctx.close();
    S.ctx = null;
  }
  if (!S.ctx) S.ctx = new AudioContext({ sampleRate: S.doc.rate, latencyHint: "playback" });
  const keys = S.doc.sources.map((s) => String(s.index));
  const decoded = await Promise.all(["mixture"].concat(keys).map(fetchBuffer));
  S.mixtureBuffer = decoded[0];
  S.buffers = decoded.slice(1);
  S.loopStart = 0;
  S.loopEnd = S.mixtureBuffer.duration;
  let initial = null;
  try {
    if (S.urlMix) initial = S.urlMix;
    else initial = JSON.parse(localStorage.getItem(storageKey()) || "null");
  } catch (e) { initial = null; }
  S.urlMix = null;
  S.mix = cleanMix(initial);
  S.undo = [];
  S.graph = buildGraph(S.ctx, S.buffers, S.mixtureBuffer, mixMatrices(S.mix, S.doc.sources));
  buildStrips();
  applyMix(false);
  $("console").hidden = false;
  setStatus("separated with " + S.job.method + ": " + S.doc.sources.length + " sources");
  S.ready = true;
  requestAnimationFrame(frame);
}

function closeConsole() {
  stop();
  S.ready = false;
  $("console").hidden = true;
  $("strips").replaceChildren();
  S.strips = [];
}

function makeStrip(k, name, peaks, isMixture) {
  const el = $("strip-template").content.firstElementChild.cloneNode(true);
  el.querySelector(".num").textContent = isMixture ? "" : String(k + 1);
  el.querySelector(".name").textContent = name;
  const get = el.querySelector(".get");
  get.href = "/api/jobs/" + S.job.id + "/audio/" + (isMixture ? "mixture" : k) + "?download=1";
  get.setAttribute("download", "");
  const canvas = el.querySelector(".wave");
  canvas.addEventListener("click", (e) => {
    const r = canvas.getBoundingClientRect();
    seek(((e.clientX - r.left) / r.width) * S.mixtureBuffer.duration);
  });
  const strip = { el, name, peaks, canvas, isMixture, index: k };
  if (isMixture) {
    el.classList.add("mixture");
    el.querySelector(".controls").hidden = true;
    el.querySelector(".mute").hidden = true;
    const solo = el.querySelector(".solo");
    solo.textContent = "A/B";
    solo.title = "listen to the original (a)";
    solo.addEventListener("click", toggleAB);
    strip.abButton = solo;
    return strip;
  }
  const src = S.doc.sources[k];
  strip.stats = src.stats;
  strip.stereo = src.stats.length === 2;
  strip.measured = strip.stereo ? position(src.stats) : 0;
  const ctl = (cls, key, parse, reset) => {
    const input = el.querySelector("." + cls);
    input.addEventListener("input", () => { change(name, key, parse(input.value)); });
    input.addEventListener("change", () => { S.gesture = false; });
    input.addEventListener("dblclick", () => { S.gesture = false; change(name, key, reset); S.gesture = false; });
    return input;
  };
  strip.gain = ctl("gain", "gain_db", parseFloat, 0);
  strip.pan = ctl("pan", "pan", parseFloat, null);
  strip.width = ctl("width", "width", parseFloat, 1);
  strip.pan.disabled = strip.width.disabled = !strip.stereo;
  strip.muteButton = el.querySelector(".mute");
  strip.soloButton = el.querySelector(".solo");
  strip.muteButton.addEventListener("click", () => toggle(k, "mute"));
  strip.soloButton.addEventListener("click", () => toggle(k, "solo"));
  return strip;
}

function buildStrips() {
  // every waveform on the scale of the mixture's peak, so that levels compare across strips
  const top = S.doc.mixture.peaks.reduce((m, p) => Math.max(m, -p[0], p[1]), 0);
  S.waveScale = top > 0 ? 1 / top : 1;
  const box = $("strips");
  box.replaceChildren();
  S.strips = [makeStrip(-1, "original mixture", S.doc.mixture.peaks, true)];
  S.doc.sources.forEach((s, k) => S.strips.push(makeStrip(k, s.name, s.peaks, false)));
  S.strips.forEach((s) => box.appendChild(s.el));
}

function snapshot() {
  S.undo.push(JSON.stringify(S.mix));
  if (S.undo.length > 200) S.undo.shift();
}

function change(name, key, value) {
  if (!S.gesture) {
    snapshot();
    S.gesture = true;
  }
  if (name === null) S.mix.master_gain_db = value;
  else S.mix.sources[name] = Object.assign(settingsOf(S.mix, name), { [key]: value });
  applyMix(true);
}

function toggle(k, key) {
  const name = S.doc.sources[k].name;
  S.gesture = false;
  change(name, key, !settingsOf(S.mix, name)[key]);
  S.gesture = false;
}

function setMix(doc, record) {
  if (record) snapshot();
  S.mix = cleanMix(doc);
  applyMix(true);
}

function preset(kind) {
  const vocals = S.doc.sources.filter((s) => /vocal/i.test(s.name));
  if (!vocals.length) {
    setStatus("no source is named 'vocals': this preset needs a model's separation", true);
    return;
  }
  const mix = JSON.parse(JSON.stringify(S.mix));
  vocals.forEach((s) => {
    const set = settingsOf(mix, s.name);
    if (kind === "karaoke") set.mute = true;
    else set.gain_db = Math.min(24, set.gain_db + 6);
    mix.sources[s.name] = set;
  });
  setMix(mix, true);
}

let saveTimer = null;
function applyMix(persist) {
  const mats = mixMatrices(S.mix, S.doc.sources);
  const t = S.ctx.currentTime;
  S.graph.gains.forEach((gains, j) => gains.forEach((row, i) => row.forEach((g, k) => {
    g.gain.cancelScheduledValues(t);
    g.gain.setTargetAtTime(mats[j][i][k], t, 0.008);
  })));
  const anySolo = S.doc.sources.some((s) => settingsOf(S.mix, s.name).solo);
  S.strips.forEach((st) => {
    if (st.isMixture) return;
    const set = settingsOf(S.mix, st.name);
    st.gain.value = set.gain_db;
    st.el.querySelector(".gain-value").textContent = (set.gain_db > 0 ? "+" : "") + set.gain_db.toFixed(1) + " dB";
    st.pan.value = set.pan === null ? Math.round(st.measured) : set.pan;
    st.el.querySelector(".pan-value").textContent = st.stereo
      ? (set.pan === null ? "as is " + fmtPan(st.measured) : fmtPan(set.pan)) : "mono";
    st.width.value = set.width;
    st.el.querySelector(".width-value").textContent = Math.round(set.width * 100) + "%";
    st.muteButton.classList.toggle("on", set.mute);
    st.soloButton.classList.toggle("on", set.solo);
    st.silent = set.mute || (anySolo && !set.solo);
    st.el.classList.toggle("silent", st.silent);
  });
  $("master").value = S.mix.master_gain_db;
  $("master-value").textContent = (S.mix.master_gain_db > 0 ? "+" : "") + S.mix.master_gain_db.toFixed(1) + " dB";
  $("undo").disabled = S.undo.length === 0;
  drawAll();
  if (persist) {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(persistMix, 250);
  }
}

function persistMix() {
  const text = JSON.stringify(S.mix);
  try { localStorage.setItem(storageKey(), text); } catch (e) { /* storage full or off */ }
  history.replaceState(null, "", "#job=" + S.job.id + "&mix=" + b64urlEncode(text));
}

function undo() {
  if (!S.undo.length) return;
  S.mix = JSON.parse(S.undo.pop());
  S.gesture = false;
  applyMix(true);
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------
function now() {
  if (!S.playing) return S.offset;
  let p = S.offset + (S.ctx.currentTime - S.startedAt);
  if (S.loop && p >= S.loopEnd && S.loopEnd > S.loopStart) p = S.loopStart + ((p - S.loopEnd) % (S.loopEnd - S.loopStart));
  return p;
}

function play() {
  if (!S.ready || S.playing) return;
  S.ctx.resume();
  const duration = S.mixtureBuffer.duration;
  if (S.offset >= duration) S.offset = 0;
  if (S.loop && (S.offset < S.loopStart || S.offset >= S.loopEnd)) S.offset = S.loopStart;
  const when = S.ctx.currentTime + 0.05;  // one shared start time for every stem
  S.nodes = S.graph.start(when, S.offset, S.loop ? [S.loopStart, S.loopEnd] : null);
  S.startedAt = when;
  S.playing = true;
  S.nodes[0].onended = () => {
    if (S.playing && S.nodes.length && !S.loop) {
      S.playing = false;
      S.offset = duration;
      S.nodes = [];
      $("play").textContent = "▶";
    }
  };
  $("play").textContent = "❚❚";
}

function stop() {
  if (!S.playing) return;
  S.offset = Math.max(0, now());
  S.playing = false;
  const nodes = S.nodes;
  S.nodes = [];
  nodes.forEach((n) => { n.onended = null; try { n.stop(); } catch (e) { /* not started */ } });
  $("play").textContent = "▶";
}

function togglePlay() {
  if (S.playing) stop(); else play();
}

function seek(t) {
  const was = S.playing;
  stop();
  S.offset = Math.min(Math.max(0, t), S.mixtureBuffer.duration);
  if (was) play();
  drawAll();
}

function setLoop(on) {
  const p = now();
  const was = S.playing;
  stop();
  S.loop = on;
  $("loop").checked = on;
  S.offset = p;
  if (was) play();
  showLoop();
}

function setLoopMark(which) {
  const p = now();
  if (which === "start") S.loopStart = Math.min(p, S.loopEnd - 0.05);
  else S.loopEnd = Math.max(p, S.loopStart + 0.05);
  if (S.loop) setLoop(true);
  showLoop();
}

function showLoop() {
  $("loop-range").textContent = fmtTime(S.loopStart) + " – " + fmtTime(S.loopEnd);
}

function toggleAB() {
  S.ab = S.ab === "remix" ? "original" : "remix";
  const t = S.ctx.currentTime;
  S.graph.remixBus.gain.setTargetAtTime(S.ab === "remix" ? 1 : 0, t, 0.008);
  S.graph.origBus.gain.setTargetAtTime(S.ab === "remix" ? 0 : 1, t, 0.008);
  $("ab").textContent = S.ab === "remix" ? "remix" : "original";
  $("ab").classList.toggle("original", S.ab !== "remix");
  if (S.strips[0]) S.strips[0].abButton.classList.toggle("on", S.ab !== "remix");
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------
function drawStrip(st, playhead) {
  const c = st.canvas, g = c.getContext("2d");
  const w = c.width, h = c.height, n = st.peaks.length;
  g.clearRect(0, 0, w, h);
  const css = getComputedStyle(document.documentElement);
  if (S.loop) {
    g.fillStyle = "rgba(79,179,255,0.10)";
    const d = S.mixtureBuffer.duration;
    g.fillRect((S.loopStart / d) * w, 0, ((S.loopEnd - S.loopStart) / d) * w, h);
  }
  g.strokeStyle = st.isMixture ? css.getPropertyValue("--orig") : st.silent ? "#56606e" : css.getPropertyValue("--wave");
  g.beginPath();
  for (let x = 0; x < w; x++) {
    const p = st.peaks[Math.min(n - 1, Math.floor((x * n) / w))];
    const y0 = h / 2 - Math.min(1, Math.max(-1, p[1] * S.waveScale)) * (h / 2 - 1);
    const y1 = h / 2 - Math.min(1, Math.max(-1, p[0] * S.waveScale)) * (h / 2 - 1);
    g.moveTo(x + 0.5, y0);
    g.lineTo(x + 0.5, Math.max(y1, y0 + 1));
  }
  g.stroke();
  const px = (playhead / S.mixtureBuffer.duration) * w;
  g.fillStyle = "#ff6b5a";
  g.fillRect(Math.round(px), 0, 2, h);
}

function drawAll() {
  if (!S.mixtureBuffer) return;
  const p = now();
  S.strips.forEach((st) => drawStrip(st, p));
  $("seek").value = p / S.mixtureBuffer.duration;
  $("time").textContent = fmtTime(p) + " / " + fmtTime(S.mixtureBuffer.duration);
}

function frame() {
  if (!S.ready) return;
  if (S.playing) drawAll();
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------------------------------------
// Downloads, sharing, keyboard
// ---------------------------------------------------------------------------------------------
async function downloadRemix() {
  $("download").disabled = true;
  try {
    const r = await api("/api/jobs/" + S.job.id + "/remix", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(S.mix),
    });
    const warning = r.headers.get("X-Shotoku-Warning");
    const blob = await r.blob();
    const m = /filename="?([^";]+)"?/.exec(r.headers.get("Content-Disposition") || "");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = m ? m[1] : "remix.wav";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    setStatus(warning ? "remix downloaded; " + warning : "remix downloaded (rendered on the server by shotoku remix's code)", !!warning);
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    $("download").disabled = false;
  }
}

async function share() {
  persistMix();
  try {
    await navigator.clipboard.writeText(location.href);
    setStatus("link with this mix copied");
  } catch (e) {
    setStatus("link with this mix: " + location.href);
  }
}

function onKey(e) {
  if (!S.ready) return;
  const t = e.target;
  if (t && (t.tagName === "SELECT" || (t.tagName === "INPUT" && t.type !== "range" && t.type !== "checkbox"))) return;
  if (e.code === "Space") {
    e.preventDefault();
    if (document.activeElement && document.activeElement.tagName === "BUTTON") document.activeElement.blur();
    togglePlay();
  } else if (/^Digit[1-9]$/.test(e.code) && !e.ctrlKey && !e.metaKey && !e.altKey) {
    const k = Number(e.code.slice(5)) - 1;
    if (k < S.doc.sources.length) {
      e.preventDefault();
      toggle(k, e.shiftKey ? "solo" : "mute");
    }
  } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
    e.preventDefault();
    undo();
  } else if (e.key === "a" && !e.ctrlKey && !e.metaKey) {
    toggleAB();
  } else if (e.key === "[") {
    setLoopMark("start");
  } else if (e.key === "]") {
    setLoopMark("end");
  }
}

// Renders the current mix with the same graph in an OfflineAudioContext: the page's own remix,
// as float32 samples (base64 of each channel), for checks against `shotoku remix`.
async function renderOffline() {
  const c = Math.max.apply(null, S.buffers.map((b) => b.numberOfChannels));
  const n = S.mixtureBuffer.length;
  const off = new OfflineAudioContext(c, n, S.mixtureBuffer.sampleRate);
  const graph = buildGraph(off, S.buffers, null, mixMatrices(S.mix, S.doc.sources));
  graph.start(0, 0, null);
  const out = await off.startRendering();
  const channels = [];
  for (let i = 0; i < out.numberOfChannels; i++) {
    const bytes = new Uint8Array(out.getChannelData(i).buffer);
    let bin = "";
    for (let k = 0; k < bytes.length; k += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(k, k + 0x8000));
    channels.push(btoa(bin));
  }
  return { rate: out.sampleRate, samples: out.length, channels };
}

async function resume() {
  // a link with #job=...&mix=...: reopen that job if the server still has it
  const params = hashParams();
  if (params.get("mix")) {
    try { S.urlMix = JSON.parse(b64urlDecode(params.get("mix"))); } catch (e) { S.urlMix = null; }
  }
  const id = params.get("job");
  if (!id || !/^[0-9a-f]{32}$/.test(id)) return;
  try {
    S.job = await (await api("/api/jobs/" + id)).json();
  } catch (e) {
    setStatus("that job is no longer on the server; drop the recording again" + (S.urlMix ? " (the shared mix will be applied)" : ""));
    S.job = null;
    return;
  }
  showSetup(S.job);
  if (S.job.state === "done") openConsole().catch((e) => setStatus(e.message, true));
  else if (S.job.state === "queued" || S.job.state === "running") follow();
}

function init() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter") $("file").click(); });
  $("file").addEventListener("change", () => { if ($("file").files.length) upload($("file").files[0]); });
  $("method").addEventListener("change", showMethodDoc);
  $("separate").addEventListener("click", separate);
  $("play").addEventListener("click", togglePlay);
  $("seek").addEventListener("input", () => seek(parseFloat($("seek").value) * S.mixtureBuffer.duration));
  $("loop").addEventListener("change", () => setLoop($("loop").checked));
  $("ab").addEventListener("click", toggleAB);
  $("undo").addEventListener("click", undo);
  $("reset").addEventListener("click", () => setMix({ version: MIX_VERSION, sources: {}, master_gain_db: 0 }, true));
  $("karaoke").addEventListener("click", () => preset("karaoke"));
  $("vocals-up").addEventListener("click", () => preset("vocals-up"));
  $("share").addEventListener("click", share);
  $("download").addEventListener("click", downloadRemix);
  const master = $("master");
  master.addEventListener("input", () => change(null, null, parseFloat(master.value)));
  master.addEventListener("change", () => { S.gesture = false; });
  master.addEventListener("dblclick", () => { S.gesture = false; change(null, null, 0); S.gesture = false; });
  document.addEventListener("keydown", onKey);
  api("/api/limits").then((r) => r.json()).then((lim) => {
    $("limits").textContent = "up to " + Math.round(lim.max_upload_bytes / 1048576) + " MiB and "
      + Math.round(lim.max_seconds / 60) + " minutes; jobs are kept " + Math.round(lim.retention_s / 60) + " min";
  }).catch(() => {});
  resume();
}

window.shotokuConsole = {
  get ready() { return S.ready; },
  getMix: () => JSON.parse(JSON.stringify(S.mix)),
  setMix: (doc) => setMix(doc, true),
  job: () => S.job,
  matrices: () => mixMatrices(S.mix, S.doc.sources),
  renderOffline,
};

init();
