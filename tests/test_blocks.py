"""Long inputs separated block by block (shotoku.separation.run): joins, plans, names."""

import numpy as np
import pytest

from shotoku import registry, separation
from shotoku.datasets.scenes import CONDITIONS, scene_from_objects
from shotoku.errors import SeparatorBug
from shotoku.evaluation import score

RATE = 8000


@pytest.fixture
def short_blocks(monkeypatch):
    """Blocks of 1.5 s (context 1 s, fade 0.5 s) so that a few seconds of audio make several."""
    monkeypatch.setattr(separation, "BLOCK_SECONDS", 1.5)
    monkeypatch.setattr(separation, "CONTEXT_SECONDS", 1.0)
    monkeypatch.setattr(separation, "FADE_SECONDS", 0.5)


@pytest.fixture
def temporary_method():
    added = []

    def add(name, func, **kw):
        added.append(name)
        return registry.add(registry.method_from_function(name, func, description="test", **kw))

    yield add
    for name in added:
        registry._REGISTRY.pop(name, None)


def test_block_bounds_cover_the_input_once():
    assert separation.block_bounds(44100 * 42, 44100) == [0, 44100 * 42]  # up to block + context: whole
    bounds = separation.block_bounds(44100 * 100 + 7, 44100)
    assert bounds[0] == 0 and bounds[-1] == 44100 * 100 + 7
    assert np.all(np.diff(bounds) > 0) and len(bounds) - 1 == 3


def test_blocks_join_to_what_each_block_returns(short_blocks, temporary_method):
    """A method returning its input and a scaled copy: the joined images are exactly those of the
    whole input (the crossfade weights of neighbouring blocks sum to 1), and each call saw at
    most a block plus its context."""
    lengths = []

    def echo(mixture, rate, *, gain=0.5):
        lengths.append(mixture.shape[1])
        return {"same": mixture, "scaled": gain * mixture}

    temporary_method("echo-test", echo, blocks="blocks")
    x = np.random.default_rng(0).standard_normal((2, RATE * 9 + 123)).astype(np.float32)
    result = separation.run(x, RATE, "echo-test")
    assert result.blocks["count"] == 7
    assert max(lengths) <= RATE * (1.5 + 2 * 1.0)
    np.testing.assert_allclose(result.images["same"], x, rtol=0, atol=2e-6)
    np.testing.assert_allclose(result.images["scaled"], 0.5 * x, rtol=0, atol=2e-6)


def test_a_method_that_renames_its_outputs_between_blocks_is_a_bug(short_blocks, temporary_method):
    calls = []

    def drifting(mixture, rate):
        calls.append(1)
        return {f"object at {len(calls)}": mixture}

    temporary_method("drifting-test", drifting, blocks="blocks")
    with pytest.raises(SeparatorBug, match="drifting-test"):
        separation.run(np.ones((2, RATE * 5), np.float32), RATE, "drifting-test")


def test_whole_methods_stay_whole(short_blocks, temporary_method):
    seen = []
    temporary_method("whole-test", lambda mixture, rate: seen.append(mixture.shape) or {"a": mixture})
    result = separation.run(np.ones((2, RATE * 5), np.float32), RATE, "whole-test")
    assert seen == [(2, RATE * 5)] and result.blocks == {"count": 1}


def test_summary_excerpt_is_bounded_and_spread():
    x = np.arange(RATE * 200, dtype=np.float32)[None].repeat(2, 0)
    s = separation.summary_excerpt(x, RATE)
    assert s.shape[1] <= separation.PLAN_SECONDS * RATE
    assert s[0, 0] == 0 and s[0, -1] == x[0, -1]  # first and last excerpts touch both ends
    short = x[:, : RATE * 10]
    assert separation.summary_excerpt(short, RATE) is short


def _scene(seconds: float, condition: str = "20"):
    rng = np.random.default_rng(5)
    t = np.arange(int(seconds * RATE)) / RATE
    objects = []
    for k, f in enumerate((220.0, 330.0, 495.0, 660.0)):
        env = 0.5 + 0.5 * np.sin(2 * np.pi * (0.3 + 0.2 * k) * t + k)
        objects.append(env * np.sin(2 * np.pi * f * t + 0.3 * np.sin(2 * np.pi * 2 * t))
                       + 0.05 * rng.standard_normal(t.size))
    angles, delays = CONDITIONS[condition]
    return scene_from_objects(np.array(objects), angles, delays, rate=RATE)


@pytest.mark.parametrize("method", ["adress", "duet", "projet"])
def test_planned_methods_keep_their_objects_across_blocks(short_blocks, method):
    """A planned method fixes its positions once for the whole input: every block gives the
    same objects under the same names, the record says where they were found, and the quality
    stays that of the whole input (mean over objects; no post-filter, to keep the test short)."""
    scene = _scene(5.0)
    blocked = separation.run(scene.mixture, RATE, method, sources=4, postfilter="none")
    assert blocked.blocks["count"] == 4
    assert len(blocked.parameters["positions"]) == 4
    np.testing.assert_allclose(sorted(blocked.parameters["positions"]), CONDITIONS["20"][0], atol=3)
    separation.BLOCK_SECONDS = 1e9  # restored by the fixture
    whole = separation.run(scene.mixture, RATE, method, sources=4, postfilter="none")
    assert whole.blocks == {"count": 1}
    sdr = [np.mean([v["SDR"] for v in score(scene.references, r.images, RATE, match="auto").medians().values()])
           for r in (blocked, whole)]
    assert sdr[0] > sdr[1] - 0.2, sdr  # measured: within 0.002 dB for all three
    assert sdr[1] > 18.5, sdr  # measured: 20.0 (adress), 20.3 (duet), 21.1 (projet)


def test_oracles_are_separated_block_by_block_with_their_references_sliced(short_blocks):
    scene = _scene(5.0)
    result = separation.run(scene.mixture, RATE, "oracle-irm", references=scene.references)
    assert result.blocks["count"] == 4 and list(result.images) == list(scene.references)
    medians = score(scene.references, result.images, RATE).medians()
    assert min(v["SDR"] for v in medians.values()) > 10.0


def test_oracle_references_from_files_are_read_a_block_at_a_time(short_blocks, tmp_path, monkeypatch):
    """References given as files (what ``separate --references DIR`` passes) are read per block,
    never whole, and separate exactly as the arrays do; ``evaluate``'s path scores the files."""
    from shotoku import io

    scene = _scene(5.0)
    files = {k: io.AudioFile(io.save(tmp_path / f"{k}.wav", v, RATE)) for k, v in scene.references.items()}
    spans = []
    real_read = io.AudioFile.read
    monkeypatch.setattr(io.AudioFile, "read", lambda self, a, b: spans.append(b - a) or real_read(self, a, b))
    from_files = separation.run(scene.mixture, RATE, "oracle-irm", references=files)
    assert spans and max(spans) <= int((1.5 + 2 * 1.0) * RATE)  # a block and its context
    from_arrays = separation.run(scene.mixture, RATE, "oracle-irm", references=scene.references)
    for k in scene.references:
        np.testing.assert_array_equal(from_files.images[k], from_arrays.images[k])
    a = score(files, from_arrays.images, RATE).scores
    b = score(scene.references, from_arrays.images, RATE).scores
    np.testing.assert_allclose(a.sdr, b.sdr, atol=1e-6)
    np.testing.assert_allclose(a.sar, b.sar, atol=1e-6)


@pytest.mark.parametrize("method", ["adress", "duet", "projet"])
def test_a_silent_stretch_keeps_the_planned_objects(short_blocks, method):
    """A block that is silent from end to end (a long pause in a song) gives silent images under
    the same names as the others, not a failure."""
    scene = _scene(9.0)
    x = scene.mixture.copy()
    x[:, 2 * RATE:7 * RATE] = 0.0  # the blocks [3, 4.5) and [4.5, 6) s see silence only
    result = separation.run(x, RATE, method, sources=4, postfilter="none")
    assert result.blocks["count"] == 6 and len(result.images) == 4
    for image in result.images.values():
        assert np.all(image[:, int(3.5 * RATE):int(5.5 * RATE)] == 0.0)
        assert np.any(image[:, : 2 * RATE])


def test_streamed_images_are_the_returned_ones_and_a_failure_leaves_nothing(short_blocks, temporary_method,
                                                                         tmp_path):
    """``run(sink=...)`` into :class:`~shotoku.outputs.StagedImages` writes, block by block,
    files equal to the images ``run`` returns; a method failing in a later block leaves the
    output folder as it was."""
    from shotoku import io
    from shotoku.outputs import StagedImages

    calls = []

    def tilt(mixture, rate, *, fail_at=0):
        calls.append(1)
        if fail_at and len(calls) == fail_at:
            raise RuntimeError("block failed")
        return {"left": mixture * np.float32(0.25), "rest": mixture * np.float32(0.75)}

    temporary_method("tilt-test", tilt, blocks="blocks")
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, RATE * 6 + 17)).astype(np.float32)
    expected = separation.run(x, RATE, "tilt-test").images
    staged = []

    def sink(piece):
        if not staged:
            staged.append(StagedImages(tmp_path / "out", list(piece), RATE, 2, x.shape[1]))
        staged[0].write(piece)

    result = separation.run(x, RATE, "tilt-test", sink=sink)
    assert result.images == {} and result.blocks["count"] == 5
    paths = staged[0].commit({"method": "tilt-test"})
    for name, path in paths.items():
        audio, rate = io.load(path)
        np.testing.assert_array_equal(audio, expected[name])
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    calls.clear()
    staged.clear()
    with pytest.raises(RuntimeError, match="block failed"):
        try:
            separation.run(x, RATE, "tilt-test", sink=sink, fail_at=3)
        finally:
            if staged:
                staged[0].abort()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before


@pytest.mark.parametrize("method", ["ica", "auxiva"])
def test_determined_methods_fit_once_and_separate_block_by_block(short_blocks, method):
    """ICA and AuxIVA fit their matrices once on the summary and apply them to every block: the
    sources keep their order and names, and the quality is that of the whole input."""
    rng = np.random.default_rng(2)
    t = np.arange(5 * RATE) / RATE
    envelopes = np.stack([np.sin(2 * np.pi * 1.3 * t) ** 2, np.cos(2 * np.pi * 0.7 * t) ** 2])
    s = envelopes * rng.laplace(size=(2, t.size)) * 0.3  # broadband, non-stationary, independent
    mixing = np.array([[1.0, 0.6], [0.4, 1.0]])
    refs = {f"s{j}": (mixing[:, j:j + 1] * s[j]).astype(np.float32) for j in range(2)}
    mixture = sum(refs.values())
    blocked = separation.run(mixture, RATE, method)
    assert blocked.blocks["count"] == 4 and list(blocked.images) == ["source_1", "source_2"]
    assert "_unmixing" not in blocked.parameters and "_demixing" not in blocked.parameters
    np.testing.assert_allclose(sum(blocked.images.values()), mixture, atol=2e-3)
    separation.BLOCK_SECONDS = 1e9  # restored by the fixture
    whole = separation.run(mixture, RATE, method)
    sdr = [score(refs, r.images, RATE, match="sdr").mean() for r in (blocked, whole)]
    assert sdr[0] > sdr[1] - 0.1 and sdr[0] > 46.0, sdr  # measured: 51.1 / 51.1 (ica), 48.3 / 48.3 (auxiva)
