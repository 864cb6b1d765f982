"""Reference separators: the oracles every method is measured against.

They are given the true source images and compute the best a method of their kind could do:

- ``oracle-irm``: the ideal ratio mask, per channel, |S_j|^α / Σ_k |S_k|^α applied to the mixture
  STFT (α = 2 by default: the "IRM2" of the SiSEC evaluations).
- ``oracle-wiener``: the ideal multichannel Wiener filter: each source's PSD and full-rank spatial
  covariance estimated from its true image (:func:`shotoku.spectral.spatial_model`), then
  :func:`shotoku.spectral.wiener`.

Both need ``references``: {name: image [shape=(channels, samples)]} or an array
[shape=(sources, channels, samples)]; outputs are named like the references.
"""

from __future__ import annotations

import numpy as np

from . import spectral
from .errors import MismatchError
from .registry import register


def _references(references, mixture: np.ndarray) -> tuple[list[str], np.ndarray]:
    if isinstance(references, dict):
        names = list(references)
        refs = np.stack([np.asarray(references[k], dtype=np.float32) for k in names])
    else:
        refs = np.asarray(references, dtype=np.float32)
        names = [f"source_{j + 1}" for j in range(refs.shape[0])]
    if refs.ndim != 3 or refs.shape[1:] != mixture.shape:
        raise MismatchError(
            f"references must be (sources, channels, samples) matching the mixture {mixture.shape}, "
            f"got {refs.shape}"
        )
    return names, refs


@register("oracle-irm", description="ideal ratio mask from the true sources (upper bound of masking)",
          needs_references=True, blocks="blocks")
def oracle_irm(mixture, rate, *, references=None, alpha=2.0, n_fft=2048, hop=512):
    """Ideal ratio mask.

    alpha: exponent of the magnitudes in the mask (1 = magnitude ratio, 2 = power ratio)
    n_fft: STFT frame length in samples
    hop: STFT hop in samples
    """
    names, refs = _references(references, mixture)
    X = spectral.stft(mixture, n_fft, hop)  # (C, F, T)

    def power(j: int) -> np.ndarray:  # |S_j|^alpha [shape=(C, F, T)], computed when needed
        return np.abs(spectral.stft(refs[j], n_fft, hop)) ** alpha

    # spectral.ratio_mask's rule, one source at a time (one source's spectra held, not all)
    total = power(0)
    for j in range(1, len(names)):
        total += power(j)
    live, share = total > 1e-12, np.float32(1.0 / len(names))
    out = {}
    for j, name in enumerate(names):
        with np.errstate(invalid="ignore", divide="ignore"):
            mask = np.where(live, power(j) / np.maximum(total, 1e-12), share).astype(np.float32)
        out[name] = spectral.istft(mask * X, n_fft, hop, length=mixture.shape[-1])
    return out


@register("oracle-wiener", description="ideal multichannel Wiener filter from the true source images",
          needs_references=True, blocks="blocks")
def oracle_wiener(mixture, rate, *, references=None, n_fft=2048, hop=512):
    """Ideal multichannel Wiener filter (full-rank spatial covariances).

    n_fft: STFT frame length in samples
    hop: STFT hop in samples
    """
    names, refs = _references(references, mixture)
    X = spectral.stft(mixture, n_fft, hop)
    S = spectral.stft(refs, n_fft, hop)
    psd, cov = spectral.spatial_model(S)
    Y = spectral.wiener(X, psd, cov)
    y = spectral.istft(Y, n_fft, hop, length=mixture.shape[-1])
    return dict(zip(names, y))
