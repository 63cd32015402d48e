"""Holding a run folder while a run is active: a second run on it stops at once, naming the
holder. The hold is an OS file lock (filelock: flock on POSIX), so a killed process never
leaves it behind."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from charlm.atomic import atomic_write_json
from charlm.errors import RunBusyError

LOCK_FILE = ".lock"
HOLDER_FILE = ".holder.json"
HELD_BY_PARENT_ENV = "CHARLM_RUN_HELD"  # set by a holder for the notebooks it starts


def holder(root: Path) -> str:
    """Who holds the folder, in words (from the holder's own note)."""
    try:
        h = json.loads((root / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process (it has not written its name yet)"
    return (f"process {h['pid']} on {h['host']} ({h['command']}), running since "
            f"{h['since']}")


@contextmanager
def hold(root: Path):
    """Hold the folder `root` for this process and the notebooks it starts; refuse if held.

    A second holder gets RunBusyError at once, naming the holder. The lock is an OS file
    lock (filelock: flock on POSIX), released by the OS when its process dies.
    """
    key = str(root.resolve())
    if os.environ.get(HELD_BY_PARENT_ENV) == key:  # the pipeline that started us holds it
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunBusyError(
            f"The run folder {root} is in use by {holder(root)}. Wait for that run to "
            "finish or stop it; or use --name (or --fresh) for a run folder of your own."
        ) from None
    previous = os.environ.get(HELD_BY_PARENT_ENV)
    try:
        atomic_write_json(root / HOLDER_FILE, {
            "pid": os.getpid(), "host": socket.gethostname(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")})
        os.environ[HELD_BY_PARENT_ENV] = key
        yield
    finally:
        if previous is None:
            os.environ.pop(HELD_BY_PARENT_ENV, None)
        else:
            os.environ[HELD_BY_PARENT_ENV] = previous
        (root / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()
