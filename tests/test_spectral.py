import numpy as np
import pytest
import torch

from shotoku import spectral


@pytest.mark.parametrize(
    "n_fft,hop,window",
    [(2048, 512, "hann"), (2048, 1024, "hann"), (4096, 1024, "hann"), (1024, 256, "sqrt_hann"),
     (1024, 512, "blackmanharris")],
)
def test_round_trip(n_fft, hop, window):
    x = np.random.default_rng(1).standard_normal((3, 2, 30001)).astype(np.float32)
    X = spectral.stft(x, n_fft, hop, window)
    assert X.shape == (3, 2, n_fft // 2 + 1, 1 + 30001 // hop)
    assert X.dtype == np.complex64
    y = spectral.istft(X, n_fft, hop, window, length=x.shape[-1])
    assert np.linalg.norm(y - x) / np.linalg.norm(x) < 1e-5


def test_torch_in_torch_out():
    x = torch.randn(2, 8000)
    X = spectral.stft(x, 512, 128)
    assert isinstance(X, torch.Tensor) and X.is_complex()
    y = spectral.istft(X, 512, 128, length=8000)
    assert torch.allclose(x, y, atol=1e-5)


def test_masks_sum_to_one_even_in_silence():
    p = np.random.default_rng(0).random((4, 10, 7)).astype(np.float32)
    p[:, 0, 0] = 0
    m = spectral.ratio_mask(p)
    np.testing.assert_allclose(m.sum(0), 1.0, rtol=1e-6)
    assert np.allclose(m[:, 0, 0], 0.25)
    b = spectral.binary_mask(p)
    np.testing.assert_array_equal(b.sum(0), 1.0)
    assert (b.argmax(0) == p.argmax(0)).all()


def test_wiener_images_sum_to_mixture_and_recover_separable_sources():
    rng = np.random.default_rng(0)
    # two sources that occupy different halves of the spectrum: Wiener must split them cleanly
    n = 16384
    a = np.sin(2 * np.pi * 440 * np.arange(n) / 16000)
    b = rng.standard_normal(n)
    from scipy.signal import butter, sosfilt

    b = sosfilt(butter(8, 3000, "high", fs=16000, output="sos"), b)
    S = np.stack([np.stack([a, 0.5 * a]), np.stack([0.3 * b, b])]).astype(np.float32)
    X = spectral.stft(S.sum(0), 1024, 256)
    Y = spectral.stft(S, 1024, 256)
    psd, cov = spectral.spatial_model(Y)
    assert psd.shape == (2, 513, X.shape[-1]) and cov.shape == (2, 513, 2, 2)
    np.testing.assert_allclose(np.trace(cov, axis1=-2, axis2=-1).real, 2.0, rtol=1e-4)
    est = spectral.wiener(X, psd, cov)
    np.testing.assert_allclose(est.sum(0), X, atol=1e-4 * np.abs(X).max())
    y = spectral.istft(est, 1024, 256, length=n)
    for j in range(2):
        snr = 10 * np.log10(np.sum(S[j] ** 2) / np.sum((y[j] - S[j]) ** 2))
        assert snr > 15


def test_wiener_silence_gives_silence():
    X = np.zeros((2, 33, 5), np.complex64)
    psd = np.zeros((3, 33, 5), np.float32)
    cov = np.broadcast_to(np.eye(2, dtype=np.complex64), (3, 33, 2, 2)).copy()
    Y = spectral.wiener(X, psd, cov)
    assert np.all(np.isfinite(Y)) and np.all(Y == 0)
