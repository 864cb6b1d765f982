"""``shotoku evaluate REFS ESTS``: BSS Eval v4 scores of separated sources against references.

REFS and ESTS are folders of per-source audio files. Sources are named by file stem, except in
a scene folder written by ``shotoku simulate`` (its ``scene.json`` lists the objects and their
files; ``mixture.*`` is never a source) and an output folder of ``shotoku separate`` (its
``separation.json`` maps source names to files). Estimates are paired with references by name;
when no name matches (the unnamed objects of spatial methods) they are paired by the best mean
SDR (Hungarian assignment) and the pairing is printed.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputFileError, MismatchError, OutputError, ParameterError

NAME = "evaluate"
HELP = "score separated sources against references (BSS Eval v4: SDR, ISR, SIR, SAR; museval-compatible)"

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a")


def add_arguments(p):
    p.add_argument("refs", metavar="REFS", help="folder of reference sources (or a scene folder from 'shotoku simulate')")
    p.add_argument("ests", metavar="ESTS", help="folder of estimated sources (e.g. from 'shotoku separate')")
    p.add_argument("--json", metavar="OUT", help="write framewise scores as museval JSON to this file")
    p.add_argument("--plot", metavar="OUT.png", help="draw box plots of the framewise scores to this PNG file")
    p.add_argument("--window", type=float, default=1.0, metavar="S",
                   help="frame length in seconds (default 1, as museval/SiSEC; 'inf': the whole track)")
    p.add_argument("--hop", type=float, default=None, metavar="S", help="hop between frames in seconds (default: window)")
    p.add_argument("--match", choices=("auto", "name", "sdr"), default="auto",
                   help="pair estimates with references by file name, by best SDR, or by name when "
                        "every reference has a namesake and by SDR otherwise (default)")


def _key(name: str) -> str:
    """Name as it survives in file names: 'object_1 (-30°)' ~ 'object_1_-30deg' ~ 'object_1_-30_'."""
    s = name.lower().replace("°", "deg")
    return re.sub(r"[^a-z0-9]+", "", s)


def read_sources(folder, what: str) -> tuple[list[str], list[Path]]:
    """Source names and files of a folder (see the module docstring for the layouts understood)."""
    folder = Path(folder)
    if not folder.exists():
        raise InputFileError(f"{what} folder '{folder}' does not exist")
    if not folder.is_dir():
        raise InputFileError(f"{what} '{folder}' is not a folder; give a folder of per-source audio files")
    for record_name, key in (("scene.json", "objects"), ("separation.json", "sources")):
        record_path = folder / record_name
        if not record_path.exists():
            continue
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(f"cannot read '{record_path}': {exc}") from None
        if key == "objects" and isinstance(record.get("objects"), list):
            names = [str(n) for n in record["objects"]]
            files = record.get("files")
            if isinstance(files, list) and len(files) == len(names):
                return names, [folder / str(f) for f in files]
            return names, [_find(folder, n, what) for n in names]
        if key == "sources" and isinstance(record.get("sources"), dict):
            names = [str(n) for n in record["sources"]]
            return names, [folder / str(f) for f in record["sources"].values()]
    files = sorted(
        f for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES and f.stem.lower() != "mixture" and not f.name.startswith(".")
    )
    if not files:
        raise InputFileError(f"{what} folder '{folder}' holds no audio files (.wav, .flac, .ogg, .mp3)")
    return [f.stem for f in files], files


def _find(folder: Path, name: str, what: str) -> Path:
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() in AUDIO_SUFFIXES and (f.stem == name or _key(f.stem) == _key(name)):
            return f
    raise InputFileError(f"{what} folder '{folder}' has no audio file for source '{name}'")


def load_sources(files: list[Path], names: list[str], what: str) -> tuple[list[np.ndarray], int]:
    """Audio of each file [shape=(channels, samples)] and the common rate; MismatchError otherwise."""
    from ..io import load

    audio, rate = [], None
    for name, f in zip(names, files):
        if not f.exists():
            raise InputFileError(f"{what} file '{f}' for source '{name}' does not exist")
        x, r = load(f)
        if rate is not None and r != rate:
            raise MismatchError(
                f"{what} '{f.name}' is at {r} Hz but '{files[0].name}' at {rate} Hz; resample them to one rate"
            )
        rate = r
        audio.append(x)
    channels = {x.shape[0] for x in audio}
    if len(channels) > 1:
        raise MismatchError(f"{what} files have different channel counts {sorted(channels)}; give all the same")
    return audio, rate


def pair_by_name(ref_names: list[str], est_names: list[str]) -> list[int] | None:
    """Index of each reference's namesake estimate (exact name, else same letters and digits)."""
    order = []
    for name in ref_names:
        exact = [i for i, e in enumerate(est_names) if e == name]
        loose = [i for i, e in enumerate(est_names) if _key(e) == _key(name)]
        hits = exact or loose
        if len(hits) != 1:
            return None
        order.append(hits[0])
    return order if len(set(order)) == len(order) else None


def _stack(audio: list[np.ndarray], n: int) -> np.ndarray:
    """(sources, channels, n) float32, each zero-padded or cut to n samples."""
    out = np.zeros((len(audio), audio[0].shape[0], n), dtype=np.float32)
    for i, x in enumerate(audio):
        k = min(n, x.shape[-1])
        out[i, :, :k] = x[:, :k]
    return out


def _seconds(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if math.isnan(value) or value <= 0:
        raise ParameterError(f"--{name} must be a positive number of seconds (got {value})")
    return value


def plot_scores(path, names: list[str], scores) -> Path:
    """Box plots of the framewise SDR, ISR, SIR and SAR of each source (NaN frames left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..metrics import METRICS

    fig, axes = plt.subplots(2, 2, figsize=(max(6.0, 2.0 + 1.4 * len(names)), 6.5), squeeze=False)
    for ax, metric in zip(axes.ravel(), METRICS):
        values = scores.metric(metric)
        data = [v[np.isfinite(v)] for v in values]
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{metric} (dB)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"BSS Eval v4, {scores.window:g} s frames", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path


def run(args) -> int:
    from ..metrics import RankDeficientWarning, bss_eval_images, match_sources, score_table, write_museval_json

    window_s = _seconds(args.window, "window")
    hop_s = _seconds(args.hop, "hop")
    for option in (args.json, args.plot):
        if option and not Path(option).parent.exists() and str(Path(option).parent) not in ("", "."):
            raise OutputError(f"the folder of '{option}' does not exist; create it first")

    ref_names, ref_files = read_sources(args.refs, "references")
    est_names, est_files = read_sources(args.ests, "estimates")
    refs, rate = load_sources(ref_files, ref_names, "reference")
    ests, est_rate = load_sources(est_files, est_names, "estimate")
    if est_rate != rate:
        raise MismatchError(f"estimates are at {est_rate} Hz but references at {rate} Hz; resample them to one rate")
    if ests[0].shape[0] != refs[0].shape[0]:
        raise MismatchError(
            f"estimates have {ests[0].shape[0]} channels but references {refs[0].shape[0]}; give the same channel count"
        )
    lengths = {x.shape[-1] for x in refs}
    if len(lengths) > 1:
        raise MismatchError(f"reference files differ in length ({min(lengths)} to {max(lengths)} samples); trim them to one length")
    n = refs[0].shape[-1]
    ref_arr = _stack(refs, n)
    est_arr = _stack(ests, n)

    order = pair_by_name(ref_names, est_names) if args.match in ("auto", "name") else None
    how = "name"
    if order is None:
        if args.match == "name":
            missing = [r for r in ref_names if not any(_key(e) == _key(r) for e in est_names)]
            raise MismatchError(
                f"no estimate named like reference(s) {', '.join(missing) or ref_names}; "
                "rename the files or use --match sdr"
            )
        if len(est_names) < len(ref_names):
            raise MismatchError(
                f"{len(ref_names)} references but only {len(est_names)} estimates, and their names do not match; "
                "give one estimate per reference"
            )
        order, _ = match_sources(ref_arr, est_arr, rate)
        order = [int(i) for i in order]
        how = "sdr"
    window = math.inf if math.isinf(window_s) else int(round(window_s * rate))
    hop = None if hop_s is None else (math.inf if math.isinf(hop_s) else int(round(hop_s * rate)))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RankDeficientWarning)
        scores = bss_eval_images(ref_arr, est_arr[order], rate, window=window, hop=hop)
    for w in caught:
        if issubclass(w.category, RankDeficientWarning):
            print(f"shotoku: warning: {w.message}", file=sys.stderr)

    print(f"references: {args.refs} ({len(ref_names)} sources, {n / rate:.2f} s at {rate} Hz)")
    print(f"estimates:  {args.ests}")
    if how == "sdr":
        print("estimates paired with references by best mean SDR (names differ):")
        for r, i in zip(ref_names, order):
            print(f"  {r} <- {est_names[i]}")
    unused = [est_names[i] for i in range(len(est_names)) if i not in order]
    if unused:
        print(f"not scored (no matching reference): {', '.join(unused)}")
    frames = len(scores.times)
    print(score_table(ref_names, scores, title=f"median over {frames} frame(s) of {scores.window:g} s (dB):"))
    if args.json:
        write_museval_json(args.json, ref_names, scores)
        print(f"framewise scores: {args.json}")
    if args.plot:
        plot_scores(args.plot, ref_names, scores)
        print(f"box plots: {args.plot}")
    return 0
