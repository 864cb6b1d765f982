"""The varied synth recipe: the catalogue's train/held-out split, every source family sounding,
effects with exact stems, the Festival voice on its melody, and mixing a rendered pool."""

import numpy as np
import pytest
import soundfile as sf

from shotoku.datasets import synth
from shotoku.datasets.synth import STEMS, recipe, remix, render_song, sources
from shotoku.datasets.synth import drums as drums_mod
from shotoku.datasets.synth.compose import compose
from shotoku.errors import ParameterError, ShotokuError


def _dbfs(x):
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-30)


def _need(split, family, kind=None):
    if not sources.has(split, family, kind):
        pytest.skip(f"no {family} source installed (make system-deps installs them)")


# --- the split -------------------------------------------------------------------------------

def test_train_split_never_picks_heldout_sources():
    assert sources.is_heldout_path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    assert sources.is_heldout_path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")
    assert not sources.is_heldout_path("/usr/share/sounds/sf2/TimGM6mb.sf2")
    for s in sources.catalogue("train"):
        assert s.split in ("train", "any") and not (s.path and sources.is_heldout_path(s.path)), s
    families = set()
    for seed in range(400):
        plan = recipe.draw_plan(seed, "train")
        for s in plan.sources():
            assert s.split in ("train", "any"), (seed, s)
            assert not (s.path and sources.is_heldout_path(s.path)), (seed, s)
        families |= {(k, p.family) for k, p in plan.stems.items()}
        assert sum(not p.absent for p in plan.stems.values()) >= 2
    # the draws reach every installed family
    for stem, fam in (("drums", "drumkit"), ("drums", "loop"), ("drums", "soundfont"), ("other", "guitar")):
        if sources.has("train", fam):
            assert (stem, fam) in families


def test_heldout_split_uses_only_heldout_soundfonts():
    _need("heldout", "soundfont")
    for seed in range(100):
        plan = recipe.draw_plan(seed, "heldout")
        assert plan.font.split == "heldout" and sources.is_heldout_path(plan.font.path)
        for stem, p in plan.stems.items():
            if stem == "vocals":
                assert p.family == "voice"
            else:
                assert p.family == "soundfont" and p.source.split == "heldout", (seed, stem, p.source)


def test_heldout_soundfont_refused_for_train():
    path = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    assert sources.Path(path).is_file(), "fluid-soundfont-gm is missing: make test installs it"
    for plain in (False, True):  # both recipes: the check sits before either runs
        with pytest.raises(ParameterError, match="held out"):
            render_song(1, 1.0, soundfont=path, plain=plain)


def test_missing_material_gives_a_clear_error(monkeypatch):
    monkeypatch.setattr(sources, "catalogue", lambda split="train": ())
    with pytest.raises(ShotokuError, match="apt-get install"):
        recipe.draw_plan(1, "train")


# --- whole songs -------------------------------------------------------------------------------

def _seed_with_effects(split="train"):
    for seed in range(200):
        plan = recipe.draw_plan(seed, split)
        if plan.reverb and all(p.chain and p.send > 0 for k, p in plan.stems.items() if k != "bass") and \
                not any(p.absent for p in plan.stems.values()):
            return seed
    raise AssertionError("no seed with effects on every stem")


def test_stems_sum_exactly_with_effects():
    seed = _seed_with_effects()
    track = render_song(seed, 2.5)
    s, meta = track.stems, track.meta
    assert meta["recipe"] == "varied" and meta["split"] == "train" and meta["reverb"] is not None
    assert all(meta["sources"][k]["effects"] for k in ("drums", "other", "vocals"))
    assert np.array_equal(s["drums"] + s["bass"] + s["other"] + s["vocals"], track.mixture)
    assert np.array_equal(s["vocals"] + s["other"] + s["bass"] + s["drums"], track.mixture)
    for stem in STEMS:
        assert s[stem].shape == (2, int(2.5 * 44100)) and s[stem].dtype == np.float32
        assert _dbfs(s[stem]) > -45, stem
    assert 0.5 < max(np.abs(a).max() for a in [track.mixture, *s.values()]) < 1.0


def test_absent_stem_is_silent_and_heldout_song_renders():
    seed = next(sd for sd in range(500) if recipe.draw_plan(sd, "heldout").stems["bass"].absent)
    if not sources.has("heldout", "soundfont"):
        pytest.skip("fluid-soundfont-gm is not installed")
    track = render_song(seed, 1.5, split="heldout")
    assert track.meta["absent"] and "bass" in track.meta["absent"]
    assert not np.any(track.stems["bass"])
    assert sources.is_heldout_path(track.meta["soundfont"])
    assert np.array_equal(sum(track.stems[k] for k in STEMS), track.mixture)
    present = [k for k in STEMS if k not in track.meta["absent"]]
    assert all(_dbfs(track.stems[k]) > -45 for k in present)


# --- each family sounds ------------------------------------------------------------------------

def _drum_events(seconds=2.0):
    score = compose(4, seconds)
    return [(score.time(n.start), n.pitch, n.velocity) for n in score.parts["drums"][0].notes
            if score.time(n.start) < seconds]


@pytest.mark.parametrize("kind", ["hydrogen", "assembled"])
def test_drum_kits_sound(kind):
    _need("train", "drumkit", kind)
    kits = sources.family("train", "drumkit", kind)
    events = _drum_events()
    for src in kits[:: max(1, len(kits) // 3)]:
        audio = drums_mod.render_kit(events, drums_mod.kit_of(src), np.random.default_rng(0), 2 * 44100, 44100)
        assert audio.shape == (2, 88200) and _dbfs(audio) > -40, src.name
        # the kick lands on the first downbeat
        assert np.abs(audio[:, :2000]).max() > 0.05 * np.abs(audio).max(), src.name


def test_drum_loop_and_guitar_sound():
    _need("train", "loop")
    _need("train", "guitar")
    from shotoku.datasets.synth import guitar

    loop = sources.family("train", "loop")[0]
    audio, info = drums_mod.render_loop(loop.path, 120.0, 2 * 44100, 44100)
    assert audio.shape == (2, 88200) and _dbfs(audio) > -40 and info["beats"] in (1, 2, 4, 8, 16)
    g = sources.family("train", "guitar")[0]
    audio, start = guitar.excerpt(g.path, np.random.default_rng(1), 2 * 44100, 44100)
    assert audio.shape == (2, 88200) and _dbfs(audio) > -40 and start >= 0


def test_every_train_soundfont_sounds(tmp_path):
    _need("train", "soundfont")
    from shotoku.datasets.synth import midi, render

    score = compose(6, 1.0)
    procs = []
    for src in sources.family("train", "soundfont"):
        mid = midi.write_midi(tmp_path / f"{src.name}.mid", score, score.parts["bass"], 1.0)
        wav = tmp_path / f"{src.name}.wav"
        procs.append((src, render.start(mid, wav, sources.Path(src.path), 22050), wav))
    for src, proc, wav in procs:
        audio = render.finish(proc, wav, 22050)
        assert _dbfs(audio) > -50, src.name


def test_mma_groove_arranges_every_stem():
    from shotoku.datasets.synth import grooves

    if not grooves.grooves():
        pytest.skip("mma is not installed")
    assert len(grooves.grooves()) > 100
    score = compose(2, 4.0)
    parts = grooves.arrange("BossaNova", 100.0, score.chords, 2, seed=3)
    assert parts["drums"] and parts["bass"] and parts["other"]
    assert all(p.channel == 9 for p in parts["drums"]) and all(p.channel != 9 for p in parts["other"])
    assert parts == grooves.arrange("BossaNova", 100.0, score.chords, 2, seed=3)  # repeatable


@pytest.mark.parametrize("voice", ["kal_diphone", "cmu_us_slt_arctic_hts"])
def test_festival_voice_follows_the_score(voice):
    if not any(s.name == voice for s in sources.family("train", "voice", "festival")):
        pytest.skip(f"festival voice {voice} is not installed")
    from shotoku.datasets.synth.voice import pyworld, sing

    src = next(s for s in sources.family("train", "voice") if s.name == voice)
    pitches = [src.low + k for k in (2, 5, 9, 7, 4, 0)]
    sylls = ["l'A:", "n'oU", "m'i:", "d'eI", "S'aI", "w'u:"]
    notes = [(0.1 + 0.45 * i, 0.5 + 0.45 * i, p, 100, s) for i, (p, s) in enumerate(zip(pitches, sylls))]
    y = sing(notes, 3.0, "festival:" + voice, 16000, 12.0, 5.5).astype(np.float64)
    pw = pyworld()
    f0, t = pw.dio(y, 16000, f0_floor=60.0, f0_ceil=900.0, frame_period=5.0)
    f0 = pw.stonemask(y, f0, t, 16000)
    score = np.zeros_like(f0)
    for start, end, pitch, _, _ in notes:
        a, b = int(np.ceil((start + 0.13) * 200)), int((end - 0.03) * 200)
        score[a: b + 1] = 440.0 * 2 ** ((pitch - 69) / 12)
    sung = score > 0
    voiced = sung & (f0 > 0)
    assert voiced.sum() >= 0.8 * sung.sum()
    cents = 1200 * np.log2(f0[voiced] / score[voiced])
    assert np.mean(np.abs(cents) < 50) >= 0.95, np.sort(np.abs(cents))[-10:]


# --- the pool ----------------------------------------------------------------------------------

def test_remix_draws_stems_across_songs_exactly(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        folder = tmp_path / f"synth-{i:04d}"
        folder.mkdir()
        for stem in STEMS:
            x = np.round(rng.uniform(-0.6, 0.6, (2, 22050)) / synth.GRID) * synth.GRID
            sf.write(str(folder / f"{stem}.wav"), x.T.astype(np.float32), 22050, subtype="FLOAT")
        sf.write(str(folder / "mixture.wav"), np.zeros((22050, 2), np.float32), 22050, subtype="FLOAT")
    a = remix(tmp_path, seed=3, seconds=0.5)
    b = remix(tmp_path, seed=3, seconds=0.5)
    assert a.mixture.shape == (2, 11025) and a.rate == 22050
    assert np.array_equal(a.mixture, b.mixture) and a.meta == b.meta
    assert len({v["track"] for v in a.meta["remix"].values()}) == 4  # four different songs
    assert np.array_equal(sum(a.stems[k] for k in STEMS), a.mixture)
    assert np.abs(a.mixture).max() <= synth.PEAK and a.meta["gain_db"] < 0  # halved, exactly
    with pytest.raises(ParameterError):
        remix(tmp_path, seed=1, seconds=5.0)
    with pytest.raises(ParameterError):
        remix(tmp_path / "empty", seed=1)


def test_corpus_melody_fits_key_chords_and_voice():
    from shotoku.datasets.synth import melodies

    if not melodies.available():
        pytest.skip("music21 is not installed")
    score = compose(9, 8.0)
    starts = [c[0] for c in score.chords]

    def chord_at(beat):
        return score.chords[max(int(np.searchsorted(starts, beat + 1e-9, side="right")) - 1, 0)][1]

    found = melodies.corpus_melody(np.random.default_rng(5), score.tonic, score.mode, 57, 74, 4, chord_at)
    assert found is not None
    notes, name = found
    assert name.startswith(("essenFolksong/", "nottingham-dataset/"))
    assert len(notes) >= 4 and all(57 <= n.pitch <= 74 for n in notes)
    assert all(a.start + a.dur <= b.start + 1e-9 for a, b in zip(notes, notes[1:]))  # one voice, no overlaps
    scale = {(score.tonic + s) % 12 for s in ((0, 2, 4, 5, 7, 9, 11) if score.mode == "major" else (0, 2, 3, 5, 7, 8, 10))}
    strong = [n for n in notes if abs(n.start - round(n.start)) < 1e-6 and round(n.start) % 2 == 0]
    assert strong and np.mean([n.pitch % 12 in chord_at(n.start) for n in strong]) >= 0.8
    assert np.mean([n.pitch % 12 in scale for n in notes]) >= 0.9
