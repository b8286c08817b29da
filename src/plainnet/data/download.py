"""Fetching official dataset files: mirrors, retries, a progress bar, checksums, atomic writes."""

import hashlib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

from plainnet.errors import PlainnetError
from plainnet.files import replacing


class DownloadError(PlainnetError, RuntimeError):
    """A file that could not be fetched or verified; its message is one line."""


@dataclass(frozen=True)
class Source:
    filename: str
    urls: tuple[str, ...]  # mirrors, tried in order
    md5: str | None  # the published checksum; None where the publisher gives none


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(src: Source, path: Path) -> None:
    if src.md5 is not None and (got := md5sum(path)) != src.md5:
        raise DownloadError(f"{path}: md5 {got} does not match the published {src.md5}")


def fetch(src: Source, folder: Path, download: bool = True, retries: int = 3) -> Path:
    """`folder/<filename>`, verified; downloaded first if it is not there yet.

    A file already there (fetched earlier, or put there by hand) is verified, never
    re-downloaded. Downloads go to a fresh temp file beside it, renamed only once the
    checksum matches, so an interrupted or corrupt download never looks like a good file.
    """
    path = folder / src.filename
    if path.exists():
        verify(src, path)
        return path
    by_hand = f"fetch {src.urls[0]} by hand and put it at {path}"
    if not download:
        raise DownloadError(f"{path} is missing and downloads are off; {by_hand}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {folder}: {e.strerror or e}") from None
    errors = []
    for url in src.urls:
        for attempt in range(retries):
            try:
                with replacing(path) as (f, part):
                    _get(url, f, src.filename)
                    f.flush()
                    verify(src, part)
                return path
            except (OSError, urllib.error.URLError, DownloadError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
                if attempt + 1 < retries:
                    time.sleep(2**attempt)
    raise DownloadError(f"could not download {src.filename} ({errors[-1]}); {by_hand}")


def _get(url: str, f, label: str, timeout: float = 30) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        total = int(r.headers.get("Content-Length") or 0) or None
        with Progress(
            *Progress.get_default_columns()[:3], DownloadColumn(), TransferSpeedColumn()
        ) as bar:
            task = bar.add_task(label, total=total)
            for chunk in iter(lambda: r.read(1 << 16), b""):
                f.write(chunk)
                bar.advance(task, len(chunk))
