"""The whole Feishu adapter over the real conversation core and Assistant (the demo corpus and one
restricted case per department, SQLite, Chroma, the hash embedder), reached only the way Feishu
reaches it (encrypted, signed events on the request URL) and answering only through the fake
Feishu's message API."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from assistant.conversation import texts
from assistant.index.embedders import HashEmbedder
from assistant.learners import now
from assistant.service import build_assistant
from tests.conftest import marker
from tests.fakes.openai_server import FakeOpenAI, passages_of
from tests.fakes.openai_server import Reply as OpenAIReply
from tests.feishu.conftest import (
    CHANNEL,
    GROUP,
    LI,
    STRANGER,
    ZHANG,
    ZHAO,
    CountingAssistant,
    admit,
    bot_settings,
    start_bot,
    store_for,
)
from tests.feishu.test_app import text_of
from tests.servers import free_port
from tests.test_cli import jianxue

pytestmark = pytest.mark.slow  # servers on 127.0.0.1, the real core
RESTRICTED = "正当防卫审查逮捕 内部口径 防卫限度"


def is_card(message: dict) -> bool:
    return message["msg_type"] == "interactive"


def buttons(message: dict) -> dict[str, str]:
    """label -> action of a card's buttons."""
    if not is_card(message):
        return {}
    return {a["text"]["content"]: a["value"]["jx"] for e in message["content"]["elements"] if e["tag"] == "action"
            for a in e["actions"]}


def sources_label(message: dict) -> str | None:
    return next((label for label, action in buttons(message).items() if action.startswith("src:")), None)


def answered(message: dict) -> bool:
    """The last message of an answer: the card with its 来源 button, or a decline without sources."""
    return sources_label(message) is not None or "资料中未找到" in text_of(message)


def exchange(fake, bot, user: str, text: str = "", *, until=lambda m: True, count: int = 1, event: dict | None = None,
             chat: str | None = None, timeout: float = 30) -> list[dict]:
    """``user`` says ``text`` to the bot; every message to their chat until ``count`` match ``until``."""
    since = fake.mark()
    assert fake.post(bot.url, event or fake.message(user, text)).status_code == 200
    fake.wait_outbox(chat or user, until, since=since, count=count, timeout=timeout)
    return fake.outbox(chat or user, since)


def press(fake, bot, user: str, card: dict, label: str, *, chat: str | None = None, until=lambda m: True) -> list[dict]:
    since = fake.mark()
    assert fake.post(bot.url, fake.press_event(user, card["message_id"], label)).status_code == 200
    fake.wait_outbox(chat or user, until, since=since)
    return fake.outbox(chat or user, since)


def said(messages: list[dict]) -> str:
    return "\n".join(text_of(m) for m in messages)


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_the_url_verification_passes_and_a_forged_event_changes_nothing(bot, fake):
    challenge, answer = fake.verify_url(bot.url)
    assert answer.status_code == 200 and answer.json()["challenge"] == challenge
    event = fake.message(ZHANG, "/help")
    assert fake.post(bot.url, event, signature="f" * 64).status_code == 401
    assert fake.post(bot.url, event, token="forged").status_code == 403
    time.sleep(0.3)
    assert fake.sent == [] and not fake.calls_to("/contact/v3/users/" + ZHANG)
    assert said(exchange(fake, bot, ZHANG, event=event)) == texts.HELP  # the genuine one, not remembered as seen


def test_a_stranger_is_refused_before_any_retrieval(bot, fake):
    before = CountingAssistant.asked
    assert said(exchange(fake, bot, STRANGER, "正当防卫的限度怎么认定")) == texts.NOT_ADMITTED
    assert said(exchange(fake, bot, STRANGER, "/quiz 正当防卫")) == texts.NOT_ADMITTED
    assert CountingAssistant.asked == before
    assert not [m for m in fake.outbox(STRANGER) if is_card(m)]


def test_a_pairing_code_admits_once(bot, fake):
    code = bot.store.make_pairing(role="learner", departments=("民事检察部",), hours=1, channel=CHANNEL)
    assert said(exchange(fake, bot, STRANGER, f"配对 {code}")) == texts.PAIRED
    assert bot.store.member(CHANNEL, STRANGER).principal.departments == ("民事检察部",)
    assert said(exchange(fake, bot, ZHAO, f"配对 {code}")) == texts.BAD_CODE


def test_the_line_setting_through_its_buttons(bot, fake):
    [card] = exchange(fake, bot, ZHANG, "/line")
    assert said(press(fake, bot, ZHANG, card, "刑事检察")).startswith("已设置：刑事检察")
    assert bot.store.member(CHANNEL, ZHANG).line == "criminal"


def test_an_answer_with_citation_labels_and_its_sources_behind_a_button(bot, fake):
    messages = exchange(fake, bot, ZHANG, "正当防卫的限度怎么认定", until=answered)
    text = said(messages)
    assert "[1]" in text and "来源：[1] " in text and fake.violations == []
    sources = said(press(fake, bot, ZHANG, messages[-1], sources_label(messages[-1])))
    assert sources.startswith("原文出处：") and "[1] " in sources
    follow = exchange(fake, bot, ZHANG, "那防卫过当呢？", until=answered)
    turns = eventually(lambda: len(bot.store.history(CHANNEL, ZHANG)) == 2 and bot.store.history(CHANNEL, ZHANG))
    assert turns and "防卫过当" in turns[1].query and said(follow)


def test_an_event_feishu_delivers_twice_is_answered_once(bot, fake):
    since = fake.mark()
    event = fake.message(ZHANG, "认罪认罚案件量刑建议怎么提")
    for _ in range(2):
        assert fake.post(bot.url, event).status_code == 200
    exchange(fake, bot, ZHANG, "/help", until=lambda m: text_of(m) == texts.HELP)  # in order: both handled
    assert len([m for m in fake.outbox(ZHANG, since) if answered(m)]) == 1


def test_in_a_group_the_bot_answers_only_when_mentioned_filtered_by_the_askers_departments(bot, fake):
    since = fake.mark()
    fake.post(bot.url, fake.message(ZHANG, RESTRICTED, group=GROUP, mentioned=False))
    asked = fake.message(LI, RESTRICTED, group=GROUP)
    messages = exchange(fake, bot, LI, event=asked, chat=GROUP, until=answered)
    assert all(m["reply_to"] == asked["event"]["message"]["message_id"] for m in messages)
    shown = said(messages) + said(press(fake, bot, LI, messages[-1], sources_label(messages[-1]), chat=GROUP))
    assert marker("民事检察部") in shown and marker("刑事检察部") not in shown  # LI's, not ZHANG's
    assert len([m for m in fake.outbox(GROUP, since) if answered(m)]) == 1  # the unmentioned one: nothing


def test_a_quiz_answered_on_its_cards_is_graded_and_recorded(bot, fake):
    messages = exchange(fake, bot, ZHANG, "/quiz 正当防卫", until=lambda m: is_card(m) or "第" in text_of(m), count=5)
    questions = [m for m in messages if is_card(m) and "第" in m["content"]["header"]["title"]["content"]]
    assert questions and fake.violations == []
    graded = fake.mark()
    for card in questions:
        fake.post(bot.url, fake.press_event(ZHANG, card["message_id"], "A"))
    results = fake.wait_outbox(ZHANG, lambda m: text_of(m).startswith("回答"), since=graded, count=len(questions))
    right = sum(text_of(r).startswith("回答正确") for r in results)
    assert said(exchange(fake, bot, ZHANG, "/progress")).startswith(f"已答 {len(questions)} 题，答对 {right} 题")
    member = bot.store.member(CHANNEL, ZHANG)
    progress = build_assistant(bot.settings, embedder=HashEmbedder(64)).quizzes.progress(principal=member.principal)
    assert progress["attempts"] == len(questions) and progress["correct"] == right


def test_a_quiz_question_may_also_be_answered_by_typing_its_letter(bot, fake):
    exchange(fake, bot, LI, "/quiz 认罪认罚", until=lambda m: is_card(m) or "第" in text_of(m))
    reply = said(exchange(fake, bot, LI, "B", until=lambda m: text_of(m).startswith("回答")))
    assert "回答" in reply and "出处：" in reply


def test_a_member_of_another_department_is_not_shown_restricted_material(bot, fake):
    crim, civil = marker("刑事检察部"), marker("民事检察部")
    own = exchange(fake, bot, ZHANG, RESTRICTED, until=answered)
    own_all = said(own) + said(press(fake, bot, ZHANG, own[-1], sources_label(own[-1])))
    assert crim in own_all and civil not in own_all
    other = exchange(fake, bot, LI, RESTRICTED, until=answered)
    other_all = said(other) + said(press(fake, bot, LI, other[-1], sources_label(other[-1])))
    assert crim not in other_all
    quiz = exchange(fake, bot, LI, "/quiz 内部口径 持刀追砍 防卫限度",
                    until=lambda m: is_card(m) or "没有找到" in text_of(m))
    assert crim not in said(quiz)


def test_mapped_feishu_departments_decide_what_a_member_reads(bot, fake, data_dir):
    crim, civil = marker("刑事检察部"), marker("民事检察部")
    bot.store.allow(CHANNEL, ZHAO, role="learner", departments=("民事检察部",), user="zhao")
    before = said(exchange(fake, bot, ZHAO, RESTRICTED, until=answered))
    assert civil in before and crim not in before
    jianxue("bot", "map-dept", "--channel", "feishu", "d-12", "刑事检察部", data_dir=data_dir)  # ZHAO's department
    after = said(exchange(fake, bot, ZHAO, RESTRICTED, until=answered))
    assert crim in after and civil not in after


def test_an_expired_access_token_is_fetched_again(bot, fake):
    assert said(exchange(fake, bot, ZHANG, "/help")) == texts.HELP
    fetched = len(fake.calls_to("/tenant_access_token/internal"))
    fake.expire_tokens()
    since = len(fake.calls)
    exchange(fake, bot, ZHANG, "/progress", until=lambda m: text_of(m).startswith("还没有答题记录"))
    sends = [c for c in fake.calls_to("/im/v1/messages", since)]
    assert len(fake.calls_to("/tenant_access_token/internal")) == fetched + 1
    assert sends[0]["status"] == 400 and sends[-1]["status"] == 200 and sends[0]["token"] != sends[-1]["token"]


def test_reminders_of_due_reviews_are_pushed_unless_turned_off(fake, data_dir):
    settings = bot_settings(data_dir, fake, feishu={"nudge_hours": 24})
    store = store_for(settings)
    member = store.allow(CHANNEL, LI, role="learner", departments=("民事检察部",), user="li")
    assistant = build_assistant(settings, embedder=HashEmbedder(64))
    quiz = assistant.quizzes.make(principal=member.principal, case="民事检察部内部口径", n=1)
    assistant.learners.record(learner=member.principal.learner, departments=member.principal.departments,
                              question=quiz.questions[0], chosen=[99], at=now() - timedelta(days=2))
    quiet = start_bot(bot_settings(data_dir, fake), push_check_s=0.2)  # JIANXUE_FEISHU__NUDGE_HOURS=0
    try:
        time.sleep(1.5)
        assert fake.sent == []
    finally:
        quiet.stop()
    running = start_bot(settings, push_check_s=0.3)
    try:
        assert "到期需要复习" in text_of(fake.wait_outbox(LI, timeout=20)[0])
        time.sleep(1.0)
        assert len(fake.outbox(LI)) == 1  # once per JIANXUE_FEISHU__NUDGE_HOURS
    finally:
        running.stop()


def test_a_restart_loses_nothing(fake, data_dir):
    settings = bot_settings(data_dir, fake)
    store = store_for(settings)
    admit(store)
    first = start_bot(settings)
    try:
        exchange(fake, first, ZHANG, "正当防卫的限度怎么认定", until=answered)
        messages = exchange(fake, first, ZHANG, "/quiz 正当防卫", until=lambda m: is_card(m) and "第" in text_of(m))
        card = next(m for m in messages if is_card(m) and "A" in buttons(m))
        seen = fake.message(ZHANG, "/help")
        exchange(fake, first, ZHANG, event=seen)
    finally:
        first.stop()
    second = start_bot(settings)
    try:
        assert "回答" in said(press(fake, second, ZHANG, card, "A", until=lambda m: text_of(m).startswith("回答")))
        exchange(fake, second, ZHANG, "那防卫过当呢？", until=answered)
        turns = eventually(lambda: len(store.history(CHANNEL, ZHANG)) == 2 and store.history(CHANNEL, ZHANG))
        assert turns and "防卫过当" in turns[1].query
        since = fake.mark()
        assert fake.post(second.url, seen).status_code == 200  # handled before the restart
        progress = said(exchange(fake, second, ZHANG, "/progress"))
        assert progress.startswith("已答 1 题")
        assert [text_of(m) for m in fake.outbox(ZHANG, since)] == [progress]  # not /help again
    finally:
        second.stop()


def test_a_models_long_answer_is_split_within_the_limit(fake, data_dir):
    model = FakeOpenAI().start()
    model.default = OpenAIReply(lambda request: "\n".join(
        f"资料{n}指出：“{text}”[{n}]" for n, text in passages_of(request).items()) * 2)
    settings = bot_settings(data_dir, fake, feishu={"text_limit": 100},
                            llm={"provider": "openai", "base_url": model.base_url, "model": "m", "timeout_s": 20})
    store_for(settings).allow(CHANNEL, ZHANG, role="learner", departments=(), user="zhang")
    running = start_bot(settings)
    try:
        messages = exchange(fake, running, ZHANG, "正当防卫的限度怎么认定", until=answered)
        texts_sent = [m["content"]["text"] if m["msg_type"] == "text" else
                      "".join(e["text"]["content"] for e in m["content"]["elements"] if e["tag"] == "div")
                      for m in messages]  # the last piece rides in the card with the 来源 button
        assert len(texts_sent) >= 3 and all(len(t) <= 100 for t in texts_sent) and fake.violations == []
        labels = re.findall(r"\[(\d+)\] ", said(messages).split("来源：")[-1])
        assert labels and all(f"[{n}]" in "".join(texts_sent) for n in labels)
        for piece in texts_sent:  # a label never starts a piece: it stays with its sentence
            assert not re.match(r"\s*\[\d+\]", piece)
        assert "（" not in said(messages)  # the model's answer, no fallback notice
    finally:
        running.stop()
        model.stop()


def test_a_dead_llm_server_falls_back_to_the_extractive_answer(fake, data_dir):
    settings = bot_settings(data_dir, fake, llm={"provider": "openai", "model": "m", "timeout_s": 2,
                                                 "base_url": f"http://127.0.0.1:{free_port()}/v1"})
    store_for(settings).allow(CHANNEL, ZHANG, role="learner", departments=(), user="zhang")
    running = start_bot(settings)
    try:
        text = said(exchange(fake, running, ZHANG, "正当防卫的限度怎么认定", until=answered))
        assert "[1]" in text and "来源：[1] " in text and "（" in text  # the fallback notice
    finally:
        running.stop()
