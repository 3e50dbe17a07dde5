"""With an interactive card template configured (JIANXUE_DINGTALK__CARD_TEMPLATE_ID): buttons and
single-answer quiz questions go out as cards through the card API, and a press comes back over the
stream as a card callback that the real core grades and records."""

from __future__ import annotations

import json

import pytest

from assistant.conversation import texts
from assistant.conversation.messages import parse_answer_action
from tests.dingtalk.conftest import ALICE, CAROL, TEMPLATE, ask
from tests.dingtalk.test_bot import answer_of

pytestmark = pytest.mark.slow

CARDS, BATCH = "/v1.0/card/instances/createAndDeliver", "/v1.0/robot/oToMessages/batchSend"


def press(fake, card: dict, letter_or_label: str, *, user: str, chat: str | None = None) -> list[dict]:
    """``user`` presses a button of ``card``; the first message to their chat afterwards."""
    button = next(b for b in card["buttons"] if b["text"] == letter_or_label)
    since = fake.mark()
    assert fake.ack(fake.press(card["track"], button["action"], user=user))["code"] == 200
    return fake.wait_outbox(chat or user, since=since)


def test_an_answers_sources_button_is_a_card_press_away(robots, stream_fake):
    robots(dingtalk={"card_template_id": TEMPLATE})
    (card,) = ask(stream_fake, ALICE, "正当防卫的限度怎么认定")
    assert card["kind"] == "card" and "[1]" in card["text"] and "来源：[1] " in card["text"]
    assert stream_fake.cards[card["track"]]["cardTemplateId"] == TEMPLATE
    (sources,) = press(stream_fake, card, "来源", user=ALICE)
    assert sources["text"].startswith("原文出处") and "“" in sources["text"] and sources["path"] == BATCH


def test_a_quiz_answered_by_card_presses_is_graded_and_recorded(robots, stream_fake):
    robot = robots(dingtalk={"card_template_id": TEMPLATE})
    intro, *questions = ask(stream_fake, ALICE, "/quiz 正当防卫", count=6)
    assert intro["text"].endswith("选择后即给出解析和出处。")
    cards = [q for q in questions if q["kind"] == "card"]
    assert len(cards) >= 2 and all(q["kind"] == "text" and "（多选）" in q["text"] for q in questions if q not in cards)
    for card in cards:  # the stem and options in the body, one button per letter; no answer shown
        letters = [b["text"] for b in card["buttons"]]
        assert letters == list("ABCD"[:len(letters)]) and all(f"{ch}. " in card["text"] for ch in letters)
    first, second = cards[:2]
    ref = parse_answer_action(first["buttons"][0]["action"])[0]
    right = press(stream_fake, first, answer_of(robot, ALICE, ref), user=ALICE)[0]["text"]
    assert right.startswith("回答正确") and "出处：" in right
    shown = stream_fake.shown[first["track"]]  # the press's ACK updated the card: the letters went, the choice shows
    assert json.loads(shown["buttons"]) == [] and shown["markdown"].endswith(f"**已作答：{answer_of(robot, ALICE, ref)}**")
    assert shown["markdown"].startswith(first["text"]) and stream_fake.violations == []
    ref = parse_answer_action(second["buttons"][0]["action"])[0]
    wrong = next(b["text"] for b in second["buttons"] if b["text"] not in answer_of(robot, ALICE, ref))
    assert press(stream_fake, second, wrong, user=ALICE)[0]["text"].startswith("回答错误")
    since = stream_fake.mark()
    again = stream_fake.press(first["track"], first["buttons"][0]["action"], user=ALICE, stale=True)  # an old view
    assert stream_fake.ack(again)["code"] == 200  # counts once
    ask(stream_fake, ALICE, "/help", lambda m: m["text"] == texts.HELP)  # one chat's deliveries in turn
    assert [m["text"] for m in stream_fake.outbox(ALICE, since=since)] == [texts.HELP]
    assert ask(stream_fake, ALICE, "/progress")[0]["text"].startswith("已答 2 题，答对 1 题")
    assert robot.assistant.quizzes.progress(principal=robot.principal(ALICE))["attempts"] == 2


def test_a_card_in_a_group_is_answered_by_whoever_it_was_for(robots, stream_fake):
    robot = robots(dingtalk={"card_template_id": TEMPLATE})
    group = "cidGroupCards01=="
    _, *questions = ask(stream_fake, ALICE, "/quiz 正当防卫", group=group, count=6)
    card = next(q for q in questions if q["kind"] == "card")
    assert stream_fake.cards[card["track"]]["openSpaceId"] == f"dtv1.card//IM_GROUP.{group}"
    ref = parse_answer_action(card["buttons"][0]["action"])[0]
    right = answer_of(robot, ALICE, ref)
    since = stream_fake.mark()
    stream_fake.ack(stream_fake.press(card["track"], card["buttons"]["ABCD".index(right)]["action"], user=CAROL))
    ask(stream_fake, CAROL, "/help", lambda m: m["text"] == texts.HELP, group=group)
    assert [m["text"] for m in stream_fake.outbox(group, since=since)] == [texts.HELP]  # not Carol's question
    assert press(stream_fake, card, right, user=ALICE, chat=group)[0]["text"].startswith("回答正确")
    assert robot.store.delivered(ref).answered and robot.store.delivered(ref).chat_id == group
    assert robot.assistant.quizzes.progress(principal=robot.principal(CAROL))["attempts"] == 0
    assert stream_fake.shown[card["track"]] == stream_fake.cards[card["track"]]["cardData"]["cardParamMap"]  # as sent
