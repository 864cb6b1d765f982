"""Errors a user can cause.

Every error that a user can trigger (a bad file, a wrong channel count, a parameter out of range,
an unwritable folder) raises a subclass of :class:`ShotokuError`. Its message is one line that says
what went wrong and what to do. The CLI prints that line to stderr and exits with
:data:`EXIT_USER_ERROR`; no traceback is shown for these.
"""

EXIT_USER_ERROR = 2


class ShotokuError(Exception):
    """Base class of every error a user can cause."""


class InputFileError(ShotokuError):
    """An input file is missing, unreadable, not audio, or holds no samples."""


class AudioContentError(ShotokuError):
    """Audio was read but cannot be used: empty, NaN/Inf samples, wrong shape."""


class ChannelError(ShotokuError):
    """The channel count does not suit the method (mono into a stereo method, more sources than channels)."""


class ParameterError(ShotokuError):
    """A parameter has an unknown name, a wrong type or a value out of range."""


class OutputError(ShotokuError):
    """An output cannot be written (unwritable folder, would overwrite an input)."""


class MismatchError(ShotokuError):
    """Two inputs that must agree do not (sample rates, channel counts, source names, lengths)."""


class UnknownMethodError(ParameterError):
    """No separator or architecture of that name is registered."""


class SeparatorBug(RuntimeError):
    """A separator broke its contract (an image of the wrong shape, NaN or Inf samples).

    Not a user error: the input was checked before the method ran. The message names the method.
    """
