"""The PROJET study's design: scenes × methods → tasks, the task a worker runs, the result files.

``shotoku study spatial`` (FitzGerald, Liutkus & Badeau, TASLP 2016, experiments section):
4 objects from 4-stem songs, excerpts of ``duration`` seconds, placed by
:mod:`shotoku.datasets.scenes` at equal spacings of 10°, 20°, 30° without delays and at 20° with
per-object inter-channel delays (:data:`~shotoku.datasets.scenes.CONDITIONS`). Every method runs
on every scene; a blind method with a Wiener post-filter (a ``postfilter`` parameter) runs both
with and without it; ``oracle-irm`` and ``oracle-wiener`` give upper bounds. Every object is
scored with SDR, ISR, SIR and SAR (:func:`shotoku.evaluation.score`, ``match="auto"``: estimates
of unnamed outputs paired by best permutation).

Files in the study folder ``DIR``:

- ``scenes/<condition>/<NNN>/`` the scenes (:func:`~shotoku.datasets.scenes.write_scene`) and
  ``scenes/scenes.json``, their index and the settings that made them; ``songs/`` the
  synthetic songs when no data is given
- ``tasks/<key>.json`` one record per finished scene × method (``failed/<key>.json`` for a
  failure); a task's key hashes its method, parameters, scene and shotoku's version, so a
  rerun skips the finished ones and recomputes any whose inputs changed
- ``results.csv`` one row per scene × method × object (:data:`COLUMNS`), ``failures.csv``,
  ``summary.md`` (:mod:`.summary`), the figures (:mod:`.figures`) and ``study.json``
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io as _io
import json
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, registry
from ..errors import ParameterError

#: The methods run by default: the blind spatial ones and the two oracles.
DEFAULT_METHODS = ("adress", "projet", "duet", "oracle-irm", "oracle-wiener")
#: The oracles every method is compared with in the summary.
ORACLES = ("oracle-irm", "oracle-wiener")
METRICS = ("SDR", "ISR", "SIR", "SAR")
#: Columns of ``results.csv``, in order.
COLUMNS = ("condition", "scene", "track", "offset", "duration", "method", "label", "parameters", "object",
           "estimate", "angle", "delay", *METRICS, "separation_s", "scoring_s", "pairing", "key", "version", "code")
#: Columns of ``failures.csv``.
FAILURE_COLUMNS = ("condition", "scene", "method", "label", "parameters", "error", "key")
#: Song length rendered for an excerpt of ``d`` seconds (room for the excerpt choice).
SONG_MARGIN = (1.5, 4.0)


@dataclass(frozen=True)
class Spec:
    """One method as the study runs it.

    label: the name in tables and figures (``adress+wiener``: with the post-filter;
        ``projet:max_delay=5``: explicit parameters)
    name: the registered method
    params: the parameters given to it (besides ``sources``, ``seed`` and ``references``,
        which every task fills in)
    """

    label: str
    name: str
    params: tuple = ()

    @property
    def parameters(self) -> dict:
        return dict(self.params)


def parse_methods(text) -> list[Spec]:
    """Method specs from ``"adress,projet:max_delay=5,oracle-irm"`` (or a list of such items).

    Each item is ``name[:key=value[:key=value...]]``, values typed by the method's parameters.
    A method with a ``postfilter`` parameter that the item does not set gives one spec per
    stage: a spatial method's stages (:data:`shotoku.refinement.STAGES`: ``<name>+mnmf``,
    ``<name>+wiener`` and ``<name>`` without any), or with and without the Wiener post-filter
    for a boolean one; an item may name a stage itself (``projet:postfilter=mnmf``, label
    ``projet+mnmf``).
    """
    items = [t.strip() for part in ([text] if isinstance(text, str) else text) for t in str(part).split(",")]
    items = [t for t in items if t]
    if not items:
        raise ParameterError("no methods given; e.g. --methods adress,projet,oracle-irm")
    specs: list[Spec] = []
    for item in items:
        name, *pairs = item.split(":")
        method = registry.get(name.strip())
        params = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ParameterError(f"method '{item}': parameters are given as key=value, got '{pair}'")
            if key.strip() in registry.SHARED:
                raise ParameterError(f"method '{item}': '{key.strip()}' is set by the study for every method")
            params[key.strip()] = registry.convert_param(method, key.strip(), value.strip())
        for key in method.required:
            if params.get(key) in (None, ""):
                raise ParameterError(f"method '{method.name}' needs {key}=...; give it as {method.name}:{key}=VALUE")
        if "postfilter" in params:
            choices = [params.pop("postfilter")]
        elif "postfilter" in method.params and isinstance(method.params["postfilter"].default, str):
            from ..refinement import STAGES

            choices = list(STAGES)  # every stage a spatial method offers: mnmf, wiener, none
        else:
            choices = [True, False]
        base = method.name + "".join(f":{k}={_text(v)}" for k, v in params.items())
        if "postfilter" in method.params:
            variants = [({**params, "postfilter": pf}, base + _postfilter_suffix(pf)) for pf in choices]
        else:
            variants = [(params, base)]
        for p, label in variants:
            spec = Spec(label, method.name, tuple(sorted(p.items())))
            if spec.label in {s.label for s in specs}:
                raise ParameterError(f"method '{spec.label}' is asked for twice")
            specs.append(spec)
    return specs


def _postfilter_suffix(value) -> str:
    """Label suffix of a post-filter setting: True (the Wiener post-filter) ``+wiener``, off ``""``,
    a named stage ``+<name>``."""
    if isinstance(value, bool) or value is None:
        return "+wiener" if value else ""
    text = str(value).strip().lower()
    return "" if text in ("none", "false", "off", "no", "0") else f"+{text}"


def _text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Task:
    """One scene × method: what a worker needs (paths and names, never audio)."""

    key: str
    scene: str        # absolute path of the scene folder
    condition: str
    scene_id: str     # "<condition>/<NNN>"
    label: str
    name: str
    params: tuple
    seed: int


def task_key(spec: Spec, scene_record: str, seed: int, scene_id: str) -> str:
    """A file-safe key naming a task for good: method, parameters, scene (its record), seed, version."""
    from ..outputs import source_filename

    identity = json.dumps({"method": spec.name, "parameters": [[k, _text(v)] for k, v in spec.params],
                           "scene": scene_record, "seed": seed, "version": __version__}, sort_keys=True)
    digest = hashlib.sha1(identity.encode("utf-8")).hexdigest()[:12]
    return source_filename(f"{scene_id.replace('/', '-')}-{spec.label}", "") + "-" + digest


def design(scene_folders, specs: list[Spec], seed: int) -> list[Task]:
    """Every scene × every method, ordered by scene number (each condition's first scene first).

    scene_folders: folders written by :func:`~shotoku.datasets.scenes.write_scene`, each under
        ``<condition>/<NNN>``
    """
    from ..outputs import SCENE_RECORD

    tasks = []
    for folder in scene_folders:
        folder = Path(folder).resolve()
        record = (folder / SCENE_RECORD).read_text(encoding="utf-8")
        condition = json.loads(record).get("condition", folder.parent.name)
        scene_id = f"{folder.parent.name}/{folder.name}"
        for spec in specs:
            tasks.append(Task(task_key(spec, record, seed, scene_id), str(folder), str(condition), scene_id,
                              spec.label, spec.name, spec.params, int(seed)))
    # scene 000 of every condition first, then 001, ...: a run stopped early covers every condition
    return sorted(tasks, key=lambda t: Path(t.scene).name)


def run_task(task: Task) -> dict:
    """What a worker does for one task: read the scene, separate, score.

    Returns the task's record: method, label, every parameter used (defaults filled in),
    ``separation_s`` and ``scoring_s`` (wall clock), ``audio_s``, the pairing, and per object
    its angle, delay, paired estimate and median-over-frames SDR/ISR/SIR/SAR (dB).
    """
    import warnings

    from .. import separation
    from ..datasets.scenes import read_scene
    from ..evaluation import score
    from ..outputs import code_digest

    scene = read_scene(task.scene)
    method = registry.get(task.name)
    params = dict(task.params)
    if "sources" in method.params:
        params["sources"] = len(scene.names)
    if method.needs_references:
        params["references"] = scene.references
    result = separation.run(scene.mixture, scene.rate, task.name, seed=task.seed, **params)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = score(scene.references, result.images, scene.rate, match="auto")
    scoring_s = time.perf_counter() - t0
    medians = evaluation.medians()
    estimate_of = dict(zip(evaluation.references, evaluation.estimates))
    objects = [{"object": name, "estimate": estimate_of.get(name, ""), "angle": scene.angles[i],
                "delay": scene.delays[i], **medians[name]} for i, name in enumerate(scene.names)]
    return {
        "key": task.key, "scene": task.scene_id, "condition": task.condition, "method": result.method,
        "label": task.label, "parameters": result.parameters, "seed": task.seed,
        "track": scene.meta.get("track", ""), "offset": scene.meta.get("offset", ""),
        "duration": scene.mixture.shape[-1] / scene.rate, "separation_s": result.seconds,
        "scoring_s": scoring_s, "pairing": evaluation.pairing, "objects": objects,
        "warnings": evaluation.warnings, "host": socket.gethostname(), "version": __version__,
        "code": code_digest(),
    }


# --------------------------------------------------------------------------------------------
# scenes


def scene_settings(data, n_scenes: int, duration: float, seed: int, conditions: list[str], subset=None) -> dict:
    """The settings that fix a study's scenes (stored in ``scenes/scenes.json``)."""
    return {"data": "synthetic" if data is None else str(Path(data).resolve()), "subset": subset,
            "scenes_per_condition": int(n_scenes), "duration": float(duration), "seed": int(seed),
            "conditions": list(conditions)}


def sounding(track, count: int = 4) -> bool:
    """Whether each of a track's first ``count`` stems sounds somewhere (is not all zeros)."""
    import numpy as np

    names = list(track.stems)[:count]
    return len(names) == count and all(np.any(np.abs(track.stems[s]) > 1e-6) for s in names)


def synthetic_tracks(folder: Path, n: int, duration: float, seed: int) -> list:
    """``n`` synthetic songs whose 4 stems all sound, rendered into ``folder`` (resumable).

    Songs are rendered in order (:func:`shotoku.datasets.synth.write_dataset`, which skips those
    already there); a song with a silent stem (a generated arrangement may leave one out) is
    passed over, up to ``3 n + 4`` songs in all.
    """
    from ..datasets import open_dataset
    from ..datasets.synth import write_dataset
    from ..errors import AudioContentError

    seconds = max(SONG_MARGIN[0] * duration, duration + SONG_MARGIN[1])
    rendered = n
    while True:
        write_dataset(folder, rendered, seed, seconds=seconds)
        tracks = [t for t in open_dataset(folder) if sounding(t)][:n]
        if len(tracks) == n:
            return tracks
        if rendered >= 3 * n + 4:
            raise AudioContentError(f"only {len(tracks)} of {rendered} synthetic songs have 4 sounding stems; "
                                    "try another --seed")
        rendered += n - len(tracks)


def prepare_scenes(out: Path, data, n_scenes: int, duration: float, seed: int, conditions: list[str],
                   subset=None, progress: bool = True) -> list[Path]:
    """Write the study's scenes under ``out/scenes`` (or reuse them when made with these settings).

    data: a MUSDB18/MUSDB18-HQ/DSD100 folder or any folder of tracks with 4 stems
        (:func:`shotoku.datasets.open_dataset`); None: ``n_scenes`` synthetic songs rendered into
        ``out/songs`` (:func:`shotoku.datasets.synth.write_dataset`, resumable)
    Returns the scene folders, condition by condition.
    """
    from ..datasets import open_dataset
    from ..datasets.scenes import study_scenes, write_scene
    from ..io import write_json

    settings = scene_settings(data, n_scenes, duration, seed, conditions, subset)
    index_path = out / "scenes" / "scenes.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        index = None
    if index and index.get("settings") == settings:
        folders = [out / "scenes" / s["path"] for s in index["scenes"]]
        if all((f / "scene.json").is_file() for f in folders):
            return folders
    if data is None:
        tracks = synthetic_tracks(out / "songs", n_scenes, duration, seed)
    else:
        options = {"subsets": subset} if subset else {}
        tracks = open_dataset(data, **options)
    scenes = study_scenes(tracks, conditions, n_scenes=n_scenes, seconds=duration, seed=seed, progress=progress)
    entries, folders = [], []
    for scene in scenes:
        rel = f"{scene.meta['condition']}/{scene.meta['scene']}"
        folders.append(write_scene(out / "scenes" / rel, scene))
        entries.append({"path": rel, "condition": scene.meta["condition"], "track": scene.meta["track"],
                        "offset": scene.meta["offset"], "duration": scene.meta["duration"],
                        "objects": scene.names, "angles": scene.angles, "delays": scene.delays})
    write_json(index_path, {"settings": settings, "scenes": entries})
    return folders


# --------------------------------------------------------------------------------------------
# result files


def result_rows(records: list[dict]) -> list[dict]:
    """``results.csv`` rows (:data:`COLUMNS`) of task records, one per object."""
    rows = []
    for rec in records:
        params = json.dumps(_plain(rec["parameters"]), sort_keys=True)
        for obj in rec["objects"]:
            rows.append({
                "condition": rec["condition"], "scene": rec["scene"], "track": rec.get("track", ""),
                "offset": rec.get("offset", ""), "duration": rec.get("duration", ""), "method": rec["method"],
                "label": rec["label"], "parameters": params, "object": obj["object"], "estimate": obj["estimate"],
                "angle": obj["angle"], "delay": obj["delay"], **{m: obj[m] for m in METRICS},
                "separation_s": rec["separation_s"], "scoring_s": rec["scoring_s"], "pairing": rec["pairing"],
                "key": rec["key"], "version": rec["version"], "code": rec.get("code", ""),
            })
    return rows


def _plain(value):
    from ..io import jsonable

    return jsonable(value)


def write_csv(path: Path, rows: list[dict], columns) -> Path:
    """Write rows as CSV atomically (floats with 6 significant digits: dB and seconds)."""
    from ..io import write_text

    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return write_text(path, buffer.getvalue())


def read_csv(path) -> list[dict]:
    """Rows of a ``results.csv``, metrics and seconds as floats."""
    numeric = set(METRICS) | {"separation_s", "scoring_s", "angle", "delay", "duration", "offset"}
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: (float(v) if k in numeric and v != "" else v) for k, v in row.items()}
                for row in csv.DictReader(f)]


def machine() -> dict:
    """This machine in a few fields: host, system, CPU model and count, memory, load."""
    info = {"host": socket.gethostname(), "system": f"{platform.system()} {platform.release()}",
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["processor"] = line.split(":", 1)[1].strip()
                break
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * size / 2 ** 30, 1)
    except (OSError, ValueError, AttributeError):
        pass
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


@dataclass
class StudyResult:
    """What :func:`run_study` leaves: the rows, the failures, the run's outcome and its files."""

    rows: list[dict]
    failures: list[dict]
    outcome: dict
    files: dict = field(default_factory=dict)


def run_study(out, data=None, methods=DEFAULT_METHODS, n_scenes: int = 4, duration: float = 30.0,
              seed: int = 0, conditions="all", scheduler: str | None = None, workers: int | None = None,
              memory_limit: str = "auto", inline: bool = False, subset=None, progress: bool = True,
              figures: bool = True, report_only: bool = False, command: str | None = None,
              log=print) -> StudyResult:
    """Run the PROJET study (every method on every scene), resumable; write its files in ``out``.

    out: the study folder (created)
    data: dataset folder, or None for synthetic songs (see :func:`prepare_scenes`)
    methods: method specs (:func:`parse_methods`)
    n_scenes: scenes per condition; duration: excerpt length (s); seed: songs, excerpts, methods
    conditions: ``"all"`` or a list of ``10``, ``20``, ``30``, ``20d``
    scheduler, workers, memory_limit, inline: where tasks run (:class:`.runner.Runner`)
    figures: draw the PNG figures (needs matplotlib)
    report_only: run nothing; write the tables and figures of the tasks done so far (while
        another run of the same study is still going, for instance)
    Returns a :class:`StudyResult`.
    """
    from ..datasets.scenes import conditions as expand
    from ..io import write_json
    from ..outputs import prepare_folder, versions
    from . import summary
    from .runner import ResultStore, Runner

    if n_scenes < 1:
        raise ParameterError(f"--scenes-per-condition must be at least 1, got {n_scenes}")
    if not duration > 0:
        raise ParameterError(f"--duration must be positive, got {duration}")
    specs = parse_methods(methods)
    conds = expand(conditions)
    out = prepare_folder(out)
    started = datetime.datetime.now().astimezone()
    t0 = time.perf_counter()
    load_start = machine()
    folders = prepare_scenes(out, data, n_scenes, duration, seed, conds, subset=subset, progress=progress)
    scenes_s = time.perf_counter() - t0
    tasks = design(folders, specs, seed)
    store = ResultStore(out)
    todo = [t for t in tasks if not store.done(t.key)]
    log(f"{len(tasks)} tasks ({len(folders)} scenes x {len(specs)} methods); "
        f"{len(tasks) - len(todo)} done before, {len(todo)} to run")

    def on_result(task, record):
        store.write(task.key, record)

    def on_error(task, error, trace):
        store.fail(task.key, {"key": task.key, "scene": task.scene_id, "condition": task.condition,
                              "method": task.name, "label": task.label, "parameters": dict(task.params),
                              "error": error, "traceback": trace, "version": __version__})
        log(f"failed: {task.label} on {task.scene_id}: {error}")

    outcome = None
    if todo and not report_only:
        with Runner(scheduler=scheduler, workers=workers, memory_limit=memory_limit, inline=inline) as runner:
            log(f"running on {runner.where}")
            outcome = runner.map(run_task, todo, on_result, on_error, desc="study", progress=progress)
    records, failures, pending = [], [], 0
    for task in tasks:
        rec = store.read(task.key)
        if rec is not None:
            records.append(rec)
            continue
        fail = store.failure(task.key)
        if fail is None:
            pending += 1
            continue
        failures.append({"condition": task.condition, "scene": task.scene_id, "method": task.name,
                         "label": task.label, "parameters": json.dumps(_plain(dict(task.params)), sort_keys=True),
                         "error": fail.get("error", ""), "key": task.key})
    rows = result_rows(records)
    files = {"results": write_csv(out / "results.csv", rows, COLUMNS)}
    failures_path = out / "failures.csv"
    if failures:
        files["failures"] = write_csv(failures_path, failures, FAILURE_COLUMNS)
    elif failures_path.exists():
        failures_path.unlink()
    labels = [s.label for s in specs]
    files["summary"] = summary.write_summary(out / "summary.md", rows, failures, labels, conds, records,
                                             pending=pending, total=len(tasks))
    if figures and rows:
        from . import figures as figs

        files.update(figs.draw_all(out, rows, labels, conds))
    run = {"total": len(tasks), "done_before": len(tasks) - len(todo), **({"pending": pending} if pending else {}),
           **({} if outcome is None else {"computed": outcome.computed, "failed": outcome.failed,
                                           "seconds": round(outcome.seconds, 3), "workers": outcome.workers,
                                           "where": outcome.where, "worker_machines": outcome.machines})}
    study = {
        "study": "spatial", "command": command, "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - t0, 3), "scenes_s": round(scenes_s, 3),
        "versions": {**versions(), **_dask_versions()},
        "parameters": {**scene_settings(data, n_scenes, duration, seed, conds, subset),
                       "methods": [{"label": s.label, "method": s.name, "parameters": s.parameters} for s in specs],
                       "scheduler": scheduler, "workers": workers, "memory_limit": memory_limit},
        "seeds": {"study": seed, "scenes": [{"scene": f"{f.parent.name}/{f.name}", "seed": seed} for f in folders],
                  "methods": seed},
        "machine": {"client": load_start, "client_at_end": machine()},
        "run": run, "timing": summary.timing(records), "failures": len(failures),
        "projection": summary.projection(records, duration) if records else None,
    }
    if not report_only:
        previous = _read_json(out / "study.json") or {}
        history = previous.get("runs") or ([previous["run"]] if isinstance(previous.get("run"), dict) else [])
        study["runs"] = [*history, {"started": study["started"], "wall_s": study["wall_s"], **run}]
    files["study"] = write_json(out / ("study-report.json" if report_only else "study.json"), study)
    return StudyResult(rows, failures, run, files)


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _dask_versions() -> dict:
    try:
        import dask
        import distributed
    except ModuleNotFoundError:
        return {}
    return {"dask": dask.__version__, "distributed": distributed.__version__}
