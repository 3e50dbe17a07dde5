"""Robot messages and card presses, in the shapes DingTalk delivers them (built by the fake's wire
module, not by the adapter), parsed into Incoming; malformed, foreign and stale ones refused."""

from __future__ import annotations

import json
import time

import pytest

from bots.dingtalk.errors import DeliveryError
from bots.dingtalk.inbound import action_from_text, action_text, parse_card_callback, parse_robot_message
from tests.fakes.dingtalk_wire import ROBOT_USER_ID, card_press_data, robot_message_data

ROBOT = "dingtestapp"
GROUP = "cidGroupOne=="


def parse(data: dict, **kwargs):
    return parse_robot_message(data, robot_code=ROBOT, now_ms=int(time.time() * 1000), max_age_s=3600, **kwargs)


def test_a_direct_message_names_its_sender_chat_and_delivery():
    data = robot_message_data("staff01", "正当防卫的限度怎么认定？", webhook="https://oapi.example/robot/sendBySession?session=s1",
                              webhook_expires_ms=1_900_000_000_000)
    incoming, target = parse(data)
    assert (incoming.channel, incoming.delivery_id, incoming.user_id, incoming.chat_id) == (
        "dingtalk", data["msgId"], "staff01", "staff01")
    assert incoming.text == "正当防卫的限度怎么认定？"
    assert (incoming.group, incoming.mentioned, incoming.action) == (False, False, "")
    assert incoming.platform_departments == ()  # a robot message carries no department ids
    assert target.session_webhook.endswith("session=s1") and target.webhook_expires_ms == 1_900_000_000_000
    assert (target.user_id, target.chat_id, target.group) == ("staff01", "staff01", False)


def test_a_group_message_that_mentions_the_robot_is_marked_and_the_mention_gone():
    incoming, target = parse(robot_message_data("staff01", "什么是认罪认罚？", group=GROUP))
    assert incoming.group and incoming.mentioned
    assert incoming.text == "什么是认罪认罚？"  # DingTalk removed "@robot", leaving a space
    assert incoming.chat_id == GROUP and target.chat_id == GROUP and target.group


def test_a_group_message_without_a_mention_is_marked_so():
    incoming, _ = parse(robot_message_data("staff01", "大家好", group=GROUP, mentioned=False))
    assert incoming.group and not incoming.mentioned


def test_a_mention_is_also_read_from_at_users():
    data = robot_message_data("staff01", "问题", group=GROUP)
    del data["isInAtList"]
    assert parse(data)[0].mentioned
    data["atUsers"] = [{"dingtalkId": "$:LWCP_v1:$someoneelse", "staffId": "staff09"}]
    assert not parse(data)[0].mentioned
    data["atUsers"].append({"dingtalkId": ROBOT_USER_ID})
    assert parse(data)[0].mentioned


@pytest.mark.parametrize("msgtype, content, text", [
    ("richText", {"richText": [{"text": "这个问题示例图如下："}, {"downloadCode": "x", "type": "picture"}, {"text": "怎么认定"}]},
     "这个问题示例图如下：怎么认定"),
    ("audio", {"downloadCode": "x", "recognition": "正当防卫的限度"}, "正当防卫的限度"),
    ("picture", {"downloadCode": "x"}, ""),
    ("unknownMsgType", {"unknownMsgType": "用户发送了一条消息，机器人暂不支持接收。"}, ""),
])
def test_other_kinds_give_their_text_or_none(msgtype, content, text):
    incoming, _ = parse(robot_message_data("staff01", "", msgtype=msgtype, content=content))
    assert incoming.text == text and incoming.action == ""


def test_a_link_sent_action_becomes_the_action():
    incoming, _ = parse(robot_message_data("staff01", action_text("ans:q7:B")))
    assert (incoming.action, incoming.text) == ("ans:q7:B", "")
    assert action_from_text("#正当防卫") is None and action_from_text("#two words") is None
    assert action_from_text("# ") is None and action_from_text("src") is None


@pytest.mark.parametrize("change", [
    lambda d: d.pop("msgId"),
    lambda d: d.update(conversationType="3"),
    lambda d: d.pop("senderStaffId"),
    lambda d: d.update(senderStaffId=""),
    lambda d: d.update(conversationType="2", conversationId=""),
    lambda d: d.update(text={"contents": "x"}),
    lambda d: d.pop("msgtype"),
    lambda d: d.update(createAt="yesterday"),
    lambda d: d.update(sessionWebhookExpiredTime="soon"),
    lambda d: d.update(robotCode="dinganotherrobot"),
    lambda d: d.update(createAt=int(time.time() * 1000) - 2 * 3600 * 1000),  # stale
    lambda d: d.update(createAt=int(time.time() * 1000) + 2 * 3600 * 1000),  # far in the future
], ids=["no msgId", "conversationType", "no staff id", "empty staff id", "group without id", "text without content",
        "no msgtype", "createAt text", "expiry text", "another robot", "stale", "future"])
def test_malformed_foreign_or_stale_messages_are_refused(change):
    data = robot_message_data("staff01", "问题")
    change(data)
    with pytest.raises(DeliveryError):
        parse(data)


def test_not_an_object_is_refused():
    for data in (None, [], "text"):
        with pytest.raises(DeliveryError):
            parse(data)


def press(action: str = "ans:q7:B", **kwargs) -> dict:
    values = {"index": 1, "user": "staff01", "corp_id": "ding-corp-1", "space_type": "IM_ROBOT", "space_id": "staff01"}
    return card_press_data("jianxue-0123abcd", action, **(values | kwargs))


def test_a_card_press_carries_the_buttons_action():
    incoming, target = parse_card_callback(press(), message_id="m_1_2_3")
    assert (incoming.delivery_id, incoming.user_id, incoming.chat_id, incoming.action) == (
        "m_1_2_3", "staff01", "staff01", "ans:q7:B")
    assert not incoming.group and not target.session_webhook


def test_a_card_press_in_a_group_replies_in_the_group():
    incoming, target = parse_card_callback(press(space_type="IM_GROUP", space_id=GROUP), message_id="m1")
    assert incoming.group and incoming.mentioned and incoming.chat_id == GROUP == target.chat_id


def test_a_press_without_params_falls_back_to_the_action_id():
    data = press()
    data["content"] = json.dumps({"cardPrivateData": {"actionIds": ["src"], "params": {}}})
    assert parse_card_callback(data, message_id="m1")[0].action == "src"


@pytest.mark.parametrize("change", [
    lambda d: d.update(outTrackId="someone-elses-card"),
    lambda d: d.update(content="{not json"),
    lambda d: d.update(content=json.dumps({"cardPrivateData": {"params": {}}})),
    lambda d: d.update(content=json.dumps({"cardPrivateData": {"params": {"action": "答案"}}})),
    lambda d: d.update(content=json.dumps({"cardPrivateData": {"params": {"action": "x" * 65}}})),
    lambda d: d.pop("userId"),
    lambda d: d.update(spaceType="IM_GROUP", spaceId=""),
], ids=["foreign card", "content not JSON", "no action", "non-ASCII action", "long action", "no user", "group no id"])
def test_malformed_or_foreign_presses_are_refused(change):
    data = press()
    change(data)
    with pytest.raises(DeliveryError):
        parse_card_callback(data, message_id="m1")


def test_a_press_without_a_frame_id_is_refused():
    with pytest.raises(DeliveryError):
        parse_card_callback(press(), message_id="")
