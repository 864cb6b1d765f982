"""The remix model: every per-source control is a real 2×2 matrix, and the remix is the sum.

Given source images ``s_j`` [shape=(2, samples)] (what :func:`shotoku.separate` returns, or a
folder from ``shotoku separate``), a remix is::

    y = m · Σ_j A_j s_j          A_j = g_j · W(w_j) · P_j

- ``g_j``: the source's gain, ``10^(gain_db / 20)``; 0 when it is muted, or when another source
  is soloed and this one is not (mute always wins over solo).
- ``P_j``: the re-pan matrix (identity while ``pan`` is ``None``, i.e. "as recorded"). The
  source's current position θ is measured from its channels' energies ``E_L, E_R``
  (:func:`shotoku.panning.angle_of` of their square roots). With ``u = pan_gains(θ)`` and
  ``u' = pan_gains(θ')`` (the constant-power law, −45° hard left … +45° hard right)::

      P = c · u' uᵀ,   c = sqrt(E / uᵀ Σ u)   (E = E_L + E_R, Σ the 2×2 channel covariance)

  ``uᵀ`` folds the image down to the mono signal that a source panned at θ was made from (for
  a panned mono source ``s = m·u``, ``uᵀ s = m`` exactly), ``u'`` pans that signal to θ', and
  ``c`` keeps the source's energy: 1 for a panned mono source, larger when the source is wider
  than a point (part of it cancels in the fold-down). ``c`` is capped at 4 (+12 dB) so that an
  image whose channels cancel (out of phase) is not blown up. Why this matrix and not a
  rotation of the (L, R) plane, which also moves a point source exactly: a rotation sends the
  side content of a wide source to the opposite channel with its sign flipped (a source moved
  hard right would keep an inverted part in the left channel); the fold-down puts all of it
  where the user asked.
- ``W(w)``: width, applied after the pan: the side component ``(L − R)/2`` is scaled by ``w``
  and the mid ``(L + R)/2`` kept: ``W = [[1 + w, 1 − w], [1 − w, 1 + w]] / 2``. ``w = 0`` is
  mono, 1 unchanged, 2 twice as wide. Like every M/S width control it also pulls a panned
  source towards the centre as ``w`` falls.
- ``m``: the master gain, ``10^(master_gain_db / 20)``.

Unity settings (0 dB, pan ``None``, width 1, nothing muted or soloed) make every ``A_j`` the
identity, so the remix is the images' sum, i.e. the mixture for methods whose images add up to
it. Mono and multichannel images take gain, mute and solo (``A_j = g_j I``); pan and width need
stereo.

A mix is a small versioned JSON document that the CLI, the library and the web console all
read and write (:meth:`Mix.to_dict`, :meth:`Mix.from_dict`)::

    {"version": 1, "master_gain_db": 0.0,
     "sources": {"vocals": {"gain_db": 6.0, "pan": null, "width": 1.0, "mute": false, "solo": false}}}

Clipping: the remix is returned and written as float32, which keeps samples above 0 dBFS, and
is never limited: a limiter would change the sound non-linearly and the file would no longer be
the mix the console played. Instead :func:`render` measures the true peak (4× oversampling,
ITU-R BS.1770-4 Annex 2) and, above 0 dBTP, warns with a :class:`ClippingWarning` that gives
the master gain that brings it to −1 dBTP.

The browser console (``shotoku serve``) builds the same matrices in JavaScript from the
per-source statistics of :func:`source_stats` (``web/static/console.js``, ``mixMatrices``) and
a browser test checks that the two agree.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import panning
from .errors import InputFileError, MismatchError, ParameterError

#: Version of the mix document.
MIX_VERSION = 1
#: Limits of the controls (inclusive).
GAIN_RANGE_DB = (-120.0, 24.0)
WIDTH_RANGE = (0.0, 2.0)
#: Largest level correction of a re-pan (a factor; 4 = +12 dB).
MAX_PAN_BOOST = 4.0
#: Level the clipping warning's suggested master gain aims at (dBTP).
TARGET_TRUE_PEAK_DB = -1.0
_SETTING_KEYS = ("gain_db", "pan", "width", "mute", "solo")


class ClippingWarning(UserWarning):
    """The remix's true peak is above 0 dBTP: it would clip in any integer format or on a DAC."""


@dataclass
class SourceSettings:
    """One source's controls.

    gain_db: gain in dB, in :data:`GAIN_RANGE_DB`
    pan: new position in degrees (−45 hard left … +45 hard right), or ``None`` for as recorded
    width: side (M/S) scale, in :data:`WIDTH_RANGE`; 1 unchanged, 0 mono
    mute, solo: booleans
    """

    gain_db: float = 0.0
    pan: float | None = None
    width: float = 1.0
    mute: bool = False
    solo: bool = False

    def is_unity(self) -> bool:
        return self == SourceSettings()


@dataclass
class Mix:
    """A mix: per-source settings (sources not named are at unity) and a master gain in dB."""

    sources: dict[str, SourceSettings] = field(default_factory=dict)
    master_gain_db: float = 0.0

    def settings(self, name: str) -> SourceSettings:
        """The settings of source ``name`` (unity when the mix does not name it)."""
        return self.sources.get(name, SourceSettings())

    def with_source(self, name: str, **changes) -> "Mix":
        """A copy with source ``name``'s settings changed (``gain_db=6``, ``mute=True``, ...)."""
        sources = dict(self.sources)
        sources[name] = _check_settings(name, asdict(replace(self.settings(name), **changes)))
        return Mix(sources, self.master_gain_db)

    def to_dict(self) -> dict:
        """The mix as its JSON document (``version``, ``sources``, ``master_gain_db``)."""
        return {"version": MIX_VERSION,
                "sources": {name: asdict(s) for name, s in self.sources.items()},
                "master_gain_db": float(self.master_gain_db)}

    @classmethod
    def from_dict(cls, doc) -> "Mix":
        """Read and check a mix document; :class:`~shotoku.errors.ParameterError` names what is wrong."""
        if not isinstance(doc, dict):
            raise ParameterError("a mix must be a JSON object with 'version' and 'sources'")
        unknown = set(doc) - {"version", "sources", "master_gain_db"}
        if unknown:
            raise ParameterError(f"unknown field(s) in the mix: {', '.join(sorted(unknown))}")
        if doc.get("version") != MIX_VERSION:
            raise ParameterError(f"mix version {doc.get('version')!r} is not supported (this shotoku reads "
                                 f"version {MIX_VERSION})")
        sources = doc.get("sources", {})
        if not isinstance(sources, dict):
            raise ParameterError("'sources' in a mix must be an object {name: settings}")
        master = _number(doc.get("master_gain_db", 0.0), "master_gain_db", *GAIN_RANGE_DB)
        return cls({str(k): _check_settings(str(k), v) for k, v in sources.items()}, master)

    @classmethod
    def load(cls, path) -> "Mix":
        """Read a mix JSON file."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputFileError(f"no such mix file: '{path}'") from None
        except (OSError, ValueError) as exc:
            raise InputFileError(f"cannot read mix '{path}': {exc}") from None
        return cls.from_dict(doc)

    def save(self, path) -> Path:
        """Write the mix JSON atomically."""
        from .io import write_json

        return write_json(path, self.to_dict())


def _number(value, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{what} must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ParameterError(f"{what} {value:g} is outside [{lo:g}, {hi:g}]")
    return float(value)


def _check_settings(name: str, value) -> SourceSettings:
    if not isinstance(value, dict):
        raise ParameterError(f"settings of source '{name}' must be an object")
    unknown = set(value) - set(_SETTING_KEYS)
    if unknown:
        raise ParameterError(f"unknown setting(s) for source '{name}': {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(_SETTING_KEYS)}")
    s = SourceSettings()
    gain = _number(value.get("gain_db", s.gain_db), f"gain_db of '{name}'", *GAIN_RANGE_DB)
    pan = value.get("pan")
    if pan is not None:
        pan = panning.check_angle(_number(pan, f"pan of '{name}'", -90, 90), f"pan of '{name}'")
    width = _number(value.get("width", s.width), f"width of '{name}'", *WIDTH_RANGE)
    flags = {}
    for key in ("mute", "solo"):
        v = value.get(key, False)
        if not isinstance(v, bool):
            raise ParameterError(f"{key} of '{name}' must be true or false, got {v!r}")
        flags[key] = v
    return SourceSettings(gain, pan, width, **flags)


def resolve_name(names, key: str) -> str:
    """The source a user means by ``key``: its exact name, its file name stem, its 1-based
    number, or a prefix that only one name starts with (``object_1`` for ``object_1 (-30°)``).
    Case is ignored. :class:`~shotoku.errors.ParameterError` lists the names otherwise."""
    from .outputs import source_filename

    names = list(names)
    k = key.strip()
    if k in names:
        return k
    low = k.lower()
    for n in names:
        if n.lower() == low or source_filename(n, "").lower() == low:
            return n
    if k.isdigit() and 1 <= int(k) <= len(names):
        return names[int(k) - 1]
    starts = [n for n in names if n.lower().startswith(low)]
    if len(starts) == 1:
        return starts[0]
    listed = ", ".join(f"'{n}'" for n in names)
    raise ParameterError(f"no source '{key}' among {listed}; give a name, its number (1-{len(names)}) "
                         "or a unique prefix")


def karaoke(names) -> Mix:
    """The karaoke preset: every source whose name contains ``vocal`` muted."""
    vocals = [n for n in names if "vocal" in n.lower()]
    if not vocals:
        raise ParameterError("karaoke mutes the vocals, but no source is named 'vocals' (sources: "
                             f"{', '.join(names)}); mute one with --mute NAME")
    return Mix({n: SourceSettings(mute=True) for n in vocals})


def vocals_up(names, db: float = 6.0) -> Mix:
    """The "vocals +6 dB" preset: every source whose name contains ``vocal`` raised by ``db``."""
    vocals = [n for n in names if "vocal" in n.lower()]
    if not vocals:
        raise ParameterError(f"no source is named 'vocals' (sources: {', '.join(names)}); "
                             "raise one with --gain NAME=+6")
    return Mix({n: SourceSettings(gain_db=float(db)) for n in vocals})


#: Presets by name: functions of the source names returning a :class:`Mix`.
PRESETS = {"karaoke": karaoke, "vocals-up": vocals_up}


def source_stats(image: np.ndarray) -> np.ndarray:
    """The channel covariance of an image: ``Σ = s sᵀ`` (sums over samples, float64).

    image: float [shape=(channels, samples)]
    returns: float64 [shape=(channels, channels)]; for stereo ``[[E_L, C], [C, E_R]]`` with the
        channels' energies ``E_L, E_R`` and their cross product ``C = Σ_n L[n] R[n]``
    """
    x = np.asarray(image, dtype=np.float64)
    return x @ x.T


def position(stats: np.ndarray) -> float:
    """A stereo image's position in degrees from its statistics (:func:`source_stats`):
    ``angle_of(sqrt(E_L), sqrt(E_R))``; 0 for silence."""
    return float(panning.angle_of(math.sqrt(max(stats[0, 0], 0.0)), math.sqrt(max(stats[1, 1], 0.0))))


def pan_matrix(stats: np.ndarray, angle_deg: float) -> np.ndarray:
    """The re-pan matrix ``P = c · u' uᵀ`` that moves a stereo image to ``angle_deg`` keeping its
    energy (module docstring); ``stats`` from :func:`source_stats`. float64 [shape=(2, 2)]."""
    u = np.array(panning.pan_gains(position(stats)))
    v = np.array(panning.pan_gains(angle_deg))
    energy = float(stats[0, 0] + stats[1, 1])
    folded = float(u @ stats @ u)
    c = 1.0 if energy <= 0.0 else (math.sqrt(energy / folded) if folded * MAX_PAN_BOOST ** 2 > energy
                                   else MAX_PAN_BOOST)
    return c * np.outer(v, u)


def width_matrix(width: float) -> np.ndarray:
    """The M/S width matrix ``[[1 + w, 1 − w], [1 − w, 1 + w]] / 2``, float64 [shape=(2, 2)]."""
    w = float(width)
    return 0.5 * np.array([[1.0 + w, 1.0 - w], [1.0 - w, 1.0 + w]])


def db_to_gain(db: float) -> float:
    """``10^(db/20)``."""
    return 10.0 ** (float(db) / 20.0)


def matrices(mix: Mix, stats: dict[str, np.ndarray], strict: bool = True) -> dict[str, np.ndarray]:
    """Every source's matrix ``m · A_j`` (master gain included) for ``mix``.

    stats: {source name: :func:`source_stats` of its image [shape=(C, C)]}, in order
    strict: refuse a mix that names a source not in ``stats`` (:class:`ParameterError`);
        otherwise such settings are ignored
    returns: {name: float64 [shape=(C, C)]}
    """
    names = list(stats)
    extra = [n for n in mix.sources if n not in stats]
    if extra and strict:
        raise ParameterError(f"the mix sets source(s) {', '.join(repr(n) for n in extra)} but the sources are "
                             f"{', '.join(repr(n) for n in names)}")
    any_solo = any(mix.settings(n).solo for n in names)
    master = db_to_gain(mix.master_gain_db)
    out = {}
    for name in names:
        s = mix.settings(name)
        sigma = np.asarray(stats[name], dtype=np.float64)
        c = sigma.shape[0]
        g = 0.0 if s.mute or (any_solo and not s.solo) else db_to_gain(s.gain_db)
        a = np.eye(c)
        if s.pan is not None or s.width != 1.0:
            if c != 2:
                raise ParameterError(f"pan and width need stereo sources; '{name}' has {c} channel(s)")
            if s.pan is not None:
                a = pan_matrix(sigma, s.pan)
            a = width_matrix(s.width) @ a
        out[name] = master * g * a
    return out


def true_peak(audio: np.ndarray, oversample: int = 4, block: int = 1 << 16) -> float:
    """True peak of ``audio`` [shape=(channels, samples)] as a linear magnitude: the largest
    absolute value after ``oversample``-times polyphase upsampling (ITU-R BS.1770-4 Annex 2),
    computed in blocks with overlapping margins so long files need little memory."""
    from scipy.signal import resample_poly

    x = np.asarray(audio, dtype=np.float64)
    n = x.shape[-1]
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    margin = 64
    for start in range(0, n, block):
        lo, hi = max(start - margin, 0), min(start + block + margin, n)
        up = resample_poly(x[:, lo:hi], oversample, 1, axis=-1)
        core = up[:, (start - lo) * oversample:(start - lo + min(block, n - start)) * oversample]
        if core.size:
            peak = max(peak, float(np.max(np.abs(core))))
    return peak


def clipping_message(audio: np.ndarray, mix: Mix | None = None) -> str | None:
    """What :func:`render` warns about ``audio`` (a remix made with ``mix``): ``None`` when its
    true peak is at most 0 dBTP, otherwise by how much it is over and the master gain that
    brings it to :data:`TARGET_TRUE_PEAK_DB`."""
    peak = true_peak(audio)
    if peak <= 1.0:
        return None
    db = 20 * math.log10(peak)
    fix = (mix.master_gain_db if mix else 0.0) + TARGET_TRUE_PEAK_DB - db
    return (f"the remix peaks at {db:+.1f} dBTP and would clip in an integer format or on playback; "
            f"it is kept unlimited in float32 (a limiter would change the mix you set); "
            f"set the master gain to {fix:+.1f} dB for {TARGET_TRUE_PEAK_DB:g} dBTP")


def render(images: dict[str, np.ndarray], mix: Mix | None = None, strict: bool = True,
           warn: bool = True) -> np.ndarray:
    """The remix ``y = Σ_j (m A_j) s_j`` of source images.

    images: {name: float [shape=(C, N)]}, all of one shape
    mix: the settings (``None``: unity, which gives the images' sum)
    strict: as in :func:`matrices`
    warn: above 0 dBTP, a :class:`ClippingWarning` says by how much and which master gain
        fixes it (:func:`clipping_message`; ``False``: the caller asks itself); nothing is
        limited (module docstring)
    returns: float32 [shape=(C, N)], computed in float64 and rounded once
    """
    if not images:
        raise ParameterError("nothing to remix: no source images")
    shapes = {np.shape(a) for a in images.values()}
    if len(shapes) != 1:
        raise MismatchError(f"source images differ in shape ({', '.join(str(s) for s in shapes)}); "
                            "remix images of one separation")
    mix = mix or Mix()
    stats = {name: source_stats(a) for name, a in images.items()}
    mats = matrices(mix, stats, strict=strict)
    out = np.zeros(next(iter(shapes)), dtype=np.float64)
    for name, a in images.items():
        m = mats[name]
        if not np.any(m):
            continue
        x = np.asarray(a, dtype=np.float64)
        out += x if np.array_equal(m, np.eye(m.shape[0])) else m @ x
    y = out.astype(np.float32)
    message = clipping_message(y, mix) if warn else None
    if message:
        warnings.warn(message, ClippingWarning, stacklevel=2)
    return y
