"""Decrypted WeCom callbacks -> Incoming, as WeCom writes them (tests/fakes/wecom_callback.py)."""

from __future__ import annotations

import pytest

from assistant.conversation.messages import Choice, parse_answer_action
from bots.wecom.crypto import CallbackRejected
from bots.wecom.inbound import parse_delivery
from tests.fakes.wecom_callback import CallbackSender

AGENT = 1000002
SENDER = CallbackSender(token="t", aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", corp_id="wwc", agent_id=AGENT)


def test_a_text_message_is_a_direct_delivery_with_its_msg_id():
    incoming = parse_delivery(SENDER.text("zhangsan", "  认罪认罚案件量刑建议怎么提？ ", msg_id="4411"), agent_id=AGENT)
    assert incoming is not None
    assert (incoming.channel, incoming.delivery_id, incoming.user_id, incoming.chat_id) == ("wecom", "4411", "zhangsan", "zhangsan")
    assert incoming.text == "认罪认罚案件量刑建议怎么提？"
    assert (incoming.group, incoming.mentioned, incoming.action) == (False, False, "")
    assert incoming.platform_departments == ()  # the callback carries none; the runner reads them


def test_a_button_press_is_the_buttons_action():
    xml = SENDER.card_event("lisi", task_id="jx-1", event_key="ans:q7:B", created=1700000000)
    incoming = parse_delivery(xml, agent_id=AGENT)
    assert incoming is not None and incoming.action == "ans:q7:B" and incoming.text == ""
    assert incoming.delivery_id == "evt:lisi:1700000000:jx-1:ans:q7:B"
    again = parse_delivery(xml, agent_id=AGENT)  # WeCom's retry of the same press
    assert again is not None and again.delivery_id == incoming.delivery_id


def test_a_submitted_vote_card_is_an_answer_with_the_ticked_letters():
    choice = Choice(ref="q9", number=2, total=5, stem="哪些属于？", options=("甲", "乙", "丙"), multiple=True)
    xml = SENDER.card_event("lisi", task_id="jx-2", event_key="submit:q9", card_type="vote_interaction",
                            selected={choice.ref: ["C", "A"]})
    incoming = parse_delivery(xml, agent_id=AGENT)
    assert incoming is not None and parse_answer_action(incoming.action) == ("q9", "AC")


def test_a_single_ticked_option_is_read_as_a_list():
    xml = SENDER.card_event("u", task_id="t", event_key="submit:r", card_type="vote_interaction", selected={"r": ["B"]})
    assert parse_delivery(xml, agent_id=AGENT).action == "ans:r:B"


def test_an_app_menu_click_passes_its_key_on_and_a_command_key_as_typed_text():
    xml = ("<xml><ToUserName>wwc</ToUserName><FromUserName>u1</FromUserName><CreateTime>1700000001</CreateTime>"
           "<MsgType>event</MsgType><Event>click</Event><EventKey>quiz</EventKey><AgentID>1000002</AgentID></xml>")
    incoming = parse_delivery(xml, agent_id=AGENT)
    assert incoming is not None and incoming.action == "quiz" and incoming.text == ""
    command = parse_delivery(xml.replace("<EventKey>quiz</EventKey>", "<EventKey>/quiz</EventKey>"), agent_id=AGENT)
    assert command is not None and command.text == "/quiz" and command.action == ""  # as if typed


@pytest.mark.parametrize("xml", [
    "<xml><ToUserName>wwc</ToUserName><FromUserName>u1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>event</MsgType><Event>enter_agent</Event><EventKey></EventKey><AgentID>1000002</AgentID></xml>",
    "<xml><ToUserName>wwc</ToUserName><FromUserName>u1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>image</MsgType><PicUrl>http://x</PicUrl><MediaId>m</MediaId><MsgId>5</MsgId><AgentID>1000002</AgentID></xml>",
])
def test_what_jianxue_does_not_act_on_is_none(xml):
    assert parse_delivery(xml, agent_id=AGENT) is None


@pytest.mark.parametrize("xml, status", [
    ("<xml><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>", 400),  # no sender
    ("<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><Content>x</Content></xml>", 400),  # no MsgId
    ("<xml><FromUserName>u</FromUserName><Content>x</Content></xml>", 400),  # no MsgType
    ("<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><MsgId>1</MsgId><AgentID>99</AgentID></xml>", 403),
    ("not xml at all", 400),
])
def test_a_message_missing_what_wecom_always_sends_is_refused(xml, status):
    with pytest.raises(CallbackRejected) as refused:
        parse_delivery(xml, agent_id=AGENT)
    assert refused.value.status == status


@pytest.mark.parametrize("ids", [["Z"], ["AB"], []])
def test_a_vote_with_options_jianxue_never_sent_is_refused_and_an_empty_one_ignored(ids):
    xml = SENDER.card_event("u", task_id="t", event_key="submit:r", card_type="vote_interaction", selected={"r": ids})
    if not ids:  # submitted with nothing ticked: nothing to hand on
        assert parse_delivery(xml, agent_id=AGENT) is None
        return
    with pytest.raises(CallbackRejected):
        parse_delivery(xml, agent_id=AGENT)


def test_the_response_code_of_a_card_event_is_read_and_other_deliveries_have_none():
    from bots.wecom.inbound import response_code

    assert response_code(SENDER.card_event("u", task_id="t", event_key="k", response_code="rc-1")) == "rc-1"
    assert response_code(SENDER.text("u", "hi")) == ""
