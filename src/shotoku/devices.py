"""Where torch work runs: one resolver for every ``device`` parameter."""

from __future__ import annotations

from .errors import ParameterError


def resolve_device(device: str | None = None):
    """A ``torch.device`` from a user's choice.

    device: ``None`` or ``"cpu"`` → the CPU; ``"auto"`` → the first CUDA GPU when present, else
        the CPU; ``"cuda"`` / ``"cuda:N"`` → that GPU (:class:`~shotoku.errors.ParameterError`
        when there is none, or for any other name).

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if device is None or device == "cpu":
        return torch.device("cpu")
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParameterError(f"unknown device '{device}'; use cpu, cuda, cuda:N or auto") from None
    if dev.type not in ("cpu", "cuda"):
        raise ParameterError(f"unsupported device '{device}'; use cpu, cuda, cuda:N or auto")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device '{device}' was asked for but no CUDA GPU is available; use device cpu or auto")
    return dev
