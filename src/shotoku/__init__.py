"""shotoku: audio source separation, music first.

Every separator takes a mixture [shape=(channels, samples)] and returns source images, one
array per source with the mixture's shape, that add back up to (about) the mixture::

    >>> import shotoku                                          # doctest: +SKIP
    >>> audio, rate = shotoku.load("song.wav")                  # doctest: +SKIP
    >>> images = shotoku.separate(audio, rate, method="projet")  # doctest: +SKIP
    >>> {name: im.shape for name, im in images.items()}         # doctest: +SKIP
    {'object_1 (-30°)': (2, 441000), ...}
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import ShotokuError  # noqa: E402
from .io import load, save  # noqa: E402
from .separation import separate  # noqa: E402
from .outputs import code_digest as _code_digest  # noqa: E402

_code_digest()  # the sources as this process loads them (study and batch records name them)

__all__ = ["ShotokuError", "load", "save", "separate", "__version__"]
