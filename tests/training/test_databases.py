"""The training paths on SQLite and PostgreSQL (JSON columns, upserts on the roll-ups, row locks): an
assignment done and credited, the 错题本, a daily set, a mock exam, the console's figures and
their rebuild from the attempts."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from assistant.config import load_settings
from assistant.db import now
from assistant.index.embedders import HashEmbedder
from assistant.service import build_assistant
from tests.conftest import CORPUS
from tests.servers import needs_postgres
from tests.training.conftest import ALICE, CRIM, TRAINER, wrong


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def pg_assistant(request, tmp_path):
    shutil.copytree(CORPUS, tmp_path / "corpus")
    database = {"url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    assistant = build_assistant(load_settings(data_dir=tmp_path / "data", embedder={"name": "hash-64"},
                                              database=database), embedder=HashEmbedder(64))
    assistant.ingest([tmp_path / "corpus"])
    assistant.keys.create(user=ALICE.user, role="learner", departments=ALICE.departments)
    return assistant


def test_training_on_both_databases(pg_assistant):
    a = pg_assistant
    quiz = a.quizzes.make(principal=TRAINER, topic="正当防卫", n=3, use_model=False)
    a.quizzes.publish(quiz.id, principal=TRAINER)
    made = a.training.assignments.assign(principal=TRAINER, quiz_id=quiz.id, departments=[CRIM],
                                         due=(now() + timedelta(days=2)).isoformat(), hours=0.5)
    first, *rest = quiz.questions
    a.quizzes.grade(first.id, wrong(first), principal=ALICE, quiz_id=quiz.id)
    for q in rest:
        a.quizzes.grade(q.id, q.answer, principal=ALICE, quiz_id=quiz.id)
    status = a.training.assignments.status(made["id"], principal=TRAINER)
    assert status["completed"] == 1 and status["targeted"] == 1
    assert [m["question_id"] for m in a.training.practice.mistakes(principal=ALICE)] == [first.id]
    assert a.training.practice.daily(principal=ALICE)["questions"][0].id == first.id
    assert a.training.hours.mine(principal=ALICE, year=now().year)["total"] == 0.5
    assert a.training.hours.department(principal=TRAINER, department=CRIM, year=now().year)[0]["total"] == 0.5

    exam = a.training.exams.make({"time_limit_minutes": 5, "sections": [{"count": 2}]}, seed=1, principal=TRAINER)
    a.training.exams.start(exam["id"], principal=ALICE)
    q = exam["questions"][0]
    assert a.training.exams.answer(exam["id"], q["id"], q["answer"], principal=ALICE)["counted"]
    assert a.training.exams.submit(exam["id"], principal=ALICE)["correct"] == 1

    before = a.training.console.overview(principal=TRAINER)
    assert sum(w["attempts"] for w in before["weeks"]) == len(quiz.questions) + 1
    assert a.training.console.rebuild() == len(quiz.questions) + 1
    after = a.training.console.overview(principal=TRAINER)
    assert after["weeks"] == before["weeks"] and after["heat"] == before["heat"]
