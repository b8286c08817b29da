"""The errors plainnet raises on purpose: bad input, unusable files, a run that diverged.

Each message is one line in the user's terms. The command line prints it and exits with a
non-zero status; anything else that escapes is a bug and shows its traceback
(`PLAINNET_DEBUG=1` shows one for these too).
"""


class PlainnetError(Exception):
    """Base of every error plainnet raises on purpose."""


class ConfigError(PlainnetError, ValueError):
    """A config, preset, override or flag that cannot be used; its message is one line."""


class TrainingDiverged(PlainnetError, RuntimeError):
    """The loss or the model became NaN or infinite; the last finite checkpoint is kept."""


class FileError(PlainnetError, OSError):
    """A file or place that cannot be read or written as asked (missing, a folder, a FIFO, a
    planted link, a full disk); a file being replaced is kept as it was."""
