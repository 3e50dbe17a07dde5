"""The audit log: one JSON line per ask, search, quiz, upload, delete, refused access, rejected
upload and failed authentication.

Lines carry the user, role and departments, the ids returned and a keyed hash of the question
(HMAC-SHA-256 with this installation's secret, so a guess cannot be confirmed from the log
alone); never a key or the question itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from pathlib import Path
from typing import TextIO

from assistant.models import Answer, Principal


class Audit:
    """Appends to ``path``, kept open between lines; a file moved away or deleted (logrotate)
    is noticed at the next line, which goes to a new file at ``path``."""

    def __init__(self, path: Path, *, secret: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._secret = secret
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._identity: tuple[int, int] | None = None

    def write(self, event: str, principal: Principal | None = None, **fields) -> None:
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event}
        if principal is not None:
            line.update(user=principal.user, role=principal.role, departments=list(principal.departments))
        if "question" in fields:
            fields["question_hmac"] = hmac.new(self._secret, str(fields.pop("question")).encode(),
                                               hashlib.sha256).hexdigest()[:32]
        line.update(fields)
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock:
            fh = self._open()
            fh.write(text)
            fh.flush()

    def _open(self) -> TextIO:
        try:
            st = os.stat(self.path)
            identity: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            identity = None
        if self._file is None or identity != self._identity:
            if self._file is not None:
                self._file.close()
            self._file = self.path.open("a", encoding="utf-8")
            st = os.fstat(self._file.fileno())
            self._identity = (st.st_dev, st.st_ino)
        return self._file

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def answer(self, principal: Principal, question: str, answer: Answer, event: str = "ask") -> None:
        self.write(event, principal, question=question, ids=[c.chunk_id for c in answer.citations],
                   refused=answer.refused, mode=answer.mode)
