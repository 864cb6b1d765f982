"""Neural separation models and the registry of their architectures.

Each architecture is a plain :class:`torch.nn.Module` in its own module; this package maps its
name to its class, importing the module only when the class is asked for (``import shotoku.models``
does not import torch)::

    from shotoku.models import get_architecture
    MMDenseNet = get_architecture("mmdensenet")
    net = MMDenseNet(["vocals", "drums"], channels=2, config="small")

An architecture class carries ``NAME``, ``DOMAIN`` (``"spectrogram"`` or ``"waveform"``) and
``CONFIGS`` (at least ``"paper"`` and ``"small"``); an instance has ``targets``, ``channels``,
``sample_rate``, ``config`` (JSON-serialisable), ``receptive_field`` and ``describe()``.
Spectrogram models add ``n_fft``, ``hop`` and ``frame_context``; waveform models add
``output_length(n_in)`` and ``input_length(n_out)``. :mod:`shotoku.models.apply` turns any of them
into a separator, :mod:`shotoku.models.checkpoint` stores and rebuilds them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from ..errors import UnknownMethodError

# Architecture name -> module that defines it (imported on first use).
ARCHITECTURE_MODULES = {
    "mmdensenet": "shotoku.models.mmdensenet",
    "wavenet": "shotoku.models.wavenet",
    "deepconvsep": "shotoku.models.deepconvsep",
    "waveunet": "shotoku.models.waveunet",
}

_CLASSES: dict[str, type] = {}


def _import_class(name: str) -> type:
    module = importlib.import_module(ARCHITECTURE_MODULES[name])
    for obj in vars(module).values():
        if isinstance(obj, type) and getattr(obj, "NAME", None) == name and obj.__module__ == module.__name__:
            return obj
    raise ImportError(f"module {module.__name__} defines no class with NAME = '{name}'")


class _Architectures(Mapping):
    """Read-only mapping name -> class; a class is imported on first access."""

    def __getitem__(self, name: str) -> type:
        if name not in _CLASSES:
            if name not in ARCHITECTURE_MODULES:
                raise KeyError(name)
            _CLASSES[name] = _import_class(name)
        return _CLASSES[name]

    def __iter__(self) -> Iterator[str]:
        yield from ARCHITECTURE_MODULES

    def __len__(self) -> int:
        return len(ARCHITECTURE_MODULES)


#: Architecture name -> model class, imported lazily.
ARCHITECTURES: Mapping[str, type] = _Architectures()


def get_architecture(name: str) -> type:
    """The model class registered as ``name``.

    Raises :class:`shotoku.errors.UnknownMethodError` (one line, listing the known names) for an
    unknown name.
    """
    if name not in ARCHITECTURE_MODULES:
        known = ", ".join(ARCHITECTURE_MODULES)
        raise UnknownMethodError(f"unknown model architecture '{name}'; known architectures: {known}")
    return ARCHITECTURES[name]


def register_architecture(cls: type, module: str | None = None) -> type:
    """Make a model class reachable by its ``NAME`` (for models defined outside this package).

    Checkpoints name their architecture; registering a class lets :func:`load_checkpoint
    <shotoku.models.checkpoint.load_checkpoint>` rebuild it. Usable as a class decorator.
    """
    name = cls.NAME
    ARCHITECTURE_MODULES[name] = module or cls.__module__
    _CLASSES[name] = cls
    return cls


def build_model(name: str, targets: list[str], channels: int = 2, config: str | dict = "paper", **overrides):
    """Instantiate architecture ``name``; the arguments are the model classes' constructor's."""
    return get_architecture(name)(list(targets), channels=channels, config=config, **overrides)


def parameter_count(model) -> int:
    """Number of trainable parameters of a :class:`torch.nn.Module`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def receptive_seconds(model) -> float:
    """Receptive field of ``model`` in seconds of audio (``receptive_field`` frames span
    ``(frames - 1) * hop + n_fft`` samples)."""
    rf = float(model.receptive_field)
    if model.DOMAIN == "spectrogram":
        return ((rf - 1) * int(model.hop) + int(model.n_fft)) / float(model.sample_rate)
    return rf / float(model.sample_rate)


def list_architectures(names=None, targets=("vocals", "drums", "bass", "other"), channels: int = 2) -> list[dict]:
    """Describe architectures at every configuration.

    names: architecture names (default: all); targets, channels: what the models are built for
    (parameter counts grow with the number of targets for most architectures)
    Returns one dict per architecture: ``name``, ``domain``, ``summary`` (first docstring line),
    ``configs``: config name -> ``describe()`` of an instance, with ``parameters`` and
    ``receptive_field_seconds`` added.
    """
    out = []
    for name in names or list(ARCHITECTURE_MODULES):
        cls = get_architecture(name)
        configs = {}
        for cname in cls.CONFIGS:
            net = cls(list(targets), channels=channels, config=cname)
            info = dict(net.describe())
            info["parameters"] = parameter_count(net)
            info["receptive_field_seconds"] = round(receptive_seconds(net), 4)
            configs[cname] = info
        out.append({"name": name, "domain": cls.DOMAIN, "summary": _first_line(cls.__doc__), "configs": configs})
    return out
