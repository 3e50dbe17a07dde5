"""The platform layer: the callback app served over HTTP on 127.0.0.1 as `jianxue bot wecom` serves
it, reached the way WeCom reaches it (signed, encrypted), replying through the fake WeCom's API,
over a core that replies from a function written here (test_bot.py runs the real core)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from assistant.conversation.messages import Button, Choice, Incoming, Push, Reply, parse_answer_action
from bots.wecom.crypto import MAX_BODY_BYTES
from bots.wecom.render import text_messages
from tests.wecom.conftest import LI, ZHANG, FunctionCore

pytestmark = pytest.mark.slow  # servers on 127.0.0.1


class Echo:
    """Replies with what it got; remembers every delivery."""

    def __init__(self) -> None:
        self.seen: list[Incoming] = []

    async def __call__(self, incoming: Incoming) -> list[Reply]:
        self.seen.append(incoming)
        return [Reply(f"收到：{incoming.text or incoming.action}")]


def test_the_url_check_answers_the_plain_echo(fake, serve):
    app = serve(Echo())
    echo, answer = fake.sender.verify_url(app.url)
    assert answer.status_code == 200 and answer.text == echo  # no quotes, no BOM, no newline


def test_a_bad_url_check_is_refused(fake, serve):
    app = serve(Echo())
    _, answer = fake.sender.verify_url(app.url, signature="0" * 40)
    assert answer.status_code == 403


def test_a_message_is_answered_through_the_send_api_with_the_senders_departments(fake, serve):
    handler = Echo()
    app = serve(handler)
    answer = fake.deliver(app.url, fake.sender.text(ZHANG, "正当防卫的限度怎么认定？", msg_id="9001"))
    assert answer.status_code == 200 and answer.content == b""
    sent = fake.wait_for("message/send")[0]
    assert sent["touser"] == ZHANG and sent["text"]["content"] == "收到：正当防卫的限度怎么认定？"
    [incoming] = handler.seen
    assert (incoming.delivery_id, incoming.user_id, incoming.chat_id, incoming.group) == ("9001", ZHANG, ZHANG, False)
    assert incoming.platform_departments == ("2", "7")  # read from the directory (user/get)
    assert fake.sent("user/get") == [{"access_token": fake.sent("user/get")[0]["access_token"], "userid": ZHANG}]


def test_the_callback_is_answered_within_a_second_while_the_reply_is_still_being_written(fake, serve):
    release = threading.Event()
    started = threading.Event()

    async def slow(incoming: Incoming) -> list[Reply]:
        started.set()
        while not release.is_set():  # a model still writing the answer
            await asyncio.sleep(0.05)
        return [Reply("写好了。")]

    app = serve(slow)
    began = time.monotonic()
    answer = fake.deliver(app.url, fake.sender.text(ZHANG, "问一个难题"))
    took = time.monotonic() - began
    assert answer.status_code == 200 and took < 1.0, f"answered after {took:.2f} s"
    assert started.wait(30) and fake.sent("message/send") == []  # the work goes on after the answer
    release.set()
    assert fake.wait_for("message/send")[0]["text"]["content"] == "写好了。"


@pytest.mark.parametrize("case", ["signature", "stale", "corp", "malformed", "agent", "oversized"])
def test_forged_stale_misaddressed_or_malformed_deliveries_get_a_4xx_and_reach_nobody(fake, serve, case):
    handler = Echo()
    app = serve(handler)
    xml = fake.sender.text(ZHANG, "你好")
    if case == "signature":
        answer = fake.deliver(app.url, xml, signature="f" * 40)
    elif case == "stale":
        answer = fake.deliver(app.url, xml, timestamp=int(time.time()) - 3600)
    elif case == "corp":
        answer = fake.deliver(app.url, xml, receive_id="wwanotherorganisation")
    elif case == "malformed":
        answer = fake.sender.post_raw(app.url, b"<xml><Encrypt>", fake.sender.query("x"))
    elif case == "oversized":
        answer = fake.sender.post_raw(app.url, b"<xml>" + b" " * MAX_BODY_BYTES, fake.sender.query("x"))
        assert answer.status_code == 413
    else:
        answer = fake.deliver(app.url, xml.replace(f"<AgentID>{fake.agent_id}</AgentID>", "<AgentID>42</AgentID>"))
    assert 400 <= answer.status_code < 500
    time.sleep(0.3)
    assert handler.seen == [] and fake.sent("message/send") == [] and fake.sent("user/get") == []


def test_a_long_reply_is_split_within_the_limit(fake, serve):
    text = "检察机关依法独立行使检察权，不受行政机关、社会团体和个人的干涉。[2]" * 80

    async def long(incoming: Incoming) -> list[Reply]:
        return [Reply(text)]

    app = serve(long)
    fake.deliver(app.url, fake.sender.text(ZHANG, "长一点"))
    count = len(text_messages(text))
    pieces = [m["text"]["content"] for m in fake.wait_for("message/send", count=count)]
    assert count >= 2 and "".join(pieces) == text and fake.violations == []


def test_a_quiz_card_button_press_comes_back_as_the_answer_action(fake, serve):
    choice = Choice(ref="q1", number=1, total=5, stem="防卫过当应当如何处罚？", options=("减轻或者免除处罚", "从重处罚"), multiple=False)
    seen: list[Incoming] = []

    async def quiz(incoming: Incoming) -> list[Reply]:
        seen.append(incoming)
        if incoming.action:
            return [Reply(f"答案：{parse_answer_action(incoming.action)[1]}")]
        return [Reply("", choice=choice)]

    app = serve(quiz)
    fake.deliver(app.url, fake.sender.text(ZHANG, "/quiz"))
    card = fake.wait_for("message/send", lambda m: m["msgtype"] == "template_card")[0]["template_card"]
    mark = fake.mark()
    answer = fake.press(app.url, ZHANG, card["task_id"], choice.action(0))
    assert answer.status_code == 200
    assert fake.wait_for("message/send", since=mark)[0]["text"]["content"] == "答案：A"
    assert seen[-1].action == "ans:q1:A" and seen[-1].delivery_id.startswith("evt:")
    closed = fake.wait_for("message/update_template_card", since=mark)[0]  # the card's buttons greyed out
    assert closed["userids"] == [ZHANG] and closed["button"]["replace_name"] == "已提交"
    with pytest.raises(AssertionError, match="greyed out"):
        fake.press(app.url, ZHANG, card["task_id"], choice.action(1))


def test_a_multiple_answer_vote_comes_back_with_the_ticked_letters(fake, serve):
    choice = Choice(ref="q2", number=2, total=5, stem="哪些情形可以不起诉？", options=("甲", "乙", "丙"), multiple=True)

    async def quiz(incoming: Incoming) -> list[Reply]:
        return [Reply("", choice=choice)] if not incoming.action else [Reply(incoming.action)]

    app = serve(quiz)
    fake.deliver(app.url, fake.sender.text(LI, "/quiz"))
    card = fake.wait_for("message/send", lambda m: m["msgtype"] == "template_card")[0]["template_card"]
    mark = fake.mark()
    fake.vote(app.url, LI, card["task_id"], ["C", "A"])
    assert fake.wait_for("message/send", since=mark)[0]["text"]["content"] == "ans:q2:AC"
    assert fake.wait_for("message/update_template_card", since=mark)[0]["userids"] == [LI]


def test_a_card_that_cannot_be_greyed_out_still_counts_the_press(fake, serve):
    seen: list[Incoming] = []

    async def handler(incoming: Incoming) -> list[Reply]:
        seen.append(incoming)
        return [Reply("好", buttons=(Button("来源", "sources"),))] if not incoming.action else [Reply("来源如下。")]

    app = serve(handler, max_retries=0)
    fake.deliver(app.url, fake.sender.text(ZHANG, "问"))
    card = fake.wait_for("message/send")[0]["template_card"]
    mark = fake.mark()
    fake.fail("message/update_template_card", errcode=-1)
    fake.press(app.url, ZHANG, card["task_id"], "sources")
    assert fake.wait_for("message/send", since=mark)[0]["text"]["content"] == "来源如下。"
    assert seen[-1].action == "sources"


def test_buttons_under_an_answer_arrive_as_a_card(fake, serve):
    async def answer(incoming: Incoming) -> list[Reply]:
        return [Reply("防卫过当应当减轻或者免除处罚。[1]", buttons=(Button("来源", "sources"),))]

    app = serve(answer)
    fake.deliver(app.url, fake.sender.text(ZHANG, "防卫过当？"))
    card = fake.wait_for("message/send")[0]["template_card"]
    assert card["button_list"][0]["key"] == "sources" and fake.violations == []


def test_a_failing_handler_is_a_polite_message_not_a_traceback(fake, serve):
    async def broken(incoming: Incoming) -> list[Reply]:
        raise RuntimeError("database exploded: SELECT * FROM secrets")

    app = serve(broken)
    fake.deliver(app.url, fake.sender.text(ZHANG, "你好"))
    content = fake.wait_for("message/send")[0]["text"]["content"]
    assert "出错" in content and "database" not in content and "Traceback" not in content


def test_a_directory_that_cannot_be_read_still_lets_the_member_ask(fake, serve):
    handler = Echo()
    app = serve(handler, max_retries=0)
    fake.fail("user/get", errcode=-1)
    fake.deliver(app.url, fake.sender.text(LI, "你好"))
    fake.wait_for("message/send")
    assert handler.seen[0].platform_departments == ()  # unknown: the core then shows only what everyone may read


def test_events_jianxue_does_not_act_on_are_acknowledged_and_dropped(fake, serve):
    handler = Echo()
    app = serve(handler)
    xml = (f"<xml><ToUserName>{fake.corp_id}</ToUserName><FromUserName>{ZHANG}</FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType>event</MsgType><Event>enter_agent</Event>"
           f"<EventKey></EventKey><AgentID>{fake.agent_id}</AgentID></xml>")
    assert fake.deliver(app.url, xml).status_code == 200
    time.sleep(0.3)
    assert handler.seen == [] and fake.sent("message/send") == []


def test_one_chats_messages_are_answered_in_the_order_they_came_and_others_are_not_held_up(fake, serve):
    async def slow_first(incoming: Incoming) -> list[Reply]:
        if incoming.text == "第一问":  # a long answer, until LI has had his (a fixed sleep could end first)
            deadline = time.monotonic() + 30
            while not fake.sent("message/send") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return [Reply(f"答{incoming.text}"), Reply(f"再答{incoming.text}")]

    app = serve(slow_first)
    for user, text in ((ZHANG, "第一问"), (ZHANG, "第二问"), (LI, "第三问")):
        assert fake.deliver(app.url, fake.sender.text(user, text)).status_code == 200
    sent = fake.wait_for("message/send", count=6)
    assert [m["text"]["content"] for m in sent if m["touser"] == ZHANG] == ["答第一问", "再答第一问", "答第二问", "再答第二问"]
    assert sent[0]["touser"] == LI  # another member's answer does not wait for ZHANG's


def test_what_the_core_sends_on_its_own_is_pushed_on_schedule_and_the_core_is_opened_once_and_closed(fake, serve):
    core = FunctionCore(Echo(), [Push("wecom", LI, LI, Reply("您有 2 道题到期需要复习，发送 /review 开始。"))])
    app = serve(core, push_check_s=0.2, nudge_hours=12)
    assert core.entered == 1 and core.exited == 0
    pushed = fake.wait_for("message/send", timeout=20)[0]
    assert pushed["touser"] == LI and pushed["text"]["content"].startswith("您有 2 道题到期")
    assert core.asked[0] == ("wecom", 12)  # reminders at most every JIANXUE_WECOM__NUDGE_HOURS: the core keeps count
    app.stop()
    assert core.exited == 1
