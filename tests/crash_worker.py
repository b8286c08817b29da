"""`python tests/crash_worker.py POINT:N plainnet-args...`: the `plainnet` command, SIGKILLed
the N-th time a write reaches POINT, for the crash tests.

POINT is a file's name. A file written whole (`plainnet.files.replacing`) is killed between
writing its temp file and renaming it over POINT (`os.replace`); a file appended to
(`plainnet.files.append`, e.g. metrics.csv) in the middle of its line. The seams are the
standard library's, patched in this process only: production code holds no test hook.
"""

import os
import signal
import sys
from pathlib import Path

point, n = sys.argv[1].rsplit(":", 1)
passes = 0


def reached(name: str) -> bool:
    global passes
    passes += name == point
    return name == point and passes == int(n)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flushing: a power cut


real_replace, real_fdopen = os.replace, os.fdopen


def replace(src, dst, *args, **kwargs):
    if reached(Path(dst).name):
        die()
    return real_replace(src, dst, *args, **kwargs)


def fdopen(fd, mode="r", *args, **kwargs):
    f = real_fdopen(fd, mode, *args, **kwargs)
    if "w" in mode and "b" not in mode and Path(os.readlink(f"/proc/self/fd/{fd}")).name == point:
        write = f.write

        def half_then_die(text):
            if reached(point):
                write(text[: len(text) // 2])
                f.flush()
                die()
            return write(text)

        f.write = half_then_die
    return f


os.replace, os.fdopen = replace, fdopen

from plainnet.app.cli import main  # noqa: E402  (after the seams are in place)

main(sys.argv[2:])
