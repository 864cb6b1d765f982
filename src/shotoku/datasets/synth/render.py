"""Render MIDI files to stereo audio with the FluidSynth command-line synthesiser.

FluidSynth's fast renderer (``-F``) is deterministic: the same MIDI file, soundfont, gain and
sample rate give the same samples. Reverb and chorus are switched off (``-R 0 -C 0``) so each
stem holds only its own dry sound and stems rendered separately add up to the mixture. Output is
32-bit float WAV, so nothing is clipped or quantised on the way.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from ...errors import ParameterError, ShotokuError

DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
GAIN = 0.4


def find_soundfont(soundfont=None) -> Path:
    """The soundfont to use: ``soundfont`` if given, else :data:`DEFAULT_SOUNDFONT`.

    Raises :class:`~shotoku.errors.ShotokuError` naming the Debian package when the default is
    missing, and :class:`~shotoku.errors.ParameterError` when ``soundfont`` is missing or is not a
    RIFF ``sfbk`` (SoundFont 2/3) file.
    """
    path = Path(soundfont if soundfont is not None else DEFAULT_SOUNDFONT)
    if not path.is_file():
        if soundfont is None:
            raise ShotokuError(
                f"the default soundfont {path} is missing; install it with "
                "'apt-get install timgm6mb-soundfont' or pass a .sf2 file with --soundfont")
        raise ParameterError(f"soundfont '{path}' not found; pass an existing .sf2/.sf3 file")
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise ParameterError(f"cannot read soundfont '{path}': {exc.strerror or exc}") from None
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ParameterError(f"'{path}' is not a SoundFont (.sf2/.sf3) file; pass a General MIDI soundfont")
    return path.resolve()


def _fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise ShotokuError("fluidsynth is not installed; install it with 'apt-get install fluidsynth'")
    return exe


def start(midi: Path, wav: Path, soundfont: Path, rate: int) -> subprocess.Popen:
    """Start rendering ``midi`` into the float WAV ``wav``; returns the running process.

    Several renders run side by side as separate processes; collect each with :func:`finish`.
    """
    cmd = [_fluidsynth(), "-n", "-i", "-q", "-g", str(GAIN), "-R", "0", "-C", "0",
           "-r", str(int(rate)), "-O", "float", "-T", "wav",
           "-o", "synth.cpu-cores=1"]
    if str(soundfont).lower().endswith(".sf3"):  # decode only the compressed samples the song plays
        cmd += ["-o", "synth.dynamic-sample-loading=1"]
    cmd += ["-F", str(wav), str(soundfont), str(midi)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def finish(proc: subprocess.Popen, wav: Path, samples: int, allow_silence: bool = False) -> np.ndarray:
    """Wait for a render started by :func:`start`; returns float32 [shape=(2, samples)].

    The audio is cut (or zero-padded) to exactly ``samples``. Raises
    :class:`~shotoku.errors.ShotokuError` if fluidsynth failed, could not load the soundfont, or
    rendered only silence (a soundfont without the part's instruments) unless ``allow_silence``.
    """
    import soundfile as sf

    out, err = proc.communicate()
    msg = [ln for ln in (err or b"").decode(errors="replace").splitlines() + (out or b"").decode(
        errors="replace").splitlines() if ln.strip()]
    if proc.returncode != 0 or not Path(wav).is_file():
        raise ShotokuError(f"fluidsynth failed ({proc.returncode}): {msg[-1] if msg else 'no output'}")
    if any("not a SoundFont" in ln or "Failed to load SoundFont" in ln for ln in msg):
        raise ShotokuError(f"fluidsynth could not load the soundfont: {msg[-1].strip().rstrip('.')}; "
                           "pass a valid General MIDI .sf2 file")
    audio, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = audio.T
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    if not allow_silence and not np.any(audio):
        raise ShotokuError(f"fluidsynth rendered silence for {Path(wav).stem}; "
                           "pass a General MIDI soundfont with --soundfont")
    result = np.zeros((2, samples), dtype=np.float32)
    n = min(samples, audio.shape[1])
    result[:, :n] = audio[:2, :n]
    return result
