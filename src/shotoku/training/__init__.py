"""Training shotoku's neural models.

- :mod:`shotoku.training.data`: random excerpts of multitrack recordings with gain and
  channel-swap augmentation (:func:`prepare_sources`, :func:`sample_batch`);
- :mod:`shotoku.training.loop`: :func:`train`, each architecture's paper loss and optimiser by
  default (``RECIPES``), checkpoints written with :func:`shotoku.models.checkpoint.save_checkpoint`.

Example::

    from shotoku.models import build_model
    from shotoku.training import train
    net = build_model("waveunet", ["vocals", "accompaniment"], config="small")
    history = train(net, tracks, steps=2000, seed=0, checkpoint="waveunet.pt")
"""

from .data import prepare_sources, sample_batch
from .loop import RECIPES, train

__all__ = ["RECIPES", "prepare_sources", "sample_batch", "train"]
