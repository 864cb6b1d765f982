"""Trained models as separators: any checkpoint, and the ones shipped inside the package.

- ``model``: any checkpoint written by ``shotoku train`` or :func:`~shotoku.models.checkpoint.save_checkpoint`,
  given as ``checkpoint=PATH`` (``shotoku separate --model PATH`` is the shorthand);
- every file ``<name>.pt`` in :data:`SHIPPED` registers as the method ``<name>`` (for
  example ``mmdensenet``), the same separator with its checkpoint fixed, so a fresh install
  separates a song into its targets with no download.

Both run :func:`shotoku.models.apply.separate_with_model` (resampling, chunking with context,
overlap-add, optional Wiener post-filter) and are checked and recorded like every other method.
Loaded models are kept per process (keyed by path, size and modification time), so a batch of
files loads a checkpoint once.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..registry import add, method_from_function, register

#: Folder of the checkpoints shipped inside the package.
SHIPPED = Path(__file__).with_name("weights")

DESCRIPTION = "a trained checkpoint (shotoku train): one image per target, e.g. vocals, drums, bass, other"


@functools.lru_cache(maxsize=4)
def _load(path: str, size: int, mtime: float, device: str):
    from .checkpoint import load_checkpoint

    return load_checkpoint(path, device=device)


def load_model(checkpoint, device: str = "cpu"):
    """``(model, info)`` of a checkpoint file, loaded once per process and device."""
    from ..devices import resolve_device

    path = Path(checkpoint).expanduser()
    try:
        st = path.stat()
    except OSError:
        raise InputFileError(f"checkpoint '{checkpoint}' does not exist; give a file written by 'shotoku train'") from None
    if not path.is_file():
        raise InputFileError(f"checkpoint '{checkpoint}' is not a file")
    return _load(str(path.resolve()), st.st_size, st.st_mtime, str(resolve_device(device)))


@register("model", description=DESCRIPTION, required=("checkpoint",), blocks="blocks")
def model(
    mixture: np.ndarray,
    rate: int,
    *,
    checkpoint: str = "",
    postfilter: bool = False,
    chunk_seconds: float = 0.0,
    overlap: float = 0.0,
    batch_size: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Separate with a trained model.

    checkpoint: path of a checkpoint file (.pt, written by shotoku train)
    postfilter: multichannel Wiener post-filter after the masks (spectrogram models only)
    chunk_seconds: length of one chunk in seconds, context on top (0: chosen per model)
    overlap: fraction of a chunk crossfaded with the next (0 to 0.5; 0: chunks join exactly, each sees its whole receptive field)
    batch_size: chunks per forward pass (0: chosen per model)
    device: torch device: cpu, cuda, cuda:N or auto
    """
    from .apply import separate_with_model

    net, _ = load_model(checkpoint, device)
    return separate_with_model(
        net, mixture, rate, chunk_seconds=chunk_seconds or None, overlap=overlap,
        batch_size=batch_size or None, device=device, wiener=postfilter, progress=progress)


def shipped() -> dict[str, Path]:
    """{method name: checkpoint} of the models shipped inside the package."""
    if not SHIPPED.is_dir():
        return {}
    return {p.stem: p for p in sorted(SHIPPED.glob("*.pt")) if p.is_file() and os.access(p, os.R_OK)}


def _register_shipped() -> None:
    from .checkpoint import read_checkpoint

    for name, path in shipped().items():
        info = read_checkpoint(path)
        targets = ", ".join(info.get("targets", ()))
        add(method_from_function(
            name, model, defaults={"checkpoint": str(path)}, blocks="blocks",
            description=f"{info.get('architecture', name)} trained and shipped with shotoku: {targets} "
                        f"(model card: {path.with_suffix('.md').name})"))


_register_shipped()
