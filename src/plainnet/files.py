"""Writing files so that a crash, a full disk or a planted symlink never leaves a bad one."""

import contextlib
import os
import signal
import tempfile
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path):
    """Replace `path` all at once: yields `(file, temp_path)` on a fresh temp file beside it
    (created exclusively, so never through a planted symlink, and never named like another
    writer's); on success it is flushed to disk and renamed over `path`, else removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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


_PASSES: dict[str, int] = {}


def fault_point(where: str) -> bool:
    """Test hook for crash tests: with `PLAINNET_KILL_AT=where:n`, true the n-th time this
    process passes `where` (e.g. `last.pt:3`, `metrics:2`); otherwise always false."""
    target = os.environ.get("PLAINNET_KILL_AT")
    if not target or not target.startswith(f"{where}:"):
        return False
    _PASSES[where] = _PASSES.get(where, 0) + 1
    return _PASSES[where] == int(target.rsplit(":", 1)[1])


def die() -> None:
    """SIGKILL this process: no cleanup, no flushing, as a power cut or the OOM killer."""
    os.kill(os.getpid(), signal.SIGKILL)
