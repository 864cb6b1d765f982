"""Independent component analysis for determined mixtures: FastICA and AuxIVA.

Two separators for mixtures with at least as many channels as sources:

- ``ica``: FastICA (Hyvärinen & Oja, "Independent component analysis: algorithms and
  applications", Neural Networks 13, 2000) for *instantaneous* mixtures ``x = A s`` (amplitude
  panning, no delays, no reverberation).
- ``auxiva``: frequency-domain independent vector analysis with auxiliary-function updates
  (Ono, "Stable and fast update rules for independent vector analysis based on auxiliary function
  technique", WASPAA 2011) for *convolutive* mixtures (delays, rooms). IVA models each source as
  one vector across all frequencies, so the per-frequency permutation problem of frequency-domain
  ICA does not arise.

Libraries, and why:

- FastICA is scikit-learn's :class:`sklearn.decomposition.FastICA` (logcosh contrast, parallel
  updates, unit-variance whitening): well kept, already a dependency, and it exposes the unmixing
  matrix, which is all we need.
- AuxIVA is ``pyroomacoustics.bss.auxiva``: already a dependency (the scene and room simulators
  use pyroomacoustics), maintained, and it returns the demixing matrices (``return_filters``).
  ssspy implements the same algorithm (and IP2/ISS/IPA variants) but would add a dependency
  for no gain here.

Where this departs from the libraries: neither output is used as it comes. pyroomacoustics'
``proj_back=True`` rescales every source onto the *first* microphone only, and FastICA returns
unit-variance components with arbitrary sign. Here each separated component ``y_j`` is mapped back
to *every* mixture channel by projection-back (Murata, Ikeda & Ziehe 2001; the minimal-distortion
principle of Matsuoka 2002): the mixing column is fitted by least squares,
``a = E[x yᴴ] E[y yᴴ]⁻¹`` (per frequency for AuxIVA), and the image of source j on channel c is
``a_cj · y_j``. In the determined case (sources = channels) ``a`` equals the inverse of the
demixing matrix, so the images add up to the mixture exactly; with fewer sources than channels
they add up to the mixture's projection on the separated subspace.

Both are "determined" methods: they cannot separate more sources than there are channels, so a
stereo recording yields at most two sources. Asking for more raises
:class:`shotoku.errors.ChannelError`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ChannelError, ParameterError
from ..registry import register
from ..spectral import istft, stft

# Below this ratio of eigenvalues of the channel covariance, channels count as linearly dependent.
_RANK_TOL = 1e-9


def _check_sources(sources: int | None, mixture: np.ndarray, method: str) -> int:
    """Validate the number of sources against the mixture; return it (default: channel count)."""
    n_channels = mixture.shape[0]
    if sources is None or sources == 0:
        sources = n_channels
    sources = int(sources)
    if sources < 1:
        raise ParameterError(f"method '{method}': sources must be at least 1, got {sources}")
    if sources > n_channels:
        raise ChannelError(
            f"method '{method}' separates at most as many sources as the mixture has channels "
            f"(asked for {sources} sources from {n_channels} channel(s)); ask for sources<={n_channels}, "
            f"or use a method for underdetermined mixtures such as projet, duet or adress"
        )
    x = mixture.astype(np.float64)
    cov = x @ x.T / max(x.shape[1], 1)
    eig = np.sort(np.linalg.eigvalsh(cov))[::-1]
    if eig[0] > 0 and eig[sources - 1] < _RANK_TOL * eig[0]:
        raise ChannelError(
            f"method '{method}' needs {sources} linearly independent channels, but the mixture's "
            f"channels are (nearly) copies of each other; ask for fewer sources or use "
            f"a recording with distinct channels"
        )
    return sources


def _projection_back(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares mixing matrix that maps separated components back to the mixture channels.

    x: mixture [shape=(..., C, T)] (real or complex); y: components [shape=(..., K, T)].
    Returns a [shape=(..., C, K)] minimising ``‖x − a y‖²``, i.e. ``a = (x yᴴ)(y yᴴ)⁻¹``, with a
    tiny diagonal loading so that silent components give zero images instead of NaN.
    """
    r_xy = x @ np.conj(np.swapaxes(y, -1, -2))
    r_yy = y @ np.conj(np.swapaxes(y, -1, -2))
    k = r_yy.shape[-1]
    load = 1e-12 * np.real(np.trace(r_yy, axis1=-2, axis2=-1))[..., None, None] / k + 1e-30
    r_yy = r_yy + load * np.eye(k)
    # a = r_xy r_yy^-1  <=>  a^H = r_yy^-H r_xy^H, and r_yy is Hermitian.
    a_h = np.linalg.solve(r_yy, np.conj(np.swapaxes(r_xy, -1, -2)))
    return np.conj(np.swapaxes(a_h, -1, -2))


def _silent(mixture: np.ndarray, k: int) -> dict[str, np.ndarray] | None:
    """Silent images for a silent mixture (nothing to separate), else None."""
    if np.any(mixture):
        return None
    return _named(np.zeros((k,) + mixture.shape, np.float32))


def _named(images: np.ndarray) -> dict[str, np.ndarray]:
    return {f"source_{j + 1}": np.ascontiguousarray(img, dtype=np.float32) for j, img in enumerate(images)}


def _fit_ica(x: np.ndarray, k: int, n_iter: int, tol: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """FastICA on x [shape=(C, N)] float64: (unmixing [shape=(K, C)], mixing [shape=(C, K)]), the
    mixing matrix from projection-back."""
    from sklearn.decomposition import FastICA

    ica = FastICA(n_components=k, whiten="unit-variance", max_iter=int(n_iter), tol=float(tol),
                  random_state=int(seed))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*did not converge.*")
        ica.fit(x.T)
    unmixing = ica.components_
    return unmixing, _projection_back(x, unmixing @ x)


def _plan_ica(summary: np.ndarray, rate: int, *, sources: int = 0, n_iter: int = 400, tol: float = 1e-5,
              seed: int = 0, **_) -> dict:
    """A long input's unmixing and mixing matrices, fitted once on its summary excerpt
    (:func:`shotoku.separation.summary_excerpt`): every block is then the same linear map, so the
    blocks join exactly and the sources keep their order."""
    k = _check_sources(sources, summary, "ica")
    if not np.any(summary):
        return {}
    unmixing, mixing = _fit_ica(summary.astype(np.float64), k, n_iter, tol, seed)
    return {"_unmixing": unmixing, "_mixing": mixing}


@register(
    "ica",
    description="FastICA (scikit-learn) for instantaneous determined mixtures (sources <= channels)",
    channels="multi",
    blocks="planned",
    plan=_plan_ica,
)
def separate_ica(
    mixture: np.ndarray,
    rate: int,
    *,
    sources: int = 0,
    n_iter: int = 400,
    tol: float = 1e-5,
    seed: int = 0,
    _unmixing: np.ndarray | None = None,
    _mixing: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Separate an instantaneous (gain-only) mixture with FastICA.

    Fits ``x = A s`` with scikit-learn's FastICA (logcosh contrast, unit-variance whitening) on the
    time-domain samples, then projects each independent component back onto every channel.
    Only right for mixtures without delays or reverberation; use ``auxiva`` for those. A long
    input is fitted once on a summary of it and separated block by block with those matrices
    (``_unmixing``, ``_mixing``: given by the plan, not by users).

    Parameters
    ----------
    mixture: float32 array [shape=(channels, samples)], channels >= 2.
    rate: sample rate in Hz (unused: the model has no time or frequency scale).
    sources: number of sources to extract, at most the number of channels (0: as many as channels)
    n_iter: maximum number of FastICA iterations
    tol: FastICA convergence tolerance on the change of the unmixing vectors
    seed: seed of FastICA's random initial unmixing matrix

    Returns
    -------
    dict ``source_1 .. source_K`` -> float32 image [shape=(channels, samples)]; with
    sources = channels the images add up to the mixture (to float32 rounding).
    The order of the sources is arbitrary (ICA's permutation ambiguity).
    """
    x = mixture.astype(np.float64)
    if _unmixing is None:
        k = _check_sources(sources, mixture, "ica")
        if (silent := _silent(mixture, k)) is not None:
            return silent
        _unmixing, _mixing = _fit_ica(x, k, n_iter, tol, seed)
    y = _unmixing @ x  # (K, N): unmixing applied to the uncentred mixture
    images = _mixing.T[:, :, None] * y[:, None, :]  # (K, C, N)
    return _named(images)


def _auxiva_frame(n_fft: int, rate: int) -> int:
    n_fft = int(n_fft) or int(2 ** round(np.log2(0.064 * rate)))
    if n_fft < 16 or n_fft % 2:
        raise ParameterError(f"method 'auxiva': n_fft must be an even number >= 16, got {n_fft}")
    return n_fft


def _fit_auxiva(spec: np.ndarray, k: int, n_iter: int, model: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """AuxIVA on a mixture's STFT [shape=(C, F, T)] complex128: (demixing [shape=(F, K, C)],
    mixing from projection-back [shape=(F, C, K)])."""
    import pyroomacoustics as pra

    if model not in ("laplace", "gauss"):
        raise ParameterError(f"method 'auxiva': model must be 'laplace' or 'gauss', got '{model}'")
    rng = np.random.default_rng(seed)
    scale = 1e-6 * np.sqrt(np.mean(np.abs(spec) ** 2)) + 1e-12
    dither = scale * (rng.standard_normal(spec.shape) + 1j * rng.standard_normal(spec.shape)) / np.sqrt(2)
    fit_in = np.ascontiguousarray((spec + dither).transpose(2, 1, 0))  # (T, F, C), the library's layout
    _, w = pra.bss.auxiva(
        fit_in, n_src=k, n_iter=int(n_iter), proj_back=False, model=model, return_filters=True
    )  # w: (F, K, C) demixing matrices
    x_f = spec.transpose(1, 0, 2)  # (F, C, T)
    return w, _projection_back(x_f, w @ x_f)


def _plan_auxiva(summary: np.ndarray, rate: int, *, sources: int = 0, n_iter: int = 50, n_fft: int = 0,
                 model: str = "gauss", seed: int = 0, **_) -> dict:
    """A long input's demixing and mixing matrices, fitted once on its summary excerpt: every
    block is then filtered alike, so the sources keep their order across blocks."""
    k = _check_sources(sources, summary, "auxiva")
    if not np.any(summary):
        return {}
    n_fft = _auxiva_frame(n_fft, rate)
    spec = np.asarray(stft(summary, n_fft=n_fft, hop=n_fft // 4)).astype(np.complex128)
    demixing, mixing = _fit_auxiva(spec, k, n_iter, model, seed)
    return {"_demixing": demixing, "_mixing": mixing}


@register(
    "auxiva",
    description="AuxIVA (pyroomacoustics) with projection-back, for convolutive determined mixtures",
    channels="multi",
    blocks="planned",
    plan=_plan_auxiva,
)
def separate_auxiva(
    mixture: np.ndarray,
    rate: int,
    *,
    sources: int = 0,
    n_iter: int = 50,
    n_fft: int = 0,
    model: str = "gauss",
    seed: int = 0,
    _demixing: np.ndarray | None = None,
    _mixing: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Separate a convolutive (delayed, reverberant) mixture with AuxIVA.

    STFT of every channel (``shotoku.spectral.stft``, hop n_fft/4), demixing matrices W(f) fitted
    by AuxIVA with iterative-projection updates (``pyroomacoustics.bss.auxiva``, identity start;
    OverIVA when sources < channels), components ``y(f,t) = W(f) x(f,t)``, projection-back of each
    component onto every channel per frequency, inverse STFT. A long input is fitted once on a
    summary of it and separated block by block with those matrices (``_demixing``, ``_mixing``:
    given by the plan, not by users).

    The frame must be long compared with the inter-channel delays and the early reverberation for
    the per-frequency instantaneous model to hold, yet short enough to leave many frames for the
    statistics; the default is the power of two nearest 64 ms (1024 at 16 kHz, 2048 at 44.1 kHz).
    Measured on 5 s speech pairs in simulated rooms (16 kHz, 10 cm spacing, 8 layouts): 1024 beats
    2048 at RT60 0.1-0.15 s, 2048 wins at 0.25 s. The time-varying Gaussian prior is the default:
    on the same rooms it never fell below 7.6 dB at RT60 <= 0.15 s (median 12.6 / 10.1 dB), while
    the Laplace prior sometimes locked into a partial permutation across frequency (about 1 dB).

    Parameters
    ----------
    mixture: float32 array [shape=(channels, samples)], channels >= 2.
    rate: sample rate in Hz.
    sources: number of sources to extract, at most the number of channels (0: as many as channels)
    n_iter: number of AuxIVA iterations
    n_fft: STFT frame length in samples, hop n_fft/4 (0: the power of two nearest 64 ms)
    model: source prior, 'gauss' (time-varying Gaussian, default) or 'laplace'
    seed: seed of the tiny dither (1e-6 of the RMS) added while fitting, so that silent bins stay invertible

    Returns
    -------
    dict ``source_1 .. source_K`` -> float32 image [shape=(channels, samples)]; with
    sources = channels the images add up to the mixture (to STFT rounding).
    The order of the sources is arbitrary.
    """
    n_fft = _auxiva_frame(n_fft, rate)
    hop = n_fft // 4
    if _demixing is None:
        k = _check_sources(sources, mixture, "auxiva")
        if (silent := _silent(mixture, k)) is not None:
            return silent
    spec = np.asarray(stft(mixture, n_fft=n_fft, hop=hop)).astype(np.complex128)  # (C, F, T)
    if _demixing is None:
        _demixing, _mixing = _fit_auxiva(spec, k, n_iter, model, seed)
    y = _demixing @ spec.transpose(1, 0, 2)  # (F, K, T)
    img_spec = _mixing.transpose(2, 1, 0)[:, :, :, None] * y.transpose(1, 0, 2)[:, None, :, :]  # (K, C, F, T)
    images = istft(img_spec.astype(np.complex64), n_fft=n_fft, hop=hop, length=mixture.shape[-1])
    return _named(np.asarray(images))
