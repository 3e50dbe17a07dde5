"""The audit log: one JSON line per ask, search, quiz, upload, delete and failed authentication.

Lines carry the user, role and departments, the ids returned and a hash of the question;
never a key or the question itself.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from assistant.models import Answer, Principal


class Audit:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, principal: Principal | None = None, **fields) -> None:
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event}
        if principal is not None:
            line.update(user=principal.user, role=principal.role, departments=list(principal.departments))
        if "question" in fields:
            fields["question_sha256"] = hashlib.sha256(str(fields.pop("question")).encode()).hexdigest()[:16]
        line.update(fields)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    def answer(self, principal: Principal, question: str, answer: Answer, event: str = "ask") -> None:
        self.write(event, principal, question=question, ids=[c.chunk_id for c in answer.citations],
                   refused=answer.refused, mode=answer.mode)
