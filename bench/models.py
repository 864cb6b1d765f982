"""Speed of the neural models: inference seconds per second of stereo 44.1 kHz audio, and the
wall time of one training step.

Every architecture is built at each configuration asked for (default: ``paper`` and ``cpu``, the
one meant to be trained on a two-core CPU), untrained weights from a fixed seed (speed does not
depend on their values), for four targets (vocals, drums, bass, other), each in a fresh process
so that its peak resident memory can be reported:

- inference: a stereo 44.1 kHz noise signal (default 60 s, long enough that the chunk plan is
  that of a long input) through the one inference path
  (``shotoku.models.apply.separate_with_model``: resampling to the model's rate and back,
  chunking with context, default chunk length and batch), after a short warm-up run. Reported:
  wall-clock and CPU seconds per second of audio, and the audio the network runs over as a
  multiple of the input (``network_coverage``: 1.0 means nothing is computed twice);
- training: one optimiser step (forward, loss, backward, update) of the architecture's recipe
  in ``shotoku.training.loop.RECIPES`` (optimiser, loss, batch size; spectrogram models on
  excerpts of the recipe's frames but at most ``--train-frames``, 64 by default: MMDenseNet's
  256 would make one step of the paper configuration take minutes; waveform models on the
  recipe's excerpt, WaveNet on its ``target_field``), on random tensors; the fastest of
  ``--train-steps`` timed steps after one warm-up.

Peers: Open-Unmix (``openunmix``) and HTDemucs (``demucs``), random weights, through their own
inference code (Open-Unmix's ``Separator`` with one Wiener iteration; ``demucs.apply.apply_model``
with its default split and overlap), timed in the same way when they can be imported. Neither is
a shotoku dependency: install them without their dependencies next to the project, e.g.
``pip install --no-deps --target /tmp/peers openunmix demucs julius einops`` and run with
``PYTHONPATH=src:/tmp/peers`` (Open-Unmix's module imports torchaudio, which is replaced by an
empty module here: its torch STFT path does not use it).

Printed, and appended to the "Neural models" section of docs/benchmarks.md with the date, the
machine (lscpu model name, cores, load average at start and end) and the command.

Usage::

    PYTHONPATH=src .venv/bin/python bench/models.py                  # 4 models x paper, cpu; 60 s
    PYTHONPATH=src .venv/bin/python bench/models.py --models wavenet --configs cpu --no-record
    PYTHONPATH=src:/tmp/peers .venv/bin/python bench/models.py --peers
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from benchlog import cpu_model, record  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Neural models"
INTRO = (
    "`bench/models.py`: seconds of compute per second of stereo 44.1 kHz audio for each architecture "
    "(4 targets, untrained weights) through `shotoku.models.apply.separate_with_model` with its "
    "defaults (automatic chunk length and batch, chunks joined without overlap, resampling to the "
    "model's rate and back included), on the CPU with `torch.set_num_threads(2)`, each model in a "
    "fresh process (peak RSS is that process's), and the wall time of one training step. Lower is "
    "faster; below 1 is faster than real time. With a load average above the core count (a shared "
    "machine) wall time overstates the cost; CPU seconds per second is then the steadier figure."
)
RATE = 44100
TARGETS = ["vocals", "drums", "bass", "other"]


def _peak_rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time(fn) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - wall0, time.process_time() - cpu0


def measure(name: str, config: str, seconds: float, targets: list[str], threads: int, seed: int = 0) -> dict:
    """Time inference of one architecture/configuration on ``seconds`` of stereo noise.

    Meant to run in a fresh process, so that the peak resident memory is this model's.
    Returns a result row (parameters, chunking, coverage, wall and CPU seconds, peak RSS in MiB).
    """
    import torch

    from shotoku.models import build_model, parameter_count
    from shotoku.models.apply import auto_chunking, network_coverage, separate_with_model

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = build_model(name, targets, channels=2, config=config).eval()
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((2, int(seconds * RATE)))).astype(np.float32)
    separate_with_model(net, x[:, :RATE], RATE)  # warm-up
    out = {}
    wall, cpu = _time(lambda: out.update(separate_with_model(net, x, RATE)))
    assert all(y.shape == x.shape for y in out.values())
    chunk, batch = auto_chunking(net)
    n_model = int(round(seconds * net.sample_rate))
    return {
        "model": name, "config": config, "parameters": parameter_count(net), "rate": net.sample_rate,
        "chunk": chunk, "batch": batch, "coverage": network_coverage(net, n_model), "seconds": seconds,
        "wall": wall, "cpu": cpu, "rss": _peak_rss(),
    }


def train_step(name: str, config: str, targets: list[str], threads: int, frames: int, steps: int, seed: int = 0) -> dict:
    """Wall and CPU seconds of one training step (the fastest of ``steps`` after a warm-up).

    The architecture's recipe (optimiser, loss, batch size) from ``RECIPES``; spectrogram models on
    excerpts of the recipe's frames, at most ``frames``, waveform models on the recipe's excerpt (WaveNet: its target field).
    """
    import torch

    from shotoku.models import build_model
    from shotoku.training.loop import RECIPES, batch_loss, excerpt_geometry, make_optimizer

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = build_model(name, targets, channels=2, config=config).train()
    recipe = RECIPES[name]
    if net.DOMAIN == "spectrogram":
        frames = min(int(frames), int(recipe.get("excerpt_frames") or frames))
        n_in, _ = excerpt_geometry(net, excerpt_frames=frames)
        excerpt = f"{frames} frames"
    else:
        n_in, n_out = excerpt_geometry(net)
        excerpt = f"{n_out} → {n_in} samples"
    batch = int(recipe["batch_size"])
    gen = torch.Generator().manual_seed(seed)
    mixture = 0.1 * torch.randn(batch, 2, n_in, generator=gen)
    sources = 0.05 * torch.randn(batch, len(targets), 2, n_in, generator=gen)
    opt = make_optimizer(recipe["optimizer"], net.parameters(), float(recipe["lr"]))

    def step():
        opt.zero_grad()
        _, objective = batch_loss(net, mixture, sources, loss=recipe["loss"])
        objective.backward()
        opt.step()

    step()  # warm-up
    times = [_time(step) for _ in range(max(1, steps))]
    wall, cpu = min(times)
    return {"train_wall": wall, "train_cpu": cpu, "train_batch": f"{batch} × {excerpt}", "train_rss": _peak_rss()}


def _stub_torchaudio() -> None:
    import types

    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))


def measure_peer(name: str, seconds: float, threads: int, seed: int = 0) -> dict:
    """Time a peer (``openunmix`` or ``htdemucs``, random weights) on ``seconds`` of stereo noise."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy((0.1 * rng.standard_normal((1, 2, int(seconds * RATE)))).astype(np.float32))
    if name == "openunmix":
        _stub_torchaudio()
        from openunmix.model import OpenUnmix, Separator

        models = {t: OpenUnmix(nb_bins=4096 // 2 + 1, nb_channels=2, hidden_size=512, max_bin=1487) for t in TARGETS}
        net = Separator(models, niter=1, n_fft=4096, n_hop=1024, nb_channels=2, sample_rate=RATE).eval()

        def run(audio):
            with torch.inference_mode():
                return net(audio)
        config = "umxhq layout, 1 Wiener iteration"
    elif name == "htdemucs":
        from demucs.apply import apply_model
        from demucs.htdemucs import HTDemucs

        net = HTDemucs(sources=["drums", "bass", "other", "vocals"]).eval()

        def run(audio):
            with torch.inference_mode():
                return apply_model(net, audio, shifts=0, split=True, overlap=0.25, progress=False)
        config = "default, split, overlap 0.25"
    else:
        raise ValueError(f"unknown peer '{name}'")
    run(x[..., :RATE])  # warm-up
    wall, cpu = _time(lambda: run(x))
    params = sum(p.numel() for p in net.parameters())
    return {
        "model": name, "config": config, "parameters": params, "rate": RATE, "chunk": float("nan"), "batch": 0,
        "coverage": float("nan"), "seconds": seconds, "wall": wall, "cpu": cpu, "rss": _peak_rss(),
    }


def _run(fn, *args):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def table(rows: list[dict]) -> str:
    lines = [
        "| model | config | parameters | model rate (Hz) | chunk (s) × batch | network runs over | s per s of audio "
        "| CPU s per s | peak RSS (MiB) | training step (s, wall) | batch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        chunk = "—" if r["batch"] == 0 else f"{r['chunk']:.3g} × {r['batch']}"
        cover = "—" if r["coverage"] != r["coverage"] else f"{r['coverage']:.2f}×"
        train = f"{r['train_wall']:.3g}" if "train_wall" in r else "—"
        lines.append(
            f"| {r['model']} | {r['config']} | {r['parameters']:,} | {r['rate']} | {chunk} | {cover} "
            f"| **{r['wall'] / r['seconds']:.3g}** | {r['cpu'] / r['seconds']:.3g} | {r['rss']:.0f} "
            f"| {train} | {r.get('train_batch', '—')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mmdensenet", "wavenet", "deepconvsep", "waveunet"])
    parser.add_argument("--configs", nargs="+", default=["paper", "cpu"])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of audio per run (default 60)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--train-frames", type=int, default=64, help="at most this many frames per excerpt of spectrogram models (default 64)")
    parser.add_argument("--train-steps", type=int, default=2, help="timed training steps (default 2)")
    parser.add_argument("--no-train", action="store_true", help="time inference only")
    parser.add_argument("--peers", action="store_true", help="also time Open-Unmix and HTDemucs if importable")
    parser.add_argument("--peer-seconds", type=float, default=None, help="seconds of audio for the peers (default: --seconds)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write docs/benchmarks.md")
    args = parser.parse_args(argv)

    import torch

    targets = [t for t in args.targets.split(",") if t]
    load = os.getloadavg()[0]
    started = datetime.date.today().isoformat()
    rows, missing = [], []
    for name in args.models:
        for config in args.configs:
            row = _run(measure, name, config, args.seconds, targets, args.threads)
            if not args.no_train:
                row.update(_run(train_step, name, config, targets, args.threads, args.train_frames, args.train_steps))
            rows.append(row)
            print(f"{name:12s} {config:6s} {row['parameters']:>11,} params  {row['wall'] / args.seconds:.3g} s per s "
                  f"(CPU {row['cpu'] / args.seconds:.3g}), runs over {row['coverage']:.2f}x"
                  + (f", training step {row['train_wall']:.3g} s ({row['train_batch']})" if "train_wall" in row else ""),
                  flush=True)
    if args.peers:
        for peer in ("openunmix", "htdemucs"):
            try:
                row = _run(measure_peer, peer, args.peer_seconds or args.seconds, args.threads)
            except ImportError as exc:
                missing.append(f"{peer} not importable ({exc})")
                print(missing[-1], flush=True)
                continue
            rows.append(row)
            print(f"{peer:12s} {row['parameters']:>11,} params  {row['wall'] / row['seconds']:.3g} s per s", flush=True)
    load_end = os.getloadavg()[0]
    command = f"PYTHONPATH={os.environ.get('PYTHONPATH', 'src')} .venv/bin/python bench/models.py" + (
        " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])) if (argv or sys.argv[1:]) else ""
    )
    entry = (
        f"- {started}, {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({args.threads} threads), load average {load:.1f} at start, {load_end:.1f} at end; `{command}`; "
        f"{args.seconds:g} s of audio" + (f" ({args.peer_seconds:g} s for the peers)" if args.peers and args.peer_seconds else "")
        + f", {len(targets)} targets"
        + (f"; {'; '.join(missing)}" if missing else "")
        + f":\n\n{table(rows)}"
    )
    print()
    print(entry)
    if not args.no_record:
        record(entry, SECTION, INTRO)
        print(f"\nrecorded in {BENCHMARKS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
