"""The shipped checkpoints separate the real MUSDB18 excerpt of stempeg: every stem better than
the mixture used as its estimate, by margins close to what bench/evaluate_models.py measures."""

import math

import numpy as np
import pytest

import shotoku
from shotoku.datasets import example
from shotoku.evaluation import score
from shotoku.models.catalog import shipped

STEMS = ["vocals", "drums", "bass", "other"]
# Median framewise SDR over the mixture's, per stem, on the excerpt: measured (docs/benchmarks.md,
# "Trained models") minus about 1.5 dB. A shipped checkpoint without a row here fails: it needs one.
FLOORS = {
    "mmdensenet": {"vocals": 5.5, "drums": 8.5, "bass": 4.5, "other": 4.3},  # measured +7.1, +10.0, +6.0, +5.8
    "waveunet": {"vocals": 5.8, "drums": 5.4, "bass": 3.3, "other": 5.4},  # measured +7.4, +6.9, +4.9, +6.9
}


@pytest.fixture(scope="module")
def excerpt():
    track = example(targets=STEMS)[0]
    mixture = np.asarray(track.mixture, np.float32)
    refs = {s: np.asarray(track.stems[s], np.float32) for s in STEMS}
    base = score(refs, {s: mixture for s in STEMS}, track.rate, match="name").medians()
    return mixture, refs, track.rate, {s: base[s]["SDR"] for s in STEMS}


@pytest.mark.parametrize("name", sorted(shipped()))
def test_shipped_model_beats_the_mixture_on_every_stem_of_a_real_song(excerpt, name):
    mixture, refs, rate, base = excerpt
    assert name in FLOORS, f"shipped checkpoint {name} has no floor in this test"
    images = shotoku.separate(mixture, rate, method=name)
    assert sorted(images) == sorted(STEMS)
    medians = score(refs, {s: images[s] for s in STEMS}, rate, match="name").medians()
    gains = {s: medians[s]["SDR"] - base[s] for s in STEMS}
    assert all(math.isfinite(g) for g in gains.values()), gains
    for s in STEMS:
        assert gains[s] >= FLOORS[name][s], (name, s, gains)
