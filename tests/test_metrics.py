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
import scipy.signal

from shotoku.errors import AudioContentError, MismatchError, ParameterError
from shotoku.metrics import (
    RankDeficientWarning,
    Scores,
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
    ours = _ours(refs, ests, int(stored["rate"]))
    _assert_agree(ours, stored["scores"])
    if name == "silences":
        # reference 1 is silent in frame 1, estimate 2 in frame 3: whole frames are NaN
        assert np.isnan(ours[:, :, 1]).all() and np.isnan(ours[:, :, 3]).all()
        assert not np.isnan(ours[:, :, [0, 2]]).any()
    if name == "short":
        assert ours.shape == (4, 2, 1)
    if name == "oracle":
        assert np.all(ours[0] > 10)  # a quality floor: good estimates score well


def test_matches_museval_live_small():
    museval = pytest.importorskip("museval")
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
    metrics = pytest.importorskip("museval.metrics")
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


def test_rank_deficient_references_warn_and_are_stable():
    rng = np.random.default_rng(13)
    rate = 8000
    refs = CASES.full_rank_scene(rng, 2, 2 * rate)
    mono = refs[1, 0].copy()
    refs[1] = np.stack([0.8 * mono, 0.6 * mono])  # a mono object panned into stereo: rank 1
    refs = CASES._f32(refs)
    ests = refs + 0.2 * refs[[1, 0]] + 0.05 * rng.standard_normal(refs.shape)
    with pytest.warns(RankDeficientWarning):
        a = _ours(refs, ests, rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        b = _ours(refs * (1 + 1e-9 * rng.standard_normal(refs.shape)), ests, rate)
    assert np.all(np.isfinite(a))
    assert np.max(np.abs(a - b)) < 1e-3  # regularised: no longer rounding noise
    # SDR does not use the filters
    np.testing.assert_allclose(a[0][:, 0], 10 * np.log10(np.sum(refs[:, :, :rate] ** 2, axis=(1, 2)) /
                                                   np.sum((ests - refs)[:, :, :rate] ** 2, axis=(1, 2))), atol=1e-9)


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


def test_estimates_are_padded_or_cut():
    rng = np.random.default_rng(15)
    refs = rng.standard_normal((2, 2, 8000))
    ests = refs + 0.1 * rng.standard_normal(refs.shape)
    full = _ours(refs, ests, 4000)
    longer = _ours(refs, np.concatenate([ests, rng.standard_normal((2, 2, 500))], axis=-1), 4000)
    np.testing.assert_allclose(full, longer, atol=1e-9)
    shorter = _ours(refs, ests[..., :7000], 4000)
    np.testing.assert_allclose(full[0, :, 0], shorter[0, :, 0], atol=1e-9)  # SDR of the intact frame
    assert np.all(shorter[0, :, 1] < full[0, :, 1])  # the missing end counts as error


def test_input_errors():
    x = np.random.default_rng(0).standard_normal((2, 2, 4000))
    with pytest.raises(MismatchError):
        bss_eval_images(x, x[:1], 4000)
    with pytest.raises(MismatchError):
        bss_eval_images(x, x[:, :1], 4000)
    silent = x.copy()
    silent[1] = 0
    with pytest.raises(AudioContentError, match="silent"):
        bss_eval_images(silent, x, 4000)
    with pytest.raises(AudioContentError, match="silent"):
        bss_eval_images(x, silent, 4000)
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
