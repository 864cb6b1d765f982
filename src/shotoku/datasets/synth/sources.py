"""The catalogue of sound sources the synthetic songs draw from, split into train and held out.

Every timbre a song can use comes from a Debian package and is listed here as a
:class:`Source`: General MIDI soundfonts (rendered with FluidSynth), sampled drum kits
(Hydrogen's kits, and kits assembled from Sonic Pi's and LMMS's one-shot samples), recorded drum
loops (Sonic Pi, LMMS), recorded electric-guitar stems (Frets on Fire songs) and voices
(espeak-ng, Festival). Each has a ``split``:

- ``"train"``: material the training songs may use;
- ``"heldout"``: reserved for evaluation on timbres no trained model has heard. Every
  FluidR3-derived soundfont (``fluid-soundfont-gm``, ``fluid-soundfont-gs``,
  ``fluidr3mono-gm-soundfont``) and the ``openttd-openmsx`` music set are held out; a
  ``split="train"`` song can never pick them (they are matched by file name and by the resolved
  path, so a link such as ``default-GM.sf2 -> FluidR3_GM.sf2`` is held out too);
- ``"any"``: voices, which are procedures rather than instrument timbres, serve both splits.

:func:`catalogue` lists what is installed on this machine, so a missing optional package only
narrows the choice; :func:`choose` raises :class:`~shotoku.errors.ShotokuError` naming the
packages to install when nothing of a needed family is present.
"""

from __future__ import annotations

import functools
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ParameterError, ShotokuError

SPLITS = ("train", "heldout")
SF2 = Path("/usr/share/sounds/sf2")
SF3 = Path("/usr/share/sounds/sf3")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
LMMS = Path("/usr/share/lmms/samples")
FRETSONFIRE = Path("/usr/share/games/fretsonfire/data/songs")
FESTIVAL_VOICES = Path("/usr/share/festival/voices")

#: File names (lower case) and package names that are reserved for evaluation.
HELDOUT_PATTERN = re.compile(r"fluid|openmsx", re.IGNORECASE)

# (file, package, name) of the General MIDI soundfonts offered to training songs.
TRAIN_SOUNDFONTS = (
    (SF2 / "TimGM6mb.sf2", "timgm6mb-soundfont", "TimGM6mb"),
    (SF3 / "MuseScore_General_Lite.sf3", "musescore-general-soundfont-small", "MuseScore General Lite"),
    (SF3 / "MuseScore_General_Full.sf3", "musescore-general-soundfont", "MuseScore General Full"),
    (SF2 / "sf_GMbank.sf2", "csound-soundfont", "csound GM bank"),
    (SF2 / "A320U.sf2", "denemo-data", "A320U"),
    (SF2 / "OPL-3_FM_128M.sf2", "opl3-soundfont", "OPL3 FM"),
)
HELDOUT_SOUNDFONTS = (
    (SF2 / "FluidR3_GM.sf2", "fluid-soundfont-gm", "FluidR3 GM"),
    (SF2 / "FluidR3_GS.sf2", "fluid-soundfont-gs", "FluidR3 GS"),
    (SF3 / "FluidR3Mono_GM.sf3", "fluidr3mono-gm-soundfont", "FluidR3 Mono GM"),
)
# Drum loops (recorded, drums only) and the recorded guitar stems.
SONIC_PI_LOOPS = ("loop_amen", "loop_amen_full", "loop_breakbeat", "loop_compus", "loop_industrial",
                  "loop_safari", "loop_tabla")
LMMS_LOOPS = ("909beat01", "break01", "break02", "break03", "electro_beat01", "electro_beat02",
              "house_loop01", "jungle01")
# espeak-ng voice variants (their singing range: lowest, highest MIDI pitch) and Festival voices.
ESPEAK_VOICES = {"en-us+f2": (57, 74), "en-us+f3": (57, 74), "en-us+f4": (57, 74), "en+f5": (57, 74),
                 "en-us+m1": (48, 65), "en-us+m3": (48, 65), "en-us+m7": (48, 65), "en+m2": (48, 65)}
FESTIVAL = {"kal_diphone": ("english/kal_diphone", "festvox-kallpc16k", (48, 64)),
            "ked_diphone": ("english/ked_diphone", "festvox-kdlpc16k", (48, 64)),
            "cmu_us_slt_arctic_hts": ("us/cmu_us_slt_arctic_hts", "festvox-us-slt-hts", (57, 72))}

#: Which stem each family of sources can play.
FAMILY_STEMS = {"soundfont": ("drums", "bass", "other"), "drumkit": ("drums",), "loop": ("drums",),
                "guitar": ("other",), "voice": ("vocals",)}
PACKAGES = {"soundfont": "timgm6mb-soundfont musescore-general-soundfont-small csound-soundfont "
                         "opl3-soundfont denemo-data",
            "heldout-soundfont": "fluid-soundfont-gm",
            "drumkit": "hydrogen-drumkits sonic-pi-samples lmms-common",
            "loop": "sonic-pi-samples lmms-common",
            "guitar": "fretsonfire-songs-muldjord fretsonfire-songs-sectoid",
            "voice": "espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"}


@dataclass(frozen=True)
class Source:
    """One sound source.

    family: "soundfont", "drumkit", "loop", "guitar" or "voice"
    name: readable name, unique within its family
    path: the file or folder it reads ("" for espeak-ng voices)
    split: "train", "heldout" or "any"
    package: the Debian package that provides it
    kind: sub-kind within the family ("hydrogen" / "assembled" kits, "espeak" / "festival"
        voices, "sf2" / "sf3" soundfonts)
    low, high: singing range of a voice (MIDI pitches); 0 otherwise
    """

    family: str
    name: str
    path: str
    split: str
    package: str
    kind: str = ""
    low: int = 0
    high: int = 0

    @property
    def stems(self) -> tuple[str, ...]:
        return FAMILY_STEMS[self.family]

    def to_meta(self) -> dict:
        d = {"family": self.family, "name": self.name, "split": self.split, "package": self.package}
        if self.path:
            d["path"] = self.path
        return d


def is_heldout_path(path) -> bool:
    """True when ``path`` (or the file a link at it points to) is reserved for evaluation."""
    p = Path(path)
    names = [p.name]
    try:
        names.append(p.resolve().name)
    except OSError:
        pass
    return any(HELDOUT_PATTERN.search(n) for n in names)


def _is_soundfont(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"sfbk"


@functools.lru_cache(maxsize=64)
def presets(path: str) -> frozenset[tuple[int, int]]:
    """The (bank, program) pairs a SoundFont 2/3 file defines (its ``phdr`` chunk).

    Reads only the RIFF chunk headers and the preset headers, skipping the sample data.
    """
    out = set()
    with open(path, "rb") as f:
        riff, size, kind = struct.unpack("<4sI4s", f.read(12))
        if riff != b"RIFF" or kind != b"sfbk":
            raise ParameterError(f"'{path}' is not a SoundFont (.sf2/.sf3) file")
        end = 8 + size
        while f.tell() < end:
            head = f.read(8)
            if len(head) < 8:
                break
            if head[:4] != b"LIST" and f.tell() > 20:  # a writer that skipped the pad byte
                f.seek(-9, 1)
                head = f.read(8)
            cid, csize = struct.unpack("<4sI", head)
            if cid == b"LIST":
                ltype = f.read(4)
                if ltype != b"pdta":
                    f.seek(csize - 4 + (csize & 1), 1)
                    continue
                stop = f.tell() + csize - 4
                while f.tell() < stop:
                    sid, ssize = struct.unpack("<4sI", f.read(8))
                    if sid == b"phdr":
                        data = f.read(ssize)
                        for i in range(0, len(data) - 38, 38):  # the last record is the terminal one
                            program, bank = struct.unpack_from("<HH", data, i + 20)
                            out.add((bank, program))
                        return frozenset(out)
                    f.seek(ssize + (ssize & 1), 1)
            else:
                f.seek(csize + (csize & 1), 1)
    return frozenset(out)


def _soundfonts(split: str) -> list[Source]:
    table = TRAIN_SOUNDFONTS if split == "train" else HELDOUT_SOUNDFONTS
    out = []
    for path, package, name in table:
        if path.is_file() and _is_soundfont(path):
            out.append(Source("soundfont", name, str(path), split, package, path.suffix[1:]))
    return out


def _hydrogen_kits() -> list[Source]:
    from . import drums

    out = []
    if HYDROGEN.is_dir():
        for folder in sorted(HYDROGEN.iterdir()):
            if (folder / "drumkit.xml").is_file() and drums.hydrogen_kit(str(folder)) is not None:
                out.append(Source("drumkit", folder.name, str(folder), "train", "hydrogen-drumkits",
                                  "hydrogen"))
    return out


def _assembled_kits() -> list[Source]:
    out = []
    if SONIC_PI.is_dir() and any(SONIC_PI.glob("drum_*.flac")):
        out.append(Source("drumkit", "Sonic Pi one-shots", str(SONIC_PI), "train", "sonic-pi-samples",
                          "assembled"))
    if (LMMS / "drums").is_dir():
        out.append(Source("drumkit", "LMMS one-shots", str(LMMS / "drums"), "train", "lmms-common",
                          "assembled"))
    return out


def _readable(path) -> bool:
    from .drums import readable

    return readable(path)


def _loops() -> list[Source]:
    out = []
    for name in SONIC_PI_LOOPS:
        p = SONIC_PI / f"{name}.flac"
        if p.is_file() and _readable(p):
            out.append(Source("loop", name, str(p), "train", "sonic-pi-samples"))
    for name in LMMS_LOOPS:
        p = LMMS / "beats" / f"{name}.ogg"
        if p.is_file() and _readable(p):
            out.append(Source("loop", name, str(p), "train", "lmms-common"))
    return out


def _guitars() -> list[Source]:
    out = []
    if FRETSONFIRE.is_dir():
        for p in sorted(FRETSONFIRE.glob("*/*/guitar.ogg")):
            pack = p.parent.parent.name
            out.append(Source("guitar", f"{pack}/{p.parent.name}", str(p), "train",
                              f"fretsonfire-songs-{pack}"))
    return out


def _voices() -> list[Source]:
    out = []
    if shutil.which("espeak-ng"):
        out += [Source("voice", v, "", "any", "espeak-ng", "espeak", lo, hi)
                for v, (lo, hi) in ESPEAK_VOICES.items()]
    if shutil.which("festival"):
        for v, (folder, package, (lo, hi)) in FESTIVAL.items():
            if (FESTIVAL_VOICES / folder).is_dir():
                out.append(Source("voice", v, str(FESTIVAL_VOICES / folder), "any", package, "festival", lo, hi))
    return out


@functools.lru_cache(maxsize=4)
def catalogue(split: str = "train") -> tuple[Source, ...]:
    """Every installed source a song of ``split`` ("train" or "heldout") may use.

    Training songs use the train soundfonts, Hydrogen and assembled drum kits, drum loops,
    recorded guitars and every voice. Held-out songs use only the held-out soundfonts (their
    instruments and their drum banks) and every voice. The list is read once per process.
    """
    split = check_split(split)
    found = _soundfonts(split)
    if split == "train":
        found += _hydrogen_kits() + _assembled_kits() + _loops() + _guitars()
        found = [s for s in found if not is_heldout_path(s.path)]
    found += _voices()
    return tuple(found)


def check_split(split) -> str:
    if split not in SPLITS:
        raise ParameterError(f"split must be 'train' or 'heldout', got {split!r}")
    return split


def family(split: str, name: str, kind: str | None = None) -> list[Source]:
    """The installed sources of family ``name`` (and of sub-kind ``kind``) for ``split``."""
    return [s for s in catalogue(split) if s.family == name and (kind is None or s.kind == kind)]


def choose(rng: np.random.Generator, split: str, name: str, kind: str | None = None) -> Source:
    """One source of family ``name`` for ``split``, drawn uniformly with ``rng``.

    Raises :class:`~shotoku.errors.ShotokuError` naming the Debian packages to install when no
    source of that family is installed.
    """
    pool = family(split, name, kind)
    if not pool:
        key = "heldout-soundfont" if (name == "soundfont" and split == "heldout") else name
        raise ShotokuError(f"no {name} source for split '{split}' is installed; install one with "
                           f"'apt-get install {PACKAGES.get(key, name)}'")
    return pool[int(rng.integers(len(pool)))]


def has(split: str, name: str, kind: str | None = None) -> bool:
    """Whether any source of family ``name`` is installed for ``split``."""
    return bool(family(split, name, kind))
