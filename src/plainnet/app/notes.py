"""How a command shows plainnet's warnings: one line each, `plainnet: note: ...`, once per
process however often it is raised, without Python's source line. The command line installs
it for the command, and so does every worker process of a `--jobs` grid."""

import warnings

import click


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
