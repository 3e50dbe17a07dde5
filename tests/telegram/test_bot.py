"""The bot end to end: real python-telegram-bot over HTTP to the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from assistant.conversation import texts as render
from assistant.index.embedders import HashEmbedder
from assistant.learners import now
from assistant.service import build_assistant
from tests.http.conftest import free_port
from tests.telegram.conftest import ALICE, BOB, MALLORY, CountingAssistant, RunningBot, TelegramState, settings_for

pytestmark = pytest.mark.slow


def reply_to(fake, user: int, text: str, *, method: str = "sendMessage", predicate=lambda p: True) -> dict:
    since = fake.mark()
    fake.message(user, text)
    return fake.wait_for(method, lambda p: int(p["chat_id"]) == user and predicate(p), since=since)[0]


def eventually(check, timeout: float = 10.0):
    """The bot writes its state right after it replies: wait for it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def as_message(params: dict, message_id: int) -> dict:
    """The message the bot sent, as Telegram would show it back in a callback."""
    return {"message_id": message_id, "date": 0, "chat": {"id": int(params["chat_id"]), "type": "private"},
            "text": params["text"], "reply_markup": params.get("reply_markup")}


# -- admission -------------------------------------------------------------------------------------


def test_a_stranger_is_refused_before_any_retrieval(bot, fake):
    before = CountingAssistant.asked
    sent = reply_to(fake, MALLORY, "正当防卫的限度怎么认定")
    assert sent["text"] == render.NOT_ADMITTED
    assert reply_to(fake, MALLORY, "/quiz 正当防卫")["text"] == render.NOT_ADMITTED
    assert CountingAssistant.asked == before
    assert not [p for p in fake.sent("sendChatAction") + fake.sent("sendPoll") if int(p["chat_id"]) == MALLORY]


def test_a_pairing_code_admits_once_and_expires(bot, fake):
    code = bot.state.make_pairing(role="learner", departments=("民事检察部",), hours=1)
    assert reply_to(fake, MALLORY, f"/start {code}")["text"] == render.PAIRED
    member = bot.state.member(MALLORY)
    assert member.principal.departments == ("民事检察部",) and member.principal.role == "learner"
    assert reply_to(fake, 7777, f"/start {code}")["text"] == render.BAD_CODE  # used
    assert bot.state.member(7777) is None
    stale = bot.state.make_pairing(role="trainer", departments=(), hours=-1)
    assert reply_to(fake, 7778, f"/start {stale}")["text"] == render.BAD_CODE  # expired
    assert reply_to(fake, 7779, "/start NOTACODE1")["text"] == render.BAD_CODE


# -- questions -------------------------------------------------------------------------------------


def test_an_answer_with_citations_a_sources_button_and_a_follow_up(bot, fake):
    answer = reply_to(fake, ALICE, "正当防卫的限度怎么认定", predicate=lambda p: "reply_markup" in p)
    assert "[1]" in answer["text"] and "来源：[1] " in answer["text"]
    button = answer["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "来源" and button["callback_data"].startswith("src:")
    assert [int(p["chat_id"]) for p in fake.sent("sendChatAction")].count(ALICE) >= 1

    assert eventually(lambda: bot.state.sources("telegram", str(ALICE), button["callback_data"][4:]))
    since = fake.mark()
    fake.press(ALICE, as_message(answer, answer["sent_id"]), button["callback_data"])
    fake.wait_for("answerCallbackQuery", since=since)
    sources = fake.wait_for("sendMessage", lambda p: p["text"].startswith("原文出处"), since=since)[0]
    assert "[1] " in sources["text"] and "“" in sources["text"]

    follow = reply_to(fake, ALICE, "那防卫过当呢？", predicate=lambda p: "[1]" in p["text"] or "资料中" in p["text"])
    turns = eventually(lambda: len(bot.state.history(ALICE)) == 2 and bot.state.history(ALICE))
    assert turns and len(turns) == 2 and turns[1].question == "那防卫过当呢？" and "防卫过当" in turns[1].query
    assert turns[1].query != turns[1].question and follow["text"]

    assert reply_to(fake, ALICE, "/new")["text"].startswith("已开始新的对话")
    assert bot.state.history(ALICE) == []


def test_a_replayed_update_is_answered_once(bot, fake):
    since = fake.mark()
    update = {"update_id": 900001, "message": {
        "message_id": 5, "date": 0, "text": "认罪认罚案件量刑建议怎么提", "chat": {"id": ALICE, "type": "private"},
        "from": {"id": ALICE, "is_bot": False, "first_name": "A"}}}
    fake.push(update)
    fake.push(json.loads(json.dumps(update)))
    fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == ALICE, since=since)
    reply_to(fake, ALICE, "/help")  # a later update: everything before it has been handled
    answers = [p for p in fake.sent("sendMessage", since) if "来源：[1]" in p["text"]]
    assert len(answers) == 1


def test_the_line_setting_is_kept(bot, fake):
    assert "刑事检察" in reply_to(fake, ALICE, "/line 刑事")["text"]
    assert bot.state.member(ALICE).line == "criminal"
    assert "可选" in reply_to(fake, ALICE, "/line 海事")["text"]
    assert reply_to(fake, ALICE, "/line 全部")["text"] == "已设置：全部条线。"
    assert bot.state.member(ALICE).line is None


# -- quizzes ---------------------------------------------------------------------------------------


def test_a_quiz_of_native_polls_graded_and_recorded(bot, fake):
    since = fake.mark()
    fake.message(ALICE, "/quiz 正当防卫")
    polls = fake.wait_for("sendPoll", lambda p: int(p["chat_id"]) == ALICE, since=since, count=5)
    for poll in polls:
        assert poll["type"] == "quiz" and poll["is_anonymous"] is False
        assert len(poll["question"]) <= 300 and all(len(o["text"]) <= 100 for o in poll["options"])
        assert poll["correct_option_ids"] and len(poll["explanation"]) <= 200
        assert poll.get("allows_multiple_answers", False) == (len(poll["correct_option_ids"]) > 1)
    assert eventually(lambda: all(bot.state.by_platform_ref("telegram", p["poll_id"]) for p in polls))
    graded = fake.mark()
    for i, poll in enumerate(polls):
        right = poll["correct_option_ids"]
        wrong = [next(j for j in range(len(poll["options"])) if j not in right)]
        fake.answer_poll(ALICE, poll["poll_id"], right if i % 2 == 0 else wrong)
    results = fake.wait_for("sendMessage", lambda p: p["text"].startswith("回答"), since=graded, count=5)
    assert sum(r["text"].startswith("回答正确") for r in results) == 3
    assert all("出处：" in r["text"] for r in results)
    fake.answer_poll(ALICE, polls[0]["poll_id"], polls[0]["correct_option_ids"])  # a second answer counts once
    progress = reply_to(fake, ALICE, "/progress")["text"]
    assert progress.startswith("已答 5 题，答对 3 题")
    assert build_assistant(bot.settings, embedder=HashEmbedder(64)).quizzes.progress(
        principal=bot.state.member(ALICE).principal)["attempts"] == 5


def test_due_reviews_come_back_as_polls(bot, fake):
    assistant = build_assistant(bot.settings, embedder=HashEmbedder(64))
    assert reply_to(fake, BOB, "/review")["text"].startswith("目前没有到期")
    quiz = assistant.quizzes.make(principal=bot.state.member(BOB).principal, topic="认罪认罚", n=2)
    for q in quiz.questions:  # answered wrongly two days ago: due again now
        assistant.learners.record(learner="bob@刑事检察部", departments=("刑事检察部",), question=q, chosen=[99],
                                  quiz_id=quiz.id, at=now() - timedelta(days=2))
    since = fake.mark()
    fake.message(BOB, "/review")
    polls = fake.wait_for("sendPoll", lambda p: int(p["chat_id"]) == BOB, since=since, count=len(quiz.questions))
    assert eventually(lambda: bot.state.by_platform_ref("telegram", polls[0]["poll_id"]))
    fake.answer_poll(BOB, polls[0]["poll_id"], polls[0]["correct_option_ids"])
    fake.wait_for("sendMessage", lambda p: p["text"].startswith("回答正确"), since=since)


# -- operations ------------------------------------------------------------------------------------


def test_flood_limits_are_waited_out(bot, fake):
    fake.failures["sendMessage"] = [(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                          "parameters": {"retry_after": 1}})]
    since = fake.mark()
    fake.message(ALICE, "/help")
    attempts = fake.wait_for("sendMessage", lambda p: p["text"] == render.HELP, since=since, count=2)
    assert len(attempts) == 2  # the first got 429, the rate limiter retried after it


def test_one_error_handler_answers_politely(bot, fake):
    fake.failures["sendChatAction"] = [(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})]
    sent = reply_to(fake, ALICE, "正当防卫的限度怎么认定")
    assert sent["text"] == render.FAILED


def test_state_survives_a_restart(fake, data_dir):
    settings = settings_for(data_dir, fake)
    first = RunningBot(settings, lambda s: build_assistant(s, embedder=HashEmbedder(64))).start(fake)
    try:
        code = first_state(settings).make_pairing(role="learner", departments=(), hours=1)
        reply_to(fake, ALICE, f"/start {code}")
        reply_to(fake, ALICE, "正当防卫的限度怎么认定", predicate=lambda p: "reply_markup" in p)
        assert eventually(lambda: first_state(settings).history(ALICE))
        since = fake.mark()
        fake.message(ALICE, "/quiz 正当防卫")
        poll = fake.wait_for("sendPoll", since=since)[0]
        assert eventually(lambda: first_state(settings).by_platform_ref("telegram", poll["poll_id"]))
    finally:
        first.stop()
    second = RunningBot(settings, lambda s: build_assistant(s, embedder=HashEmbedder(64))).start(fake)
    try:
        since = fake.mark()
        fake.answer_poll(ALICE, poll["poll_id"], poll["correct_option_ids"])
        assert fake.wait_for("sendMessage", lambda p: p["text"].startswith("回答"), since=since)[0]
        reply_to(fake, ALICE, "那防卫过当呢？", predicate=lambda p: "…" != p["text"])
        turns = eventually(lambda: len(first_state(settings).history(ALICE)) == 2 and first_state(settings).history(ALICE))
        assert turns and "防卫过当" in turns[1].query
    finally:
        second.stop()


def first_state(settings):
    return TelegramState(build_assistant(settings, embedder=HashEmbedder(64)).docstore.engine)


def test_a_dead_llm_server_falls_back_to_the_extractive_answer(fake, data_dir):
    settings = settings_for(data_dir, fake, llm={"provider": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1",
                                                 "model": "m", "timeout_s": 2})
    running = RunningBot(settings, lambda s: build_assistant(s, embedder=HashEmbedder(64))).start(fake)
    try:
        first_state(settings).allow(ALICE, role="learner", departments=(), user="alice")
        since = fake.mark()
        fake.message(ALICE, "正当防卫的限度怎么认定")
        assert fake.wait_for("sendMessage", lambda p: p["text"] == "…", since=since)  # the streaming placeholder
        final = fake.wait_for("editMessageText", lambda p: "reply_markup" in p, since=since, timeout=30)[0]
        assert "[1]" in final["text"] and "（" in final["text"]  # the fallback notice
    finally:
        running.stop()


def test_webhook_mode_checks_the_secret(fake, data_dir):
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    settings = settings_for(data_dir, fake, telegram={"webhook_url": url, "webhook_secret": "s3cret-token",
                                                      "listen": "127.0.0.1", "port": port})
    running = RunningBot(settings, lambda s: build_assistant(s, embedder=HashEmbedder(64)))
    since = fake.mark()
    running.thread.start()
    try:
        hook = fake.wait_for("setWebhook", since=since, timeout=60)[0]  # after post_init, as setMyCommands
        assert hook["url"] == url and hook["secret_token"] == "s3cret-token"
        first_state(settings).allow(ALICE, role="learner", departments=(), user="alice")
        update = {"update_id": 77, "message": {"message_id": 1, "date": 0, "text": "/help",
                                               "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
                                               "chat": {"id": ALICE, "type": "private"},
                                               "from": {"id": ALICE, "is_bot": False, "first_name": "A"}}}
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            assert wait_post(url, update, headers).status_code == 403
        ok = wait_post(url, update, {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
        assert ok.status_code == 200
        fake.wait_for("sendMessage", lambda p: p["text"] == render.HELP, since=since)
    finally:
        running.stop()


def wait_post(url: str, update: dict, headers: dict) -> httpx.Response:
    import time

    for _ in range(100):
        try:
            return httpx.post(url, json=update, headers=headers, timeout=5)
        except httpx.ConnectError:
            time.sleep(0.1)
    raise AssertionError("the webhook server did not come up")
