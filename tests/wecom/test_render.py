"""Replies -> WeCom message bodies within WeCom's limits."""

from __future__ import annotations

import itertools
import json

import pytest

from assistant.conversation.messages import Button, Choice, Reply, utf8_bytes
from bots.wecom.render import MAX_BUTTONS, SUBTITLE_CHARS, TEXT_BYTES, render_reply
from tests.fakes.wecom_server import _card_problems

SENTENCE = "正当防卫明显超过必要限度造成重大损害的，应当负刑事责任，但是应当减轻或者免除处罚。[1]"


def ids():
    counter = itertools.count(1)
    return lambda: f"jx-{next(counter)}"


def contents(messages):
    return [m[m["msgtype"]]["content"] for m in messages if m["msgtype"] in ("text", "markdown")]


def test_a_long_answer_is_split_within_2048_bytes_with_each_label_kept_with_its_sentence():
    text = "\n".join(f"{SENTENCE[:-3]}（第{i}句）。[{i}]" for i in range(1, 60))
    messages = render_reply(Reply(text))
    assert len(messages) > 1 and all(m["msgtype"] == "text" for m in messages)
    assert all(utf8_bytes(c) <= TEXT_BYTES for c in contents(messages))
    joined = "\n".join(contents(messages))
    assert joined == text  # nothing lost, nothing reordered
    for c in contents(messages):  # every piece ends with a whole sentence and its label
        assert c.rstrip().endswith("]")


def test_markdown_bolds_labels_and_still_fits():
    text = SENTENCE * 40
    messages = render_reply(Reply(text), markdown=True)
    assert {m["msgtype"] for m in messages} == {"markdown"} and len(messages) > 1
    assert all(utf8_bytes(c) <= TEXT_BYTES for c in contents(messages))
    assert "**[1]**" in contents(messages)[0] and "[1]" not in contents(messages)[0].replace("**[1]**", "")


def test_buttons_become_a_button_card_whose_keys_are_the_actions():
    reply = Reply("简短的回答。[1]", buttons=(Button("来源", "sources"), Button("新对话", "new")))
    messages = render_reply(reply, task_id=ids())
    assert len(messages) == 1
    card = messages[0]["template_card"]
    assert card["card_type"] == "button_interaction" and card["sub_title_text"] == "简短的回答。[1]"
    assert [(b["text"], b["key"]) for b in card["button_list"]] == [("来源", "sources"), ("新对话", "new")]
    assert _card_problems(card, {}) == []


def test_a_long_text_with_buttons_goes_as_text_then_a_card():
    reply = Reply(SENTENCE * 5, buttons=tuple(Button(f"按钮{i}", f"b{i}") for i in range(8)))
    messages = render_reply(reply, task_id=ids())
    kinds = [m["msgtype"] for m in messages]
    assert kinds == ["text", "template_card", "template_card"]  # 8 buttons: 6 + 2
    cards = [m["template_card"] for m in messages[1:]]
    assert [len(c["button_list"]) for c in cards] == [MAX_BUTTONS, 2]
    assert all(_card_problems(c, {}) == [] for c in cards) and cards[0]["task_id"] != cards[1]["task_id"]


def test_a_single_answer_question_is_a_card_with_one_button_per_option():
    choice = Choice(ref="r1", number=1, total=5, stem="防卫过当应当如何处罚？", options=("减轻或者免除处罚", "从重处罚", "不负刑事责任"),
                    multiple=False)
    messages = render_reply(Reply("", choice=choice), task_id=ids())
    assert len(messages) == 1
    card = messages[0]["template_card"]
    assert card["main_title"]["title"] == "第1/5题"
    assert [b["key"] for b in card["button_list"]] == [choice.action(i) for i in range(3)]
    assert [b["text"] for b in card["button_list"]] == ["A", "B. 从重处罚", "C. 不负刑事责任"]  # the text when it fits
    assert "A. 减轻或者免除处罚" in card["sub_title_text"] and _card_problems(card, {}) == []


def test_a_long_question_goes_as_text_before_its_card():
    choice = Choice(ref="r2", number=2, total=5, stem="甲" * (SUBTITLE_CHARS + 1), options=("对", "错"), multiple=False)
    messages = render_reply(Reply("先看一个案例。", choice=choice), task_id=ids())
    assert [m["msgtype"] for m in messages] == ["text", "text", "template_card"]
    assert contents(messages)[1].startswith("甲") and "B. 错" in contents(messages)[1]
    assert messages[2]["template_card"]["sub_title_text"] == "点击选项作答"


def test_a_multiple_answer_question_is_a_multi_select_vote_card():
    choice = Choice(ref="r3", number=3, total=5, stem="哪些属于不起诉的情形？", options=("甲", "乙", "丙", "丁"), multiple=True)
    card = render_reply(Reply("", choice=choice), task_id=ids())[0]["template_card"]
    assert card["card_type"] == "vote_interaction" and card["checkbox"]["mode"] == 1
    assert card["checkbox"]["question_key"] == "r3"
    assert [o["id"] for o in card["checkbox"]["option_list"]] == ["A", "B", "C", "D"]
    assert card["main_title"]["title"] == "第3/5题（多选）" and _card_problems(card, {}) == []


def test_more_options_than_buttons_fall_back_to_lettered_text():
    choice = Choice(ref="r4", number=1, total=1, stem="选哪个？", options=tuple("甲乙丙丁戊己庚"), multiple=False)
    messages = render_reply(Reply("", choice=choice))
    assert [m["msgtype"] for m in messages] == ["text"] and contents(messages)[0] == choice.lettered()


def test_a_group_chat_gets_no_cards():
    choice = Choice(ref="r5", number=1, total=1, stem="选哪个？", options=("甲", "乙"), multiple=True)
    assert [m["msgtype"] for m in render_reply(Reply("", choice=choice), cards=False)] == ["text"]
    with_buttons = render_reply(Reply("回答。", buttons=(Button("来源", "sources"),)), cards=False)
    assert with_buttons == [{"msgtype": "text", "text": {"content": "回答。"}}]


def test_a_long_answer_goes_as_text_and_its_source_labels_ride_in_the_card():
    reply = Reply(SENTENCE * 8 + "\n\n来源：[1] 《刑法》第二十条第二款", buttons=(Button("来源", "src:r1"),))
    messages = render_reply(reply, task_id=ids())
    assert [m["msgtype"] for m in messages] == ["text", "template_card"]
    assert contents(messages) == [SENTENCE * 8]
    card = messages[1]["template_card"]
    assert card["sub_title_text"] == "来源：[1] 《刑法》第二十条第二款" and card["button_list"][0]["key"] == "src:r1"


def test_blank_text_is_no_message():
    assert render_reply(Reply("  \n")) == [] and render_reply(Reply("", buttons=(Button("来源", "s"),)))[0]["msgtype"] == "template_card"


def test_a_label_after_a_closing_quote_stays_with_its_quoted_sentence():
    quoted = "资料指出：“" + "甲" * 674 + "。”[1]"  # 2,049 bytes: the label is what does not fit
    pieces = contents(render_reply(Reply(quoted)))
    assert len(pieces) == 2 and not pieces[1].startswith("[1]")


@pytest.mark.parametrize("multiple", [False, True])
def test_a_questions_key_and_explanation_are_never_sent_with_it(multiple):
    choice = Choice(ref="r9", number=1, total=1, stem="哪一项正确？", options=("甲", "乙", "丙"), multiple=multiple,
                    answer=(0, 2) if multiple else (1,), explanation="出处：SECRETEXPLANATION")
    for cards in (True, False):
        sent = json.dumps(render_reply(Reply("", choice=choice), cards=cards, task_id=ids()), ensure_ascii=False)
        assert "SECRETEXPLANATION" not in sent and "is_checked\": true" not in sent
