"""One writer per experiment folder, through `filelock` (an OS lock: a dead holder releases it)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from alseg.errors import AlsegUsageError
from alseg.store import atomic_write_text


@contextmanager
def experiment_lock(root: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold `<root>/.lock` for the duration; a second writer exits naming the holder.

    The lock is an flock/fcntl lock, so a process killed with SIGKILL releases it: a stale lock file
    from a dead process is simply taken over (the owner file is rewritten).
    """
    lock = FileLock(str(root / ".lock"))
    owner = root / ".lock.owner"
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        try:
            info = json.loads(owner.read_text())
            holder = f"pid {info['pid']} on {info['host']} since {info['since']}"
        except (OSError, ValueError, KeyError):
            holder = "another process"
        raise AlsegUsageError(
            f"{root} is in use by {holder} (another `alseg bench` on the same experiment). Wait for it to "
            "finish, or give this run another --name"
        ) from None
    try:
        atomic_write_text(owner, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                             "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()
