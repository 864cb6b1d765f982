"""Training shotoku's neural models.

- :mod:`shotoku.training.data`: random excerpts of multitrack recordings with gain and
  channel-swap augmentation (:func:`prepare_sources`, :func:`sample_batch`; ``GAIN_RANGE``), and
  the same as a step-indexed torch dataset (:class:`~shotoku.training.data.ExcerptBatches`);
- :mod:`shotoku.training.loop`: :func:`train`, a plain loop, each architecture's paper loss and
  optimiser by default (``RECIPES``), checkpoints written with
  :func:`shotoku.models.checkpoint.save_checkpoint`;
- :mod:`shotoku.training.system` (the LightningModule wrapping any architecture) and
  :mod:`shotoku.training.run` (:func:`~shotoku.training.run.fit`, what ``shotoku train`` runs:
  data, trainer, validation SDR, best/last checkpoints, resume, DDP). These import Lightning
  (the ``train`` extra) when used; importing this package does not.

Example::

    from shotoku.models import build_model
    from shotoku.training import train
    net = build_model("waveunet", ["vocals", "accompaniment"], config="small")
    history = train(net, tracks, steps=2000, seed=0, checkpoint="waveunet.pt")
"""

from .data import GAIN_RANGE, ExcerptBatches, prepare_sources, sample_batch
from .loop import RECIPES, train

__all__ = ["GAIN_RANGE", "ExcerptBatches", "RECIPES", "prepare_sources", "sample_batch", "train"]
