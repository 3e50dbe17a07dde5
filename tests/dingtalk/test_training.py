"""Training through the DingTalk fake, end to end: an assignment arrives on its own through the
robot API with its 开始 link (no card template: the link sends ``#tr:a:<id>`` as the member's
message) or, with a card template, as a card with a 开始 button; it is reminded before its
deadline, done by pressing 开始 and answering each question (typed letters, or the question
card's buttons), and counted in 学时; the trainer and a learner of another department are sent
nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from assistant.conversation.messages import parse_answer_action
from assistant.db import now
from tests.dingtalk.conftest import ALICE, BOB, CAROL, CHANNEL, TEMPLATE, ask
from tests.dingtalk.test_bot import BATCH, answer_of, link_action
from tests.fakes.dingtalk_wire import api_error
from tests.training.conftest import assigned_quiz

pytestmark = pytest.mark.slow
CRIM = "刑事检察部"


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@pytest.fixture
def fast_pushes(monkeypatch):
    monkeypatch.setattr("bots.dingtalk.runner.push_period_s", lambda _hours: 0.5)  # the pushes, every half second


def assigned(robot, fake):
    """A quiz made and published by the trainer BOB and assigned to 刑事检察部, due in 3 hours (inside the
    reminder window): (the quiz, the assignment, the trainer, the fake's mark before it)."""
    assistant, trainer = robot.assistant, robot.principal(BOB)
    quiz, made, since = assigned_quiz(assistant, trainer, [CRIM], mark=fake.mark)
    return quiz, made, trainer, since


def completed_and_counted(robot, fake, made: dict, trainer, n: int, since: int) -> None:
    """The assignment done by ALICE with all but one right, her 0.5 学时, and nothing for BOB or CAROL."""
    assistant = robot.assistant
    status = eventually(lambda: (s := assistant.training.assignments.status(made["id"], principal=trainer))
                        and s["completed"] == 1 and s)
    alice = next(p for p in status["learners"] if p["user"] == "alice")
    assert alice["completed"] and alice["score"] == round((n - 1) / n, 3)
    hours = assistant.training.hours.mine(principal=robot.principal(ALICE), year=now().year)
    assert hours["total"] == 0.5 and [a["hours"] for a in hours["activities"]] == [0.5]
    assert "学时：0.5" in ask(fake, ALICE, "/hours")[0]["text"]
    assert "已完成" in ask(fake, ALICE, "/tasks")[0]["text"]
    assert not fake.outbox(CAROL, since=since) and not fake.outbox(BOB, since=since)
    assert sum(m["text"].startswith("提醒") for m in fake.outbox(ALICE, since=since)) == 1  # reminded once
    assert assistant.training.hours.mine(principal=robot.principal(CAROL), year=now().year)["total"] == 0


def test_an_assignment_is_delivered_reminded_done_and_counted(robots, stream_fake, fast_pushes):
    robot = robots(extensions=None)  # the default extensions, training among them
    quiz, made, trainer, since = assigned(robot, stream_fake)

    news, start, reminder, again = stream_fake.wait_outbox(ALICE, since=since, count=4)
    assert news["text"].startswith("新的训练任务") and quiz.title in news["text"] and "0.5 学时" in news["text"]
    assert news["path"] == start["path"] == BATCH  # no session to answer in: the robot API
    assert "[开始](" in start["text"] and link_action(start) == f"#tr:a:{made['id']}"
    assert reminder["text"].startswith(f"提醒：训练任务「{quiz.title}」")  # due within remind_hours: reminded
    assert link_action(again) == link_action(start)
    assert not stream_fake.outbox(BOB, since=since)  # a trainer is not a target
    assert not stream_fake.outbox(CAROL, since=since)  # nor a learner of another department

    n = len(quiz.questions)
    intro, *questions = ask(stream_fake, ALICE, link_action(start), count=1 + n)  # what pressing 开始 sends
    assert intro["text"].startswith(f"训练任务「{quiz.title}」：{n} 题")
    assert all("\nA. " in q["text"] and "回复选项字母作答" in q["text"] for q in questions)
    results = []
    for i in range(n):
        right = answer_of(robot, ALICE, robot.store.pending(CHANNEL, ALICE, ALICE))
        letters = next(ch for ch in "ABCD" if ch not in right) if i == 0 else right
        results.append(ask(stream_fake, ALICE, letters, lambda m: m["text"].startswith("回答"))[0]["text"])
    assert results[0].startswith("回答错误") and all(r.startswith("回答正确") for r in results[1:])

    completed_and_counted(robot, stream_fake, made, trainer, n, since)


def test_with_a_card_template_the_assignment_comes_as_a_card_and_is_done_by_presses(robots, stream_fake,
                                                                                    fast_pushes):
    robot = robots(extensions=None, dingtalk={"card_template_id": TEMPLATE})
    quiz, made, trainer, since = assigned(robot, stream_fake)
    news, reminder = stream_fake.wait_outbox(ALICE, since=since, count=2)
    assert news["kind"] == reminder["kind"] == "card" and news["text"].startswith("新的训练任务")
    assert quiz.title in news["text"] and "0.5 学时" in news["text"] and reminder["text"].startswith("提醒：训练任务")
    assert [(b["text"], b["action"]) for b in news["buttons"]] == [("开始", f"tr:a:{made['id']}")]
    assert not stream_fake.outbox(BOB, since=since) and not stream_fake.outbox(CAROL, since=since)

    n = len(quiz.questions)
    pressed = stream_fake.mark()
    assert stream_fake.ack(stream_fake.press(news["track"], f"tr:a:{made['id']}", user=ALICE))["code"] == 200
    intro, *questions = stream_fake.wait_outbox(ALICE, since=pressed, count=1 + n)
    assert intro["text"].startswith(f"训练任务「{quiz.title}」：{n} 题")
    results = []
    for i, question in enumerate(questions):  # in order: a typed answer goes to the oldest question left
        if question["kind"] == "card":  # single-answer: a button per letter
            ref = parse_answer_action(question["buttons"][0]["action"])[0]
        else:  # multiple-answer: lettered text, answered by typing
            assert "（多选）" in question["text"]
            ref = robot.store.pending(CHANNEL, ALICE, ALICE).ref
        right = answer_of(robot, ALICE, ref)
        letters = next(ch for ch in "ABCD" if ch not in right) if i == 0 else right
        graded = stream_fake.mark()
        if question["kind"] == "card":
            action = next(b["action"] for b in question["buttons"] if b["text"] == letters)
            assert stream_fake.ack(stream_fake.press(question["track"], action, user=ALICE))["code"] == 200
        else:
            stream_fake.message(ALICE, letters)
        results.append(stream_fake.wait_outbox(ALICE, lambda m: m["text"].startswith("回答"), since=graded)[0]["text"])
    assert results[0].startswith("回答错误") and all(r.startswith("回答正确") for r in results[1:])
    completed_and_counted(robot, stream_fake, made, trainer, n, since)


def test_an_assignment_dingtalk_refused_is_sent_again_on_the_next_round(robots, stream_fake, fast_pushes):
    robot = robots(extensions=None)
    trainer = robot.principal(BOB)
    quiz = robot.assistant.quizzes.make(principal=trainer, topic="正当防卫", n=2, use_model=False)
    robot.assistant.quizzes.publish(quiz.id, principal=trainer)
    stream_fake.fail(BATCH, 403, api_error("Forbidden.AccessDenied.AccessTokenPermissionDenied", "no permission"))
    since, calls = stream_fake.mark(), len(stream_fake.calls)
    due = (now().replace(microsecond=0) + timedelta(days=3)).isoformat()  # no reminder yet
    robot.assistant.training.assignments.assign(principal=trainer, quiz_id=quiz.id, departments=[CRIM], due=due,
                                                hours=0.5)
    news, start = stream_fake.wait_outbox(ALICE, since=since, count=2)
    assert news["text"].startswith("新的训练任务") and "[开始](" in start["text"]
    refused = [c for c in stream_fake.calls[calls:] if c["path"] == BATCH and not c["ok"]]
    assert len(refused) == 1 and not stream_fake.failures[BATCH]
    time.sleep(1.5)  # three more rounds: delivered once it went out
    assert len(stream_fake.outbox(ALICE, since=since)) == 2

