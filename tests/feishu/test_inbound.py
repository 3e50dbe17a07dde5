"""Feishu events, parsed by lark-oapi into its own objects as its dispatcher does, -> Incoming."""

from __future__ import annotations

import json

import pytest

from bots.feishu.errors import EventRejected
from bots.feishu.inbound import message_text, parse_card_action, parse_message
from tests.fakes.feishu_wire import card_action_event, envelope, mention, message_event, now_ms

BOT, ZHANG, GROUP = "ou_bot", "ou_zhang0000000000000000000000000", "oc_group"


def sdk(payload: dict, kind: str):
    from lark_oapi.api.im.v1 import P2ImMessageReceiveV1
    from lark_oapi.core.json import JSON
    from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTrigger

    return JSON.unmarshal(json.dumps(payload), P2ImMessageReceiveV1 if kind == "message" else P2CardActionTrigger)


def message(text: str, *, group: bool = False, mentions=(), **kw):
    event = message_event(ZHANG, {"text": text}, chat_id=GROUP, chat_type="group" if group else "p2p",
                          mentions=list(mentions), **kw)
    return sdk(envelope("im.message.receive_v1", event, token="t", app_id="cli", event_id="ev-1"), "message")


def parse(event, bot=BOT):
    return parse_message(event, bot_open_id=bot, now_ms=int(now_ms()), max_age_s=3600)


def test_a_direct_message_is_the_senders_chat_with_the_event_id():
    incoming, target = parse(message("正当防卫"))
    assert (incoming.channel, incoming.delivery_id) == ("feishu", "ev-1")
    assert incoming.user_id == ZHANG and incoming.chat_id == ZHANG
    assert incoming.text == "正当防卫" and not incoming.group and target.chat_id == ZHANG and not target.group


def test_in_a_group_only_the_bots_mention_counts_and_is_taken_out_of_the_text():
    ours = parse(message("@_user_1 正当防卫", group=True, mentions=[mention("@_user_1", BOT, "检学")]))[0]
    assert ours.group and ours.mentioned and ours.chat_id == GROUP and ours.text == "正当防卫"
    other = parse(message("@_user_1 你看", group=True, mentions=[mention("@_user_1", "ou_other", "李四")]))[0]
    assert not other.mentioned and other.text == "@李四 你看"
    plain = parse(message("大家好", group=True))[0]
    assert not plain.mentioned
    unknown_bot = parse(message("@_user_1 问", group=True, mentions=[mention("@_user_1", "ou_x", "检学")]), bot=None)[0]
    assert unknown_bot.mentioned and unknown_bot.text == "问"  # bot/v3/info unreadable: any mention counts


def test_other_bots_other_kinds_and_stale_events_are_ignored():
    assert parse(message("hi", sender_type="app")) is None
    picture = message_event(ZHANG, {"image_key": "img"}, msg_type="image", chat_id=GROUP, chat_type="p2p", mentions=[])
    assert parse(sdk(envelope("im.message.receive_v1", picture, token="t", app_id="cli"), "message")) is None
    stale = message("hi")
    stale.event.message.create_time = str(int(now_ms()) - 7200 * 1000)
    assert parse(stale) is None


def test_a_rich_text_post_is_read_as_its_text():
    post = {"title": "请教", "content": [[{"tag": "at", "user_id": "@_user_1", "user_name": "检学"},
                                         {"tag": "text", "text": " 正当防卫的限度"}],
                                        [{"tag": "text", "text": "谢谢"}]]}
    assert message_text("post", json.dumps(post)) == "请教\n@_user_1 正当防卫的限度\n谢谢"
    assert message_text("image", "{}") is None


@pytest.mark.parametrize("content", ["not json", "[]", "{}"])
def test_a_text_message_without_text_is_refused(content):
    with pytest.raises(EventRejected):
        message_text("text", content)


def press(value: dict, **kw):
    event = card_action_event(ZHANG, value, message_id="om_1", chat_id=GROUP)
    return sdk(envelope("card.action.trigger", event, token="t", app_id="cli", event_id="ev-9"), "card")


def test_a_card_press_is_its_buttons_action_in_the_chat_the_card_went_to():
    incoming, target = parse_card_action(press({"jx": "ans:q1:A", "group": False}))
    assert incoming.action == "ans:q1:A" and incoming.chat_id == ZHANG and incoming.delivery_id == "ev-9"
    in_group, target = parse_card_action(press({"jx": "src:abc", "group": True}))
    assert in_group.chat_id == GROUP and in_group.group and in_group.mentioned and target.group


def test_a_press_on_something_else_is_ignored_and_a_bad_action_refused():
    assert parse_card_action(press({"other": 1})) is None
    with pytest.raises(EventRejected):
        parse_card_action(press({"jx": "x" * 100}))
