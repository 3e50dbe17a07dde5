"""One writer at a time, and a message that names the holder when another one tries.

Embedded, the lock is an advisory file lock in the data directory. Scaled out (a Chroma
server and PostgreSQL, possibly on several hosts), it is a PostgreSQL advisory lock held on a
connection of its own, so writers on every host queue behind each other; the holder is
noted in index_meta for the message.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from assistant.errors import WriterBusy

_HELD: dict[str, int] = {}  # lock identity -> how many holders in this process (re-entrant)
_GUARD = threading.Lock()
_PG_KEY = 0x6A69616E78756577  # pg_advisory_lock key of the writer ("jianxuew")
_WHAT_TO_DO = ("Wait for it to finish, or send the documents through the process that holds it (the API's "
               "POST /v1/documents when `jianxue serve` runs).")


class WriterLock:
    """Held for the duration of a write (``with WriterLock(dir, purpose="ingest"):``).

    Re-entrant within one process: embedded `jianxue serve` holds it for its lifetime, and
    the ingests it runs for uploads take it again without blocking themselves. ``wait_s``
    waits that long for another holder before giving up.
    """

    def __init__(self, data_dir: Path, *, purpose: str, database: Engine | None = None, wait_s: float = 0) -> None:
        self.purpose = purpose
        self.wait_s = wait_s
        self._postgres = database if database is not None and database.dialect.name == "postgresql" else None
        self.path = data_dir / "writer.lock"
        self.identity = (self._postgres.url.render_as_string(hide_password=True) if self._postgres is not None
                         else str(self.path.resolve()))
        self._fd: int | None = None
        self._conn = None
        self._nested = False

    @property
    def holder(self) -> str:
        return f"pid {os.getpid()} on {socket.gethostname()} ({self.purpose}: {' '.join(sys.argv[:2])})"

    def __enter__(self) -> "WriterLock":
        with _GUARD:
            if _HELD.get(self.identity):
                _HELD[self.identity] += 1
                self._nested = True
                return self
        deadline = time.monotonic() + self.wait_s
        while True:
            with _GUARD:
                if not _HELD.get(self.identity):
                    busy = self._try_acquire()
                    if busy is None:
                        _HELD[self.identity] = 1
                        return self
            if time.monotonic() >= deadline:
                raise WriterBusy(f"the index is being written by {busy}. {_WHAT_TO_DO}")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        with _GUARD:
            _HELD[self.identity] = _HELD.get(self.identity, 1) - 1
            if self._nested:
                self._nested = False
                return
            _HELD.pop(self.identity, None)
            self._release()

    # -- backends ---------------------------------------------------------------------------

    def _try_acquire(self) -> str | None:
        """None when acquired, else who holds it."""
        return self._try_postgres() if self._postgres is not None else self._try_file()

    def _try_file(self) -> str | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.holder.encode(), 0)
        self._fd = fd
        return None

    def _try_postgres(self) -> str | None:
        conn = self._postgres.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_KEY}).scalar()
            conn.commit()
            if not got:
                holder = conn.execute(text("SELECT value FROM index_meta WHERE key = 'writer'")).scalar()
                conn.close()
                return holder or "another process"
            conn.execute(text("DELETE FROM index_meta WHERE key = 'writer'"))
            conn.execute(text("INSERT INTO index_meta (key, value) VALUES ('writer', :holder)"), {"holder": self.holder})
            conn.commit()
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return None

    def _release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("DELETE FROM index_meta WHERE key = 'writer'"))
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_KEY})
                conn.commit()
                conn.close()
            except Exception:  # noqa: BLE001 - the session goes, and its lock with it
                conn.invalidate()
                conn.close()
