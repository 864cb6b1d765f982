"""A whole training run on Lightning: data, model, trainer, checkpoints, resume.

:func:`fit` is what ``shotoku train`` runs. A run lives in one folder ``out``:

- ``run.json``: the settings that define the run (model, data, seed, batch...), written on the
  first start; ``--resume`` reads them back, so a resumed run needs only ``--out`` (and may
  change the step budget, the hardware and the precision, nothing that shapes the data stream);
- ``last.ckpt``: Lightning's checkpoint (weights, optimiser, schedule, step, callbacks), written
  after every validation and at the end; ``--resume`` continues from it;
- ``last.pt`` and ``best.pt``: shotoku checkpoints (:func:`shotoku.models.checkpoint.save_checkpoint`)
  of the latest weights and of those with the best validation SDR, each with the run's
  metadata and its validation curve in ``training``; ``shotoku separate --model out/best.pt``
  uses them;
- ``logs/``: CSV logs (and TensorBoard's when ``tensorboard`` is installed);
- ``data/``: synthetic songs rendered for ``synth:N`` (unless ``cache`` points elsewhere).

Batch ``k`` depends only on the seed, the process rank and ``k`` (see
:class:`shotoku.training.data.ExcerptBatches`), so an interrupted run resumed from ``last.ckpt``
sees the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import InputFileError, OutputError, ParameterError

STEMS = ("vocals", "drums", "bass", "other")


@dataclass
class Settings:
    """Everything a run depends on. The first group shapes the model and the data stream and is
    fixed for the life of a run; the second may change when it resumes."""

    model: str = "mmdensenet"
    config: str = "small"
    data: str = "synth:8"
    targets: list = field(default_factory=lambda: list(STEMS))
    seed: int = 0
    batch_size: int | None = None
    excerpt_seconds: float | None = None
    lr: float | None = None
    optimizer: str | None = None
    song_seconds: float = 10.0
    val_tracks: int | None = None
    mix_tracks: float = 0.5
    augment: bool = True
    # may change on resume
    steps: int | None = None
    epochs: int | None = None
    val_every: int = 200
    patience: int = 10
    accelerator: str = "auto"
    devices: str = "1"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32"
    workers: int | None = None
    threads: int | None = None
    cache: str | None = None
    progress: bool = True


FIXED = ("model", "config", "data", "targets", "seed", "batch_size", "excerpt_seconds", "lr", "optimizer",
         "song_seconds", "val_tracks", "mix_tracks", "augment")


def settings_for(out, given: dict, resume: bool) -> Settings:
    """The run's settings: ``given`` (options set on the command line), laid over ``run.json``
    when resuming, over the defaults otherwise.

    Raises :class:`shotoku.errors.ParameterError` when a resumed run is given another value for a
    setting that shapes its data stream, :class:`shotoku.errors.OutputError` when ``out`` already
    holds a run and ``resume`` is false, :class:`shotoku.errors.InputFileError` when resuming a
    folder without a run.
    """
    out = Path(out)
    stored_path = out / "run.json"
    known = {f.name for f in fields(Settings)}
    unknown = set(given) - known
    if unknown:
        raise ParameterError(f"unknown training settings: {', '.join(sorted(unknown))}")
    if resume:
        if not stored_path.is_file() or not (out / "last.ckpt").is_file():
            raise InputFileError(f"'{out}' holds no run to resume (no run.json and last.ckpt); start one without --resume")
        stored = json.loads(stored_path.read_text(encoding="utf-8"))
        for key in FIXED:
            if key in given and given[key] != stored.get(key):
                raise ParameterError(
                    f"the run in '{out}' was started with {key}={stored.get(key)!r}; a resumed run keeps it "
                    f"(got {given[key]!r}): drop the option or start a new run in another folder")
        base = {k: v for k, v in stored.items() if k in known}
    else:
        if (out / "last.ckpt").exists():
            raise OutputError(f"'{out}' already holds a training run; add --resume to continue it or choose another --out")
        base = {}
    merged = {**asdict(Settings()), **base, **given}
    return Settings(**merged)


# ---------------------------------------------------------------------------------------- data


def parse_synth(source: str) -> int | None:
    """N of a ``synth:N`` source, None for a path."""
    if not source.startswith("synth:"):
        return None
    try:
        n = int(source.split(":", 1)[1])
    except ValueError:
        n = 0
    if n < 2:
        raise ParameterError(f"'{source}': give synth:N with N >= 2 songs (one or more are held out for validation)")
    return n


def synth_folder(settings: Settings, out: Path) -> Path:
    """Where the songs of a ``synth:N`` source are rendered (one folder per seed and length)."""
    cache = Path(settings.cache).expanduser() if settings.cache else out / "data"
    return cache / f"synth-seed{settings.seed}-{settings.song_seconds:g}s"


def _launch_rank() -> int:
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def render_synth(folder: Path, n: int, seed: int, seconds: float) -> None:
    """Render songs ``0..n-1`` of the synthetic dataset ``seed`` into ``folder`` (skipping those there).

    Processes started by a cluster launcher with a rank above 0 wait for rank 0 to render them.
    """
    from ..datasets.synth import write_dataset

    names = [f"synth-{i:04d}" for i in range(n)]
    if _launch_rank() > 0:
        deadline = time.monotonic() + 6 * 3600
        while not all((folder / name / "track.json").is_file() for name in names):
            if time.monotonic() > deadline:
                raise InputFileError(f"rank {_launch_rank()} waited 6 h for the songs in '{folder}'")
            time.sleep(2.0)
        return
    write_dataset(folder, n, seed=seed, seconds=seconds)


def split_tracks(settings: Settings, out: Path):
    """``(train, valid, description)``: the training tracks (a lazily read
    :class:`~shotoku.datasets.Dataset`), the validation Tracks (a list) and a JSON-able account
    of the data.

    synth:N renders N songs; the last ``val_tracks`` (default max(1, N // 10)) are held out. A
    MUSDB18(-HQ) folder trains on its ``train`` split and validates on its ``valid`` split (a
    DSD100 or plain folder: the last ``val_tracks`` tracks by name are held out).
    """
    from ..datasets import detect_layout, musdb18, open_dataset

    targets = list(settings.targets)
    n_synth = parse_synth(settings.data)
    musdb = False
    if n_synth is not None:
        folder = synth_folder(settings, out)
        render_synth(folder, n_synth, settings.seed, settings.song_seconds)
        ds = open_dataset(folder, targets=targets).select([f"synth-{i:04d}" for i in range(n_synth)])
    else:
        root = Path(settings.data).expanduser()
        ds = open_dataset(root, targets=targets)
        layout = detect_layout(root)
        if layout in ("hq", "stems") and settings.val_tracks is None:
            train_ds, valid_ds = musdb18(root, split="train", targets=targets), musdb18(root, split="valid", targets=targets)
            musdb = True
    if not musdb:
        n = len(ds)
        k = settings.val_tracks if settings.val_tracks is not None else max(1, n // 10)
        if not 1 <= k < n:
            raise ParameterError(f"{settings.data} has {n} tracks: hold out at least 1 and leave at least 1 for "
                                 f"training (val_tracks={k})")
        train_ds, valid_ds = ds[: n - k], ds[n - k :]
    valid = list(valid_ds)
    description = {"source": settings.data, "train_tracks": [e.name for e in train_ds.entries],
                   "valid_tracks": [t.name for t in valid]}
    if n_synth is not None:
        description.update(synth_seed=settings.seed, song_seconds=settings.song_seconds)
    return train_ds, valid, description


# ---------------------------------------------------------------------------------------- callbacks


def _callback_base():
    from .system import lightning

    return lightning().Callback


class RunCheckpoints(_callback_base()):
    """Writes ``last.ckpt``/``last.pt`` after every validation and at the end, ``best.pt`` when the
    validation SDR improves; keeps the run's curve (step, seconds, SDR) and its training time
    across resumes."""

    def __init__(self, out: Path, meta: dict):
        self.out = Path(out)
        self.meta = meta
        self.best = -math.inf
        self.seconds = 0.0
        self.curve: list = []
        self._t0 = None
        self._saved_step = -1

    def state_dict(self):
        return {"best": self.best, "seconds": self.elapsed(), "curve": self.curve}

    def load_state_dict(self, state):
        self.best = float(state.get("best", -math.inf))
        self.seconds = float(state.get("seconds", 0.0))
        self.curve = list(state.get("curve", []))

    def elapsed(self) -> float:
        return self.seconds + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def on_train_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()

    def _training_meta(self, trainer, pl_module) -> dict:
        return {**self.meta, "steps": int(trainer.global_step), "seconds": round(self.elapsed(), 1),
                "best_val_sdr": self.best, "curve": self.curve,
                "recipe": pl_module.recipe, "lr_now": float(trainer.optimizers[0].param_groups[0]["lr"])}

    def _save(self, trainer, pl_module, best: bool):
        from ..models.checkpoint import save_checkpoint

        tmp = self.out / ".last.ckpt.tmp"
        trainer.save_checkpoint(tmp, weights_only=False)  # the whole state: optimiser, schedule, loops (resume)
        if trainer.is_global_zero:
            os.replace(tmp, self.out / "last.ckpt")
            meta = self._training_meta(trainer, pl_module)
            save_checkpoint(self.out / "last.pt", pl_module.model, training=meta)
            if best:
                save_checkpoint(self.out / "best.pt", pl_module.model, training=meta)
        self._saved_step = int(trainer.global_step)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        sdr = float(metrics["val/sdr"]) if "val/sdr" in metrics else math.nan
        point = {"step": int(trainer.global_step), "seconds": round(self.elapsed(), 1), "val_sdr": sdr}
        for key in ("val/sdr_mixture", "val/sdr_gain"):
            if key in metrics:
                point[key.split("/", 1)[1]] = float(metrics[key])
        for t in pl_module.model.targets:
            if f"val/sdr/{t}" in metrics:
                point[t] = round(float(metrics[f"val/sdr/{t}"]), 3)
        self.curve.append(point)
        improved = math.isfinite(sdr) and sdr > self.best
        if improved:
            self.best = sdr
        self._save(trainer, pl_module, best=improved or not (self.out / "best.pt").exists())

    def on_train_end(self, trainer, pl_module):
        if int(trainer.global_step) != self._saved_step:
            self._save(trainer, pl_module, best=not (self.out / "best.pt").exists())


class RankReport(_callback_base()):
    """Prints one line per process when training starts (rank, world size, device)."""

    def on_train_start(self, trainer, pl_module):
        print(f"shotoku train: rank {trainer.global_rank} of {trainer.world_size} on {pl_module.device}, "
              f"step {trainer.global_step}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- fit


def _devices(value):
    text = str(value)
    if text == "auto":
        return "auto"
    if "," in text:
        return [int(v) for v in text.split(",") if v.strip()]
    try:
        return int(text)
    except ValueError:
        raise ParameterError(f"--devices expects a count, a list like 0,1 or auto; got '{value}'") from None


def _loggers(out: Path):
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(str(out), name="logs")]
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        pass
    else:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(out), name="tensorboard"))
    return loggers


def command_line(settings: Settings, out) -> str:
    """The ``shotoku train`` command that starts this run (the settings that differ from the defaults)."""
    default = asdict(Settings())
    parts = ["shotoku", "train"]
    for key, value in asdict(settings).items():
        if key in ("progress", "workers", "cache", "threads") or value == default[key] or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key == "augment":
            parts.append("--no-augment")
        elif key == "targets":
            parts += [flag, ",".join(value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts + ["--out", str(out)])


def fit(out, settings: Settings, resume: bool = False) -> dict:
    """Train as ``settings`` says, in folder ``out``; returns a summary dict.

    out: the run folder (created); resume: continue from ``out/last.ckpt``
    Returns ``{"out", "steps", "best_val_sdr", "seconds", "checkpoints": {"last", "best"}}``.
    """
    from .system import lightning

    L = lightning()
    import torch
    from lightning.pytorch.callbacks import EarlyStopping
    from torch.utils.data import DataLoader

    from ..models import build_model
    from .data import GAIN_RANGE, ExcerptBatches, StepSampler, prepare_sources
    from .loop import DEFAULT_RECIPE, OPTIMIZERS, RECIPES, excerpt_geometry
    from .system import SeparationSystem

    out = Path(out).expanduser()
    for key in ("val_every", "patience", "num_nodes"):
        if int(getattr(settings, key)) < 1:
            raise ParameterError(f"{key.replace('_', '-')} must be at least 1")
    if settings.steps is not None and settings.epochs is not None:
        raise ParameterError("give --steps or --epochs, not both")
    if not 0.0 <= float(settings.mix_tracks) <= 1.0:
        raise ParameterError(f"mix-tracks is a probability in 0..1, got {settings.mix_tracks}")
    if settings.optimizer is not None and settings.optimizer not in OPTIMIZERS:
        raise ParameterError(f"unknown optimizer '{settings.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create '{out}': {exc.strerror or exc}") from None

    L.seed_everything(int(settings.seed), workers=True, verbose=False)
    model = build_model(settings.model, list(settings.targets), channels=2, config=settings.config)
    recipe = dict(RECIPES.get(model.NAME, DEFAULT_RECIPE))
    for key in ("batch_size", "lr", "optimizer"):
        if getattr(settings, key) is not None:
            recipe[key] = getattr(settings, key)
    recipe.setdefault("discriminative", 0.0)
    n_read, n_compared = excerpt_geometry(model, settings.excerpt_seconds, None, recipe)
    recipe.update(read_samples=n_read, compared_samples=n_compared)

    if parse_synth(settings.data) is None:
        from ..datasets.collection import require_folder

        require_folder(settings.data)
    if _launch_rank() == 0 and not resume:
        from ..io import write_json

        write_json(out / "run.json", asdict(settings))
    train, valid, data_info = split_tracks(settings, out)
    data = prepare_sources(train, list(model.targets), int(model.sample_rate))
    train_samples = sum(x.shape[-1] for x in data.sources)
    steps_per_epoch = max(1, math.ceil(train_samples / (int(recipe["batch_size"]) * n_read)))
    max_steps = int(settings.steps) if settings.steps is not None else (
        int(settings.epochs) * steps_per_epoch if settings.epochs is not None else 1000)
    if max_steps < 1:
        raise ParameterError("steps and epochs must be at least 1")

    accelerator = settings.accelerator
    devices = _devices(settings.devices)
    workers = settings.workers
    if workers is None:
        workers = 0 if accelerator == "cpu" or not torch.cuda.is_available() else min(4, os.cpu_count() or 1)
    if settings.threads is not None:
        torch.set_num_threads(max(1, int(settings.threads)))
    elif accelerator == "cpu" and isinstance(devices, int) and devices > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // devices))

    system = SeparationSystem(model, recipe, valid)
    checkpoints = RunCheckpoints(out, {
        "seed": int(settings.seed), "data": {**data_info, "augment": bool(settings.augment),
                                             "gain": list(GAIN_RANGE) if settings.augment else None,
                                             "channel_swap": bool(settings.augment),
                                             "mix_tracks": float(settings.mix_tracks), "rate": data.rate},
        "settings": asdict(settings),
        "command": command_line(settings, out),
    })
    callbacks = [checkpoints, RankReport(),
                 EarlyStopping(monitor="val/sdr", mode="max", patience=int(settings.patience), strict=False,
                               check_finite=False)]
    trainer = L.Trainer(
        default_root_dir=str(out), accelerator=accelerator, devices=devices, num_nodes=int(settings.num_nodes),
        strategy=settings.strategy, precision=settings.precision, max_steps=max_steps, max_epochs=-1,
        val_check_interval=int(settings.val_every), check_val_every_n_epoch=None, num_sanity_val_steps=0,
        logger=_loggers(out), callbacks=callbacks, enable_checkpointing=False, use_distributed_sampler=False,
        log_every_n_steps=min(50, int(settings.val_every)), enable_progress_bar=bool(settings.progress),
        enable_model_summary=False,
    )
    batches = ExcerptBatches(data, int(recipe["batch_size"]), n_read, int(model.channels), seed=int(settings.seed),
                             rank=0, augment=bool(settings.augment), mix_tracks=float(settings.mix_tracks))
    loader = DataLoader(_RankedBatches(batches, trainer), sampler=StepSampler(lambda: trainer.global_step),
                        batch_size=None, num_workers=int(workers), persistent_workers=False)
    ckpt = str(out / "last.ckpt") if resume else None
    trainer.fit(system, train_dataloaders=loader, ckpt_path=ckpt)
    return {"out": str(out), "steps": int(trainer.global_step), "best_val_sdr": checkpoints.best,
            "seconds": round(checkpoints.elapsed(), 1),
            "checkpoints": {"last": str(out / "last.pt"), "best": str(out / "best.pt")}}


class _RankedBatches:
    """:class:`ExcerptBatches` that reads its process rank from the trainer when first indexed
    (the rank is known only once the trainer has set up its processes)."""

    def __init__(self, batches, trainer):
        self.batches = batches
        self.rank = None
        self._trainer = trainer

    def __getstate__(self):  # loader workers get the resolved rank, not the trainer
        self._resolve()
        return {"batches": self.batches, "rank": self.rank, "_trainer": None}

    def _resolve(self):
        if self.rank is None and self._trainer is not None:
            self.rank = int(self._trainer.global_rank)
            self.batches.rank = self.rank

    def __getitem__(self, step):
        self._resolve()
        return self.batches[step]
