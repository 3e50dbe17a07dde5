"""Training through the WeCom fake, end to end: an assignment arrives on its own as a card with
its 开始 button, is reminded before its deadline, is done by pressing 开始 and answering the
question cards, and is counted in 学时; a learner of another department is sent nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.db import now
from assistant.index.embedders import HashEmbedder
from assistant.service import build_assistant
from tests.training.conftest import assigned_quiz
from tests.wecom.conftest import LI, ZHANG, ZHAO, bot_settings, start_bot, store_for
from tests.wecom.test_bot import eventually, exchange, is_card, said, visible

pytestmark = pytest.mark.slow
CRIM, CIVIL = "刑事检察部", "民事检察部"


@pytest.fixture
def trained_bot(fake, data_dir):
    settings = bot_settings(data_dir, fake)
    store = store_for(settings)
    store.allow("wecom", ZHANG, role="learner", departments=(CRIM,), user="zhang")
    store.allow("wecom", ZHAO, role="trainer", departments=(CRIM,), user="zhao")
    store.allow("wecom", LI, role="learner", departments=(CIVIL,), user="li")
    running = start_bot(settings, push_check_s=0.5)  # the push loop, every half second
    running.settings, running.store = settings, store
    yield running
    running.stop()


def text_of(message: dict) -> str:
    """A message's text: a text message's content, a card's text under its title."""
    return message["template_card"].get("sub_title_text", "") if is_card(message) else visible(message)


def answer_with(fake, bot, user: str, card: dict, letter: str) -> None:
    """Press the option ``letter`` on a question card (or tick it on a vote card and submit)."""
    if card["card_type"] == "vote_interaction":
        fake.vote(bot.url, user, card["task_id"], [letter])
    else:
        key = next(b["key"] for b in card["button_list"] if b["key"].endswith(f":{letter}"))
        fake.press(bot.url, user, card["task_id"], key)


def test_an_assignment_is_delivered_reminded_done_and_counted(trained_bot, fake):
    assistant = build_assistant(trained_bot.settings, embedder=HashEmbedder(64))
    trainer = trained_bot.store.member("wecom", ZHAO).principal
    quiz, made, since = assigned_quiz(assistant, trainer, [CRIM], mark=fake.mark)

    news = fake.wait_for("message/send", lambda m: text_of(m).startswith("新的训练任务"), since=since)[0]
    assert news["touser"] == ZHANG and is_card(news)
    assert quiz.title in visible(news) and "0.5 学时" in visible(news)
    [start] = news["template_card"]["button_list"]
    assert start["text"] == "开始" and start["key"] == f"tr:a:{made['id']}"
    reminder = fake.wait_for("message/send", lambda m: text_of(m).startswith("提醒：训练任务"), since=since)[0]
    assert reminder["touser"] == ZHANG  # due within remind_hours: reminded once, after the news
    sent_to = {m["touser"] for m in fake.sent("message/send", since)}
    assert sent_to == {ZHANG}  # a trainer is not a target, nor a learner of another department
    assert fake.violations == []

    pressed = fake.mark()
    fake.press(trained_bot.url, ZHANG, news["template_card"]["task_id"], f"tr:a:{made['id']}")
    n = len(quiz.questions)
    fake.wait_for("message/send", lambda m: m["touser"] == ZHANG and is_card(m), since=pressed, count=n)
    cards = [m["template_card"] for m in fake.sent("message/send", pressed) if is_card(m)]
    assert said(fake.sent("message/send", pressed)).startswith(f"训练任务「{quiz.title}」：{n} 题")
    graded = fake.mark()
    for i, (card, question) in enumerate(zip(cards, quiz.questions, strict=True)):
        assert card["main_title"]["title"].startswith(f"第{i + 1}/{n}题")
        wrong = next(j for j in range(len(question.options)) if j not in question.answer)
        chosen = [wrong] if i == 0 else question.answer
        if len(chosen) > 1:  # a multiple-answer question: its letters together
            fake.vote(trained_bot.url, ZHANG, card["task_id"], ["ABCDEFGHIJKL"[j] for j in chosen])
        else:
            answer_with(fake, trained_bot, ZHANG, card, "ABCDEFGHIJKL"[chosen[0]])
    results = fake.wait_for("message/send", lambda m: text_of(m).startswith("回答"), since=graded, count=n)
    assert sum(text_of(r).startswith("回答正确") for r in results) == n - 1

    status = eventually(lambda: (s := assistant.training.assignments.status(made["id"], principal=trainer))
                        and s["completed"] == 1 and s)
    zhang = next(p for p in status["learners"] if p["user"] == "zhang")
    assert zhang["completed"] and zhang["score"] == round((n - 1) / n, 3)
    learner = trained_bot.store.member("wecom", ZHANG).principal
    hours = assistant.training.hours.mine(principal=learner, year=now().year)
    assert hours["total"] == 0.5 and [a["hours"] for a in hours["activities"]] == [0.5]
    assert "学时：0.5" in said(exchange(fake, trained_bot, ZHANG, "/hours"))
    assert "已完成" in said(exchange(fake, trained_bot, ZHANG, "/tasks"))
    assert not [m for m in fake.sent("message/send") if m["touser"] in (LI, ZHAO)]  # still nothing for them
    assert sum(text_of(m).startswith("提醒") for m in fake.sent("message/send", since)) == 1  # reminded once
    assert assistant.training.hours.mine(principal=trained_bot.store.member("wecom", LI).principal,
                                         year=now().year)["total"] == 0


def test_an_assignment_wecom_refused_is_sent_again_on_the_next_round(trained_bot, fake):
    assistant = build_assistant(trained_bot.settings, embedder=HashEmbedder(64))
    trainer = trained_bot.store.member("wecom", ZHAO).principal
    quiz = assistant.quizzes.make(principal=trainer, topic="正当防卫", n=2, use_model=False)
    assistant.quizzes.publish(quiz.id, principal=trainer)
    fake.fail("message/send", errcode=81013)  # the learner out of the app's visible range for a moment
    since = fake.mark()
    due = (now().replace(microsecond=0) + timedelta(days=3)).isoformat()  # no reminder yet
    assistant.training.assignments.assign(principal=trainer, quiz_id=quiz.id, departments=[CRIM], due=due, hours=0.5)
    tries = fake.wait_for("message/send", lambda m: text_of(m).startswith("新的训练任务"), since=since, count=2)
    assert text_of(tries[0]) == text_of(tries[1]) and tries[1]["touser"] == ZHANG and not fake.failures["message/send"]
    after = fake.mark()
    assert not eventually(lambda: fake.sent("message/send", after), timeout=2)  # delivered once it went out

