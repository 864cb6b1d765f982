"""Symmetric positive definite block Toeplitz systems, solved in O(L² m³) instead of O((L m)³).

The Gram matrix of the delayed references in BSS Eval is block Toeplitz: with the unknowns ordered
lag-major (lag ``a`` in 0..L-1, then channel ``p`` in 0..m-1), block ``(a, b)`` is ``R(a - b)``,
an ``m × m`` matrix of lagged correlations, with ``R(-k) = R(k)ᵀ``. For 4 stereo sources and
512 taps that is a 4096 × 4096 matrix, which a dense factorisation handles in seconds.

:func:`solve_block_toeplitz` runs the block Levinson recursion (Whittle 1963; Wiggins & Robinson
1965; Akaike 1973, "Block Toeplitz matrix inversion", SIAM J. Appl. Math. 24(2)), which needs
about 1 % of the operations: its backward predictors are the columns of a unit block triangular
``U`` with ``T⁻¹ = U diag(P_b)⁻¹ Uᵀ``, and those of the last order give ``T⁻¹`` on their own
(the block Gohberg–Semencul formula, :class:`_Inverse`). Levinson's recursion is only weakly
stable (Cybenko 1980; Bunch 1985), so the solution is refined against residuals computed with an
exact block convolution, first with that formula (a few FFTs a step) and, where it stops helping,
with the recursion again, and accepted only when the refinement converges. When it does not (Gram matrices with a condition
number near 1/ε, as band-limited or rank-deficient references give) the caller is told, and
:func:`solve_dense` solves the same system with a dense Cholesky factorisation (LU if Cholesky
breaks down), which is what museval does with LU.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.linalg

__all__ = ["block_toeplitz_dense", "block_toeplitz_matvec", "solve_block_toeplitz", "solve_dense"]


def _full_lags(R: np.ndarray) -> np.ndarray:
    """Blocks for lags -(L-1)..(L-1) [shape=(batch, 2L-1, m, m)] from lags 0..L-1."""
    neg = np.swapaxes(R[:, :0:-1], -1, -2)  # R(-k) = R(k)ᵀ for k = L-1..1
    return np.concatenate([neg, R], axis=1)


def block_toeplitz_dense(R: np.ndarray) -> np.ndarray:
    """The dense matrix ``T[(a, p), (b, q)] = R(a - b)[p, q]``.

    R: [shape=(batch, L, m, m)] -> float64 [shape=(batch, L·m, L·m)].
    """
    batch, L, m, _ = R.shape
    full = _full_lags(R)
    lag = np.arange(L)[:, None] - np.arange(L)[None, :] + L - 1
    T = full[:, lag]  # (batch, L, L, m, m)
    return np.ascontiguousarray(T.transpose(0, 1, 3, 2, 4)).reshape(batch, L * m, L * m)


def block_toeplitz_matvec(R: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Product ``T X`` with the symmetric block Toeplitz matrix ``T[a, b] = R(a - b)``.

    Parameters
    ----------
    R: float64 [shape=(batch, L, m, m)], blocks ``R(k)`` for lags k = 0..L-1; ``R(-k) = R(k)ᵀ``
    X: float64 [shape=(batch, L, m, r)], block column vectors

    Returns
    -------
    float64 [shape=(batch, L, m, r)]: ``(T X)[a] = Σ_b R(a - b) X[b]``, a block convolution over
    the lag index computed with an FFT.

    Example
    -------
    >>> R = np.zeros((1, 3, 1, 1)); R[0, :, 0, 0] = [2.0, 1.0, 0.5]
    >>> block_toeplitz_matvec(R, np.ones((1, 3, 1, 1)))[0, :, 0, 0]
    array([3.5, 4. , 3.5])
    """
    L = R.shape[1]
    n = scipy.fft.next_fast_len(3 * L - 2, real=True)
    Rf = scipy.fft.rfft(_full_lags(R), n=n, axis=1)
    Xf = scipy.fft.rfft(X, n=n, axis=1)
    Y = scipy.fft.irfft(Rf @ Xf, n=n, axis=1)
    return Y[:, L - 1 : 2 * L - 1]


def _levinson(R: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, "_Inverse | None"]:
    """One pass of the block Levinson recursion for ``T X = Y`` (NaN where it breaks down).

    Returns X, the forward prediction error covariance of the last order, and ``T⁻¹`` as the
    predictors of the last order give it (:class:`_Inverse`; None where the recursion broke down).

    Forward predictors ``f`` (``T_n f = [P_f; 0; …]``, first block I) and backward predictors
    ``b`` (``T_n b = […; 0; P_b]``, last block I) grow one block per step; the solution of the
    leading ``n`` block equations is extended with ``b`` of the new order. Predictors and
    solution are stored transposed (one row per column of ``[f | x]`` and of ``b``), so that every
    update of a step is a contiguous run of ``n·m`` values.
    """
    batch, L, m, _ = R.shape
    r = Y.shape[-1]
    Yt = np.swapaxes(Y.reshape(batch, L * m, r), 1, 2)  # (batch, r, L·m)
    # Ht = [R(L-1), ..., R(1)]ᵀ stacked: the blocks that meet a vector of order n, transposed.
    Ht = np.ascontiguousarray(R[:, :0:-1].swapaxes(-1, -2).reshape(batch, (L - 1) * m, m))
    # Vt = [R(1), ..., R(L-1)] stacked: the first block row beyond the diagonal, transposed.
    Vt = np.ascontiguousarray(R[:, 1:].reshape(batch, (L - 1) * m, m))
    FX = np.zeros((batch, m + r, L * m))  # rows: [f | x]ᵀ, left-aligned
    Bt = np.zeros((batch, m, L * m))  # bᵀ, right-aligned
    eye = np.eye(m)
    FX[:, :m, :m] = eye
    Bt[:, :, (L - 1) * m :] = eye
    Pf = R[:, 0].copy()
    Pb = R[:, 0].copy()
    G = np.empty((batch, m + r, m))  # [k_b | k_b μ]ᵀ
    Gb = np.empty((batch, m + r, m))  # [k_f | −μ]ᵀ
    try:
        Pb_inv = np.linalg.inv(Pb)
        FX[:, m:, :m] = np.swapaxes(Pb_inv @ Yt[:, :, :m].swapaxes(1, 2), 1, 2)
        for n in range(1, L):
            nm = n * m
            hfx = FX[:, :, :nm] @ Ht[:, (L - 1 - n) * m :]  # [Δf | ε]ᵀ: Σ_i [f[i] | x[i]]ᵀ R(n-i)ᵀ
            d_f = hfx[:, :m].swapaxes(1, 2)
            b_old = Bt[:, :, (L - n) * m :]
            d_b = (b_old @ Vt[:, :nm]).swapaxes(1, 2)  # Σ_i R(i+1)ᵀ b[i]
            k_f = Pb_inv @ d_f
            k_b = np.linalg.solve(Pf, d_b)
            Pf = _symmetrise(Pf - d_b @ k_f)
            Pb = _symmetrise(Pb - d_f @ k_b)
            Pb_inv = np.linalg.inv(Pb)
            mu = Pb_inv @ (Yt[:, :, nm : nm + m].swapaxes(1, 2) - hfx[:, m:].swapaxes(1, 2))
            G[:, :m] = k_b.swapaxes(1, 2)
            np.matmul(mu.swapaxes(1, 2), G[:, :m], out=G[:, m:])  # (k_b μ)ᵀ
            Gb[:, :m] = k_f.swapaxes(1, 2)
            Gb[:, m:] = -mu.swapaxes(1, 2)
            g_f = G @ FX[:, :m, :nm]  # ([f; 0] [k_b | k_b μ])ᵀ
            g_b = Gb @ b_old  # ([0; b] [k_f | −μ])ᵀ, before b changes
            Bt[:, :, (L - n - 1) * m : (L - 1) * m] -= g_f[:, :m]  # b' = [0; b] - [f; 0] k_b
            FX[:, :, m : nm + m] -= g_b  # f' = [f; 0] - [0; b] k_f ; x' += [0; b] μ
            FX[:, m:, :nm] -= g_f[:, m:]  # x' -= [f; 0] k_b μ
    except np.linalg.LinAlgError:  # an exactly singular error covariance
        return np.full((batch, L, m, r), np.nan), np.full((batch, m, m), np.nan), None
    X = FX[:, m:].swapaxes(1, 2).reshape(batch, L, m, r)
    # blocks f_i[p, q] = FX[q, i·m + p], b_i likewise
    F = FX[:, :m].reshape(batch, m, L, m).transpose(0, 2, 3, 1)
    B = Bt.reshape(batch, m, L, m).transpose(0, 2, 3, 1)
    try:
        inverse = _Inverse(F, B, Pf, Pb)
    except np.linalg.LinAlgError:
        inverse = None
    return X, Pf, inverse


class _Inverse:
    """``T⁻¹`` of a symmetric block Toeplitz matrix from its predictors of the last order.

    The block Gohberg–Semencul formula (Gohberg & Heinig 1974; Kailath, Vieira & Morf 1978,
    "Inverses of Toeplitz operators, innovations, and orthogonal polynomials", SIAM Review 20(1)):
    with ``L(c)`` the block lower triangular Toeplitz matrix whose first block column is ``c``,
    ``Z`` the shift down by one block, ``f`` and ``b`` the forward and backward predictors and
    ``P_f``, ``P_b`` their error covariances,

        T⁻¹ = L(f) diag(P_f⁻¹) L(f)ᵀ − L(Z b) diag(P_b⁻¹) L(Z b)ᵀ,

    so that ``T⁻¹ Y`` is four block convolutions (FFTs of length ≥ 2L − 1): O(L log L · m²·r)
    instead of a new O(L² m² (m + r)) recursion. Like the recursion, it is only weakly stable,
    which is enough to refine a solution against exact residuals.

    F, B: float64 [shape=(batch, L, m, m)], the blocks f_i and b_i; Pf, Pb [shape=(batch, m, m)].
    """

    def __init__(self, F: np.ndarray, B: np.ndarray, Pf: np.ndarray, Pb: np.ndarray):
        self.L = F.shape[1]
        self.n = scipy.fft.next_fast_len(2 * self.L - 1, real=True)
        shifted = np.concatenate([np.zeros_like(B[:, :1]), B[:, :-1]], axis=1)  # Z b
        self.terms = [
            (scipy.fft.rfft(F, n=self.n, axis=1), np.linalg.inv(Pf)[:, None], 1.0),
            (scipy.fft.rfft(shifted, n=self.n, axis=1), np.linalg.inv(Pb)[:, None], -1.0),
        ]

    def __call__(self, Y: np.ndarray) -> np.ndarray:
        """T⁻¹ Y for Y [shape=(batch, L, m, r)]."""
        L, n = self.L, self.n
        Yf = scipy.fft.rfft(Y, n=n, axis=1)
        X = np.zeros_like(Y)
        for C, P_inv, sign in self.terms:
            v = scipy.fft.irfft(np.swapaxes(np.conj(C), -1, -2) @ Yf, n=n, axis=1)[:, :L]  # L(c)ᵀ Y
            w = scipy.fft.irfft(C @ scipy.fft.rfft(P_inv @ v, n=n, axis=1), n=n, axis=1)[:, :L]
            X += sign * w
        return X


def _symmetrise(p: np.ndarray) -> np.ndarray:
    """(p + pᵀ) / 2: error covariances are kept exactly symmetric."""
    return 0.5 * (p + p.swapaxes(-1, -2))


def solve_block_toeplitz(
    R: np.ndarray, Y: np.ndarray, tol: float = 4e-15, max_refine: int = 2, max_cheap: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``T X = Y`` for symmetric positive definite block Toeplitz ``T[a, b] = R(a - b)``.

    Parameters
    ----------
    R: float64 [shape=(batch, L, m, m)], blocks ``R(k)`` for lags k = 0..L-1 (``R(-k) = R(k)ᵀ``);
        ``batch`` independent systems are solved together
    Y: float64 [shape=(batch, L, m, r)], right-hand sides
    tol: accept a solution whose residual ``‖Y − T X‖`` is below ``tol · ‖R(0)‖ · ‖X‖`` (max
        norms): within a few times what LU with partial pivoting achieves on these matrices
    max_cheap: refinement steps that apply ``T⁻¹`` to the residual through the predictors of the
        recursion (:class:`_Inverse`, a few block convolutions); used while they reduce the
        residual
    max_refine: refinement steps that run the recursion again on the residual, once the cheap
        steps stop helping (more ill-conditioned matrices, where the formula's rounding errors
        grow faster than the recursion's)

    Returns
    -------
    X: float64 [shape=(batch, L, m, r)]
    ok: bool [shape=(batch,)], False where the recursion broke down or refinement did not reach
        ``tol`` (that matrix is too ill-conditioned for this method: use :func:`solve_dense`;
        its X is meaningless)
    innovation: float64 [shape=(batch, m, m)], the forward prediction error covariance of order
        L, ``((T⁻¹)₀₀)⁻¹``: what of each channel the other channels and the next L-1 samples of
        all do not explain; a channel with a near-zero pivot in its Cholesky factor is linearly
        dependent on the others

    Example
    -------
    >>> R = np.zeros((1, 3, 1, 1)); R[0, :, 0, 0] = [2.0, 1.0, 0.5]
    >>> X, ok, _ = solve_block_toeplitz(R, np.ones((1, 3, 1, 1)))
    >>> np.round(X[0, :, 0, 0], 6), ok
    (array([0.333333, 0.166667, 0.333333]), array([ True]))
    """
    R = np.asarray(R, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    scale = np.max(np.abs(R[:, 0]), axis=(-2, -1))

    def error(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Relative residual per system (NaN where X is not finite), and the residual."""
        resid = Y - block_toeplitz_matvec(R, X)
        return np.max(np.abs(resid), axis=(1, 2, 3)) / (scale * np.max(np.abs(X), axis=(1, 2, 3))), resid

    with np.errstate(all="ignore"):
        X, innovation, inverse = _levinson(R, Y)
        err, resid = error(X)
        cheap = max_cheap if inverse is not None else 0
        expensive = max_refine
        while not np.all(err <= tol) and np.all(err <= 1e7 * tol) and cheap + expensive > 0:
            formula = cheap > 0
            if formula:
                cheap -= 1
                X_new = X + inverse(resid)
            else:
                expensive -= 1
                X_new = X + _levinson(R, resid)[0]
            err_new, resid_new = error(X_new)
            better = err_new < err  # per system; a step that does not help is not taken
            keep = better[:, None, None, None]
            X, resid, err = np.where(keep, X_new, X), np.where(keep, resid_new, resid), np.where(better, err_new, err)
            if formula and not better.all():
                cheap = 0  # the formula stopped helping: the recursion from here on
            elif not formula and not better.any():
                break
    return X, err <= tol, innovation


def solve_dense(R: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve the same systems as :func:`solve_block_toeplitz` with a dense factorisation.

    Cholesky (``numpy.linalg.cholesky``), or LU with partial pivoting when Cholesky finds the
    matrix not numerically positive definite, or, when LU meets an exactly zero pivot, the
    minimum-norm least-squares solution (``numpy.linalg.lstsq``, as museval does): never raises
    for a singular matrix.

    Returns
    -------
    X: float64 [shape=(batch, L, m, r)]
    pivots: float64 [shape=(batch, L, m)], the squared Cholesky pivots in lag-major order: the
        variance of each delayed channel not explained by the earlier ones (NaN where LU was
        used); a pivot near zero relative to its channel's energy marks a linearly dependent
        channel.
    """
    with one_blas_thread():
        return _solve_dense(R, Y)


def one_blas_thread():
    """Run BLAS/LAPACK on one thread: OpenBLAS's spinning threads make dense factorisations many
    times slower on a busy machine, and one thread gives the same rounding everywhere."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _solve_dense(R: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch, L, m, r = Y.shape
    T = block_toeplitz_dense(np.asarray(R, dtype=np.float64))
    X = np.empty((batch, L * m, r))
    pivots = np.full((batch, L * m), np.nan)
    for b in range(batch):
        try:
            c = np.linalg.cholesky(T[b])
            X[b] = scipy.linalg.cho_solve((c, True), Y[b].reshape(L * m, r), check_finite=False)
            pivots[b] = np.diag(c) ** 2
        except np.linalg.LinAlgError:
            Tb = block_toeplitz_dense(np.asarray(R[b : b + 1], dtype=np.float64))[0]
            Yb = Y[b].reshape(L * m, r)
            try:
                X[b] = np.linalg.solve(Tb, Yb)
            except np.linalg.LinAlgError:  # exactly singular: the minimum-norm least-squares solution
                X[b] = np.linalg.lstsq(Tb, Yb, rcond=None)[0]
    return X.reshape(batch, L, m, r), pivots.reshape(batch, L, m)
