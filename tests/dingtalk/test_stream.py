"""The robot in Stream mode: the official dingtalk-stream SDK, driven by DingtalkStream, against the
fake's gateway and WebSocket on 127.0.0.1, with an echo handler shaped like Conversations.handle
(tests/dingtalk/test_bot.py runs the real core behind it)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import pytest

from assistant.config import DingtalkSettings
from assistant.conversation.messages import Button, Incoming, Progress, Reply
from assistant.conversation.texts import FAILED
from assistant.errors import ConfigError
from bots.dingtalk.stream import ENDPOINT_VARIABLE, DingtalkStream, load_sdk
from tests.dingtalk.conftest import RunningStream
from tests.fakes.dingtalk_wire import ROBOT_TOPIC

pytestmark = pytest.mark.slow  # the SDK and servers on 127.0.0.1

WEBHOOK, BATCH = "/robot/sendBySession", "/v1.0/robot/oToMessages/batchSend"
GATEWAY = "/v1.0/gateway/connections/open"


class Echo:
    """Answers every delivery with what it got, as Conversations.handle does (events, the replies
    among them); ``hold`` keeps it waiting until released, ``fail`` fails it after a first reply."""

    def __init__(self, *, hold: bool = False, buttons: tuple[Button, ...] = (), fail: bool = False) -> None:
        self.got: list[Incoming] = []
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.buttons, self.fail = buttons, fail

    async def __call__(self, incoming: Incoming):
        self.got.append(incoming)
        yield Progress("")  # nothing to show on DingTalk: ignored
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        yield Reply(f"收到：{incoming.text or incoming.action}", buttons=self.buttons)
        if self.fail:
            raise RuntimeError("Traceback: the core blew up")

    def wait(self, count: int = 1, timeout: float = 30) -> list[Incoming]:
        deadline = time.monotonic() + timeout
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"the handler got {len(self.got)} of {count} deliveries"
            time.sleep(0.02)
        return self.got


@pytest.fixture
def streams(stream_fake):
    started: list[RunningStream] = []

    def start(handler, *, connect: bool = True, **settings) -> RunningStream:
        values = stream_fake.settings(directory_departments=False) | settings
        running = RunningStream(DingtalkSettings(**values), handler).start(stream_fake, connect=connect)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def test_the_sdk_opens_the_stream_at_the_configured_address(stream_fake, streams):
    since = stream_fake.mark()
    streams(Echo())
    assert os.environ[ENDPOINT_VARIABLE] == stream_fake.endpoint  # set from JIANXUE_DINGTALK__ENDPOINT
    body = stream_fake.sent(GATEWAY, since)[-1]["body"]
    assert (body["clientId"], body["clientSecret"]) == (stream_fake.client_id, stream_fake.client_secret)
    assert {(s["type"], s["topic"]) for s in body["subscriptions"]} == {
        ("CALLBACK", "/v1.0/im/bot/messages/get"), ("CALLBACK", "/v1.0/card/instances/callback")}


def test_a_wrong_secret_opens_no_connection(stream_fake, streams):
    since, opened = stream_fake.mark(), stream_fake.connections_opened
    streams(Echo(), connect=False, client_secret="not-the-secret")
    stream_fake.wait_for(GATEWAY, since=since)
    time.sleep(0.5)
    assert stream_fake.connections_opened == opened  # the gateway refused: no ticket, no WebSocket


def test_a_message_is_acked_at_once_and_answered_through_its_webhook(stream_fake, streams):
    echo = Echo(hold=True)
    streams(echo)
    since = stream_fake.mark()
    data = stream_fake.message("staff01", "正当防卫的限度怎么认定？")
    ack = stream_fake.ack(data["_messageId"])
    assert ack["code"] == 200 and not stream_fake.sent(WEBHOOK, since)  # ACKed while the handler still works
    echo.release.set()
    call = stream_fake.wait_for(WEBHOOK, since=since)[0]
    assert call["query"]["session"] in data["sessionWebhook"]
    assert call["body"] == {"msgtype": "text", "text": {"content": "收到：正当防卫的限度怎么认定？"}}
    (incoming,) = echo.wait()
    assert incoming.delivery_id == data["msgId"] and incoming.user_id == "staff01" and not incoming.group


def test_a_ping_is_answered_with_its_opaque(stream_fake, streams):
    streams(Echo())
    mid = stream_fake.ping()
    ack = stream_fake.ack(mid)
    assert ack["code"] == 200 and json.loads(ack["data"])["opaque"] == stream_fake.opaques[mid]


def test_a_group_message_without_a_mention_is_passed_on_marked_so(stream_fake, streams):
    echo = Echo()
    streams(echo)
    stream_fake.message("staff02", "大家好", group="cidGroupOne==", mentioned=False)
    stream_fake.message("staff02", "什么是认罪认罚？", group="cidGroupOne==")
    by_text = {incoming.text: incoming for incoming in echo.wait(2)}  # handled concurrently, in any order
    quiet, mentioned = by_text["大家好"], by_text["什么是认罪认罚？"]
    assert quiet.group and not quiet.mentioned and quiet.chat_id == "cidGroupOne=="
    assert mentioned.mentioned and mentioned.text == "什么是认罪认罚？"


def test_a_card_press_reaches_the_handler_as_an_action(stream_fake, streams):
    echo = Echo(buttons=(Button("来源", "src"),))
    streams(echo, card_template_id="tpl-123.schema")
    since = stream_fake.mark()
    stream_fake.message("staff01", "问题")
    card = stream_fake.wait_for("/v1.0/card/instances/createAndDeliver", since=since)[0]["body"]
    mid = stream_fake.press(card["outTrackId"], "src", user="staff01")
    assert stream_fake.ack(mid)["code"] == 200
    pressed = echo.wait(2)[1]
    assert (pressed.action, pressed.delivery_id, pressed.user_id) == ("src", mid, "staff01")
    stream_fake.wait_for("/v1.0/card/instances/createAndDeliver", since=since, count=2)  # the answer to the press


def test_a_malformed_delivery_is_acked_and_ignored(stream_fake, streams):
    echo = Echo()
    streams(echo)
    mid = stream_fake.deliver(ROBOT_TOPIC, {"msgId": "msg1", "conversationType": "1", "msgtype": "text",
                                             "text": {"content": "没有发送人"}})
    assert stream_fake.ack(mid)["code"] == 400
    stream_fake.message("staff01", "还在吗")
    (incoming,) = echo.wait()
    assert incoming.text == "还在吗"


def test_a_frame_that_is_not_json_costs_a_reconnection_not_the_robot(stream_fake, streams):
    echo = Echo()
    streams(echo)
    opened = stream_fake.connections_opened
    # SDK 0.24.3 leaves its read loop on it (then logs with a malformed call, which a strict log handler
    # turns into an error that ends the loop): DingtalkStream starts the loop again
    stream_fake.send_frame("not JSON at all")
    stream_fake.connected(count=opened + 1)
    stream_fake.message("staff01", "还在吗")
    assert echo.wait()[0].text == "还在吗"


def test_a_failing_handler_gets_the_member_an_apology_not_a_traceback(stream_fake, streams):
    streams(Echo(fail=True))
    since = stream_fake.mark()
    stream_fake.message("staff01", "问题")
    first, apology = (call["body"] for call in stream_fake.wait_for(WEBHOOK, since=since, count=2))
    assert first["text"]["content"] == "收到：问题"  # what was said before the failure stays said
    assert apology["text"]["content"] == FAILED and "Traceback" not in json.dumps(apology)


def test_one_chats_deliveries_are_handled_in_turn_others_meanwhile(stream_fake, streams):
    echo = Echo(hold=True)
    streams(echo)
    since = stream_fake.mark()
    stream_fake.message("staff01", "第一条")
    stream_fake.message("staff01", "第二条")
    stream_fake.message("staff02", "别的会话")
    got = echo.wait(2)
    time.sleep(0.3)
    assert {i.text for i in got} == {"第一条", "别的会话"}  # the second of staff01's waits for the first
    echo.release.set()
    echo.wait(3)
    sent = [c["body"]["text"]["content"] for c in stream_fake.wait_for(WEBHOOK, since=since, count=3)]
    assert sent.index("收到：第一条") < sent.index("收到：第二条")


def test_a_disconnect_is_followed_by_a_new_connection(stream_fake, streams):
    echo = Echo()
    streams(echo)
    since, opened = stream_fake.mark(), stream_fake.connections_opened
    stream_fake.disconnect()
    stream_fake.connected(count=opened + 1)
    assert len(stream_fake.sent(GATEWAY, since)) == 1  # a fresh ticket from the gateway
    stream_fake.message("staff01", "重连之后")
    assert echo.wait()[0].text == "重连之后"


def test_department_ids_are_read_from_the_directory(stream_fake, streams):
    stream_fake.directory["staff03"] = [932988755]
    echo = Echo()
    streams(echo, directory_departments=True)
    stream_fake.message("staff03", "问题")
    stream_fake.message("staff04", "问题")  # not in the directory: handled without departments
    by_user = {incoming.user_id: incoming for incoming in echo.wait(2)}  # handled concurrently, in any order
    assert by_user["staff03"].platform_departments == ("932988755",) and by_user["staff04"].platform_departments == ()


def test_stop_ends_the_stream(stream_fake, streams):
    running = streams(Echo())
    running.stop()
    assert not running.thread.is_alive()


def test_the_sdk_cannot_be_pointed_elsewhere_once_imported(stream_fake):
    load_sdk(stream_fake.endpoint)
    with pytest.raises(ConfigError, match="fresh process"):
        load_sdk("https://api.dingtalk.example")


def test_a_stream_without_credentials_is_a_clear_error():
    with pytest.raises(ConfigError, match="CLIENT_SECRET"):
        DingtalkStream(DingtalkSettings(client_id="dingtestapp"), Echo())
