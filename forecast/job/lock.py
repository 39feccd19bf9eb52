"""One ``forecast run`` per store at a time: an OS advisory lock on a file next to the store.

``fcntl.flock`` locks belong to the open file and vanish when the process dies, however it
dies (SIGKILL included), so there is no stale lock to clean up and no PID guessing. The
holder writes its pid, host, start time and as-of into the file, so that a second run can
say who holds it. The lock file is never deleted: deleting it while a run holds it would let
a third run lock a new file of the same name.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from forecast.errors import ForecastError

POLL_SECONDS = 0.2


class JobLocked(ForecastError):
    """Another run holds the store's job lock."""


def lock_path(store: Path) -> Path:
    """The lock file of a store: ``forecast.db`` -> ``forecast.db-job.lock``, beside the file
    the store resolves to, so that the same store reached through a symlink or another path
    has one lock."""
    real = Path(store).expanduser().resolve()
    return real.with_name(real.name + "-job.lock")


class JobLock:
    """The exclusive job lock of one store.

    Parameters
    ----------
    store
        The store the lock protects.
    """

    def __init__(self, store: Path) -> None:
        self.path = lock_path(Path(store))
        self._fd: int | None = None

    def acquire(self, *, wait: float = 0.0, info: dict | None = None) -> None:
        """Take the lock, waiting up to ``wait`` seconds; then record ``info`` in the file.

        Raises
        ------
        JobLocked
            Still held by another run after ``wait`` seconds; the message names the holder.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _describe(self.path)
                    os.close(fd)
                    waited = f" after waiting {wait:g}s" if wait > 0 else ""
                    raise JobLocked(
                        f"another forecast run holds the lock {self.path}{waited} ({holder}); "
                        f"it writes the same store. Let it finish, or pass --wait SECONDS"
                    ) from None
                time.sleep(POLL_SECONDS)
        self._fd = fd
        record = {"pid": os.getpid(), "host": socket.gethostname(), **(info or {})}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)

    def release(self) -> None:
        """Release the lock (closing the file releases it too)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JobLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "holder unknown"
    if not isinstance(info, dict) or "pid" not in info:
        return "holder unknown"
    parts = [f"pid {info['pid']} on {info.get('host', '?')}"]
    if info.get("started_at"):
        parts.append(f"started {info['started_at']}")
    if info.get("as_of"):
        parts.append(f"as-of {info['as_of']}")
    return ", ".join(parts)
