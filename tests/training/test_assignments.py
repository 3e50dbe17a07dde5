"""Assignments, the 错题本 and 学时 in the core, as trainers of two departments and their
learners use them."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest

from assistant.db import now
from assistant.errors import AccessDenied, InvalidRequest, NotFound
from tests.training.conftest import ALICE, BOB, CAROL, CIVIL_TRAINER, CRIM, TRAINER, wrong


def test_an_assignment_is_seen_done_scored_and_credited(world):
    a, quiz = world.assistant, world.quiz
    due = (now() + timedelta(days=7)).date().isoformat()
    made = a.training.assignments.assign(principal=TRAINER, quiz_id=quiz.id, departments=[CRIM], due=due, hours=0.5)
    assert made["departments"] == [CRIM] and made["hours"] == 0.5 and made["due_at"].startswith(due)
    assert [x["id"] for x in a.training.assignments.mine(principal=ALICE)] == [made["id"]]
    assert a.training.assignments.mine(principal=CAROL) == []  # another department's

    first, *rest = a.quizzes.get(quiz.id, principal=ALICE).questions
    a.quizzes.grade(first.id, wrong(first), principal=ALICE, quiz_id=quiz.id)
    a.quizzes.grade(first.id, first.answer, principal=ALICE, quiz_id=quiz.id)  # a second answer does not count
    for q in rest:
        a.quizzes.grade(q.id, q.answer, principal=ALICE, quiz_id=quiz.id)
    mine = a.training.assignments.mine(principal=ALICE)[0]
    n = len(quiz.questions)
    assert mine["state"] == "completed" and mine["score"] == pytest.approx((n - 1) / n, abs=1e-3)

    status = a.training.assignments.status(made["id"], principal=TRAINER)
    people = {p["user"]: p for p in status["learners"]}
    assert set(people) == {"alice", "bob"}  # carol is of 民事检察部
    assert people["alice"]["completed"] and not people["alice"]["late"]
    assert not people["bob"]["completed"] and people["bob"]["answered"] == 0
    assert status["departments_status"] == [{"department": CRIM, "learners": 2, "completed": 1, "completion": 0.5,
                                             "mean_score": people["alice"]["score"]}]
    hours = a.training.hours.mine(principal=ALICE, year=now().year)
    assert hours["total"] == 0.5 and hours["activities"][0]["activity"] == "assignment"
    assert a.training.hours.mine(principal=BOB, year=now().year)["total"] == 0


def test_trainers_keep_to_their_departments(world):
    a, quiz = world.assistant, world.quiz
    due = (now() + timedelta(days=3)).isoformat()
    with pytest.raises(AccessDenied):
        a.training.assignments.assign(principal=TRAINER, quiz_id=quiz.id, departments=["民事检察部"], due=due)
    with pytest.raises(AccessDenied):
        a.training.assignments.assign(principal=ALICE, quiz_id=quiz.id, departments=[CRIM], due=due)
    made = a.training.assignments.assign(principal=TRAINER, quiz_id=quiz.id, users=["bob"], due=due)
    assert made["departments"] == [CRIM] and made["users"] == ["bob"]  # a trainer's own departments by default
    assert a.training.assignments.mine(principal=ALICE) == []  # not named
    with pytest.raises(NotFound):
        a.training.assignments.status(made["id"], principal=CIVIL_TRAINER)
    with pytest.raises(AccessDenied):
        a.training.hours.department(principal=CIVIL_TRAINER, department=CRIM, year=now().year)


def test_bad_assignments_are_refused_with_a_reason(world):
    a, quiz = world.assistant, world.quiz
    draft = a.quizzes.make(principal=TRAINER, topic="认罪认罚", n=2, use_model=False)
    future = (now() + timedelta(days=3)).isoformat()
    with pytest.raises(InvalidRequest, match="draft"):
        a.training.assignments.assign(principal=TRAINER, quiz_id=draft.id, due=future)
    with pytest.raises(InvalidRequest, match="deadline"):
        a.training.assignments.assign(principal=TRAINER, quiz_id=quiz.id, due="2020-01-01")
    with pytest.raises(InvalidRequest, match="not a date"):
        a.training.assignments.assign(principal=TRAINER, quiz_id=quiz.id, due="next friday")
    with pytest.raises(NotFound):
        a.training.assignments.assign(principal=TRAINER, quiz_id="znope", due=future)


def test_the_notebook_keeps_wrong_answers_until_two_correct_redos_in_a_row(world):
    a, quiz = world.assistant, world.quiz
    q = quiz.questions[0]
    a.quizzes.grade(q.id, wrong(q), principal=ALICE, quiz_id=quiz.id)
    [m] = a.training.practice.mistakes(principal=ALICE)
    assert m["chosen"] == wrong(q) and m["answer"] == q.answer and m["explanation"] == q.explanation
    assert m["citations"][0]["label"] == q.citations[0].label and m["wrong"] == 1
    assert a.training.practice.mistakes(principal=BOB) == []
    assert a.training.practice.mistakes(principal=ALICE, line="civil") == []
    assert len(a.training.practice.mistakes(principal=ALICE, topic=q.topic)) == 1

    assert a.training.practice.redo(q.id, q.answer, principal=ALICE)["in_notebook"]  # one is not enough
    assert not a.training.practice.redo(q.id, wrong(q), principal=ALICE)["correct"]  # wrong again: from zero
    assert a.training.practice.redo(q.id, q.answer, principal=ALICE)["streak"] == 1
    done = a.training.practice.redo(q.id, q.answer, principal=ALICE)
    assert done["correct"] and not done["in_notebook"]
    assert a.training.practice.mistakes(principal=ALICE) == []
    assert a.training.practice.mistakes(principal=ALICE, include_resolved=True)[0]["wrong"] == 2


def test_a_departments_hours_export_as_csv_and_xlsx(world):
    from assistant.training.hours import to_csv, to_xlsx

    a, quiz = world.assistant, world.quiz
    due = (now() + timedelta(days=1)).isoformat()
    made = a.training.assignments.assign(principal=TRAINER, quiz_id=quiz.id, due=due, hours=1.5)
    for q in quiz.questions:
        a.quizzes.grade(q.id, q.answer, principal=BOB, quiz_id=quiz.id)
    rows = a.training.hours.department(principal=TRAINER, department=None, year=now().year)
    assert [(r["user"], r["total"]) for r in rows] == [("alice", 0), ("bob", 1.5)]
    assert made["title"] in rows[1]["activities"]
    text = to_csv(rows).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("姓名,部门,学时合计") and "bob,刑事检察部,1.5" in text
    with zipfile.ZipFile(io.BytesIO(to_xlsx(rows))) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<t>bob</t>" in sheet and "<v>1.5</v>" in sheet and "学时合计" in sheet


def test_a_set_of_cases_becomes_a_published_quiz_and_an_assignment(world):
    a = world.assistant
    titles = [s.title for s in a.quizzes.sources(principal=TRAINER, limit=100)
              if "内部口径" not in s.title][:2]  # two public cases
    due = (now() + timedelta(days=2)).isoformat()
    made = a.training.assignments.assign(principal=TRAINER, cases=titles, due=due, hours=1)
    quiz = a.quizzes.get(made["ref"], principal=ALICE)
    assert made["kind"] == "quiz" and quiz.status == "published" and made["title"].startswith("案例训练 · 2案")
    assert {c.title for q in quiz.questions for c in q.citations} >= set(titles)
    with pytest.raises(NotFound, match="no case"):
        a.training.assignments.assign(principal=TRAINER, cases=["检例第999号"], due=due)
    with pytest.raises(InvalidRequest, match="one of"):
        a.training.assignments.assign(principal=TRAINER, cases=titles, quiz_id=world.quiz.id, due=due)
