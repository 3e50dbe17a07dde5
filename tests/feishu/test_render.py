"""Replies -> Feishu messages: text within the limit with labels kept, cards with buttons."""

from __future__ import annotations

import json

from assistant.conversation.messages import Button, Choice, Reply
from bots.feishu.render import render_reply


def test_a_long_answer_is_split_within_the_limit_with_each_label_kept_with_its_sentence():
    text = "".join(f"第{n}句讲防卫限度，“引文”[{n}]。" if n % 2 else f"第{n}句讲防卫过当。[{n}]" for n in range(1, 40))
    messages = render_reply(Reply(text), text_limit=120, group=False)
    pieces = [m.content["text"] for m in messages]
    assert len(pieces) > 3 and all(m.msg_type == "text" for m in messages) and all(len(p) <= 120 for p in pieces)
    assert "".join(pieces) == text and not any(p.startswith("[") for p in pieces)


def test_buttons_ride_on_a_card_with_the_last_piece_of_text():
    messages = render_reply(Reply("答案。[1]\n\n来源：[1] 刑法第二十条", buttons=(Button("来源", "src:r1"),)),
                            text_limit=4000, group=True)
    [card] = messages
    assert card.msg_type == "interactive"
    [div, action] = card.content["elements"]
    assert "来源：[1] 刑法第二十条" in div["text"]["content"]
    assert action["actions"][0]["value"] == {"jx": "src:r1", "group": True}
    body = card.body()
    assert json.loads(body["content"]) == card.content and body["uuid"] != card.body()["uuid"]


def test_a_quiz_question_is_a_card_and_its_key_is_never_sent():
    choice = Choice(ref="r", number=2, total=5, stem="题干", options=("甲", "乙", "丙"), multiple=False,
                    answer=(1,), explanation="因为乙")
    [card] = render_reply(Reply("", choice=choice), text_limit=4000, group=False)
    labels = [a["text"]["content"] for e in card.content["elements"] if e["tag"] == "action" for a in e["actions"]]
    assert labels == ["A", "B", "C"] and card.content["header"]["title"]["content"] == "第2/5题"
    assert "因为乙" not in json.dumps(card.content, ensure_ascii=False)
    multiple = Choice(ref="r", number=1, total=1, stem="多选", options=("甲", "乙"), multiple=True, answer=(0, 1))
    [text] = render_reply(Reply("", choice=multiple), text_limit=4000, group=False)
    assert text.msg_type == "text" and "A. 甲" in text.content["text"]


def test_blank_text_is_no_message():
    assert render_reply(Reply("  "), text_limit=4000, group=False) == []
