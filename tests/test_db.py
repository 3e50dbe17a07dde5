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
from assistant.db import (
    head_revision,
    make_engine,
    open_database,
    schema_revision,
    table_definitions,
    upgrade_schema,
)
from assistant.errors import DatabaseUnavailable
from assistant.learners import Learners, now
from assistant.models import Citation, Question, QuestionType, Quiz
from assistant.quiz.store import QuizStore
from tests.servers import DATABASE_URL, TcpProxy, needs_postgres

TABLES = {"ingest_documents", "chunks", "learned_examples", "index_meta", "quizzes", "quiz_questions", "attempts",
          "review_cards", "api_keys", "members", "pairings", "chats", "chat_sources", "chat_questions",
          "chat_deliveries", "platform_departments", "experts", "expert_questions", "expert_notices", "feedback",
          "assignments", "assignment_progress", "mistakes", "hour_credits", "daily_sets", "daily_optins",
          "focus_topics", "exams", "exam_sittings", "training_topic_stats", "training_question_stats"}


def question(i: int) -> Question:
    cite = Citation(n=1, label="《刑法》第二十条", source_id="刑法#第二十条", chunk_id=f"c{i}", doc_id="刑法", kind="statute",
                    title="刑法", quote="正当防卫")
    return Question(id=f"q{i}", type=QuestionType.single, stem=f"题{i}", options=["甲", "乙", "丙"], answer=[1],
                    explanation="因为", citations=[cite], difficulty=1, topic="正当防卫", line="criminal", kind="provision")


def test_a_new_sqlite_database_gets_the_whole_schema(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    assert TABLES <= set(inspect(engine).get_table_names())
    assert schema_revision(engine) == head_revision()


def schema_differences(engine) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), table_definitions())


def test_the_migrations_build_exactly_the_tables_the_code_defines(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    assert schema_differences(engine) == []
    assert set(table_definitions().tables) == TABLES


def test_the_telegram_bots_members_and_polls_move_into_the_conversation_store(tmp_path):
    from sqlalchemy import text

    from assistant.conversation.store import ConversationStore

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade_schema(engine, "0002_owners_and_learners")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tg_members (telegram_id, user, role, departments, line, created_at) "
                          "VALUES (4711, 'wang', 'trainer', '[\"第一检察部\"]', 'criminal', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO tg_polls (poll_id, quiz_id, question_id, chat_id, telegram_id, answered, "
                          "created_at) VALUES ('p9', 'z1', 'q1', 4711, 4711, 0, '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO tg_chats (chat_id, turns, updated_at) VALUES (4711, "
                          "'[{\"question\": \"正当防卫\", \"query\": \"正当防卫\", \"sources\": []}]', "
                          "'2026-01-01 00:00:00')"))
    upgrade_schema(engine)
    store = ConversationStore(engine)
    member = store.member("telegram", "4711")
    assert member.principal.user == "wang" and member.principal.departments == ("第一检察部",)
    assert member.line == "criminal"
    assert store.by_platform_ref("telegram", "p9").question_id == "q1"
    assert store.history("telegram", "4711")[0].question == "正当防卫"
    assert not {t for t in inspect(engine).get_table_names() if t.startswith("tg_")}


def test_learners_of_one_name_in_two_departments_are_told_apart_by_the_upgrade(tmp_path):
    """Before 0002, attempts and review cards were keyed by the bare user name."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    upgrade_schema(engine, "0001_baseline")
    with engine.begin() as conn:
        for i, dept in enumerate(("第一检察部", "第二检察部")):
            conn.execute(text("INSERT INTO attempts (user, departments, question_id, topic, line, chosen, correct, at) "
                              "VALUES ('zhang', :d, :q, '正当防卫', 'criminal', '[0]', 1, :at)"),
                         {"d": f'["{dept}"]', "q": f"q{i}", "at": f"2026-01-0{i + 1} 00:00:00"})
            conn.execute(text("INSERT INTO review_cards (user, question_id, card, due) VALUES ('zhang', :q, '{}', "
                              "'2026-02-01 00:00:00')"), {"q": f"q{i}"})
    upgrade_schema(engine)
    learners = Learners(engine)
    assert learners.progress("zhang@第一检察部")["attempts"] == 1
    assert learners.progress("zhang@第二检察部")["attempts"] == 1
    assert learners.progress("zhang")["attempts"] == 0
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT user FROM review_cards")).scalars()) == ["zhang@第一检察部",
                                                                                         "zhang@第二检察部"]
        assert "owner" in {c["name"] for c in inspect(conn).get_columns("ingest_documents")}


def test_attempts_from_before_training_fill_the_consoles_figures_on_upgrade(tmp_path):
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade_schema(engine, "0004_experts")
    with engine.begin() as conn:
        for i, correct in enumerate((1, 0, 1)):
            conn.execute(text("INSERT INTO attempts (user, departments, question_id, topic, line, chosen, correct, at) "
                              "VALUES ('zhang@第一检察部', '[\"第一检察部\"]', 'q1', '正当防卫', 'criminal', '[0]', :c, :at)"),
                         {"c": correct, "at": f"2026-03-0{i + 2} 09:00:00"})
    upgrade_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT department, topic, attempts, correct FROM training_topic_stats")).all()
        per_question = conn.execute(text("SELECT department, question_id, attempts, correct "
                                         "FROM training_question_stats")).all()
    assert [tuple(r) for r in rows] == [("第一检察部", "正当防卫", 3, 2)]
    assert [tuple(r) for r in per_question] == [("第一检察部", "q1", 3, 2)]


def test_a_database_from_before_migrations_keeps_its_rows_and_gains_what_it_lacks(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # an early docstore: only the meta table, with a generation in it
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
    assert TABLES <= set(inspect(engine).get_table_names()) and schema_revision(engine) == head_revision()
    assert schema_differences(engine) == []


@needs_postgres
def test_learners_and_keys_on_postgres(pg_url):
    engine = open_database(pg_url)
    learners = Learners(engine)
    QuizStore(engine).save_quiz(Quiz(id="z1", title="正当防卫 · 3题", topic="正当防卫", line="criminal",
                            questions=[question(i) for i in range(3)]))
    for i in range(3):
        learners.record(learner="zhang@刑事检察部", departments=("刑事检察部",), question=question(i), chosen=[1 if i else 0],
                        quiz_id="z1", at=now() - timedelta(days=3))
    progress = learners.progress("zhang@刑事检察部")
    assert progress["attempts"] == 3 and progress["correct"] == 2 and progress["due"] >= 1
    assert "q0" in learners.due("zhang@刑事检察部")  # answered wrongly three days ago
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
