"""The spectral core: one STFT/ISTFT pair, masks, and the multichannel Wiener filter.

Every method in shotoku goes through these functions, so frame settings mean the same thing
everywhere: frames are centred (the signal is zero-padded by ``n_fft // 2`` on both sides), the
analysis window is applied once, and :func:`istft` divides by the summed squared window, which
gives exact reconstruction for any hop at which the window overlaps itself (COLA/NOLA), e.g. Hann
at hop ``n_fft/2`` or ``n_fft/4``.

Arrays: the STFT of a signal [shape=(..., samples)] is complex [shape=(..., bins, frames)] with
``bins = n_fft // 2 + 1``. Functions take numpy arrays or torch tensors and give back the same kind.

The Wiener filter follows Duong, Vincent & Gribonval (2010) "Under-determined reverberant audio
source separation using a full-rank spatial covariance model" and Nugraha, Liutkus & Vincent
(2016): source j has a power spectral density v_j(f, t) and a spatial covariance R_j(f)
[shape=(channels, channels)]; its image is estimated as W_j X with
W_j = v_j R_j (Σ_k v_k R_k)⁻¹.
"""

from __future__ import annotations

import numpy as np
import torch

_WINDOWS = ("hann", "sqrt_hann", "blackmanharris", "hamming")


def _window(name: str, n_fft: int, device=None) -> torch.Tensor:
    if name not in _WINDOWS:
        raise ValueError(f"unknown window '{name}'; choose one of {', '.join(_WINDOWS)}")
    if name == "hann":
        w = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    elif name == "sqrt_hann":
        w = torch.hann_window(n_fft, periodic=True, dtype=torch.float64).sqrt()
    elif name == "hamming":
        w = torch.hamming_window(n_fft, periodic=True, dtype=torch.float64)
    else:
        from scipy.signal import get_window

        w = torch.from_numpy(get_window("blackmanharris", n_fft, fftbins=True))
    return w.to(device=device)


def _as_tensor(x):
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.from_numpy(np.ascontiguousarray(x)), True


def stft(x, n_fft: int = 2048, hop: int | None = None, window: str = "hann"):
    """Short-time Fourier transform, batched over leading dimensions.

    Parameters
    ----------
    x: real signal [shape=(..., samples)], numpy array or torch tensor (float32 or float64)
    n_fft: frame length in samples
    hop: hop size in samples; default ``n_fft // 4``
    window: "hann" (periodic), "sqrt_hann", "hamming" or "blackmanharris"

    Returns
    -------
    X: complex [shape=(..., n_fft // 2 + 1, 1 + samples // hop)], complex64 for float32 input;
    numpy in → numpy out, torch in → torch out (same device).

    Example
    -------
    >>> X = stft(np.zeros((2, 44100), np.float32), n_fft=2048, hop=512)
    >>> X.shape
    (2, 1025, 87)
    """
    hop = hop or n_fft // 4
    t, was_numpy = _as_tensor(x)
    shape = t.shape
    flat = t.reshape(-1, shape[-1])
    w = _window(window, n_fft, t.device).to(flat.dtype if flat.is_floating_point() else torch.float32)
    X = torch.stft(
        flat, n_fft, hop_length=hop, win_length=n_fft, window=w, center=True,
        pad_mode="constant", return_complex=True,
    )
    X = X.reshape(*shape[:-1], *X.shape[-2:])
    return X.numpy() if was_numpy else X


def istft(X, n_fft: int = 2048, hop: int | None = None, window: str = "hann", length: int | None = None):
    """Inverse of :func:`stft` (least-squares overlap-add, exact for NOLA windows).

    Parameters
    ----------
    X: complex STFT [shape=(..., n_fft // 2 + 1, frames)], numpy or torch
    n_fft, hop, window: as given to :func:`stft`
    length: number of samples to return (the original signal's length); default ``hop * (frames - 1)``

    Returns
    -------
    x: real signal [shape=(..., length)], float32 for complex64 input; same kind as ``X``.
    """
    hop = hop or n_fft // 4
    t, was_numpy = _as_tensor(X)
    shape = t.shape
    flat = t.reshape(-1, *shape[-2:])
    real_dtype = torch.float64 if flat.dtype == torch.complex128 else torch.float32
    w = _window(window, n_fft, t.device).to(real_dtype)
    x = torch.istft(flat, n_fft, hop_length=hop, win_length=n_fft, window=w, center=True, length=length)
    x = x.reshape(*shape[:-2], x.shape[-1])
    return x.numpy() if was_numpy else x


def ratio_mask(powers, eps: float = 1e-12):
    """Soft masks proportional to each source's power; they sum to one in every bin.

    powers: non-negative [shape=(sources, ...)] (e.g. |S_j|^α), numpy or torch
    Returns masks of the same shape. Where every source has zero power the bin is split
    equally, so masked images always add up to the mixture.
    """
    if isinstance(powers, torch.Tensor):
        total = powers.sum(0, keepdim=True)
        J = powers.shape[0]
        return torch.where(total > eps, powers / total.clamp_min(eps), torch.full_like(powers, 1.0 / J))
    powers = np.asarray(powers)
    total = powers.sum(0, keepdims=True)
    J = powers.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > eps, powers / np.maximum(total, eps), 1.0 / J).astype(powers.dtype, copy=False)


def binary_mask(powers):
    """One-hot masks: each bin goes entirely to the loudest source.

    powers: [shape=(sources, ...)]; returns float masks of the same shape (ties to the first).
    """
    if isinstance(powers, torch.Tensor):
        idx = powers.argmax(0, keepdim=True)
        return torch.zeros_like(powers).scatter_(0, idx, 1.0)
    powers = np.asarray(powers)
    idx = powers.argmax(0)
    return (np.arange(powers.shape[0]).reshape(-1, *([1] * idx.ndim)) == idx[None]).astype(np.float32)


def apply_masks(X, masks):
    """Mask a multichannel STFT.

    X: complex mixture STFT [shape=(channels, bins, frames)]
    masks: real [shape=(sources, bins, frames)] (same mask on every channel) or
        [shape=(sources, channels, bins, frames)]
    Returns complex source images [shape=(sources, channels, bins, frames)].
    """
    if masks.ndim == X.ndim:
        masks = masks[:, None]
    return masks * X[None]


def spatial_model(images, eps: float = 1e-10):
    """Estimate each source's PSD and full-rank spatial covariance from its image STFT.

    images: complex [shape=(sources, channels, bins, frames)], numpy
    Returns
    -------
    psd: float [shape=(sources, bins, frames)], mean power over channels
    cov: complex [shape=(sources, bins, channels, channels)],
        R_j(f) = Σ_t y_j y_jᴴ / Σ_t v_j, so that trace R_j(f) = channels
    """
    images = np.asarray(images)
    J, C = images.shape[:2]
    psd = (np.abs(images) ** 2).mean(axis=1)
    cov = np.einsum("jcft,jdft->jfcd", images, images.conj())
    norm = psd.sum(axis=-1)[..., None, None] + eps
    cov = cov / norm
    # an all-silent source gets an identity covariance instead of a zero matrix
    silent = psd.sum(axis=-1) <= eps
    if silent.any():
        cov[silent] = np.eye(C, dtype=cov.dtype)
    return psd.astype(np.float32 if images.dtype == np.complex64 else np.float64), cov


def wiener(X, psd, cov, eps: float = 1e-10, block: int = 256):
    """Multichannel Wiener filter: source images from PSDs and spatial covariances.

    Parameters
    ----------
    X: complex mixture STFT [shape=(channels, bins, frames)], numpy
    psd: non-negative source PSDs v_j [shape=(sources, bins, frames)]
    cov: complex spatial covariances R_j [shape=(sources, bins, channels, channels)]
    eps: regularisation, relative to the mixture model's mean power in each bin, added to the
        diagonal of Σ_k v_k R_k before inversion (keeps silent bins finite)
    block: frequency bins processed at once (memory stays O(block·frames·channels²·sources))

    Returns
    -------
    images: complex [shape=(sources, channels, bins, frames)], Y_j = v_j R_j (Σ_k v_k R_k)⁻¹ X.
    Where every PSD is zero the mixture is split equally, so the images add up to the mixture
    (exactly, up to ``eps``) wherever the model is not degenerate.
    """
    X = np.asarray(X)
    psd = np.asarray(psd)
    cov = np.asarray(cov)
    C, F, T = X.shape
    J = psd.shape[0]
    cdtype = np.result_type(X.dtype, np.complex64)
    out = np.empty((J, C, F, T), dtype=cdtype)
    eye = np.eye(C)
    for f0 in range(0, F, block):
        f1 = min(F, f0 + block)
        # double precision inside: near rank-deficient mixture models lose digits in complex64
        v = psd[:, f0:f1].astype(np.float64)  # (J, b, T)
        R = cov[:, f0:f1].astype(np.complex128)  # (J, b, C, C)
        # Σ_x(f, t) = Σ_j v_j R_j  -> (b, T, C, C)
        Sx = np.einsum("jft,jfcd->ftcd", v, R)
        load = np.real(np.trace(Sx, axis1=-2, axis2=-1)) / C  # (b, T)
        reg = eps * (load.mean(axis=-1, keepdims=True) + 1e-30) + 1e-30
        Sx = Sx + reg[..., None, None] * eye
        inv = np.linalg.inv(Sx)
        xf = X[:, f0:f1].transpose(1, 2, 0).astype(np.complex128)  # (b, T, C)
        z = np.einsum("ftcd,ftd->ftc", inv, xf)  # Σ_x⁻¹ x
        y = np.einsum("jft,jfcd,ftd->jcft", v, R, z)
        dead = v.sum(axis=0) <= 0  # (b, T): no source claims the bin
        if dead.any():
            y[:, :, dead] = xf[dead].T[None] / J
        out[:, :, f0:f1] = y
    return out
