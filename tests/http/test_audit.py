"""The audit log keeps its file open between lines and follows a rotation (logrotate's rename,
or a deletion): no line is lost or written to the moved file."""

from __future__ import annotations

import hashlib
import json

from assistant.models import Principal
from bots.http.audit import Audit


def events(path) -> list[str]:
    return [json.loads(line)["event"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_lines_follow_a_rotated_or_deleted_file(tmp_path):
    path = tmp_path / "logs" / "audit.log"
    audit = Audit(path, secret=b"k" * 32)
    who = Principal(user="u", role="learner", departments=("第一检察部",))
    audit.write("search", who, question="正当防卫", ids=["a"])
    audit.write("ask", who, question="正当防卫")
    path.rename(tmp_path / "audit.log.1")
    audit.write("quiz", who)
    path.unlink()
    audit.write("upload", who)
    audit.close()
    audit.write("delete", who)  # reopens after close
    audit.close()
    assert events(tmp_path / "audit.log.1") == ["search", "ask"]
    assert events(path) == ["upload", "delete"]
    first = json.loads((tmp_path / "audit.log.1").read_text(encoding="utf-8").splitlines()[0])
    assert "question" not in first and first["ids"] == ["a"]
    # a keyed hash: the same question hashes alike under one secret, and the plain SHA-256 of a
    # guess does not confirm it
    second = json.loads((tmp_path / "audit.log.1").read_text(encoding="utf-8").splitlines()[1])
    assert first["question_hmac"] == second["question_hmac"]
    assert hashlib.sha256("正当防卫".encode()).hexdigest()[:32] != first["question_hmac"]
    other = Audit(tmp_path / "other.log", secret=b"x" * 32)
    other.write("ask", who, question="正当防卫")
    other.close()
    assert json.loads((tmp_path / "other.log").read_text(encoding="utf-8"))["question_hmac"] != first["question_hmac"]
