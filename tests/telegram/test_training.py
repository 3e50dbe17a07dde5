"""Training through the Telegram fake, end to end: an assignment arrives on its own, is
reminded before its deadline, is done by pressing 开始 and answering the native polls, and is
counted in 学时; /mistakes, its redo button and /daily in the same chat."""

from __future__ import annotations

import pytest

from assistant.index.embedders import HashEmbedder
from assistant.service import build_assistant
from tests.telegram.conftest import ALICE, BOB, CountingAssistant, RunningBot, TelegramState, settings_for
from tests.telegram.test_bot import as_message, eventually, reply_to
from tests.training.conftest import assigned_quiz

pytestmark = pytest.mark.slow
CRIM = "刑事检察部"


@pytest.fixture
def trained_bot(fake, data_dir, monkeypatch):
    monkeypatch.setattr("bots.telegram.app.push_period_s", lambda _hours: 0.5)  # the pushes job, every half second
    settings = settings_for(data_dir, fake)
    state = TelegramState(build_assistant(settings, embedder=HashEmbedder(64)).docstore.engine)
    state.allow(ALICE, role="learner", departments=(CRIM,), user="alice")
    state.allow(BOB, role="trainer", departments=(CRIM,), user="bob")
    running = RunningBot(settings, lambda s: CountingAssistant(s, embedder=HashEmbedder(64))).start(fake)
    running.state = state
    yield running
    running.stop()


def test_an_assignment_is_delivered_reminded_done_and_counted(trained_bot, fake):
    assistant = build_assistant(trained_bot.settings, embedder=HashEmbedder(64))
    trainer = trained_bot.state.member(BOB).principal
    quiz, made, since = assigned_quiz(assistant, trainer, [CRIM], mark=fake.mark)

    news = fake.wait_for("sendMessage", lambda p: p["text"].startswith("新的训练任务"), since=since)[0]
    assert int(news["chat_id"]) == ALICE and quiz.title in news["text"] and "0.5 学时" in news["text"]
    button = news["reply_markup"]["inline_keyboard"][0][0]
    assert button == {"text": "开始", "callback_data": f"tr:a:{made['id']}"}
    reminder = fake.wait_for("sendMessage", lambda p: p["text"].startswith("提醒：训练任务"), since=since)[0]
    assert int(reminder["chat_id"]) == ALICE  # due within remind_hours: reminded once, after the news
    assert not [p for p in fake.sent("sendMessage", since) if int(p["chat_id"]) == BOB]  # a trainer is not a target

    pressed = fake.mark()
    fake.press(ALICE, as_message(news, news["sent_id"]), button["callback_data"])
    polls = fake.wait_for("sendPoll", lambda p: int(p["chat_id"]) == ALICE, since=pressed, count=len(quiz.questions))
    assert eventually(lambda: all(trained_bot.state.by_platform_ref("telegram", p["poll_id"]) for p in polls))
    graded = fake.mark()
    for i, poll in enumerate(polls):
        right = poll["correct_option_ids"]
        wrong = [next(j for j in range(len(poll["options"])) if j not in right)]
        fake.answer_poll(ALICE, poll["poll_id"], wrong if i == 0 else right)
    fake.wait_for("sendMessage", lambda p: p["text"].startswith("回答"), since=graded, count=len(polls))

    status = eventually(lambda: (s := assistant.training.assignments.status(made["id"], principal=trainer))
                        and s["completed"] == 1 and s)
    alice = next(p for p in status["learners"] if p["user"] == "alice")
    assert alice["completed"] and alice["score"] == round((len(polls) - 1) / len(polls), 3)
    assert "学时：0.5" in reply_to(fake, ALICE, "/hours")["text"]
    assert "已完成" in reply_to(fake, ALICE, "/tasks")["text"]

    notebook = reply_to(fake, ALICE, "/mistakes")
    assert notebook["text"].startswith("错题本：") and "正确答案" in notebook["text"]
    assert reply_to(fake, ALICE, "/mistakes 民事")["text"] == "错题本中没有“民事”的题。"  # a line: criminal only here
    redo = notebook["reply_markup"]["inline_keyboard"][0][0]
    assert redo["callback_data"] == "tr:redo"
    again = fake.mark()
    fake.press(ALICE, as_message(notebook, notebook["sent_id"]), redo["callback_data"])
    fake.wait_for("sendPoll", lambda p: int(p["chat_id"]) == ALICE, since=again)

    daily = fake.mark()
    fake.message(ALICE, "/daily")
    assert fake.wait_for("sendMessage", lambda p: p["text"].startswith(("每日一练", "今天的每日一练")), since=daily)
    assert reply_to(fake, ALICE, "/daily 25")["text"].startswith("用法")
    assert reply_to(fake, ALICE, "/daily 0")["text"] == "好的，每天 0 点推送每日一练。"
    pushed = fake.wait_for("sendMessage", lambda p: p["text"].startswith("今天的每日一练已经准备好了"), since=daily)[0]
    assert pushed["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "tr:daily"
