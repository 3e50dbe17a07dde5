"""The database: Alembic migrations on SQLite and PostgreSQL, learners, keys and bot state on
PostgreSQL, and an unreachable server as DatabaseUnavailable until it is back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from assistant.access import Keys
from assistant.db import make_engine, open_database, schema_revision
from assistant.errors import DatabaseUnavailable
from assistant.learners import Learners, now
from assistant.models import Citation, Question, QuestionType, Quiz
from tests.servers import DATABASE_URL, TcpProxy, needs_postgres

TABLES = {"ingest_documents", "chunks", "learned_examples", "index_meta", "quizzes", "quiz_questions", "attempts",
          "review_cards", "api_keys", "tg_members", "tg_pairings", "tg_chats", "tg_answers", "tg_polls", "tg_updates"}


def question(i: int) -> Question:
    cite = Citation(n=1, label="《刑法》第二十条", source_id="刑法#第二十条", chunk_id=f"c{i}", doc_id="刑法", kind="statute",
                    title="刑法", quote="正当防卫")
    return Question(id=f"q{i}", type=QuestionType.single, stem=f"题{i}", options=["甲", "乙", "丙"], answer=[1],
                    explanation="因为", citations=[cite], difficulty=1, topic="正当防卫", line="criminal", kind="provision")


def test_a_new_sqlite_database_gets_the_whole_schema(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    assert TABLES <= set(inspect(engine).get_table_names())
    assert schema_revision(engine) == "0001_baseline"


def test_a_database_from_before_migrations_keeps_its_rows_and_gains_what_it_lacks(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # an early ledger: only the meta table, with a generation in it
        conn.execute("CREATE TABLE index_meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO index_meta VALUES ('generation', '7')")
    engine = open_database(f"sqlite:///{path}")
    assert TABLES <= set(inspect(engine).get_table_names())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM index_meta WHERE key='generation'").fetchone() == ("7",)


@needs_postgres
def test_postgres_schema_and_concurrent_first_starts(pg_url):
    """Three workers starting at once on an empty database: one migrates, none fails."""
    code = "import sys; from assistant.db import open_database; open_database(sys.argv[1]); print('ok')"
    starts = [subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in starts]
    assert all(p.returncode == 0 for p in starts), [err for _, err in results]
    engine = open_database(pg_url)
    assert TABLES <= set(inspect(engine).get_table_names()) and schema_revision(engine) == "0001_baseline"


@needs_postgres
def test_learners_and_keys_on_postgres(pg_url):
    engine = open_database(pg_url)
    learners = Learners(engine)
    learners.save_quiz(Quiz(id="z1", title="正当防卫 · 3题", topic="正当防卫", line="criminal",
                            questions=[question(i) for i in range(3)]))
    for i in range(3):
        learners.record(user="zhang", departments=("刑事检察部",), question=question(i), chosen=[1 if i else 0],
                        quiz_id="z1", at=now() - timedelta(days=3))
    progress = learners.progress("zhang")
    assert progress["attempts"] == 3 and progress["correct"] == 2 and progress["due"] >= 1
    assert "q0" in {q.id for q in learners.due("zhang")}  # answered wrongly three days ago
    group = learners.group("刑事检察部")
    assert group["learners"][0]["user"] == "zhang" and group["learners"][0]["attempts"] == 3
    keys = Keys(engine)
    key_id, secret = keys.create(user="li", role="trainer", departments=("第一检察部",))
    found = keys.authenticate(secret)
    assert found is not None and found[0] == key_id and found[1].departments == ("第一检察部",)
    keys.revoke(key_id)
    assert keys.authenticate(secret) is None


@needs_postgres
def test_an_unreachable_database_is_unavailable_until_it_is_back(pg_schemas):
    """Through a proxy that can cut every connection, as a crash or a network fault would."""
    from sqlalchemy.engine import make_url

    target = make_url(DATABASE_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    url = make_url(pg_schemas()).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = open_database(url)
    keys = Keys(engine)
    key_id, secret = keys.create(user="wang", role="learner", departments=())
    proxy.cut()
    with pytest.raises(DatabaseUnavailable, match="cannot be reached"):
        keys.authenticate(secret)
    proxy.mend()
    assert keys.authenticate(secret)[0] == key_id  # the same engine, no restart


def test_a_database_that_is_not_there_is_unavailable():
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/nothing?connect_timeout=2")
    with pytest.raises(DatabaseUnavailable):
        Keys(engine).list()
