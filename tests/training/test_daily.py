"""每日一练 in the core: mistakes and weak topics first, then the month's focus, never a question
just answered correctly, one set per day, 学时 when it is done."""

from __future__ import annotations

import pytest

from assistant.db import now
from assistant.errors import AccessDenied
from tests.training.conftest import ALICE, CAROL, CIVIL_TRAINER, CRIM, TRAINER, wrong


def test_the_daily_set_starts_with_mistakes_and_skips_what_was_just_right(world):
    a, quiz = world.assistant, world.quiz
    missed, right = quiz.questions[0], quiz.questions[1]
    a.quizzes.grade(missed.id, wrong(missed), principal=ALICE)
    a.quizzes.grade(right.id, right.answer, principal=ALICE)
    today = a.training.practice.daily(principal=ALICE)
    ids = [q.id for q in today["questions"]]
    assert ids[0] == missed.id  # due at once after a wrong answer, and in the notebook
    assert right.id not in ids
    assert 1 <= len(ids) <= a.settings.training.daily_size and len(set(ids)) == len(ids)
    assert [q.id for q in a.training.practice.daily(principal=ALICE)["questions"]] == ids  # one set a day

    for q in today["questions"]:
        a.quizzes.grade(q.id, q.answer, principal=ALICE)
    again = a.training.practice.daily(principal=ALICE)
    assert again["completed"] and set(again["answered"]) == set(ids)
    hours = a.training.hours.mine(principal=ALICE, year=now().year)
    assert [x["activity"] for x in hours["activities"]] == ["daily"]
    assert hours["total"] == a.settings.training.daily_hours


def test_the_month_focus_fills_the_set_and_only_readable_questions_come(world):
    a = world.assistant
    other = a.quizzes.make(principal=TRAINER, topic="认罪认罚", n=4, use_model=False)
    a.quizzes.publish(other.id, principal=TRAINER)
    a.training.practice.set_focus(principal=TRAINER, department=CRIM, topics=["认罪认罚"])
    with pytest.raises(AccessDenied):
        a.training.practice.set_focus(principal=CIVIL_TRAINER, department=CRIM, topics=["正当防卫"])
    picked = a.training.practice.daily(principal=ALICE)["questions"]
    # no history: the focus comes first — the new quiz's questions, or another's on the same topic
    assert picked and {q.id for q in other.questions} & {q.id for q in picked}
    assert all("认罪认罚" in q.topic or q.topic in "认罪认罚" for q in picked[:2]), [q.topic for q in picked]
    carol = a.training.practice.daily(principal=CAROL)["questions"]
    readable = a.quizzes.readable(carol, principal=CAROL)
    assert carol == readable and all("刑事检察部内部口径" not in c.title for q in carol for c in q.citations)


def test_pushes_go_out_once_a_day_after_the_chosen_hour(world):
    practice = world.assistant.training.practice
    practice.opt_in("telegram", "42", 0)
    practice.opt_in("telegram", "43", 23)
    first = practice.due_pushes("telegram")
    assert "42" in first and practice.due_pushes("telegram") == []
    practice.opt_in("telegram", "42", None)
