"""The webhook app over a core that replies from a function, against the fake Feishu over real HTTP:
the URL verification, refusals of forged requests, the answer within Feishu's window, replies
through the message API, card presses, groups and mentions."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from assistant.conversation.messages import Button, Choice, Push, Reply
from assistant.conversation.texts import FAILED
from bots.feishu.webhook import MAX_BODY_BYTES
from tests.feishu.conftest import GROUP, LI, ZHANG

pytestmark = pytest.mark.slow  # servers on 127.0.0.1


async def echo(incoming):
    if incoming.group and not incoming.mentioned:  # as the core does
        return []
    return [Reply(f"收到：{incoming.text or incoming.action}")]


def text_of(message: dict) -> str:
    if message["msg_type"] == "text":
        return message["content"]["text"]
    card = message["content"]
    parts = [card["header"]["title"]["content"]]
    for element in card["elements"]:
        if element["tag"] == "div":
            parts.append(element["text"]["content"])
        for action in element.get("actions", []):
            parts.append(action["text"]["content"])
    return "\n".join(parts)


def test_the_url_verification_answers_the_challenge_and_a_wrong_token_is_refused(fake, serve):
    app = serve(echo)
    challenge, answer = fake.verify_url(app.url)
    assert answer.status_code == 200 and answer.json() == {"challenge": challenge}
    _, forged = fake.verify_url(app.url, token="not-the-token")
    assert forged.status_code == 403 and "challenge" not in forged.text


@pytest.mark.parametrize("forgery", ["signature", "token", "key", "plain", "junk", "oversized"])
def test_forged_or_malformed_requests_get_a_4xx_and_reach_nobody(fake, serve, forgery):
    app = serve(echo)
    event = fake.message(ZHANG, "/help")
    if forgery == "signature":
        answer = fake.post(app.url, event, signature="0" * 64)
    elif forgery == "token":
        answer = fake.post(app.url, event, token="not-the-token")
    elif forgery == "key":
        answer = fake.post(app.url, event, encrypt_key="another-key")
    else:
        import httpx

        body = {"plain": b'{"schema": "2.0"}', "junk": b"\x00junk", "oversized": b" " * (MAX_BODY_BYTES + 1)}[forgery]
        answer = httpx.post(app.url, content=body)
        assert answer.status_code == 413 or forgery != "oversized"
    assert 400 <= answer.status_code < 500, answer.text
    time.sleep(0.3)
    assert app.core.seen == [] and fake.sent == []
    # not even remembered: the genuine delivery of that event is answered
    assert fake.post(app.url, event).status_code == 200
    assert text_of(fake.wait_outbox(ZHANG)[0]) == "收到：/help"


def test_the_event_is_answered_at_once_while_the_reply_is_still_being_written(fake, serve):
    release = threading.Event()

    async def slow(incoming):
        while not release.is_set():  # still writing until the test has looked (a fixed sleep could end first)
            await asyncio.sleep(0.05)
        return [Reply("好了")]

    app = serve(slow)
    began = time.monotonic()
    answer = fake.post(app.url, fake.message(ZHANG, "问题"))
    took = time.monotonic() - began
    assert answer.status_code == 200 and answer.json() == {"msg": "success"} and took < 1.0
    assert fake.sent == []
    release.set()
    assert text_of(fake.wait_outbox(ZHANG)[0]) == "好了"


def test_a_message_reaches_the_core_with_the_senders_departments_and_the_reply_goes_to_them(fake, serve):
    app = serve(echo)
    fake.post(app.url, fake.message(ZHANG, "你好"))
    [reply] = fake.wait_outbox(ZHANG)
    assert text_of(reply) == "收到：你好" and reply["reply_to"] == ""
    [incoming] = app.core.seen
    assert incoming.channel == "feishu" and incoming.user_id == ZHANG and incoming.chat_id == ZHANG
    assert incoming.platform_departments == ("d-2", "d-7") and not incoming.group
    assert fake.calls_to("/bot/v3/info") and fake.violations == []


def test_in_a_group_only_a_mention_of_the_bot_counts_and_the_answer_replies_to_the_question(fake, serve):
    app = serve(echo)
    fake.post(app.url, fake.message(LI, "不是问机器人的", group=GROUP, mentioned=False))
    asked = fake.message(LI, "问机器人", group=GROUP)
    fake.post(app.url, asked)
    [reply] = fake.wait_outbox(GROUP)
    assert text_of(reply) == "收到：问机器人"  # the @-placeholder of the bot taken out
    assert reply["reply_to"] == asked["event"]["message"]["message_id"]
    unmentioned, mentioned = app.core.seen
    assert unmentioned.group and not unmentioned.mentioned  # the core leaves it alone
    assert mentioned.group and mentioned.mentioned and mentioned.user_id == LI and mentioned.chat_id == GROUP


def test_a_quiz_question_is_a_card_whose_button_comes_back_as_the_answer_action(fake, serve):
    choice = Choice(ref="q1", number=1, total=2, stem="正当防卫的限度是？", options=("明显超过必要限度", "任何限度"),
                    multiple=False)

    async def quiz(incoming):
        return [Reply("", choice=choice)] if incoming.text else [Reply(f"答案：{incoming.action}")]

    app = serve(quiz)
    fake.post(app.url, fake.message(ZHANG, "/quiz"))
    [card] = fake.wait_outbox(ZHANG)
    assert card["msg_type"] == "interactive" and "正当防卫的限度是？" in text_of(card)
    assert "A. 明显超过必要限度" in text_of(card)
    since = fake.mark()
    forged = fake.post(app.url, fake.press_event(LI, card["message_id"], "A"))  # not LI's card: it stays as it is
    assert forged.status_code == 200 and "card" not in forged.json()
    answer = fake.post(app.url, fake.press_event(ZHANG, card["message_id"], "A"))
    assert answer.status_code == 200 and answer.json()["toast"]["type"] == "info"  # within the callback's 3 s
    shown = fake.update_card(card["message_id"], answer.json())  # the card as answered: nothing left to press
    assert [e["tag"] for e in shown["elements"]] == ["div", "note"] and "A. 明显超过必要限度" in text_of(card)
    assert "正当防卫的限度是？" in shown["elements"][0]["text"]["content"] and "点击" not in str(shown)
    assert shown["elements"][1]["elements"][0]["content"] == "已作答：A" and shown["header"] == card["content"]["header"]
    assert text_of(fake.wait_outbox(ZHANG, since=since)[0]) == f"答案：{choice.action(0)}"
    assert (ZHANG, choice.action(0)) in [(i.user_id, i.action) for i in app.core.seen] and fake.violations == []


def test_a_multiple_answer_question_goes_as_lettered_text(fake, serve):
    choice = Choice(ref="q2", number=1, total=1, stem="哪些属于？", options=("甲", "乙", "丙"), multiple=True)

    async def quiz(incoming):
        return [Reply("", choice=choice)]

    app = serve(quiz)
    fake.post(app.url, fake.message(ZHANG, "/quiz"))
    [message] = fake.wait_outbox(ZHANG)
    assert message["msg_type"] == "text" and "A. 甲" in text_of(message) and "AC" in text_of(message)


def test_a_card_pressed_in_a_group_answers_in_the_group(fake, serve):
    async def buttons(incoming):
        return [Reply("选择", buttons=(Button("来源", "src:1"),))] if incoming.text else [Reply(incoming.action)]

    app = serve(buttons)
    fake.post(app.url, fake.message(LI, "看看", group=GROUP))
    [card] = fake.wait_outbox(GROUP)
    since = fake.mark()
    fake.post(app.url, fake.press_event(LI, card["message_id"], "来源"))
    assert text_of(fake.wait_outbox(GROUP, since=since)[0]) == "src:1"
    press = app.core.seen[-1]
    assert press.group and press.mentioned and press.chat_id == GROUP and press.user_id == LI


def test_a_long_reply_is_split_within_the_limit_with_labels_kept(fake, serve):
    long = "".join(f"第{n}句说明正当防卫的限度问题。[{n}]" for n in range(1, 60))

    async def talk(incoming):
        return [Reply(long)]

    app = serve(talk, text_limit=200)
    fake.post(app.url, fake.message(ZHANG, "长"))
    messages = fake.wait_outbox(ZHANG, count=2)
    fake.wait_outbox(ZHANG, lambda m: text_of(m).endswith("[59]"))  # the last piece: all are sent by then
    texts = [text_of(m) for m in fake.outbox(ZHANG)]
    assert len(texts) > 3 and all(len(t) <= 200 for t in texts) and "".join(texts) == long
    assert all(t.endswith("]") for t in texts) and messages


def test_a_failing_core_is_a_polite_message_and_events_not_acted_on_are_acknowledged(fake, serve):
    async def broken(incoming):
        raise RuntimeError("boom")

    app = serve(broken)
    picture = fake.message(ZHANG, "", msg_type="image", content={"image_key": "img_v2_1"})
    assert fake.post(app.url, picture).status_code == 200
    other = {**fake.message(ZHANG, ""), "header": {**picture["header"], "event_type": "im.message.message_read_v1",
                                                   "event_id": "read-1"}}
    assert fake.post(app.url, other).json() == {"msg": "success"}
    fake.post(app.url, fake.message(ZHANG, "问"))
    assert [text_of(m) for m in fake.wait_outbox(ZHANG)] == [FAILED]
    assert len(app.core.seen) == 1 and "boom" not in str(fake.messages)


def test_an_api_failure_is_retried_and_never_shown(fake, serve):
    app = serve(echo)
    fake.fail("/im/v1/messages", status=503, times=2)
    fake.post(app.url, fake.message(ZHANG, "你好"))
    assert text_of(fake.wait_outbox(ZHANG)[0]) == "收到：你好"
    assert len(fake.calls_to("/im/v1/messages")) == 3


def test_what_the_core_sends_on_its_own_is_pushed_as_often_as_the_reminder_period_asks(fake, serve):
    # a period of 0.72 s is asked about four times over (push_period_s), not once a minute
    app = serve(echo, pushes=[Push("feishu", LI, LI, Reply("该复习了"), key="review-nudge")], nudge_hours=0.0002)
    assert text_of(fake.wait_outbox(LI, timeout=20)[0]) == "该复习了"  # well under the minute it must not wait
    assert app.core.entered == 1
