"""A trainer's correction of a draft question in the console: it changes that draft only. A
question is stored once by its content, so a published quiz (and the answers already given to
it) that shares the question keeps it as it was."""

from __future__ import annotations

import copy

import pytest

from assistant.errors import InvalidRequest
from assistant.models import Quiz
from assistant.training.practice import published_questions
from tests.training.conftest import ALICE, TRAINER


def test_editing_a_shared_question_in_a_draft_leaves_the_published_quiz_as_it_was(world):
    a, published = world.assistant, world.quiz
    shared = published.questions[0]
    a.quizzes.grade(shared.id, shared.answer, principal=ALICE)
    draft = Quiz(id="zdraft1", title="草稿", topic=published.topic, line=published.line, created_by=TRAINER.learner,
                 questions=[copy.deepcopy(q) for q in published.questions[:2]])
    a.quizzes.store.save_quiz(draft)  # its questions are stored once: as the published quiz's, published

    view = a.training.console.edit_question(draft.id, shared.id, principal=TRAINER, stem="经修改的题干？")
    edited = view["questions"][0]
    assert edited["stem"] == "经修改的题干？" and edited["id"] != shared.id
    assert [q["id"] for q in view["questions"]][1:] == [published.questions[1].id]  # in its place, the rest as was
    again = a.quizzes.get(published.id, principal=TRAINER)
    assert again.questions[0].id == shared.id and again.questions[0].stem == shared.stem
    assert a.quizzes.store.get_question(shared.id).stem == shared.stem  # what ALICE answered is kept
    assert a.quizzes.store.get_question(edited["id"]).status == "draft"  # not published with the shared one
    assert edited["id"] not in {q.id for q in published_questions(a.docstore.engine)}  # nor in daily sets
    unchanged = a.training.console.edit_question(draft.id, edited["id"], principal=TRAINER, stem="经修改的题干？")
    assert unchanged["questions"][0]["id"] == edited["id"]  # nothing changed, nothing new
    with pytest.raises(InvalidRequest):  # a published quiz is still not edited
        a.training.console.edit_question(published.id, shared.id, principal=TRAINER, stem="改")
