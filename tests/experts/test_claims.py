"""Two experts pressing 认领 at once: exactly one gets the question, on SQLite and on PostgreSQL,
from threads of one worker and from two worker processes."""

from __future__ import annotations

import subprocess
import sys
import threading

from assistant.db import open_database
from assistant.experts.store import ExpertStore

WORKER = """
import sys
from assistant.db import open_database
from assistant.experts.store import ExpertStore
store = ExpertStore(open_database(sys.argv[1]))
sys.stdin.readline()  # both workers start together
won = [q for q in map(int, sys.argv[3:]) if store.claim(q, sys.argv[2], [])]
print(",".join(map(str, won)))
"""


def questions(store: ExpertStore, n: int) -> list[int]:
    return [store.add_question(text=f"问题{i}", line="criminal", reason="declined", history=[], found={},
                               asker="a", asker_user="a", asker_departments=[], show_identity=False, access=[],
                               status="open") for i in range(n)]


def claims_in_threads(url: str) -> None:
    store = ExpertStore(open_database(url))
    for qid in questions(store, 5):
        barrier = threading.Barrier(6)
        won: list[str] = []

        def claim(user: str, qid=qid, barrier=barrier, won=won) -> None:
            barrier.wait()
            if store.claim(qid, user, []):
                won.append(user)

        threads = [threading.Thread(target=claim, args=(f"e{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        assert store.question(qid)["claimed_by"] == won[0]


def claims_in_processes(url: str) -> None:
    store = ExpertStore(open_database(url))
    ids = questions(store, 40)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, url, user, *map(str, ids)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for user in ("wang", "zhao")]
    results = [w.communicate("go\n", timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), [e for _, e in results]
    won = [set(map(int, filter(None, out.strip().split(",")))) for out, _ in results]
    assert won[0] | won[1] == set(ids) and not won[0] & won[1]
    for user, mine in zip(("wang", "zhao"), won, strict=True):
        assert all(store.question(q)["claimed_by"] == user for q in mine)


def test_one_claim_wins_on_sqlite(tmp_path):
    claims_in_threads(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    claims_in_processes(f"sqlite:///{tmp_path / 'j.sqlite3'}")


def test_one_claim_wins_on_postgres(pg_url):
    claims_in_threads(pg_url)
    claims_in_processes(pg_url)


def test_a_claimed_question_cannot_be_claimed_again_nor_released_by_another(tmp_path):
    store = ExpertStore(open_database(f"sqlite:///{tmp_path / 'j.sqlite3'}"))
    [qid] = questions(store, 1)
    assert store.claim(qid, "wang", ["c1"]) and not store.claim(qid, "zhao", [])
    assert not store.release(qid, user="zhao") and store.release(qid, user="wang")
    assert store.claim(qid, "zhao", []) and store.question(qid)["claimed_by"] == "zhao"
