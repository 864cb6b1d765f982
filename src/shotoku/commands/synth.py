"""``shotoku synth``: render a dataset of synthetic songs with exact stems (MUSDB18-HQ layout)."""

from __future__ import annotations

NAME = "synth"
HELP = "render synthetic songs with exact stems (drums, bass, other, vocals) in the MUSDB18-HQ layout"


def add_arguments(p):
    p.add_argument("-n", "--number", type=int, required=True, metavar="N", help="number of songs")
    p.add_argument("-o", "--outdir", required=True, metavar="DIR",
                   help="output folder; each song goes to DIR/synth-NNNN/")
    p.add_argument("--seed", type=int, default=0,
                   help="dataset seed; song i uses a seed derived from it (default 0)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each song in seconds (default 10)")
    p.add_argument("--rate", type=int, default=44100, help="sample rate in Hz (default 44100)")
    p.add_argument("--split", choices=("train", "heldout"), default="train",
                   help="sources to draw from: 'train' (default) for training data, 'heldout' for "
                        "evaluation on timbres no model trained here has heard (FluidR3 soundfonts); "
                        "see docs/data.md")
    p.add_argument("--soundfont", default=None, metavar="PATH",
                   help="one General MIDI soundfont (.sf2/.sf3) for every MIDI stem instead of the "
                        "per-song and per-stem draw")


def run(args) -> int:
    import time

    from ..datasets.synth import write_dataset

    t0 = time.perf_counter()
    paths = write_dataset(args.outdir, args.number, args.seed, seconds=args.seconds,
                          soundfont=args.soundfont, rate=args.rate, split=args.split)
    elapsed = time.perf_counter() - t0
    noun = "song" if len(paths) == 1 else "songs"
    print(f"{len(paths)} {noun} of {args.seconds:g} s ({args.split} sources) in {args.outdir} "
          f"({elapsed:.1f} s)")
    return 0
