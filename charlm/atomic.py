"""Atomic file writes: temporary file in the same folder, flush, fsync, rename.

A process killed mid-write leaves the previous file in place, never a half-written one. The file
gets the permissions a plain open() would give it (mkstemp's own are 0600, private): those of the
file it replaces, else 0666 less the umask, so a report on a shared disk stays readable.
Text is UTF-8 with "\n" line ends on every platform (a report written in Windows' cp1252 under
`<meta charset=utf-8>` would be garbled). Where the target is held open by a reader (Windows
refuses to replace it then), the rename is retried for a few seconds before it gives up.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _open_mode(path: Path) -> int:
    """The permission bits open() would give `path`: the existing file's, else 0666 & ~umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)  # reading the umask means setting it: put it straight back
        os.umask(umask)
        return 0o666 & ~umask


REPLACE_TRIES = 20  # x 0.25 s: how long a reader holding the file is waited for (Windows)
RETRY_EVERYWHERE = False  # the tests' switch: retry on POSIX too


def _replace(tmp: str, path: Path) -> None:
    tries = REPLACE_TRIES
    for attempt in range(tries):
        try:
            os.replace(tmp, path)
            return
        except PermissionError as exc:  # Windows: another process has the file open
            if os.name != "nt" and not RETRY_EVERYWHERE:
                raise
            if attempt == tries - 1:
                raise PermissionError(
                    f"cannot replace {path}: another program holds it open (a browser or an "
                    f"editor?). Close it and run the same command again; the new version was "
                    f"not written.") from exc
            time.sleep(0.25)


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX; elsewhere mkstemp's modes are not private
            os.fchmod(fd, _open_mode(path))
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **text) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data), "wb")


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), "w")


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")

