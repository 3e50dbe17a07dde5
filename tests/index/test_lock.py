"""The one-writer lock scaled out: a PostgreSQL advisory lock that writers on any host queue behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from assistant.errors import WriterBusy
from assistant.index.lock import WriterLock
from assistant.service import build_assistant
from tests.servers import needs_servers

HOLD = """
import sys
from pathlib import Path
from assistant.db import open_database
from assistant.index.lock import WriterLock
with WriterLock(Path(sys.argv[2]), purpose="ingest", database=open_database(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()  # until the test lets go (closes stdin) or kills it
"""


@needs_servers
def test_a_writer_elsewhere_is_named_and_waited_for(server_settings, tmp_path):
    assistant = build_assistant(server_settings)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# 讲义\n\n认罪认罚从宽制度适用于所有刑事案件。\n", encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, server_settings.database_url, str(tmp_path / "elsewhere")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterBusy, match=r"being written by pid \d+ on \S+ \(ingest"):
            assistant.ingest([corpus])  # another data directory, another process: the same lock
        # let go a second from now, not after a fixed time from "held" that a busy machine could use up
        threading.Timer(1.0, holder.stdin.close).start()
        started = time.monotonic()
        assert assistant.ingest([corpus], wait_s=30).added == 1  # waits for the holder to finish
        assert time.monotonic() - started > 0.5
    finally:
        holder.kill()
        holder.wait()


@needs_servers
def test_the_lock_is_reentrant_and_released_by_a_dead_holder(server_settings, tmp_path):
    assistant = build_assistant(server_settings)
    with assistant.writer_lock("serve"), assistant.writer_lock("upload"):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLD, server_settings.database_url, str(tmp_path / "x")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()  # its session ends, and the lock with it
    holder.wait()
    with assistant.writer_lock("after", wait_s=10):
        pass


def test_the_file_lock_is_reentrant_within_the_serving_process(tmp_path):
    """Embedded: the serving process holds the lock and still runs its own uploads (in threads)."""
    seen = []

    def upload() -> None:
        with WriterLock(tmp_path, purpose="upload"):
            seen.append("wrote")

    with WriterLock(tmp_path, purpose="serve"):
        thread = threading.Thread(target=upload)
        thread.start()
        thread.join(timeout=5)
    assert seen == ["wrote"] and not thread.is_alive()
    with WriterLock(tmp_path, purpose="again"):  # everything was released
        pass
