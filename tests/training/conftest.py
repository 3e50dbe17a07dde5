"""The real Assistant over the demo corpus and the two restricted cases, with a published quiz
on 正当防卫 made by a trainer of 刑事检察部 (fresh data directory per test)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.db import now
from assistant.index.embedders import HashEmbedder
from assistant.models import Principal, Quiz
from assistant.service import build_assistant
from tests.conftest import CORPUS, ingested_copy, write_restricted_cases

CRIM, CIVIL = "刑事检察部", "民事检察部"
TRAINER = Principal(user="tina", role="trainer", departments=(CRIM,))
CIVIL_TRAINER = Principal(user="tom", role="trainer", departments=(CIVIL,))
ALICE = Principal(user="alice", role="learner", departments=(CRIM,))
BOB = Principal(user="bob", role="learner", departments=(CRIM,))
CAROL = Principal(user="carol", role="learner", departments=(CIVIL,))


def assigned_quiz(assistant, trainer: Principal, departments: list[str], *, mark):
    """A quiz on 正当防卫 made and published by ``trainer`` and assigned to ``departments`` for 0.5 学时,
    due in 3 hours (inside the reminder window): (the quiz, the assignment, ``mark()`` taken just
    before it was assigned, for a fake messenger's messages since)."""
    quiz = assistant.quizzes.make(principal=trainer, topic="正当防卫", n=3, use_model=False)
    assistant.quizzes.publish(quiz.id, principal=trainer)
    since = mark()
    due = (now().replace(microsecond=0) + timedelta(hours=3)).isoformat()
    made = assistant.training.assignments.assign(principal=trainer, quiz_id=quiz.id, departments=departments, due=due,
                                                 hours=0.5)
    return quiz, made, since


@dataclass
class World:
    assistant: object
    quiz: Quiz


@pytest.fixture(scope="session")
def training_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("training")
    shutil.copytree(CORPUS, root / "corpus")
    write_restricted_cases(root / "corpus")
    return root


@pytest.fixture
def world(training_corpus, tmp_path) -> World:
    data = ingested_copy(training_corpus / "corpus", template=training_corpus / "template", target=tmp_path / "data")
    assistant = build_assistant(load_settings(data_dir=data, embedder={"name": "hash-64"}), embedder=HashEmbedder(64))
    for who in (ALICE, BOB, CAROL):
        assistant.keys.create(user=who.user, role="learner", departments=who.departments)
    quiz = assistant.quizzes.make(principal=TRAINER, topic="正当防卫", n=4, use_model=False)
    assistant.quizzes.publish(quiz.id, principal=TRAINER)
    return World(assistant, assistant.quizzes.get(quiz.id, principal=TRAINER))


def wrong(question) -> list[int]:
    return [next(i for i in range(len(question.options)) if i not in question.answer)]
