"""The whole WeCom adapter over the real conversation core and Assistant (the demo corpus and one
restricted case per department, SQLite, Chroma, the hash embedder), reached only the way WeCom
reaches it (signed, encrypted callbacks) and answering only through the fake WeCom's API."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from assistant.conversation import texts
from assistant.index.embedders import HashEmbedder
from assistant.learners import now
from assistant.service import build_assistant
from bots.wecom.render import TEXT_BYTES
from tests.conftest import marker
from tests.fakes.openai_server import FakeOpenAI, passages_of
from tests.fakes.openai_server import Reply as OpenAIReply
from tests.servers import free_port
from tests.test_cli import jianxue
from tests.wecom.conftest import (
    LI,
    STRANGER,
    ZHANG,
    ZHAO,
    CountingAssistant,
    bot_settings,
    start_bot,
    store_for,
)

pytestmark = pytest.mark.slow  # servers on 127.0.0.1, the real core
RESTRICTED = "正当防卫审查逮捕 内部口径 防卫限度"


def visible(message: dict) -> str:
    """All a member sees of a sent message: its text, or a card's title, text, buttons and options."""
    kind = message["msgtype"]
    if kind in ("text", "markdown"):
        return message[kind]["content"]
    card = message["template_card"]
    parts = [card.get("main_title", {}).get("title", ""), card.get("sub_title_text", "")]
    parts += [b["text"] for b in card.get("button_list", [])]
    parts += [o["text"] for o in card.get("checkbox", {}).get("option_list", [])]
    return "\n".join(parts)


def is_card(message: dict) -> bool:
    return message["msgtype"] == "template_card"


def sources_button(message: dict) -> str | None:
    buttons = message["template_card"].get("button_list", []) if is_card(message) else []
    return next((b["key"] for b in buttons if b["key"].startswith("src:")), None)


def answered(message: dict) -> bool:
    """The last message of an answer: the card with its 来源 button, or a decline without sources."""
    return sources_button(message) is not None or "资料中未找到" in visible(message)


def exchange(fake, bot, user: str, text: str = "", *, until=lambda m: True, count: int = 1, xml: str | None = None,
             timeout: float = 30) -> list[dict]:
    """Deliver a message from ``user``; every message sent to them until ``count`` match ``until``."""
    since = fake.mark()
    assert fake.deliver(bot.url, xml or fake.sender.text(user, text)).status_code == 200
    fake.wait_for("message/send", lambda m: m.get("touser") == user and until(m), since=since, count=count,
                  timeout=timeout)
    return [m for m in fake.sent("message/send", since) if m.get("touser") == user]


def said(messages: list[dict]) -> str:
    return "\n".join(visible(m) for m in messages)


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


# -- the callback ------------------------------------------------------------------------------


def test_the_url_check_passes_and_a_forged_delivery_changes_nothing(bot, fake):
    echo, answer = fake.sender.verify_url(bot.url)
    assert answer.status_code == 200 and answer.text == echo
    _, forged_check = fake.sender.verify_url(bot.url, signature="0" * 40)
    assert forged_check.status_code == 403
    xml = fake.sender.text(ZHANG, "/help", msg_id="4242")
    assert fake.deliver(bot.url, xml, signature="f" * 40).status_code == 403
    time.sleep(0.3)
    assert fake.sent("message/send") == [] and fake.sent("user/get") == []
    # the forged one was not even remembered: the genuine delivery of that MsgId is answered
    assert said(exchange(fake, bot, ZHANG, xml=xml)) == texts.HELP


# -- admission -------------------------------------------------------------------------------------


def test_a_stranger_is_refused_before_any_retrieval(bot, fake):
    before = CountingAssistant.asked
    assert said(exchange(fake, bot, STRANGER, "正当防卫的限度怎么认定")) == texts.NOT_ADMITTED
    assert said(exchange(fake, bot, STRANGER, "/quiz 正当防卫")) == texts.NOT_ADMITTED
    assert CountingAssistant.asked == before
    assert not [m for m in fake.sent("message/send") if is_card(m)]


def test_a_pairing_code_admits_once(bot, fake):
    code = bot.store.make_pairing(role="learner", departments=("民事检察部",), hours=1, channel="wecom")
    assert said(exchange(fake, bot, STRANGER, f"配对 {code}")) == texts.PAIRED
    assert bot.store.member("wecom", STRANGER).principal.departments == ("民事检察部",)
    assert said(exchange(fake, bot, ZHAO, f"配对 {code}")) == texts.BAD_CODE


# -- questions -------------------------------------------------------------------------------------


def test_an_answer_with_citation_labels_and_its_sources_behind_a_button(bot, fake):
    messages = exchange(fake, bot, ZHANG, "正当防卫的限度怎么认定", until=answered)
    text = said(messages)
    assert "[1]" in text and "来源：[1] " in text
    button = sources_button(messages[-1])
    assert button is not None and fake.violations == []

    since = fake.mark()
    fake.press(bot.url, ZHANG, messages[-1]["template_card"]["task_id"], button)
    sources = fake.wait_for("message/send", lambda m: m["touser"] == ZHANG, since=since)[0]["text"]["content"]
    assert sources.startswith("原文出处：") and "[1] " in sources and "“" in sources
    assert fake.wait_for("message/update_template_card", since=since)[0]["userids"] == [ZHANG]  # the card greyed out

    follow = exchange(fake, bot, ZHANG, "那防卫过当呢？", until=answered)
    turns = eventually(lambda: len(bot.store.history("wecom", ZHANG)) == 2 and bot.store.history("wecom", ZHANG))
    assert turns and "防卫过当" in turns[1].query and said(follow)
    assert said(exchange(fake, bot, ZHANG, "/new")) == texts.NEW
    assert bot.store.history("wecom", ZHANG) == []


def test_a_delivery_wecom_makes_twice_is_answered_once(bot, fake):
    since = fake.mark()
    xml = fake.sender.text(ZHANG, "认罪认罚案件量刑建议怎么提", msg_id="777001")
    for _ in range(2):
        assert fake.deliver(bot.url, xml).status_code == 200
    exchange(fake, bot, ZHANG, "/help", until=lambda m: visible(m) == texts.HELP)  # handled in order: both done
    answers = [m for m in fake.sent("message/send", since) if answered(m)]
    assert len(answers) == 1


def test_the_line_setting_through_its_buttons(bot, fake):
    [card] = exchange(fake, bot, ZHANG, "/line")
    key = next(b["key"] for b in card["template_card"]["button_list"] if b["text"] == "刑事检察")
    since = fake.mark()
    fake.press(bot.url, ZHANG, card["template_card"]["task_id"], key)
    assert fake.wait_for("message/send", since=since)[0]["text"]["content"].startswith("已设置：刑事检察")
    assert bot.store.member("wecom", ZHANG).line == "criminal"


# -- quizzes ---------------------------------------------------------------------------------------


def test_a_quiz_answered_on_its_cards_is_graded_and_recorded(bot, fake):
    messages = exchange(fake, bot, ZHANG, "/quiz 正当防卫", until=is_card, count=5)
    cards = [m["template_card"] for m in messages if is_card(m)]
    assert len(cards) == 5 and "共 5 题" in visible(messages[0]) and fake.violations == []
    graded = fake.mark()
    for card in cards:  # option A on every card: some right, some wrong
        if card["card_type"] == "vote_interaction":
            fake.vote(bot.url, ZHANG, card["task_id"], ["A"])
        else:
            fake.press(bot.url, ZHANG, card["task_id"], card["button_list"][0]["key"])
    results = fake.wait_for("message/send", lambda m: visible(m).startswith("回答"), since=graded, count=5)
    assert all("出处：" in visible(r) for r in results)
    right = sum(visible(r).startswith("回答正确") for r in results)
    assert said(exchange(fake, bot, ZHANG, "/progress")).startswith(f"已答 5 题，答对 {right} 题")
    member = bot.store.member("wecom", ZHANG)
    progress = build_assistant(bot.settings, embedder=HashEmbedder(64)).quizzes.progress(principal=member.principal)
    assert progress["attempts"] == 5 and progress["correct"] == right


def test_a_quiz_question_may_also_be_answered_by_typing_its_letter(bot, fake):
    exchange(fake, bot, LI, "/quiz 认罪认罚", until=is_card, count=5)
    reply = said(exchange(fake, bot, LI, "B", until=lambda m: visible(m).startswith("回答")))
    assert "回答" in reply and "出处：" in reply


# -- who may read what -------------------------------------------------------------------------


def test_a_member_of_another_department_is_not_shown_restricted_material(bot, fake):
    crim, civil = marker("刑事检察部"), marker("民事检察部")
    own = exchange(fake, bot, ZHANG, RESTRICTED, until=answered)
    since = fake.mark()
    fake.press(bot.url, ZHANG, own[-1]["template_card"]["task_id"], sources_button(own[-1]))
    own_sources = fake.wait_for("message/send", lambda m: m["touser"] == ZHANG, since=since)
    assert crim in said(own) + said(own_sources) and civil not in said(own) + said(own_sources)

    other = exchange(fake, bot, LI, RESTRICTED, until=answered)
    since = fake.mark()
    fake.press(bot.url, LI, other[-1]["template_card"]["task_id"], sources_button(other[-1]))
    other_sources = fake.wait_for("message/send", lambda m: m["touser"] == LI, since=since)
    assert crim not in said(other) + said(other_sources)

    quiz = exchange(fake, bot, LI, "/quiz 内部口径 持刀追砍 防卫限度",
                    until=lambda m: is_card(m) or "没有找到" in visible(m))
    assert crim not in said(quiz)

    zhang = bot.store.member("wecom", ZHANG).principal
    assistant = build_assistant(bot.settings, embedder=HashEmbedder(64))
    restricted = assistant.quizzes.make(principal=zhang, case="刑事检察部内部口径", n=2)
    for question in restricted.questions:  # answered wrongly two days ago: due now
        assistant.learners.record(learner=zhang.learner, departments=zhang.departments, question=question,
                                  chosen=[99], quiz_id=restricted.id, at=now() - timedelta(days=2))
    assert any(is_card(m) for m in exchange(fake, bot, ZHANG, "/review", until=is_card))
    assert said(exchange(fake, bot, LI, "/review")) == texts.NO_REVIEWS


def test_mapped_platform_departments_decide_what_a_member_reads(bot, fake, data_dir):
    crim, civil = marker("刑事检察部"), marker("民事检察部")
    bot.store.allow("wecom", ZHAO, role="learner", departments=("民事检察部",), user="zhao")
    before = said(exchange(fake, bot, ZHAO, RESTRICTED, until=answered))
    assert civil in before and crim not in before  # the departments ZHAO was admitted with
    # ZHAO's department in the WeCom directory is 12
    jianxue("bot", "map-dept", "--channel", "wecom", "12", "刑事检察部", data_dir=data_dir)
    after = said(exchange(fake, bot, ZHAO, RESTRICTED, until=answered))
    assert crim in after and civil not in after
    jianxue("bot", "map-dept", "--channel", "wecom", "12", "--remove", data_dir=data_dir)
    again = said(exchange(fake, bot, ZHAO, RESTRICTED, until=answered))
    assert civil in again and crim not in again


def test_group_messages_never_reach_the_app_so_answers_go_to_the_asker_alone(bot, fake):
    """A self-built application is not told what is said in group chats (not even @-mentions):
    whoever asks, asks in their own conversation with the app, and the answer goes back there,
    filtered by the asker's departments; no group chat is ever sent an answer."""
    messages = exchange(fake, bot, LI, RESTRICTED, until=answered)
    assert {m["touser"] for m in fake.sent("message/send")} == {LI}
    assert marker("刑事检察部") not in said(messages)
    assert fake.sent("appchat/send") == [] and fake.sent("appchat/create") == []


# -- operations ------------------------------------------------------------------------------------


def test_an_expired_access_token_is_fetched_again(bot, fake):
    assert said(exchange(fake, bot, ZHANG, "/help")) == texts.HELP
    assert len(fake.sent("gettoken")) == 1
    fake.expire_tokens()
    since = fake.mark()
    # refused with 42001 (expired), then sent again with a token fetched anew
    exchange(fake, bot, ZHANG, "/progress", until=lambda m: visible(m).startswith("还没有答题记录"), count=2)
    tokens = [query["access_token"] for endpoint, query, _ in fake.calls[since:] if endpoint == "message/send"]
    assert len(fake.sent("gettoken")) == 2 and len(tokens) == 2 and tokens[0] != tokens[1]
    assert fake.tokens[tokens[1]] > time.time()


def test_reminders_of_due_reviews_are_pushed_unless_turned_off(fake, data_dir):
    settings = bot_settings(data_dir, fake)
    store = store_for(settings)
    member = store.allow("wecom", LI, role="learner", departments=("民事检察部",), user="li")
    assistant = build_assistant(settings, embedder=HashEmbedder(64))
    quiz = assistant.quizzes.make(principal=member.principal, case="民事检察部内部口径", n=1)
    assistant.learners.record(learner=member.principal.learner, departments=member.principal.departments,
                              question=quiz.questions[0], chosen=[99], at=now() - timedelta(days=2))
    quiet = start_bot(bot_settings(data_dir, fake, wecom={"nudge_hours": 0}), push_check_s=0.2)
    try:
        time.sleep(1.5)
        assert fake.sent("message/send") == []  # JIANXUE_WECOM__NUDGE_HOURS=0: nobody is reminded
    finally:
        quiet.stop()
    running = start_bot(settings, push_check_s=0.3)
    try:
        push = fake.wait_for("message/send", timeout=20)[0]
        assert push["touser"] == LI and "到期需要复习" in push["text"]["content"]
        time.sleep(1.0)
        assert len(fake.sent("message/send")) == 1  # once per JIANXUE_WECOM__NUDGE_HOURS
    finally:
        running.stop()


def test_a_restart_loses_nothing(fake, data_dir):
    settings = bot_settings(data_dir, fake)
    store = store_for(settings)
    store.allow("wecom", ZHANG, role="learner", departments=("刑事检察部",), user="zhang")
    first = start_bot(settings)
    try:
        exchange(fake, first, ZHANG, "正当防卫的限度怎么认定", until=answered)
        cards = [m["template_card"] for m in exchange(fake, first, ZHANG, "/quiz 正当防卫", until=is_card, count=5)
                 if is_card(m)]
        seen = fake.sender.text(ZHANG, "/help", msg_id="888001")
        exchange(fake, first, ZHANG, xml=seen)
    finally:
        first.stop()
    second = start_bot(settings)
    try:
        card = next(c for c in cards if c["card_type"] == "button_interaction")
        since = fake.mark()
        fake.press(second.url, ZHANG, card["task_id"], card["button_list"][0]["key"])
        assert fake.wait_for("message/send", lambda m: visible(m).startswith("回答"), since=since)
        exchange(fake, second, ZHANG, "那防卫过当呢？", until=answered)
        turns = eventually(lambda: len(store.history("wecom", ZHANG)) == 2 and store.history("wecom", ZHANG))
        assert turns and "防卫过当" in turns[1].query
        since = fake.mark()
        assert fake.deliver(second.url, seen).status_code == 200  # handled before the restart
        progress = said(exchange(fake, second, ZHANG, "/progress"))
        assert progress.startswith("已答 1 题")  # the answer given after the restart, on a card sent before it
        assert [visible(m) for m in fake.sent("message/send", since)] == [progress]  # not /help again
    finally:
        second.stop()


def test_a_models_long_answer_is_split_within_the_limit(fake, data_dir):
    model = FakeOpenAI().start()
    # every passage quoted in full, as often as it takes to pass 2,048 bytes three times over
    model.default = OpenAIReply(lambda request: "\n".join(
        f"资料{n}指出：“{text}”[{n}]" for n, text in passages_of(request).items() for _ in range(12)))
    settings = bot_settings(data_dir, fake, llm={"provider": "openai", "base_url": model.base_url, "model": "m",
                                                 "timeout_s": 20})
    store_for(settings).allow("wecom", ZHANG, role="learner", departments=(), user="zhang")
    running = start_bot(settings)
    try:
        messages = exchange(fake, running, ZHANG, "正当防卫的限度怎么认定", until=answered)
        texts_sent = [m["text"]["content"] for m in messages if m["msgtype"] == "text"]
        assert len(texts_sent) >= 2 and fake.violations == []  # over 2,048 bytes: several messages, none truncated
        assert all(len(t.encode()) <= TEXT_BYTES for t in texts_sent)
        labels = re.findall(r"\[(\d+)\] ", said(messages).split("来源：")[-1])
        assert labels and all(f"[{n}]" in "".join(texts_sent) for n in labels)
        assert not any(t.lstrip().startswith("[") for t in texts_sent)  # a label stays with its sentence
        assert "（" not in said(messages)  # the model's answer, no fallback notice
    finally:
        running.stop()
        model.stop()


def test_a_dead_llm_server_falls_back_to_the_extractive_answer(fake, data_dir):
    settings = bot_settings(data_dir, fake, llm={"provider": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1",
                                                 "model": "m", "timeout_s": 2})
    store_for(settings).allow("wecom", ZHANG, role="learner", departments=(), user="zhang")
    running = start_bot(settings)
    try:
        text = said(exchange(fake, running, ZHANG, "正当防卫的限度怎么认定", until=answered))
        assert "[1]" in text and "来源：[1] " in text and "（" in text  # the fallback notice
    finally:
        running.stop()
