"""The training loop: any shotoku architecture, its paper's loss and optimiser by default.

Per architecture (``RECIPES``; every entry can be overridden by an argument of :func:`train`):

- ``mmdensenet`` (Takahashi & Mitsufuji 2017, as public recipes train it): MSE on magnitudes,
  RMSprop 1e-3, batch 8, 256-frame excerpts.
- ``wavenet`` (Lluís, Pons & Serra 2019): L1 on waveforms, Adam 1e-3, batch 10, 1601-sample
  target field.
- ``deepconvsep`` (Chandna et al. 2017, as the authors' code trains it): MSE on the masked
  magnitudes minus ``α = 0.001`` times the MSE between each estimate and the other targets (the
  paper's discriminative term; its additional ``β`` terms against the "other" source are left
  out), Adadelta, batch 32, 30-frame excerpts.
- ``waveunet`` (Stoller, Ewert & Dixon 2018): MSE on raw waveforms, Adam 1e-4, batch 16,
  16384-sample outputs.

A spectrogram model is trained on the magnitudes of :func:`shotoku.spectral.stft` of its
mixture and target excerpts (all frames of the excerpt); a waveform model reads
``input_length(n_out)`` samples of mixture and is compared with the centred ``n_out`` target
samples.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from .data import GAIN_RANGE, prepare_sources, sample_batch

RECIPES = {
    "mmdensenet": {"optimizer": "rmsprop", "lr": 1e-3, "loss": "mse", "batch_size": 8, "excerpt_frames": 256},
    "wavenet": {"optimizer": "adam", "lr": 1e-3, "loss": "l1", "batch_size": 10, "excerpt_samples": 1601},
    "deepconvsep": {
        "optimizer": "adadelta", "lr": 1.0, "loss": "mse", "batch_size": 32, "excerpt_frames": 30,
        "discriminative": 0.001,
    },
    "waveunet": {"optimizer": "adam", "lr": 1e-4, "loss": "mse", "batch_size": 16, "excerpt_samples": 16384},
}
DEFAULT_RECIPE = {"optimizer": "adam", "lr": 1e-3, "loss": "mse", "batch_size": 8, "excerpt_seconds": 1.0}
OPTIMIZERS = ("adam", "rmsprop", "adadelta", "sgd")
LOSSES = ("mse", "l1")


def make_optimizer(name: str, params, lr: float):
    import torch

    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ParameterError(f"unknown optimizer '{name}'; choose one of {', '.join(OPTIMIZERS)}")


def _distance(name: str, estimate, target):
    """Mean elementwise error (``mse`` or ``l1``)."""
    diff = estimate - target
    return (diff * diff).mean() if name == "mse" else diff.abs().mean()


def excerpt_geometry(model, excerpt_seconds=None, excerpt_frames=None, recipe: dict | None = None) -> tuple[int, int]:
    """Samples of mixture read and samples of estimate compared for one training example.

    Spectrogram models: ``excerpt_frames`` frames (or ``round(excerpt_seconds * rate / hop) + 1``)
    of ``(frames - 1) * hop`` samples, all compared. Waveform models: ``excerpt_seconds`` of output,
    ``model.input_length`` of it read. Unset lengths come from the model's ``target_field`` when
    it has one (WaveNet), else from ``recipe`` (default: the architecture's entry in ``RECIPES``).
    """
    recipe = recipe if recipe is not None else RECIPES.get(model.NAME, DEFAULT_RECIPE)
    rate = int(model.sample_rate)
    if model.DOMAIN == "spectrogram":
        hop = int(model.hop)
        if excerpt_frames is None:
            if excerpt_seconds is not None:
                excerpt_frames = max(1, round(excerpt_seconds * rate / hop)) + 1
            else:
                excerpt_frames = recipe.get("excerpt_frames") or round(recipe["excerpt_seconds"] * rate / hop) + 1
        n = (int(excerpt_frames) - 1) * hop
        if n < 1:
            raise ParameterError(f"a training excerpt needs at least 2 frames, got {excerpt_frames}")
        return n, n
    if excerpt_frames is not None:
        raise ParameterError(f"excerpt_frames applies to spectrogram models; '{model.NAME}' works on waveforms")
    if excerpt_seconds is not None:
        n_out = max(1, round(excerpt_seconds * rate))
    elif getattr(model, "target_field", None):
        n_out = int(model.target_field)
    else:
        n_out = recipe.get("excerpt_samples") or round(recipe["excerpt_seconds"] * rate)
    n_in = int(model.input_length(n_out))
    return n_in, int(model.output_length(n_in))


def batch_loss(model, mixture, targets, *, loss: str = "mse", discriminative: float = 0.0):
    """The training loss of ``model`` on one batch; returns ``(reconstruction, objective)`` tensors.

    mixture: float [shape=(B, C, n)] torch tensor, C = ``model.channels``
    targets: float [shape=(B, S, C, n)], the model's targets in order (from :func:`sample_batch`)
    loss: "mse" or "l1", the mean elementwise distance between estimates and targets: magnitudes of
        :func:`shotoku.spectral.stft` for spectrogram models; for waveform models the model's
        output against the centred ``output_length(n)`` samples of the targets
    discriminative: weight ``α`` of the term subtracted from the objective: the mean distance of
        each estimate to the other targets (DeepConvSep's discriminative training)
    ``reconstruction`` is the distance alone, ``objective`` the value to minimise.
    """
    if model.DOMAIN == "spectrogram":
        from .. import spectral

        args = dict(n_fft=int(model.n_fft), hop=int(model.hop), window=getattr(model, "window", "hann"))
        est = model(spectral.stft(mixture, **args).abs())
        ref = spectral.stft(targets, **args).abs()
    else:
        n_in = mixture.shape[-1]
        n_out = int(model.output_length(n_in))
        first = (n_in - n_out) // 2
        est = model(mixture)[..., :n_out]
        ref = targets[..., first : first + n_out]
    recon = _distance(loss, est, ref)
    objective = recon
    S = est.shape[1]
    if discriminative and S > 1:
        cross = sum(_distance(loss, est[:, j], ref[:, k]) for j in range(S) for k in range(S) if j != k)
        objective = recon - discriminative * cross / (S - 1)
    return recon, objective


def train(
    model,
    tracks,
    *,
    steps: int = 1000,
    batch_size: int | None = None,
    excerpt_seconds: float | None = None,
    excerpt_frames: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    loss: str | None = None,
    discriminative: float | None = None,
    augment: bool = True,
    mix_tracks: bool = False,
    seed: int = 0,
    device: str | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: bool = False,
) -> dict:
    """Train ``model`` in place on random excerpts of ``tracks``; returns the history.

    model: a shotoku architecture instance (its ``targets`` must be stems of every track)
    tracks: list of :class:`shotoku.datasets.track.Track` (any rate: resampled to the model's)
    steps: optimiser steps
    batch_size, optimizer ("adam", "rmsprop", "adadelta", "sgd"), lr, loss ("mse" or "l1"),
        discriminative (weight of the DeepConvSep term): default to the architecture's recipe
        (``RECIPES``)
    excerpt_seconds: excerpt length (waveform models: output samples; spectrogram models: frames
        ``round(seconds * rate / hop) + 1``); excerpt_frames: the same in frames (spectrogram only);
        default from the recipe
    augment: random gain in ``GAIN_RANGE`` per source and random channel swap
    mix_tracks: draw each source from a different random track
    seed: seeds ``torch.manual_seed`` and the ``numpy`` generator of the excerpts; the same seed,
        model initialisation and data give the same losses
    device: None/"cpu", "cuda", "auto"
    checkpoint: path of a checkpoint written at the end (and every ``checkpoint_every`` steps when > 0)
    progress: progress bar on a terminal
    Returns ``{"loss": [per-step reconstruction loss], "objective": [per-step optimised value],
    "steps", "seconds", "recipe": {...}, "data": {...}, "seed"}``; the same dict goes into the
    checkpoint's ``training`` entry.
    """
    import torch
    from ..progress import bar as progress_bar

    from ..devices import resolve_device
    from ..models.checkpoint import save_checkpoint

    recipe = dict(RECIPES.get(model.NAME, DEFAULT_RECIPE))
    for key, value in (("batch_size", batch_size), ("lr", lr), ("optimizer", optimizer), ("loss", loss), ("discriminative", discriminative)):
        if value is not None:
            recipe[key] = value
    recipe.setdefault("discriminative", 0.0)
    if recipe["loss"] not in LOSSES:
        raise ParameterError(f"unknown loss '{recipe['loss']}'; choose one of {', '.join(LOSSES)}")
    if int(steps) < 1 or int(recipe["batch_size"]) < 1:
        raise ParameterError("steps and batch_size must be at least 1")
    n_read, n_target = excerpt_geometry(model, excerpt_seconds, excerpt_frames, recipe)
    recipe.update(read_samples=n_read, compared_samples=n_target)

    torch.manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    dev = resolve_device(device)
    model.to(dev).train()
    data = prepare_sources(tracks, list(model.targets), int(model.sample_rate))
    opt = make_optimizer(recipe["optimizer"], model.parameters(), float(recipe["lr"]))

    history = {
        "loss": [], "objective": [], "steps": 0, "seconds": 0.0, "seed": int(seed),
        "recipe": recipe,
        "data": {
            "tracks": data.names, "rate": data.rate, "augment": bool(augment), "mix_tracks": bool(mix_tracks),
            "gain": list(GAIN_RANGE) if augment else None, "channel_swap": bool(augment),
        },
    }

    def save(path):
        save_checkpoint(path, model, training=history)

    start = time.perf_counter()
    bar = progress_bar(range(int(steps)), desc=f"train {model.NAME}", unit="step", show=progress)
    for step in bar:
        mix, tgt = sample_batch(
            data, rng, int(recipe["batch_size"]), n_read, int(model.channels),
            gain=GAIN_RANGE if augment else None, channel_swap=augment, mix_tracks=mix_tracks,
        )
        recon, objective = batch_loss(
            model, torch.from_numpy(mix).to(dev), torch.from_numpy(tgt).to(dev),
            loss=recipe["loss"], discriminative=float(recipe["discriminative"]),
        )
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        history["loss"].append(float(recon.detach()))
        history["objective"].append(float(objective.detach()))
        history["steps"] = step + 1
        bar.set_postfix(loss=f"{history['loss'][-1]:.3g}", refresh=False)
        if checkpoint is not None and checkpoint_every and (step + 1) % checkpoint_every == 0:
            history["seconds"] = time.perf_counter() - start
            save(checkpoint)
    history["seconds"] = time.perf_counter() - start
    model.eval()
    if checkpoint is not None:
        save(checkpoint)
    return history
