"""The expert pool in the Telegram bot, end to end (real python-telegram-bot over HTTP to the fake
Bot API): declined → 请专家解答 → the expert is told, with 认领 → claimed → answered with a verified
citation → the asker is told → published by a trainer → the same question asked again is
answered from the published qa document, cited 检答·第N号."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from assistant.conversation import texts as render
from assistant.index.embedders import HashEmbedder
from assistant.service import build_assistant
from bots.telegram import app as telegram_app
from tests.experts.common import citable, good_answer
from tests.telegram.conftest import ALICE, BOB, CountingAssistant, RunningBot, TelegramState, settings_for
from tests.telegram.test_bot import as_message, eventually, reply_to

pytestmark = pytest.mark.slow

WANG, ZHAO = 1003, 1004  # an expert of the criminal line in 刑事检察部, one in 民事检察部
QUESTION = "洗钱罪中自洗钱行为如何认定"


@pytest.fixture
def bot(fake, data_dir, monkeypatch) -> Iterator[RunningBot]:
    monkeypatch.setattr(telegram_app, "push_period_s", lambda _hours: 0.5)  # the pushes job, every half second here
    settings = settings_for(data_dir, fake)
    running = RunningBot(settings, lambda s: CountingAssistant(s, embedder=HashEmbedder(64))).start(fake)
    assistant = build_assistant(settings, embedder=HashEmbedder(64))
    state = TelegramState(assistant.docstore.engine)
    state.allow(ALICE, role="learner", departments=("刑事检察部",), user="alice")
    state.allow(BOB, role="trainer", departments=("刑事检察部",), user="bob")
    state.allow(WANG, role="learner", departments=("刑事检察部",), user="wang")
    state.allow(ZHAO, role="learner", departments=("民事检察部",), user="zhao")
    assistant.experts.add_expert("wang", ["criminal"], ["刑事检察部"])
    assistant.experts.add_expert("zhao", ["criminal"], ["民事检察部"])
    running.state, running.assistant = state, assistant
    yield running
    running.stop()


def buttons(params: dict) -> dict[str, str]:
    rows = (params.get("reply_markup") or {}).get("inline_keyboard") or []
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def press(fake, user: int, params: dict, data: str, predicate=lambda p: True) -> dict:
    since = fake.mark()
    fake.press(user, as_message(params, 1), data)
    return fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == user and predicate(p), since=since)[0]


def test_declined_escalated_claimed_answered_published_and_cited(bot, fake):
    declined = reply_to(fake, ALICE, QUESTION, predicate=lambda p: "reply_markup" in p)
    assert "资料中未找到" in declined["text"] and {"请专家解答", "具名请专家解答"} <= set(buttons(declined))
    since = fake.mark()
    sent = press(fake, ALICE, declined, buttons(declined)["请专家解答"])
    assert "已提交给刑事检察条线的专家" in sent["text"]
    qid = int(sent["text"].split("#")[1].split("）")[0])
    assert "问题上" in reply_to(fake, ALICE, "/comment 想知道与上游犯罪的关系")["text"]

    told = fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == WANG and "新问题待解答" in p["text"],
                         since=since, timeout=15)[0]
    assert QUESTION in told["text"] and "alice" not in told["text"]  # the department, not the name
    assert bot.assistant.experts.get(qid, bot.state.member(WANG).principal)["comment"] == "想知道与上游犯罪的关系"
    fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == ZHAO and "新问题待解答" in p["text"], since=since,
                  timeout=15)  # the same line's expert in another department: the question is not restricted

    work = press(fake, WANG, told, buttons(told)["认领"], predicate=lambda p: "您已认领" in p["text"])
    passages = bot.assistant.experts.work(qid, bot.state.member(WANG).principal)["passages"]  # as the message shows
    n, sentence, label = citable(passages)
    assert f"[{n}] {label}" in work["text"]
    taken = press(fake, ZHAO, {"chat_id": ZHAO, "text": told["text"]}, f"xq:claim:{qid}")
    assert "已由其他专家认领" in taken["text"]

    rejected = reply_to(fake, WANG, f"/answer {qid} 应当审查“洗钱罪的七种法定情形”[{n}]。")
    assert "未通过核验" in rejected["text"] and "not found verbatim" in rejected["text"]
    since = fake.mark()
    accepted = reply_to(fake, WANG, f"/answer {qid} {good_answer(passages, more=False)}")
    assert "答复已发送给提问人" in accepted["text"] and label in accepted["text"]
    news = fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == ALICE and "专家已解答" in p["text"],
                         since=since, timeout=15)[0]
    assert sentence in news["text"] and f"[1] {label}" in news["text"]
    assert "谢谢反馈" in press(fake, ALICE, news, buttons(news)["赞"])["text"]  # votes on an expert's answer too

    assert reply_to(fake, ALICE, f"/publish {qid}")["text"] == render.DENIED  # a learner cannot publish
    published = reply_to(fake, BOB, f"/publish {qid}")
    assert f"检答·第{qid}号" in published["text"]
    again = reply_to(fake, ALICE, QUESTION, predicate=lambda p: "reply_markup" in p)
    assert f"检答·第{qid}号" in again["text"] and "自洗钱" in again["text"]
    assert {"赞", "踩", "不满意"} <= set(buttons(again))

    thanks = press(fake, ALICE, again, buttons(again)["踩"])
    assert "谢谢反馈" in thanks["text"]
    assert "评价" in reply_to(fake, ALICE, "/comment 没有说到上游犯罪")["text"]
    report = bot.assistant.review.feedback(bot.state.member(BOB).principal, since="1d")
    assert (report["up"], report["down"]) == (1, 1) and report["by_mode"]["expert"] == {"up": 1, "down": 0}
    down = next(i for i in report["items"] if i["vote"] < 0)
    assert down["citations"] == [f"检答·第{qid}号"] and down["comment"] == "没有说到上游犯罪"


def test_a_notice_the_platform_refused_is_sent_again_on_the_next_round(bot, fake):
    since = fake.mark()
    with fake._cond:  # the expert had blocked the bot for a moment: Telegram refuses the first send
        fake.failures["sendMessage"] = [(403, {"ok": False, "error_code": 403,
                                               "description": "Forbidden: bot was blocked by the user"})]
    asked = bot.assistant.experts.escalate(QUESTION, principal=bot.state.member(ALICE).principal, line="criminal",
                                           restricted=True)
    tries = fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == WANG and f"#{asked['id']}" in p["text"],
                          since=since, count=2, timeout=15)
    assert tries[0]["text"] == tries[1]["text"] and not fake.failures["sendMessage"]
    store = bot.assistant.experts.store
    assert eventually(lambda: all(n["sent_at"] is not None for n in notices(store)))
    time.sleep(1.5)  # three more rounds: sent once it went out, not again
    assert len([p for m, p in fake.calls[since:] if m == "sendMessage" and f"#{asked['id']}" in p["text"]]) == 2


def notices(store) -> list[dict]:
    from sqlalchemy import select

    from assistant.experts.store import notices as table

    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_a_restricted_questions_notice_reaches_only_its_departments_experts(bot, fake):
    since = fake.mark()
    asked = bot.assistant.experts.escalate(QUESTION, principal=bot.state.member(ALICE).principal, line="criminal",
                                           restricted=True)
    fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == WANG and f"#{asked['id']}" in p["text"],
                  since=since, timeout=15)
    assert eventually(lambda: bot.assistant.experts.store.take_notices("telegram") == [])
    assert not [p for p in fake.sent("sendMessage", since) if int(p["chat_id"]) == ZHAO]
    denied = press(fake, ZHAO, {"chat_id": ZHAO, "text": "x"}, f"xq:claim:{asked['id']}")
    assert denied["text"] == render.NOT_FOUND
    queue = reply_to(fake, ZHAO, "/queue")
    assert QUESTION not in queue["text"]


def test_an_asker_who_allows_it_is_named_to_the_experts(bot, fake):
    bot.state.set_line("telegram", str(ALICE), "criminal")  # the member's line decides whose experts
    declined = reply_to(fake, ALICE, "海关走私普通货物偷逃税额的计核方法", predicate=lambda p: "reply_markup" in p)
    since = fake.mark()
    press(fake, ALICE, declined, buttons(declined)["具名请专家解答"])
    told = fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == WANG and "新问题待解答" in p["text"],
                         since=since, timeout=15)[0]
    work = press(fake, WANG, told, buttons(told)["认领"], predicate=lambda p: "您已认领" in p["text"])
    assert "alice" in work["text"]
