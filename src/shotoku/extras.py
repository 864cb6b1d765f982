"""Optional dependencies: which extra of ``pip install 'shotoku[...]'`` brings which module.

The core (``pip install shotoku``) reads and writes audio, runs the spatial methods, the oracles
and trained models, and scores results. The rest comes with extras; a missing one is named in a
one-line error (:func:`missing`), raised where the module is first needed.
"""

from __future__ import annotations

from .errors import ShotokuError

#: Top-level module -> the extra that installs it.
EXTRAS = {
    "sklearn": "ica", "pyroomacoustics": "ica",
    "mido": "synth", "pyworld": "synth", "pedalboard": "synth", "sfizz": "synth", "music21": "synth",
    "matplotlib": "plot",
    "stempeg": "example",
    "lightning": "train", "tensorboard": "train",
    "fastapi": "web", "uvicorn": "web", "multipart": "web", "python_multipart": "web",
    "dask": "study", "distributed": "study",
}


class MissingExtraError(ShotokuError):
    """An optional dependency is not installed."""


def missing(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The user-facing error for a missing optional module, or None if ``exc`` is not one."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return MissingExtraError(f"this needs the optional package '{top}': pip install 'shotoku[{extra}]'")
