"""shotoku.metrics against museval 0.4.1, and the metrics' own contracts.

The museval numbers of the larger cases are stored in tests/fixtures/museval/*.npz by
scripts/make_museval_fixtures.py (museval needs ~1 s per second of 4-source stereo audio); the
inputs are rebuilt here with the same seeded functions and checked against a stored fingerprint.
Small cases run museval live.
"""

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from shotoku.datasets.scenes import make_scene
from shotoku.errors import AudioContentError, MismatchError, ParameterError
from shotoku.metrics import (
    RankDeficientWarning,
    Scores,
    SilentSourceWarning,
    bss_eval_images,
    bss_eval_sources,
    frame_starts,
    framewise_sdr,
    match_sources,
    median_over_frames,
    median_over_tracks,
    museval_json,
    score_table,
    si_sdr,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "museval"
TOL = 0.01  # dB, on every metric and frame


def _cases():
    spec = importlib.util.spec_from_file_location("make_museval_fixtures", ROOT / "scripts" / "make_museval_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CASES = _cases()


def _one_thread():
    """museval's dense solves on one BLAS thread: much faster on a busy machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _ours(refs, ests, rate, **kw):
    s = bss_eval_images(refs, ests, rate, **kw)
    return np.array([s.sdr, s.isr, s.sir, s.sar])


def _assert_agree(ours, theirs, tol=TOL):
    assert ours.shape == theirs.shape
    nan_o, nan_t = np.isnan(ours), np.isnan(theirs)
    assert np.array_equal(nan_o, nan_t), "NaN frames differ"
    diff = np.abs(ours[~nan_o] - theirs[~nan_t])
    assert diff.size == 0 or diff.max() <= tol, f"max difference {diff.max():.4g} dB"
    return 0.0 if diff.size == 0 else float(diff.max())


@pytest.mark.parametrize("name", ["oracle", "poor", "silences", "short", "stempeg"])
def test_matches_museval_fixtures(name):
    stored = np.load(FIXTURES / f"{name}.npz")
    refs, ests, rate = CASES.CASES[name]()
    fp = CASES.fingerprint(refs, ests)
    if name == "stempeg" and not np.allclose(fp, stored["fingerprint"], rtol=1e-6, atol=0):
        pytest.skip("this PyAV/FFmpeg decodes the stempeg example differently; rerun scripts/make_museval_fixtures.py")
    np.testing.assert_allclose(fp, stored["fingerprint"], rtol=1e-9)
    ours = _ours(refs, ests, int(stored["rate"]), pad=name == "short")
    _assert_agree(ours, stored["scores"])
    if name == "silences":
        # reference 1 is silent in frame 1, estimate 2 in frame 3: whole frames are NaN
        assert np.isnan(ours[:, :, 1]).all() and np.isnan(ours[:, :, 3]).all()
        assert not np.isnan(ours[:, :, [0, 2]]).any()
    if name == "short":  # estimates longer than the references: museval cuts them, we only on request
        assert ours.shape == (4, 2, 1)
        with pytest.raises(MismatchError, match=f"{refs.shape[-1]} samples long but estimates {ests.shape[-1]}"):
            _ours(refs, ests, int(stored["rate"]))
    if name == "oracle":
        assert np.all(ours[0] > 10)  # a quality floor: good estimates score well


def test_matches_museval_live_small():
    import museval

    rng = np.random.default_rng(11)
    rate = 8000
    refs = CASES._f32(CASES.full_rank_scene(rng, 2, int(2.5 * rate)))
    ests = CASES._f32(CASES.oracle_like(rng, refs, leak=0.15))
    with _one_thread():
        theirs = np.array(museval.evaluate(refs.transpose(0, 2, 1), ests.transpose(0, 2, 1), win=rate, hop=rate))
    _assert_agree(_ours(refs, ests, rate), theirs)
    # overlapping frames take the general path
    win, hop = rate, rate // 2
    with _one_thread():
        theirs = np.array(museval.evaluate(refs.transpose(0, 2, 1), ests.transpose(0, 2, 1), win=win, hop=hop))
    _assert_agree(_ours(refs, ests, rate, window=win, hop=hop), theirs)


def test_bss_eval_sources_matches_museval_framewise_filters():
    from museval import metrics

    rng = np.random.default_rng(12)
    n = 6000
    refs = np.stack([scipy.signal.lfilter([1, 0.5 * j], [1, -0.4], rng.standard_normal(n)) for j in range(2)])
    ests = refs[[1, 0]] * 0.9 + 0.1 * refs + 0.05 * rng.standard_normal(refs.shape)
    with _one_thread():
        sdr, _, sir, sar, perm = metrics.bss_eval(
            refs[..., None], ests[..., None], window=3000, hop=3000,
            compute_permutation=True, framewise_filters=True, bsseval_sources_version=True,
        )
    scores, order = bss_eval_sources(refs, ests, window=3000, compute_permutation=True)
    assert order.tolist() == perm[:, 0].tolist() == [1, 0]
    _assert_agree(np.array([scores.sdr, scores.sir, scores.sar]), np.array([sdr, sir, sar]))
    assert np.isnan(scores.isr).all()


def _rank_deficient_scene(rng, n, rate=8000):
    """Three stereo sources, float32: full rank, identical channels, a mono object panned at 20°."""
    refs = CASES.full_rank_scene(rng, 3, n)
    refs[1, 1] = refs[1, 0]
    _, panned = make_scene(refs[2, :1], [20.0], normalize=None)
    refs[2] = panned[0]
    return CASES._f32(refs)


def test_identical_channels_match_museval_live():
    """museval's solve of the singular system fails and its lstsq gives the projection on the
    span: the same numbers as the reduced system here."""
    import museval

    rng = np.random.default_rng(13)
    rate = 8000
    refs = _rank_deficient_scene(rng, int(2.5 * rate))[:2]
    ests = CASES._f32(CASES.oracle_like(rng, refs, leak=0.15))
    with _one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = np.array(museval.evaluate(refs.transpose(0, 2, 1), ests.transpose(0, 2, 1), win=rate, hop=rate))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exact rule: no warning either
        ours = _ours(refs, ests, rate)
    assert _assert_agree(ours, theirs, tol=1e-6) < 1e-6


def _delayed_channels(x: np.ndarray, L: int) -> np.ndarray:
    """[shape=(N + L − 1, C·L)]: every channel of x [shape=(C, N)] delayed by 0..L−1 samples."""
    C, N = x.shape
    out = np.zeros((N + L - 1, C, L))
    for a in range(L):
        out[a : a + N, :, a] = x.T
    return out.reshape(N + L - 1, C * L)


def _span_projection(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Orthogonal projection of the columns of y on the span of A's columns (pivoted QR, directions
    below 1e-12 of the strongest one's energy dropped)."""
    Q, R, _ = scipy.linalg.qr(A, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    Q = Q[:, : int(np.sum(d > 1e-6 * d[0]))]
    return Q @ (Q.T @ y)


def test_rank_deficient_references_give_the_projection_on_their_span():
    """Identical channels, a panned mono object and a hard-panned one (a silent channel), whole
    track as one frame, checked against projections computed by QR from the delayed signals."""
    rng = np.random.default_rng(19)
    L, n = 24, 1200
    refs = _rank_deficient_scene(rng, n)
    hard_left = make_scene(CASES._coloured(rng, n, 0.05, 0.6)[None], [-45.0], normalize=None)[1]
    refs = np.concatenate([refs, CASES._f32(hard_left)])
    ests = CASES._f32(CASES.oracle_like(rng, refs, leak=0.2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = _ours(refs, ests, 8000, window=math.inf, filters_len=L)[..., 0]
    every = np.concatenate([_delayed_channels(r, L) for r in refs.astype(np.float64)], axis=1)
    expected = []
    with _one_thread():
        for j in range(len(refs)):
            s, e = (np.pad(x[j].astype(np.float64).T, [(0, L - 1), (0, 0)]) for x in (refs, ests))
            Pj = _span_projection(_delayed_channels(refs[j].astype(np.float64), L), e)
            P = _span_projection(every, e)
            ratios = [(s, e - s), (s, Pj - s), (Pj, P - Pj), (P, e - P)]
            expected.append([10 * np.log10(np.sum(a**2) / np.sum(b**2)) for a, b in ratios])
    np.testing.assert_allclose(ours, np.array(expected).T, atol=1e-6)


def test_true_stems_against_themselves():
    """Identical-channel and panned-mono stems (and a full-rank one) scored against themselves:
    SDR is +inf for every source (as museval's), the other ratios are at rounding level."""
    rng = np.random.default_rng(20)
    rate = 8000
    refs = _rank_deficient_scene(rng, 3 * rate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = _ours(refs, refs, rate)
    assert np.all(np.isposinf(ours[0]))
    assert np.all(ours[1:] > 100)


def test_panned_mono_is_stable_and_delayed_copies_still_regularised():
    rng = np.random.default_rng(21)
    rate = 8000
    refs = _rank_deficient_scene(rng, 2 * rate)
    ests = CASES._f32(refs + 0.2 * refs[[1, 2, 0]] + 0.05 * rng.standard_normal(refs.shape))
    a = _ours(refs, ests, rate)
    b = _ours(refs * (1 + 1e-9 * rng.standard_normal(refs.shape)), ests, rate)
    assert np.all(np.isfinite(a)) and np.max(np.abs(a - b)) < 1e-3  # not rounding noise
    # a channel that is a delayed copy of the other: dependent only across delays
    delayed = refs.copy()
    delayed[0, 0, -3:] = 0
    delayed[0, 1] = np.roll(delayed[0, 0], 3)
    with pytest.warns(RankDeficientWarning):
        c = _ours(delayed, ests, rate)
    assert np.all(np.isfinite(c))
    np.testing.assert_allclose(c[0][:, 0], 10 * np.log10(np.sum(delayed[:, :, :rate] ** 2, axis=(1, 2)) /
                                                   np.sum((ests - delayed)[:, :, :rate] ** 2, axis=(1, 2))),
                               atol=1e-9)  # SDR does not use the filters


def test_full_rank_references_do_not_warn():
    rng = np.random.default_rng(14)
    refs = CASES.full_rank_scene(rng, 2, 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RankDeficientWarning)
        bss_eval_images(refs, CASES.oracle_like(rng, refs), 8000)


def test_frames_follow_museval():
    assert frame_starts(100, 40, 40)[0].tolist() == [0, 40]  # the partial window is dropped
    assert frame_starts(100, 40, 20)[0].tolist() == [0, 20, 40, 60]
    starts, length = frame_starts(30, 40, 40)  # shorter than a window: one frame
    assert starts.tolist() == [0] and length == 30
    s = bss_eval_images(np.ones((1, 1, 10)) + np.arange(10), np.ones((1, 1, 10)), 4)
    assert s.sdr.shape == (1, 2) and s.times.tolist() == [0.0, 1.0] and s.window == 1.0


def test_lengths_must_match_unless_pad():
    rng = np.random.default_rng(15)
    refs = rng.standard_normal((2, 2, 8000))
    ests = refs + 0.1 * rng.standard_normal(refs.shape)
    longer = np.concatenate([ests, rng.standard_normal((2, 2, 500))], axis=-1)
    shorter = ests[..., :7000]
    for fn in (
        lambda e, **kw: bss_eval_images(refs, e, 4000, **kw),
        lambda e, **kw: bss_eval_sources(refs, e, 4000, **kw),
        lambda e, **kw: framewise_sdr(refs, e, 4000, **kw),
        lambda e, **kw: si_sdr(refs, e, **kw),
    ):
        for e in (longer, shorter):
            with pytest.raises(MismatchError, match=f"references are 8000 samples long but estimates {e.shape[-1]}"):
                fn(e)
    with pytest.raises(MismatchError, match="8000 samples long but estimates 7000"):
        match_sources(refs, shorter, 4000)
    # pad=True: museval's rule, estimates cut or zero-padded to the references' length
    full = _ours(refs, ests, 4000)
    np.testing.assert_allclose(_ours(refs, longer, 4000, pad=True), full, atol=1e-9)
    cut = _ours(refs, shorter, 4000, pad=True)
    np.testing.assert_allclose(full[0, :, 0], cut[0, :, 0], atol=1e-9)  # SDR of the intact frame
    assert np.all(cut[0, :, 1] < full[0, :, 1])  # the missing end counts as error
    np.testing.assert_allclose(si_sdr(refs, longer, pad=True), si_sdr(refs, ests), atol=1e-9)


def test_silent_sources_are_nan_and_blank_nothing_else():
    rng = np.random.default_rng(22)
    rate = 4000
    refs = CASES.full_rank_scene(rng, 3, 3 * rate)
    ests = CASES.oracle_like(rng, refs)
    base = _ours(refs, ests, rate)
    silent_ref = refs.copy()
    silent_ref[1] = 0
    with pytest.warns(SilentSourceWarning, match="reference 1"):
        a = _ours(silent_ref, ests, rate)
    assert np.isnan(a[:, 1]).all()
    # a silent reference spans nothing: the others score as if it were not there
    np.testing.assert_allclose(a[:, [0, 2]], _ours(refs[[0, 2]], ests[[0, 2]], rate), atol=1e-6)
    silent_est = ests.copy()
    silent_est[2] = 0
    with pytest.warns(SilentSourceWarning, match="estimate 2"):
        b = _ours(refs, silent_est, rate)
    assert np.isnan(b[:, 2]).all()
    np.testing.assert_allclose(b[:, :2], base[:, :2], atol=1e-9)
    # silent in one frame only: that frame is NaN for every source, as museval
    part = refs.copy()
    part[0, :, rate : 2 * rate] = 0
    c = _ours(part, ests, rate)
    assert np.isnan(c[:, :, 1]).all() and not np.isnan(c[:, :, [0, 2]]).any()
    with pytest.warns(SilentSourceWarning):
        scores, _ = bss_eval_sources(silent_ref, ests, window=rate)
    assert np.isnan(scores.sdr[1]).all() and np.isfinite(scores.sdr[[0, 2]]).all()


def test_input_errors():
    x = np.random.default_rng(0).standard_normal((2, 2, 4000))
    with pytest.raises(MismatchError):
        bss_eval_images(x, x[:1], 4000)
    with pytest.raises(MismatchError):
        bss_eval_images(x, x[:, :1], 4000)
    bad = x.copy()
    bad[0, 0, 5] = np.nan
    with pytest.raises(AudioContentError):
        bss_eval_images(bad, x, 4000)
    with pytest.raises(ParameterError):
        bss_eval_images(x, x, 4000, window=0)


def test_match_sources_finds_the_permutation():
    rng = np.random.default_rng(16)
    rate = 8000
    refs = CASES.full_rank_scene(rng, 4, 3 * rate)
    perm = np.array([2, 0, 3, 1])
    ests = refs[perm] + 0.1 * refs[perm].std() * rng.standard_normal(refs.shape)
    order, sdr = match_sources(refs, ests, rate)
    assert order.dtype == np.int64 and sdr.shape == (4,)
    assert np.array_equal(perm[order], np.arange(4))
    assert np.all(sdr > 10)
    # the same SDR as BSS Eval's for the matched pairs
    np.testing.assert_allclose(sdr, bss_eval_images(refs, ests[order], rate).median()["SDR"], atol=1e-6)
    # more estimates than references: the extra one is left out
    order2, _ = match_sources(refs[:3], ests, rate)
    assert np.array_equal(perm[order2], np.arange(3))
    # fewer: the unmatched reference gets -1 and NaN
    order3, sdr3 = match_sources(refs, ests[:3], rate)
    assert (order3 == -1).sum() == 1 and np.isnan(sdr3[order3 == -1]).all()


def test_framewise_sdr_is_bss_eval_sdr():
    rng = np.random.default_rng(17)
    refs = rng.standard_normal((3, 2, 12000))
    ests = refs + 0.3 * rng.standard_normal(refs.shape)
    all_pairs = framewise_sdr(refs, ests, 4000)
    assert all_pairs.shape == (3, 3, 3)
    np.testing.assert_allclose(np.diagonal(all_pairs).T, bss_eval_images(refs, ests, 4000).sdr, atol=1e-8)


def test_si_sdr_known_values():
    t = np.arange(8000)
    s = np.sin(2 * np.pi * 440 * t / 8000)[None, None, :]
    n = np.cos(2 * np.pi * 440 * t / 8000)[None, None, :]  # orthogonal to s
    assert si_sdr(s, 3 * s)[0] > 250  # scale does not matter: perfect up to rounding
    assert si_sdr(s, s + 0.1 * n)[0] == pytest.approx(20.0, abs=1e-6)
    assert si_sdr(s, 0.5 * (s + 0.1 * n))[0] == pytest.approx(20.0, abs=1e-6)
    assert si_sdr(s, s + n)[0] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(si_sdr(np.zeros_like(s), s)[0])
    assert si_sdr(s[0], s[0] + 0.1 * n[0]).shape == (1,)  # (sources, samples) works too


def test_aggregation():
    frames = np.array([[1.0, np.nan, 3.0, 10.0], [np.nan, np.nan, np.nan, np.nan]])
    med = median_over_frames(frames)
    assert med[0] == 3.0 and np.isnan(med[1])
    assert median_over_tracks([[5.0, 1.0], [7.0, np.nan], [6.0, 3.0]]).tolist() == [6.0, 2.0]


def test_table_and_json_layout():
    s = Scores(
        sdr=np.array([[1.0, np.inf]]), isr=np.array([[2.0, 2.0]]), sir=np.array([[3.0, np.nan]]),
        sar=np.array([[4.123456789, 4.0]]), times=np.array([0.0, 1.0]), window=1.0, hop=1.0,
    )
    table = score_table(["vocals"], s)
    assert "vocals" in table and "SDR" in table.splitlines()[0]
    js = museval_json(["vocals"], s)
    frame = js["targets"][0]["frames"][0]
    assert js["targets"][0]["name"] == "vocals"
    assert frame == {"time": 0.0, "duration": 1.0, "metrics": {"SDR": 1.0, "SIR": 3.0, "SAR": 4.12346, "ISR": 2.0}}
    second = js["targets"][0]["frames"][1]
    assert second["time"] == 1.0 and math.isnan(second["metrics"]["SDR"]) and math.isnan(second["metrics"]["SIR"])


def test_single_source_has_no_interference():
    rng = np.random.default_rng(18)
    refs = CASES.full_rank_scene(rng, 1, 16000)
    s = bss_eval_images(refs, refs + 0.1 * rng.standard_normal(refs.shape), 8000)
    assert np.all(np.isinf(s.sir)) and np.all(np.isfinite(s.sar))  # museval gives +inf too


def test_sources_read_ranges_with_museval_padding():
    from shotoku.metrics import Sources

    a = np.arange(10, dtype=np.float32).reshape(1, 10)
    s = Sources([a, np.ones((1, 4)), None], length=8)
    out = np.full((3, 1, 6), 7.0)
    s.read(-2, 6, out)
    assert out[0, 0].tolist() == [0, 0, 0, 1, 2, 3]
    assert out[1, 0].tolist() == [0, 0, 1, 1, 1, 1]
    assert out[2, 0].tolist() == [0] * 6
    s.read(6, 6, out)
    assert out[0, 0].tolist() == [6, 7, 0, 0, 0, 0]  # cut at the length asked for
    assert s.active().tolist() == [True, True, False]


@pytest.mark.parametrize("hop", [None, 0.5])
def test_scoring_files_a_range_at_a_time_equals_scoring_arrays(tmp_path, monkeypatch, hop):
    """Files are read a frame (or a piece) at a time, never whole, and score as the arrays do."""
    from shotoku import io
    from shotoku.metrics import Sources, bsseval, inputs

    rate = 8000
    rng = np.random.default_rng(3)
    refs = 0.1 * rng.standard_normal((3, 2, 7 * rate + 123))
    refs[:, 1] += 0.4 * refs[:, 0]
    refs[2, 1] = refs[2, 0]  # a rank-deficient reference: the reduced path, through files too
    ests = refs + 0.3 * refs[[1, 2, 0]] + 0.01 * rng.standard_normal(refs.shape)
    refs, ests = refs.astype(np.float32), ests.astype(np.float32)
    hop_n = None if hop is None else int(hop * rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        whole = bss_eval_images(refs, ests, rate, hop=hop_n)
    files = [[io.save(tmp_path / f"{what}{j}.wav", x[j], rate) for j in range(3)] for what, x in (("r", refs), ("e", ests))]
    longest = []
    real_read = io.AudioFile.read
    monkeypatch.setattr(io.AudioFile, "read", lambda self, a, b: longest.append(b - a) or real_read(self, a, b))
    monkeypatch.setattr(bsseval, "_CACHE_BYTES", 3 * 8193 * 6 * 2 * 16)  # three frames per group
    monkeypatch.setattr(inputs, "PIECE", 2 * rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        parts = bss_eval_images(Sources([io.AudioFile(p) for p in files[0]]),
                                Sources([io.AudioFile(p) for p in files[1]]), rate, hop=hop_n)
    assert max(longest) <= 2 * rate
    for m in ("sdr", "isr", "sir", "sar"):
        np.testing.assert_allclose(getattr(parts, m), getattr(whole, m), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(parts.times, whole.times)
