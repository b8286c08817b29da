"""Writing files so that a crash, a full disk or a planted symlink never leaves a bad one."""

import contextlib
import csv
import errno
import io
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from plainnet.errors import FileError, PlainnetError

NO_LINK = "plainnet does not write through one (remove it or choose another name)"


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
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | Path, data: bytes | str | Callable[[BinaryIO], object]) -> Path:
    """Replace `path` with `data` (bytes, text, or a function writing into the open binary
    file) all at once (`replacing`): a planted symlink at `path` is replaced, never followed;
    a disk, permission or place error is one line (`FileError`), and the previous file is
    kept."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise FileError(f"cannot write {path}: it is a folder; give a file name")
    if not path.parent.is_dir():
        raise FileError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        with replacing(path) as (f, _):
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
    except PlainnetError:
        raise
    except (OSError, RuntimeError) as e:  # torch.save's writer reports a full disk as the latter
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)[:200]
        raise FileError(f"cannot write {path}: {why}; the previous file is kept") from None
    return path


def write_csv(path: str | Path, rows) -> Path:
    """`rows` (lists of cells) as a CSV file, written with `write_atomic`."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return write_atomic(path, buf.getvalue())


def append(path: str | Path, text: str) -> None:
    """Append `text` to `path` as one write, flushed to disk; refuses a symlink, a FIFO or any
    other non-regular file at `path` instead of writing through it."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise FileError(f"{path} is a symbolic link; {NO_LINK}") from None
        raise FileError(f"cannot append to {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "w", newline="") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileError(f"{path} is not a regular file; plainnet does not write into it")
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def regular_file(path: str | Path, what: str = "file") -> Path:
    """`path` if it is a regular file (a symlink to one is fine for reading); a FIFO, a device
    or a folder would hang or fail deep inside a reader, so it is refused in one line."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise FileError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise FileError(f"{what} {path} is {kind}")
    return path


def no_link(path: str | Path) -> Path:
    """`path`, unless it is a symlink, which plainnet refuses to write through."""
    path = Path(path)
    if path.is_symlink():
        raise FileError(f"{path} is a symbolic link; {NO_LINK}")
    return path


def _umask() -> int:
    """The process's umask (Linux keeps it in /proc; elsewhere set and restored)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
