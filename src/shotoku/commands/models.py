"""``shotoku models``: the neural architectures, their configurations, sizes and receptive fields."""

from __future__ import annotations

import json

from ..errors import ParameterError

NAME = "models"
HELP = "list the neural model architectures (parameters, receptive field, configurations)"

DEFAULT_TARGETS = "vocals,drums,bass,other"


def add_arguments(p):
    p.add_argument("name", nargs="?", help="show only this architecture")
    p.add_argument("--targets", default=DEFAULT_TARGETS,
                   help=f"targets the parameter counts are given for (default {DEFAULT_TARGETS})")
    p.add_argument("--channels", type=int, default=2, help="audio channels (default 2)")
    p.add_argument("--checkpoint", metavar="PATH", help="describe a trained checkpoint instead")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _settings(config: dict) -> str:
    skip = ("targets", "channels", "preset", "sample_rate")
    parts = []
    for key, value in config.items():
        if key in skip:
            continue
        text = json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else str(value)
        parts.append(f"{key}={text}" if len(text) <= 24 else f"{key}=…")
    return " ".join(parts)


def _describe_checkpoint(path: str, as_json: bool) -> int:
    from ..models import parameter_count, receptive_seconds
    from ..models.checkpoint import load_checkpoint

    model, info = load_checkpoint(path)
    described = dict(model.describe())
    training = info.get("training", {})
    summary = {
        "checkpoint": str(path), "architecture": info["architecture"], "targets": info["targets"],
        "channels": info.get("channels"), "sample_rate": info["sample_rate"],
        "parameters": parameter_count(model), "receptive_field": described["receptive_field"],
        "receptive_field_seconds": round(receptive_seconds(model), 4),
        "config": info["config"], "shotoku_version": info.get("shotoku_version"),
        "training": {k: v for k, v in training.items() if k not in ("loss", "objective")},
    }
    losses = training.get("loss") or []
    if losses:
        summary["training"]["loss_first"] = losses[0]
        summary["training"]["loss_last"] = losses[-1]
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    print(f"{path}: {summary['architecture']} for {', '.join(summary['targets'])} "
          f"at {summary['sample_rate']} Hz, {summary['parameters']:,} parameters, "
          f"receptive field {summary['receptive_field_seconds']:.3g} s")
    t = summary["training"]
    if t:
        line = f"    trained {t.get('steps', '?')} steps, seed {t.get('seed', '?')}"
        if losses:
            line += f", loss {losses[0]:.4g} → {losses[-1]:.4g}"
        tracks = (t.get("data") or {}).get("tracks")
        if tracks:
            line += f", {len(tracks)} track(s)"
        print(line)
    print(f"    settings: {_settings(summary['config'])}")
    return 0


def run(args) -> int:
    from .. import models

    if args.checkpoint:
        return _describe_checkpoint(args.checkpoint, args.json)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets:
        raise ParameterError("--targets needs at least one name, e.g. --targets vocals,accompaniment")
    if args.channels < 1:
        raise ParameterError(f"--channels must be at least 1, got {args.channels}")
    listing = models.list_architectures([args.name] if args.name else None, targets, args.channels)
    if args.json:
        print(json.dumps({"targets": targets, "channels": args.channels, "architectures": listing}, indent=2, ensure_ascii=False))
        return 0
    print(f"parameter counts for {len(targets)} target(s) ({', '.join(targets)}), {args.channels} channel(s)\n")
    for arch in listing:
        print(f"{arch['name']}  —  {arch['summary']}  [{arch['domain']}]")
        print(f"    {'config':<8} {'parameters':>12}  {'receptive field':<24} {'rate':>6}  settings")
        for cname, info in arch["configs"].items():
            unit = info.get("receptive_field_unit", "samples")
            field = f"{info['receptive_field']} {unit} ({info['receptive_field_seconds']:.3g} s)"
            cfg = info["config"]
            print(f"    {cname:<8} {info['parameters']:>12,}  {field:<24} {cfg['sample_rate']:>6}  {_settings(cfg)}")
        print()
    return 0
