"""``shotoku evaluate REFS ESTS``: BSS Eval v4 scores of separated sources against references.

REFS and ESTS are folders of per-source audio files. Sources are named by file stem, except in
a scene folder written by ``shotoku simulate`` (its ``scene.json`` lists the objects and their
files; ``mixture.*`` is never a source) and an output folder of ``shotoku separate`` (its
``separation.json`` maps source names to files). Estimates are paired with references by name;
when no name matches (the unnamed objects of spatial methods) they are paired by the best mean
SDR (Hungarian assignment) and the pairing is printed.
"""

from __future__ import annotations

import sys

NAME = "evaluate"
HELP = "score separated sources against references (BSS Eval v4: SDR, ISR, SIR, SAR; museval-compatible)"


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


def check_lengths(refs: dict, ests: dict, what_refs: str, what_ests: str) -> int:
    """The common length of all files, or :class:`MismatchError` naming the files that differ."""
    from ..errors import MismatchError

    lengths = {f"{what_refs}/{k}": v.shape[-1] for k, v in refs.items()}
    lengths.update({f"{what_ests}/{k}": v.shape[-1] for k, v in ests.items()})
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        odd = next(k for k, n in lengths.items() if n != lengths[first])
        raise MismatchError(f"'{odd}' is {lengths[odd]} samples long but '{first}' {lengths[first]}; "
                            "scores need sources of one length (nothing is padded or cut)")
    return next(iter(lengths.values()))


def report(result, refs_label: str, ests_label: str, samples: int) -> None:
    """Print a scoring result: what was paired with what, and the table of medians."""
    print(f"references: {refs_label} ({len(result.references)} sources, {samples / result.rate:.2f} s at {result.rate} Hz)")
    print(f"estimates:  {ests_label}")
    if result.pairing == "sdr":
        print("estimates paired with references by best mean SDR (names differ):")
        for r, e in zip(result.references, result.estimates):
            print(f"  {r} <- {e or '(no estimate left)'}")
    if result.unused:
        print(f"not scored (no matching reference): {', '.join(result.unused)}")
    print(result.table())


def run(args) -> int:
    from ..errors import MismatchError, OutputError, ParameterError
    from ..evaluation import score
    from ..outputs import open_images
    from ..plotting import check_figure_path
    from ..progress import stage

    for value, option in ((args.window, "--window"), (args.hop, "--hop")):
        if value is not None and not value > 0:
            raise ParameterError(f"{option} must be a positive number of seconds (got {value})")
    if args.plot:
        check_figure_path(args.plot)
    if args.json:
        from pathlib import Path

        folder = Path(args.json).parent
        if not folder.is_dir():
            raise OutputError(f"the folder of '{args.json}' does not exist; create it first")
    refs, rate = open_images(args.refs, "references")  # read a group of frames at a time while scoring
    ests, est_rate = open_images(args.ests, "estimates")
    if est_rate != rate:
        raise MismatchError(f"estimates are at {est_rate} Hz but references at {rate} Hz; resample them to one rate")
    samples = check_lengths(refs, ests, args.refs, args.ests)
    stage(f"scoring {len(ests)} estimate(s) against {len(refs)} reference(s) of {samples / rate:.0f} s ...")
    result = score(refs, ests, rate, match=args.match, window=args.window,
                   hop=None if args.hop is None else args.hop, progress=True)
    for message in result.warnings:
        print(f"shotoku: warning: {message}", file=sys.stderr)
    report(result, args.refs, args.ests, samples)
    if args.json:
        result.write_json(args.json)
        print(f"framewise scores: {args.json}")
    if args.plot:
        result.plot(args.plot)
        print(f"box plots: {args.plot}")
    return 0
