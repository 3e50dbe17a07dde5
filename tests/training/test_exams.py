"""Mock exams in the core: a seeded, reproducible paper from a blueprint; the server's clock;
answers after the time limit kept aside; a report per topic; 学时 and the exam's assignment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.db import now
from assistant.errors import AccessDenied, Conflict, InvalidRequest
from assistant.training import Training
from tests.training.conftest import ALICE, CRIM, TRAINER, wrong

BLUEPRINT = {"title": "刑事模拟考", "time_limit_minutes": 10, "hours": 2,
             "sections": [{"line": "criminal", "topic": "正当防卫", "count": 2}, {"line": "criminal", "count": 1}]}


class Clock:
    def __init__(self) -> None:
        self.at = now()

    def __call__(self):
        return self.at


def test_the_same_blueprint_and_seed_make_the_same_paper(world):
    exams = world.assistant.training.exams
    one = exams.make(BLUEPRINT, seed=7, principal=TRAINER)
    assert exams.make(BLUEPRINT, seed=7, principal=TRAINER)["id"] == one["id"]
    assert len(one["questions"]) == 3 and one["time_limit_s"] == 600
    assert all("answer" in q for q in one["questions"])  # a trainer's view
    assert all("answer" not in q for q in exams.get(one["id"], principal=ALICE)["questions"])
    with pytest.raises(InvalidRequest, match="section 1 asks for 99"):
        exams.make({**BLUEPRINT, "sections": [{"line": "criminal", "count": 99}]}, seed=1, principal=TRAINER)
    with pytest.raises(InvalidRequest, match="time_limit"):
        exams.make({**BLUEPRINT, "time_limit_minutes": 0}, seed=1, principal=TRAINER)
    with pytest.raises(AccessDenied):
        exams.make(BLUEPRINT, seed=1, principal=ALICE)


def test_answers_after_the_time_limit_are_not_counted(world):
    a = world.assistant
    clock = Clock()
    training = Training(a.docstore.engine, quizzes=a.quizzes, learners=a.learners, settings=a.settings.training,
                        clock=clock)
    exam = training.exams.make(BLUEPRINT, seed=3, principal=TRAINER)
    made = training.assignments.assign(principal=TRAINER, exam_id=exam["id"], departments=[CRIM],
                                       due=(clock.at + timedelta(days=2)).isoformat(), hours=1)
    keys = {q["id"]: q for q in exam["questions"]}
    first, second, third = exam["questions"]
    started = training.exams.start(exam["id"], principal=ALICE)
    assert started["seconds_left"] == 600 and "answer" not in started["questions"][0]
    assert training.exams.answer(exam["id"], first["id"], first["answer"], principal=ALICE)["counted"]
    clock.at += timedelta(minutes=9)
    assert training.exams.answer(exam["id"], second["id"], wrong_of(keys[second["id"]]), principal=ALICE)["counted"]
    clock.at += timedelta(minutes=2)  # past the limit
    late = training.exams.answer(exam["id"], third["id"], third["answer"], principal=ALICE)
    assert late == {"question_id": third["id"], "counted": False, "reason": "after the time limit"}
    assert training.exams.start(exam["id"], principal=ALICE)["seconds_left"] == 0  # no fresh clock on a restart

    report = training.exams.submit(exam["id"], principal=ALICE)
    assert report["correct"] == 1 and report["questions"] == 3 and report["score"] == pytest.approx(0.333, abs=1e-3)
    assert report["late_answers"] == [third["id"]]
    assert sum(t["questions"] for t in report["topics"]) == 3 and sum(t["answered"] for t in report["topics"]) == 2
    with pytest.raises(Conflict):
        training.exams.answer(exam["id"], first["id"], first["answer"], principal=ALICE)
    assert training.exams.submit(exam["id"], principal=ALICE)["correct"] == 1  # a second submit changes nothing

    hours = training.hours.mine(principal=ALICE, year=clock.at.year)
    assert sorted((x["activity"], x["hours"]) for x in hours["activities"]) == [("assignment", 1.0), ("exam", 2.0)]
    status = training.assignments.status(made["id"], principal=TRAINER)
    alice = next(p for p in status["learners"] if p["user"] == "alice")
    assert alice["completed"] and alice["score"] == report["score"]
    assert [m["question_id"] for m in training.practice.mistakes(principal=ALICE)] == [second["id"]]


def wrong_of(view: dict) -> list[int]:
    class Q:
        options, answer = view["options"], view["answer"]

    return wrong(Q)
