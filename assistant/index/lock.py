"""One writer per data directory: an advisory file lock that names its holder."""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from pathlib import Path

from assistant.errors import WriterBusy


_HELD: dict[str, int] = {}  # lock path -> how many holders in this process (re-entrant)
_GUARD = threading.Lock()


class WriterLock:
    """Held for the duration of a write (``with WriterLock(dir, purpose="ingest"):``).

    Re-entrant within one process: `jianxue serve` holds it for its lifetime, and the
    ingests it runs for uploads take it again without blocking themselves.
    """

    def __init__(self, data_dir: Path, *, purpose: str) -> None:
        self.path = data_dir / "writer.lock"
        self.purpose = purpose
        self._fd: int | None = None
        self._nested = False

    def __enter__(self) -> "WriterLock":
        key = str(self.path.resolve())
        with _GUARD:
            if _HELD.get(key):
                _HELD[key] += 1
                self._nested = True
                return self
            self._acquire()
            _HELD[key] = 1
        return self

    def _acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WriterBusy(
                f"{self.path.parent} is being written by {holder}. Wait for it to finish, or send the "
                "documents through the process that holds it (the API's POST /v1/documents when "
                "`jianxue serve` runs)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({self.purpose}: {' '.join(sys.argv[:2])})".encode(), 0)
        self._fd = fd

    def __exit__(self, *exc: object) -> None:
        key = str(self.path.resolve())
        with _GUARD:
            _HELD[key] = _HELD.get(key, 1) - 1
            if self._nested:
                self._nested = False
                return
            _HELD.pop(key, None)
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
