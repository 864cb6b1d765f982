"""The block Toeplitz solvers behind BSS Eval's distortion filters, and the invariances of the
metrics' fast paths (threads, frames held in memory or recomputed)."""

import doctest

import numpy as np
import pytest

from shotoku.metrics import bss_eval_images, bsseval, inputs, matching, spectra, toeplitz
from shotoku.metrics.toeplitz import block_toeplitz_dense, solve_block_toeplitz, solve_dense


def _lagged(rng, batch, m, L, n=4000, colour=0.0):
    """Lag correlations R(k) [shape=(batch, L, m, m)] of random signals, optionally low-passed
    (``colour``): a symmetric positive definite block Toeplitz Gram matrix."""
    x = rng.standard_normal((batch, m, n + L))
    if colour:
        for _ in range(3):
            x[..., 1:] += colour * x[..., :-1]
    x = x[..., L:]
    return np.stack([np.einsum("bpn,bqn->bpq", x[..., : n - k], x[..., k:]) for k in range(L)], axis=1)


@pytest.mark.parametrize("batch, m, r, colour", [(1, 8, 8, 0.0), (4, 2, 2, 0.0), (2, 3, 5, 0.9)])
def test_block_levinson_matches_a_dense_solve(batch, m, r, colour):
    rng = np.random.default_rng(21)
    L = 48
    R = _lagged(rng, batch, m, L, colour=colour)
    Y = rng.standard_normal((batch, L, m, r))
    X, ok, innovation = solve_block_toeplitz(R, Y)
    assert ok.all()
    dense = np.linalg.solve(block_toeplitz_dense(R), Y.reshape(batch, L * m, r)).reshape(X.shape)
    np.testing.assert_allclose(X, dense, rtol=0, atol=1e-10 * np.abs(dense).max())
    Xc, _ = solve_dense(R, Y)  # Cholesky against LU: both backward stable, cond(T) ~ 1e5 at colour 0.9
    np.testing.assert_allclose(Xc, dense, rtol=0, atol=1e-9 * np.abs(dense).max())
    # the innovation is the forward prediction error covariance: ((T⁻¹)₀₀)⁻¹
    top_left = np.linalg.inv(block_toeplitz_dense(R))[:, :m, :m]
    np.testing.assert_allclose(innovation, np.linalg.inv(top_left), rtol=1e-8)


def test_inverse_from_the_predictors_is_the_inverse():
    rng = np.random.default_rng(22)
    L, m = 12, 3
    R = _lagged(rng, 2, m, L, colour=0.5)
    _, _, inverse = toeplitz._levinson(R, np.zeros((2, L, m, 1)))
    T_inv = np.linalg.inv(block_toeplitz_dense(R))
    Y = rng.standard_normal((2, L, m, 4))
    expected = (T_inv @ Y.reshape(2, L * m, 4)).reshape(Y.shape)
    np.testing.assert_allclose(inverse(Y), expected, rtol=0, atol=1e-10 * np.abs(expected).max())


def _band_limited(L, floor, band=0.6, n=1 << 14):
    """R(k) [shape=(1, L, 2, 2)] of a stereo process whose spectrum is flat over ``band`` of the
    frequencies and ``floor`` elsewhere (a lossy-coded stem): condition numbers up to 1/floor."""
    density = np.where(np.fft.rfftfreq(n) < band / 2, 1.0, floor)
    r = np.fft.irfft(density, n=n)[:L]
    return (r[:, None, None] * np.array([[1.0, 0.5], [0.5, 1.0]]))[None]


@pytest.mark.parametrize("L, floor", [(512, 1e-6), (32, 1e-8)])
def test_refinement_reaches_the_tolerance_on_ill_conditioned_systems(L, floor):
    rng = np.random.default_rng(23)
    R = _band_limited(L, floor)
    assert np.linalg.cond(block_toeplitz_dense(R)[0]) > 1e5
    Y = rng.standard_normal((1, L, 2, 2))

    def residual(X):
        return np.abs(Y - toeplitz.block_toeplitz_matvec(R, X)).max() / (np.abs(R[:, 0]).max() * np.abs(X).max())

    first = toeplitz._levinson(R, Y)[0]
    assert residual(first) > 4e-15  # one pass of the recursion is not enough here
    X, ok, _ = solve_block_toeplitz(R, Y)
    assert ok.all() and residual(X) <= 4e-15
    dense = np.linalg.solve(block_toeplitz_dense(R), Y.reshape(1, -1, 2)).reshape(X.shape)
    assert np.abs(X - dense).max() < 1e-3 * np.abs(dense).max()
    if floor < 1e-7:  # the formula alone diverges here; the recursion's refinement takes over
        assert not solve_block_toeplitz(R, Y, max_refine=0)[1].all()
        # also when the one formula step allowed is the one that fails
        assert solve_block_toeplitz(R, Y, max_cheap=1)[1].all()


def test_singular_systems_do_not_raise():
    """An exactly singular Gram matrix (two identical channels): the dense solver falls back to the
    minimum-norm least-squares solution, which solves the (consistent) system."""
    rng = np.random.default_rng(25)
    R = _lagged(rng, 1, 2, 16)
    R[..., 1, :] = R[..., 0, :]
    R[..., :, 1] = R[..., :, 0]
    Y = toeplitz.block_toeplitz_matvec(R, rng.standard_normal((1, 16, 2, 3)))
    X, _ = solve_dense(R, Y)
    assert np.all(np.isfinite(X))
    np.testing.assert_allclose(toeplitz.block_toeplitz_matvec(R, X), Y, atol=1e-8 * np.abs(Y).max())


def test_no_private_names_cross_modules():
    """metrics modules use one another's public functions only."""
    import ast
    import pathlib

    for path in pathlib.Path(bsseval.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_docstring_examples():
    for module in (toeplitz, bsseval, inputs, matching):
        failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)[:2]
        assert tried > 0 and failed == 0


def test_results_do_not_depend_on_threads_or_memory(monkeypatch):
    rng = np.random.default_rng(24)
    rate = 8000
    refs = rng.standard_normal((3, 2, int(5.4 * rate)))
    refs[:, 1] += 0.5 * refs[:, 0]
    ests = 0.9 * refs + 0.2 * refs[[1, 2, 0]] + 0.05 * rng.standard_normal(refs.shape)

    def scores():
        s = bss_eval_images(refs, ests, rate)
        return np.array([s.sdr, s.isr, s.sir, s.sar])

    base = scores()
    monkeypatch.setattr(spectra, "THREADS", 1)
    np.testing.assert_allclose(scores(), base, rtol=0, atol=1e-8)
    # room for the spectra of two frames: transformed in groups, again for the projections
    frame_bytes = (rate + 511) // 2 * 6 * 2 * 16
    monkeypatch.setattr(bsseval, "_CACHE_BYTES", 2 * frame_bytes)
    calls = []
    transform = spectra.FrameSpectra.transform

    def counted(self, starts, stats):
        calls.append(len(starts))
        return transform(self, starts, stats)

    monkeypatch.setattr(spectra.FrameSpectra, "transform", counted)
    np.testing.assert_allclose(scores(), base, rtol=0, atol=1e-8)
    assert len(calls) >= 6 and max(calls) <= 2 and sum(calls) == 6 + 5  # 6 segments, then 5 frames
    monkeypatch.setattr(spectra, "THREADS", 2)
    np.testing.assert_allclose(scores(), base, rtol=0, atol=1e-8)
