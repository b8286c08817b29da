"""Writing files so that a crash, a full disk or a planted symlink never leaves a bad one."""

import contextlib
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

# The crash tests' one seam: None in normal use. A test process sets it to a function of the
# point a write has reached (a file's name between writing and renaming it, "metrics" in the
# middle of a row) that says whether to SIGKILL the process there (tests/crash_worker.py).
crash_at: Callable[[str], bool] | None = None


@contextlib.contextmanager
def replacing(path: Path):
    """Replace `path` all at once: yields `(file, temp_path)` on a fresh temp file beside it
    (created exclusively, so never through a planted symlink, and never named like another
    writer's); on success it is flushed to disk and renamed over `path`, else removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(fd, 0o666 & ~_umask())  # mkstemp's 0600, made what open() would have made
        with os.fdopen(fd, "wb") as f:
            yield f, Path(tmp)
            f.flush()
            os.fsync(f.fileno())
        if fault_point(path.name):  # a test's kill between writing and renaming
            die()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask (Linux keeps it in /proc; elsewhere set and restored)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fault_point(where: str) -> bool:
    """Whether a crash test wants this process killed at `where` (`crash_at`)."""
    return crash_at is not None and crash_at(where)


def die() -> None:
    """SIGKILL this process: no cleanup, no flushing, as a power cut or the OOM killer."""
    os.kill(os.getpid(), signal.SIGKILL)
