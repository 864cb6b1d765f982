"""``shotoku train``: train a separation model on Lightning (resumable, one or many devices)."""

from __future__ import annotations

from ..errors import ParameterError

NAME = "train"
HELP = "train a separation model (MMDenseNet, WaveNet, DeepConvSep, Wave-U-Net) on stems; resumable"


def add_arguments(p):
    # Every option defaults to None: what is not given comes from run.json (--resume) or the defaults.
    p.add_argument("--model", help="architecture: mmdensenet, wavenet, deepconvsep, waveunet (default mmdensenet)")
    p.add_argument("--config", help="architecture configuration, e.g. small or paper (default small)")
    p.add_argument("--data", metavar="SOURCE",
                   help="MUSDB18(-HQ)/DSD100 root, a folder of track folders, or synth:N (N synthetic songs)")
    p.add_argument("--targets", help="comma-separated stems to estimate (default vocals,drums,bass,other)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder: checkpoints, logs, run.json")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="optimiser steps in all (default 1000)")
    length.add_argument("--epochs", type=int, help="passes over the training audio (in excerpts)")
    p.add_argument("--batch-size", type=int, help="examples per step and process (default: the architecture's recipe)")
    p.add_argument("--excerpt-seconds", type=float, help="length of a training excerpt (default: the recipe's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the recipe's)")
    p.add_argument("--optimizer", help="adam, rmsprop, adadelta or sgd (default: the recipe's)")
    p.add_argument("--seed", type=int, help="seed of the initialisation, the data stream and synth songs (default 0)")
    p.add_argument("--song-seconds", type=float, help="length of each synth:N song (default 10)")
    p.add_argument("--cache", metavar="DIR", help="folder for rendered synth songs (default OUT/data)")
    p.add_argument("--val-tracks", type=int,
                   help="tracks held out for validation (default: N // 10, at least 1; MUSDB: its valid split)")
    p.add_argument("--mix-tracks", type=float,
                   help="probability that an example draws each stem from its own track (default 0.5)")
    p.add_argument("--no-augment", dest="augment", action="store_const", const=False,
                   help="no random gain and channel swap")
    p.add_argument("--val-every", type=int, help="validate and write checkpoints every N steps (default 200)")
    p.add_argument("--patience", type=int, help="validations without improvement before stopping early (default 10)")
    p.add_argument("--accelerator", help="cpu, gpu or auto (default auto)")
    p.add_argument("--devices", help="devices per node: a count, a list like 0,1, or auto (default 1)")
    p.add_argument("--num-nodes", type=int, help="machines taking part (default 1)")
    p.add_argument("--strategy", help="Lightning strategy, e.g. ddp (default auto: DDP on several devices)")
    p.add_argument("--precision", choices=["32", "bf16-mixed", "16-mixed"], help="numeric precision (default 32)")
    p.add_argument("--workers", type=int, help="data loader processes (default 0 on CPU, 4 with a GPU)")
    p.add_argument("--threads", type=int,
                   help="torch threads per process (default: torch's; 1 is fastest on a busy machine)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False, help="no progress bar")


def given_settings(args) -> dict:
    """The options set on the command line, as :class:`shotoku.training.run.Settings` fields."""
    keys = ("model", "config", "data", "seed", "batch_size", "excerpt_seconds", "lr", "optimizer", "song_seconds",
            "val_tracks", "mix_tracks", "augment", "steps", "epochs", "val_every", "patience", "accelerator",
            "devices", "num_nodes", "strategy", "precision", "workers", "threads", "cache", "progress")
    given = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if args.targets is not None:
        targets = [t.strip() for t in args.targets.split(",") if t.strip()]
        if not targets or len(set(targets)) != len(targets):
            raise ParameterError(f"--targets expects distinct comma-separated stem names, got '{args.targets}'")
        given["targets"] = targets
    if "devices" in given:
        given["devices"] = str(given["devices"])
    if "cache" in given:
        from pathlib import Path

        given["cache"] = str(Path(given["cache"]).expanduser().resolve())
    return given


def run(args) -> int:
    from ..training.run import fit, settings_for

    settings = settings_for(args.out, given_settings(args), bool(args.resume))
    if not args.resume and settings.data is None:
        raise ParameterError("give --data SOURCE (a dataset folder or synth:N)")
    summary = fit(args.out, settings, resume=bool(args.resume))
    print(f"{summary['steps']} steps, best validation SDR {summary['best_val_sdr']:.2f} dB; "
          f"checkpoints: {summary['checkpoints']['best']}, {summary['checkpoints']['last']}")
    return 0
