"""``shotoku info``: describe an audio file."""

from __future__ import annotations

import numpy as np

NAME = "info"
HELP = "describe an audio file (format, channels, rate, length, levels)"


def add_arguments(p):
    p.add_argument("file", help="audio file")


def run(args) -> int:
    from ..io import info, load

    d = info(args.file)
    audio, _ = load(args.file)
    peak = float(np.abs(audio).max())
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    db = lambda v: f"{20 * np.log10(v):.1f} dBFS" if v > 0 else "-inf dBFS (silent)"  # noqa: E731
    print(f"file:      {d['path']}")
    print(f"format:    {d['format']}")
    print(f"channels:  {d['channels']}")
    print(f"rate:      {d['rate']} Hz")
    print(f"length:    {d['samples']} samples ({d['duration']:.2f} s)")
    if d.get("streams", 1) > 1:
        print(f"streams:   {d['streams']} (MUSDB stems: mixture, drums, bass, other, vocals)")
    print(f"peak:      {db(peak)}")
    print(f"rms:       {db(rms)}")
    return 0
