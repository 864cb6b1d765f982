"""Writing a set of source images to a folder, all or nothing.

Files are first written into a hidden staging folder inside the output folder and moved into place
only when every file and the JSON record are complete; on any error the staging folder is removed,
so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import OutputError


def source_filename(name: str, ext: str = ".wav") -> str:
    """A portable file name for a source: ``object_1 (-30°)`` → ``object_1_-30deg.wav``."""
    s = name.replace("°", "deg")
    s = re.sub(r"[()\[\]]", "", s)
    s = re.sub(r"[^A-Za-z0-9_.+-]+", "_", s).strip("_.") or "source"
    return s + ext


def prepare_folder(folder) -> Path:
    """Create ``folder`` if needed and check it can be written; :class:`OutputError` otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output '{folder}' exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder '{folder}': {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder '{folder}' is not writable")
    return folder


def versions() -> dict:
    """Versions of shotoku and the libraries that shape its numbers."""
    import scipy
    import torch

    from . import __version__

    return {
        "shotoku": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "scipy": scipy.__version__, "torch": torch.__version__,
    }


def jsonable(value):
    """Parameters as JSON values (arrays → lists, numpy scalars → numbers, paths → strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def write_images(folder, images: dict[str, np.ndarray], rate: int, record: dict,
                 ext: str = ".wav", protect=(), record_name: str = "separation.json") -> dict[str, Path]:
    """Write each image to ``folder/<source_filename(name)>`` and ``record`` as JSON, atomically.

    images: {source name: float32 [shape=(channels, samples)]}
    record: JSON-serialisable description of the run; a ``sources`` entry mapping each source
        name to its file name is added.
    protect: paths never to overwrite (the run's inputs)
    Returns {source name: final path}.
    """
    from .io import save

    folder = prepare_folder(folder)
    files = {name: source_filename(name, ext) for name in images}
    if len(set(files.values())) != len(files):
        files = {name: f"{i + 1:02d}_{f}" for i, (name, f) in enumerate(files.items())}
    protected = [Path(p).resolve() for p in protect]
    for f in list(files.values()) + [record_name]:
        if (folder / f).resolve() in protected:
            raise OutputError(f"refusing to overwrite the input file '{folder / f}'; choose another output folder")
    try:
        staging = Path(tempfile.mkdtemp(prefix=".shotoku-", dir=folder))
    except OSError as exc:
        raise OutputError(f"cannot write to output folder '{folder}': {exc.strerror or exc}") from None
    try:
        for name, f in files.items():
            save(staging / f, images[name], rate)
        rec = dict(record)
        rec["sources"] = dict(files)
        with open(staging / record_name, "w") as fh:
            json.dump(jsonable(rec), fh, indent=2, ensure_ascii=False)
        for f in list(files.values()) + [record_name]:
            os.replace(staging / f, folder / f)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {name: folder / f for name, f in files.items()}
