"""The LightningModule that trains any shotoku architecture (model and trainer kept apart).

:class:`SeparationSystem` holds a model (any class of :mod:`shotoku.models`), its loss
(:func:`shotoku.training.loop.batch_loss`), its optimiser and a ReduceLROnPlateau schedule on the
validation SDR. Validation separates whole held-out tracks with
:func:`shotoku.models.apply.separate_with_model` — the path ``shotoku separate`` takes — and scores
them with :func:`shotoku.evaluation.score`; it logs, per target, the mean over tracks of the
median framewise SDR (``val/sdr/<target>``), their mean over targets (``val/sdr``), and the same
for the mixture used as the estimate of every target (``val/sdr_mixture``, computed once) and
the gain of the model over it (``val/sdr_gain``).

Data-parallel processes validate a share of the tracks each and add up their sums, so the logged
values are those of all tracks.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..errors import ShotokuError


class _NoAdverts(logging.Filter):
    """Drops Lightning's tips about its hosted services from a run's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\N{ELECTRIC LIGHT BULB} Tip:")


def lightning():
    """The ``lightning`` package, or a one-line error naming the extra to install."""
    try:
        import lightning as L
    except ImportError:
        raise ShotokuError("shotoku train needs Lightning: pip install 'shotoku[train]'") from None
    for handler in logging.getLogger("lightning.pytorch").handlers:  # records of its sub-loggers end there
        if not any(isinstance(f, _NoAdverts) for f in handler.filters):
            handler.addFilter(_NoAdverts())
    return L


def track_sdr(references: dict, estimates: dict, rate: int) -> dict:
    """{target: median framewise SDR in dB} of ``estimates`` against ``references`` (paired by name).

    Targets whose reference is silent get NaN (BSS Eval is undefined for them); an infinite SDR
    (an exact estimate) is kept.
    """
    from ..evaluation import score

    medians = score(references, estimates, rate, match="name").medians()
    return {name: float(medians[name]["SDR"]) if name in medians else math.nan for name in references}


def _module_base():
    return lightning().LightningModule


class SeparationSystem(_module_base()):
    """Train ``model`` on batches of :class:`shotoku.training.data.ExcerptBatches`.

    model: a shotoku architecture instance
    recipe: the training recipe (``optimizer``, ``lr``, ``loss``, ``discriminative``; see
        :data:`shotoku.training.loop.RECIPES`)
    valid: list of :class:`shotoku.datasets.track.Track` (whole held-out tracks) or empty
    plateau: (factor, patience in validations) of the ReduceLROnPlateau schedule on ``val/sdr``
    """

    def __init__(self, model, recipe: dict, valid=(), plateau: tuple[float, int] = (0.5, 3)):
        super().__init__()
        self.model = model
        self.recipe = dict(recipe)
        self.valid = list(valid)
        self.plateau = (float(plateau[0]), int(plateau[1]))
        self._mixture_sdr: dict | None = None
        self._sums: list = []
        self.scheduler = None

    def forward(self, x):
        return self.model(x)

    # ------------------------------------------------------------------ training

    def training_step(self, batch, batch_idx):
        from .loop import batch_loss

        mix, tgt = batch
        recon, objective = batch_loss(self.model, mix, tgt, loss=self.recipe["loss"],
                                      discriminative=float(self.recipe.get("discriminative", 0.0)))
        self.log("train/loss", recon.detach(), prog_bar=True, on_step=True, on_epoch=False)
        return objective

    def configure_optimizers(self):
        import torch

        from .loop import make_optimizer

        opt = make_optimizer(self.recipe["optimizer"], self.model.parameters(), float(self.recipe["lr"]))
        # Stepped by hand after each validation (the run is one endless epoch).
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=self.plateau[0], patience=self.plateau[1])
        return opt

    def on_save_checkpoint(self, checkpoint):
        checkpoint["shotoku"] = {
            "plateau": self.scheduler.state_dict() if self.scheduler is not None else None,
            "mixture_sdr": self._mixture_sdr,
        }

    def on_load_checkpoint(self, checkpoint):
        extra = checkpoint.get("shotoku", {})
        self._pending_plateau = extra.get("plateau")
        self._mixture_sdr = extra.get("mixture_sdr")

    def on_train_start(self):
        pending = getattr(self, "_pending_plateau", None)
        if pending and self.scheduler is not None:
            self.scheduler.load_state_dict(pending)
            self._pending_plateau = None

    # ------------------------------------------------------------------ validation

    def val_dataloader(self):
        from torch.utils.data import DataLoader

        # One item (a track index) per track this process validates; the tracks stay in the module.
        world, rank = self.trainer.world_size, self.trainer.global_rank
        return DataLoader([i for i in range(len(self.valid)) if i % world == rank] or [-1], batch_size=None)

    def on_validation_epoch_start(self):
        self._sums = []

    def validation_step(self, batch, batch_idx):
        import torch

        from ..models.apply import separate_with_model

        index = int(batch.flatten()[0]) if torch.is_tensor(batch) else int(batch)
        if index < 0:
            return
        track = self.valid[index]
        targets = list(self.model.targets)
        refs = {t: np.asarray(track.stems[t], np.float32) for t in targets}
        mixture = np.asarray(track.mixture, np.float32)
        # Full precision, as shotoku separate runs it (mixed-precision training leaves autocast on).
        with torch.autocast(device_type=self.device.type, enabled=False):
            est = separate_with_model(self.model, mixture, int(track.rate), device=str(self.device))
        model_sdr = track_sdr(refs, {t: est[t] for t in targets}, int(track.rate))
        mix_sdr = None
        if self._mixture_sdr is None or track.name not in self._mixture_sdr:
            mix_sdr = track_sdr(refs, {t: mixture for t in targets}, int(track.rate))
        self._sums.append((track.name, model_sdr, mix_sdr))
        self.model.train()

    def on_validation_epoch_end(self):
        import torch

        targets = list(self.model.targets)
        if self._mixture_sdr is None:
            self._mixture_sdr = {}
        # per target: [sum of model SDR, count, sum of mixture SDR, count] over finite values
        acc = torch.zeros(len(targets), 4, dtype=torch.float64)
        for name, model_sdr, mix_sdr in self._sums:
            if mix_sdr is not None:
                self._mixture_sdr[name] = mix_sdr
            reference = self._mixture_sdr[name]
            for j, t in enumerate(targets):
                m, r = model_sdr[t], reference[t]
                if math.isfinite(m) and math.isfinite(r):
                    acc[j] += torch.tensor([m, 1.0, r, 1.0], dtype=torch.float64)
        acc = self.trainer.strategy.reduce(acc.to(self.device), reduce_op="sum").cpu()
        if float(acc[:, 1].sum()) == 0:
            return
        model_mean = acc[:, 0] / acc[:, 1].clamp(min=1)
        mix_mean = acc[:, 2] / acc[:, 3].clamp(min=1)
        scored = acc[:, 1] > 0
        for j, t in enumerate(targets):
            if scored[j]:
                self.log(f"val/sdr/{t}", float(model_mean[j]), sync_dist=True)
        sdr = float(model_mean[scored].mean())
        mix = float(mix_mean[scored].mean())
        self.log("val/sdr", sdr, prog_bar=True, sync_dist=True)
        self.log("val/sdr_mixture", mix, sync_dist=True)
        self.log("val/sdr_gain", sdr - mix, prog_bar=True, sync_dist=True)
        self.log("lr", float(self.optimizers().param_groups[0]["lr"]), sync_dist=True)
        if self.scheduler is not None and not self.trainer.sanity_checking:
            self.scheduler.step(sdr)
