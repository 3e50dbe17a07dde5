"""Replies as DingTalk messages: text within the limit at sentence ends, buttons and quiz options
on a card when a template is set, lettered text and link-sent actions otherwise."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest

from assistant.conversation.messages import Button, Choice, Reply, parse_answer_action
from bots.dingtalk.inbound import action_from_text
from bots.dingtalk.render import (
    CARD,
    LINK,
    MARKDOWN,
    TEXT,
    card_params,
    render_reply,
    robot_message,
    webhook_body,
)

ANSWER = "".join(f"第{i}条规定了正当防卫的限度，超过必要限度造成重大损害的应当负刑事责任。[{i}]" for i in range(1, 40))
CHOICE = Choice(ref="q7", number=2, total=5, stem="下列哪项属于正当防卫？",
                options=("对正在进行的不法侵害采取制止行为", "事后报复", "假想防卫"), multiple=False)


def test_a_long_answer_is_split_within_the_limit_with_each_label_after_its_sentence():
    messages = render_reply(Reply(ANSWER), text_limit=300, cards=False)
    assert len(messages) > 1 and all(m.kind == TEXT and len(m.text) <= 300 for m in messages)
    assert "".join(m.text for m in messages) == ANSWER
    for m in messages:
        assert re.match(r"第\d+条", m.text) and m.text.endswith("]")  # pieces start and end at sentence bounds


def test_buttons_go_on_a_card_with_the_last_piece_when_a_template_is_set():
    reply = Reply(ANSWER, buttons=(Button("来源", "src"), Button("换条线", "line:all")))
    messages = render_reply(reply, text_limit=300, cards=True)
    assert [m.kind for m in messages[:-1]] == [TEXT] * (len(messages) - 1) and messages[-1].kind == CARD
    params = card_params(messages[-1])
    assert all(isinstance(v, str) for v in params.values())  # the card API takes strings only
    assert json.loads(params["buttons"]) == [{"text": "来源", "action": "src"}, {"text": "换条线", "action": "line:all"}]
    assert params["markdown"] == messages[-1].text and ANSWER.endswith(params["markdown"])


def test_without_a_template_buttons_are_links_that_send_their_action():
    messages = render_reply(Reply("答案。[1]", buttons=(Button("来源[1]", "src"),)), text_limit=300, cards=False)
    assert [m.kind for m in messages] == [TEXT, MARKDOWN]
    label, url = re.fullmatch(r"\[(.+)\]\((.+)\)", messages[1].text).groups()
    assert label == "来源【1】" and url.startswith(LINK)
    assert action_from_text(unquote(url.removeprefix(LINK))) == "src"


def test_a_single_answer_question_is_a_card_with_one_button_per_letter():
    messages = render_reply(Reply("先来一道题。", choice=CHOICE), text_limit=300, cards=True)
    assert [m.kind for m in messages] == [TEXT, CARD]
    card = messages[1]
    assert card.title == "第2/5题" and "A. 对正在进行的不法侵害采取制止行为" in card.text and "C. 假想防卫" in card.text
    assert [b.label for b in card.buttons] == ["A", "B", "C"]
    assert [parse_answer_action(b.action) for b in card.buttons] == [("q7", "A"), ("q7", "B"), ("q7", "C")]


@pytest.mark.parametrize("multiple, cards", [(True, True), (False, False), (True, False)])
def test_a_question_a_card_cannot_carry_is_lettered_text(multiple, cards):
    choice = Choice(ref="q7", number=2, total=5, stem=CHOICE.stem, options=CHOICE.options, multiple=multiple)
    messages = render_reply(Reply("", choice=choice), text_limit=300, cards=cards)
    assert [m.kind for m in messages] == [TEXT] and messages[0].text == choice.lettered()


def test_payloads_of_each_way_out():
    text, markdown = render_reply(Reply("答案。", buttons=(Button("来源", "src"),)), text_limit=300, cards=False)
    assert webhook_body(text) == {"msgtype": "text", "text": {"content": "答案。"}}
    assert webhook_body(markdown)["msgtype"] == "markdown" and webhook_body(markdown)["markdown"]["title"]
    key, param = robot_message(text)
    assert key == "sampleText" and json.loads(param) == {"content": "答案。"}
    key, param = robot_message(markdown)
    assert key == "sampleMarkdown" and set(json.loads(param)) == {"title", "text"}
    card = render_reply(Reply("答案。", buttons=(Button("来源", "src"),)), text_limit=300, cards=True)[-1]
    with pytest.raises(ValueError):
        webhook_body(card)  # a session webhook cannot carry an interactive card
    with pytest.raises(ValueError):
        robot_message(card)


def test_an_empty_reply_sends_nothing():
    assert render_reply(Reply("  "), text_limit=300, cards=True) == []
