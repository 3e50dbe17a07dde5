"""Training through the Feishu fake, end to end: an assignment arrives on its own as a card with
its 开始 button, is reminded before its deadline, is done by pressing 开始 and answering each
question on its card (a multiple-answer one by typing its letters), and is counted in 学时; a
learner of another department is sent nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from assistant.db import now
from assistant.index.embedders import HashEmbedder
from assistant.service import build_assistant
from tests.feishu.conftest import CHANNEL, LI, ZHANG, ZHAO, admit, bot_settings, start_bot, store_for
from tests.feishu.test_app import text_of
from tests.feishu.test_bot import buttons, eventually, exchange, is_card, said
from tests.training.conftest import assigned_quiz

pytestmark = pytest.mark.slow
CRIM = "刑事检察部"


@pytest.fixture
def trained_bot(fake, data_dir):
    settings = bot_settings(data_dir, fake)
    store = store_for(settings)
    admit(store)  # ZHANG a learner of 刑事检察部, LI of 民事检察部
    store.allow(CHANNEL, ZHAO, role="trainer", departments=(CRIM,), user="zhao")
    running = start_bot(settings, push_check_s=0.5)  # the push loop, every half second
    running.settings, running.store = settings, store
    yield running
    running.stop()


def body_of(message: dict) -> str:
    """A text message's text, or a card's text without its title and buttons."""
    if not is_card(message):
        return message["content"]["text"]
    return "\n".join(e["text"]["content"] for e in message["content"]["elements"] if e["tag"] == "div")


def test_an_assignment_is_delivered_reminded_done_and_counted(trained_bot, fake):
    assistant = build_assistant(trained_bot.settings, embedder=HashEmbedder(64))
    trainer = trained_bot.store.member(CHANNEL, ZHAO).principal
    quiz, made, since = assigned_quiz(assistant, trainer, [CRIM], mark=fake.mark)

    news, reminder = fake.wait_outbox(ZHANG, since=since, count=2)
    assert is_card(news) and body_of(news).startswith("新的训练任务")
    assert quiz.title in body_of(news) and "0.5 学时" in body_of(news)
    assert buttons(news) == {"开始": f"tr:a:{made['id']}"}
    assert body_of(reminder).startswith(f"提醒：训练任务「{quiz.title}」")  # due within remind_hours: reminded
    assert buttons(reminder) == buttons(news) and fake.violations == []
    assert not fake.outbox(ZHAO, since) and not fake.outbox(LI, since)  # a trainer is not a target, nor LI

    n = len(quiz.questions)
    pressed = fake.mark()
    assert fake.post(trained_bot.url, fake.press_event(ZHANG, news["message_id"], "开始")).status_code == 200
    fake.wait_outbox(ZHANG, since=pressed, count=1 + n)  # what it says first, then each question
    delivered = fake.outbox(ZHANG, pressed)
    assert said(delivered).startswith(f"训练任务「{quiz.title}」：{n} 题")
    questions = [m for m in delivered if text_of(m).startswith("第")]
    assert len(questions) == n
    right = 0
    for i, (message, question) in enumerate(zip(questions, quiz.questions, strict=True)):
        assert text_of(message).startswith(f"第{i + 1}/{n}题")
        wrong = next(j for j in range(len(question.options)) if j not in question.answer)
        letters = "".join("ABCDEFGHIJKL"[j] for j in ([wrong] if i == 0 else question.answer))
        graded = fake.mark()
        if is_card(message):  # a single-answer question: its letter's button
            event = fake.press_event(ZHANG, message["message_id"], letters)
        else:  # a multiple-answer one: the letters typed (the oldest question not answered)
            event = fake.message(ZHANG, letters)
        assert fake.post(trained_bot.url, event).status_code == 200
        result = fake.wait_outbox(ZHANG, lambda m: text_of(m).startswith("回答"), since=graded)[0]
        right += text_of(result).startswith("回答正确")
    assert right == n - 1

    status = eventually(lambda: (s := assistant.training.assignments.status(made["id"], principal=trainer))
                        and s["completed"] == 1 and s)
    zhang = next(p for p in status["learners"] if p["user"] == "zhang")
    assert zhang["completed"] and zhang["score"] == round((n - 1) / n, 3)
    hours = assistant.training.hours.mine(principal=trained_bot.store.member(CHANNEL, ZHANG).principal,
                                          year=now().year)
    assert hours["total"] == 0.5 and [a["hours"] for a in hours["activities"]] == [0.5]
    assert "学时：0.5" in said(exchange(fake, trained_bot, ZHANG, "/hours"))
    assert "已完成" in said(exchange(fake, trained_bot, ZHANG, "/tasks"))
    assert not fake.outbox(ZHAO, since) and not fake.outbox(LI, since)
    assert sum(body_of(m).startswith("提醒") for m in fake.outbox(ZHANG, since)) == 1  # reminded once
    li = trained_bot.store.member(CHANNEL, LI).principal
    assert assistant.training.hours.mine(principal=li, year=now().year)["total"] == 0


def test_an_assignment_feishu_refused_is_sent_again_on_the_next_round(trained_bot, fake):
    assistant = build_assistant(trained_bot.settings, embedder=HashEmbedder(64))
    trainer = trained_bot.store.member(CHANNEL, ZHAO).principal
    quiz = assistant.quizzes.make(principal=trainer, topic="正当防卫", n=2, use_model=False)
    assistant.quizzes.publish(quiz.id, principal=trainer)
    fake.fail("/im/v1/messages", status=400, code=230013)  # "bot has no availability to this user", for a moment
    since, calls = fake.mark(), len(fake.calls)
    due = (now().replace(microsecond=0) + timedelta(days=3)).isoformat()  # no reminder yet
    assistant.training.assignments.assign(principal=trainer, quiz_id=quiz.id, departments=[CRIM], due=due, hours=0.5)
    [news] = fake.wait_outbox(ZHANG, since=since)
    assert body_of(news).startswith("新的训练任务")
    refused = [c for c in fake.calls[calls:] if c["path"].endswith("/im/v1/messages") and c["status"] == 400]
    assert len(refused) == 1 and not fake.failures["/im/v1/messages"]
    time.sleep(1.5)  # three more rounds: delivered once it went out
    assert len(fake.outbox(ZHANG, since)) == 1

