"""Checkpoints: one file that rebuilds a trained model.

A checkpoint is a :func:`torch.save` of a plain dict (tensors, strings, numbers, lists, dicts
only, so that it loads with ``torch.load(weights_only=True)`` and never runs pickled code)::

    format          "shotoku-checkpoint"
    format_version  1
    architecture    architecture name, e.g. "mmdensenet" (see shotoku.models.ARCHITECTURES)
    config          the model's ``config`` dict (JSON-serialisable)
    targets         list of source names the model estimates, in output order
    channels        input channels the network takes
    sample_rate     the rate in Hz the model works at
    state_dict      the weights
    training        metadata: seed, steps, losses, data, optimiser... (free-form, JSON-like)
    shotoku_version version of shotoku that wrote it
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputFileError, OutputError, ShotokuError

FORMAT = "shotoku-checkpoint"
FORMAT_VERSION = 1
_REQUIRED = ("architecture", "config", "targets", "sample_rate", "state_dict")


def _version() -> str:
    try:
        from .. import __version__

        return str(__version__)
    except ImportError:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("shotoku")
        except PackageNotFoundError:
            return "unknown"


def model_config(model) -> dict:
    """The constructor keywords that rebuild ``model`` (its ``config`` minus targets/channels)."""
    return {k: v for k, v in dict(model.config).items() if k not in ("targets", "channels")}


def save_checkpoint(path: str | os.PathLike, model, *, training: dict | None = None) -> Path:
    """Write ``model`` (weights, architecture, config, rate, targets) and ``training`` to ``path``.

    path: output file (conventionally ``.pt``); written atomically (temporary file, then rename),
        its folder is created if missing
    model: a shotoku architecture instance (``NAME``, ``config``, ``targets``, ``channels``,
        ``sample_rate``)
    training: JSON-like metadata (seed, steps, losses, data description...)
    Returns the path written. Raises :class:`shotoku.errors.OutputError` when it cannot be written.
    """
    import torch

    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": model.NAME,
        "config": model_config(model),
        "targets": list(model.targets),
        "channels": int(model.channels),
        "sample_rate": int(model.sample_rate),
        "state_dict": state,
        "training": dict(training or {}),
        "shotoku_version": _version(),
    }
    from ..io import atomic_path

    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except OutputError as exc:
        raise OutputError(f"cannot write checkpoint: {exc}; choose a writable path") from None
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read and check a checkpoint file without building the model; returns the stored dict.

    Raises :class:`shotoku.errors.InputFileError` (one line) when the file is missing, unreadable,
    not a shotoku checkpoint, or lacks a required entry.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"checkpoint not found: {path}; give the path of a .pt file written by shotoku")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(
            f"cannot read checkpoint {path} ({reason[:120]}); give a checkpoint written by shotoku"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputFileError(f"{path} is not a shotoku checkpoint; give a .pt file written by shotoku")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise InputFileError(
            f"checkpoint {path} has format version {data['format_version']}, newer than this shotoku "
            f"reads ({FORMAT_VERSION}); upgrade shotoku"
        )
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise InputFileError(f"checkpoint {path} lacks {', '.join(missing)}; it is damaged, write it again")
    return data


def load_checkpoint(path: str | os.PathLike, device: str = "cpu"):
    """Rebuild the model stored at ``path``; returns ``(model, data)``.

    model: the architecture instance with the stored weights, in eval mode, on ``device``
    data: the stored dict (see module docstring) without ``state_dict``
    Raises :class:`shotoku.errors.InputFileError` for a missing or bad file, an unknown
    architecture, or weights that do not fit the stored configuration.
    """
    from . import get_architecture

    data = read_checkpoint(path)
    try:
        cls = get_architecture(data["architecture"])
    except ShotokuError:
        raise InputFileError(
            f"checkpoint {path} uses architecture '{data['architecture']}', unknown to this shotoku; upgrade shotoku"
        ) from None
    try:
        model = cls(list(data["targets"]), channels=int(data.get("channels", 2)), config=dict(data["config"]))
    except (TypeError, ValueError, KeyError) as exc:
        raise InputFileError(f"checkpoint {path} holds a configuration this shotoku cannot build ({exc})") from None
    try:
        model.load_state_dict(data["state_dict"], strict=True)
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"checkpoint {path}: weights do not fit its configuration ({first[:160]})") from None
    model.eval()
    model.to(device)
    info = {k: v for k, v in data.items() if k != "state_dict"}
    return model, info
