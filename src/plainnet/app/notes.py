"""How a command speaks: plainnet's warnings as one-line notes, its errors as one line and an
exit status, never a traceback (a bug's excepted: its traceback shows).

Notes read `plainnet: note: ...`, once per process however often a warning is raised, without
Python's source line. The command line installs this for the command, and so does every worker
process of a `--jobs` grid.
"""

import contextlib
import os
import signal
import sys
import warnings

import click

from plainnet.errors import PlainnetError, TrainingDiverged


def show_warnings_as_notes() -> None:
    """Route every warning (but deprecations) of this process to one-line notes on stderr.
    Wrap the call in `warnings.catch_warnings()` to get the caller's handling back."""
    seen: set[str] = set()

    def note(message, *_):
        if str(message) not in seen:
            seen.add(str(message))
            click.echo(f"plainnet: note: {message}", err=True)

    warnings.simplefilter("always")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.showwarning = note


@contextlib.contextmanager
def spoken_as_a_command():
    """Run a command's body: warnings as notes, SIGTERM as Ctrl-C, and every error a user can
    cause as `plainnet: error: ...` with a non-zero exit (`PLAINNET_DEBUG=1`: a traceback).

    The handlers are the command's only: a caller (a test, a notebook calling `main`) gets its
    own back afterwards."""
    with warnings.catch_warnings(), _sigterm_as_interrupt():
        show_warnings_as_notes()
        try:
            yield
        except click.ClickException as e:
            _fail(f"error: {e.format_message()}", e.exit_code)
        except PlainnetError as e:  # anything else is a bug: its traceback shows
            if os.environ.get("PLAINNET_DEBUG"):
                raise
            diverged = isinstance(e, TrainingDiverged)
            _fail(f"{'diverged' if diverged else 'error'}: {e}", 1 if diverged else 2)
        except (KeyboardInterrupt, click.exceptions.Abort) as e:
            interrupt = e.__cause__ if isinstance(e, click.exceptions.Abort) else e  # click's
            named = isinstance(interrupt, KeyboardInterrupt) and interrupt.args
            run = interrupt.args[0] if named else None
            kept = (
                f"{run} keeps its last checkpoint (plainnet train --resume {run})"
                if run
                else "a run folder keeps its last checkpoint (--resume RUN_DIR)"
            )
            _fail(f"interrupted; {kept}", 130)


def _fail(message: str, code: int) -> None:
    click.echo(f"plainnet: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler's stop) ends a run like Ctrl-C: the last checkpoint is kept."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: signals cannot be handled there
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
