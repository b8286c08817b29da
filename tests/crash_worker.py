"""`python tests/crash_worker.py POINT:N plainnet-args...`: the `plainnet` command, SIGKILLed
the N-th time a write reaches POINT (`plainnet.files.crash_at`), for the crash tests."""

import sys

from plainnet import files
from plainnet.app.cli import main

point, n = sys.argv[1].rsplit(":", 1)
passes = 0


def crash_at(where: str) -> bool:
    global passes
    passes += where == point
    return where == point and passes == int(n)


files.crash_at = crash_at
main(sys.argv[2:])
