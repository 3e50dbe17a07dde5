"""Another department's restricted case and quiz never reach a DingTalk member: not in an answer,
behind a 来源 link or card, in /quiz, in /review, nor by pressing a quiz card meant for someone else —
the real robot and core against the fake, with one restricted case per department."""

from __future__ import annotations

import pytest

from assistant.conversation import texts
from assistant.conversation.messages import parse_answer_action
from tests.conftest import marker
from tests.dingtalk.conftest import ALICE, CAROL, TEMPLATE, ask, due_again
from tests.dingtalk.test_bot import RESTRICTED, link_action

pytestmark = pytest.mark.slow
CRIM, CIVIL = marker("刑事检察部"), marker("民事检察部")


def everything_to(fake, chat: str, since: int) -> str:
    return "\n".join(m["text"] + "".join(b["text"] for b in m.get("buttons", ()))
                     for m in fake.outbox(chat, since=since))


def test_answers_and_sources_keep_to_the_members_departments(robots, stream_fake):
    robots()
    since = stream_fake.mark()
    alice_text, alice_link = ask(stream_fake, ALICE, RESTRICTED, count=2)
    carol_text, carol_link = ask(stream_fake, CAROL, RESTRICTED, count=2)
    assert CRIM in alice_text["text"] and CIVIL in carol_text["text"]  # each sees their own
    assert ask(stream_fake, CAROL, link_action(carol_link))[0]["text"].startswith("原文出处")
    # Alice's 来源 link, sent by Carol in her own chat, names nothing of Alice's answer
    assert ask(stream_fake, CAROL, link_action(alice_link))[0]["text"] == texts.SOURCES_GONE
    assert CRIM not in everything_to(stream_fake, CAROL, since)
    assert CIVIL not in everything_to(stream_fake, ALICE, since)


def test_quizzes_reviews_and_cards_keep_to_the_members_departments(robots, stream_fake):
    robot = robots(dingtalk={"card_template_id": TEMPLATE})
    assistant = robot.assistant
    alice, carol = robot.principal(ALICE), robot.principal(CAROL)
    restricted = assistant.quizzes.make(principal=alice, case="刑事检察部内部口径", n=3)
    assert any(CRIM in q.stem + "".join(q.options) + q.explanation for q in restricted.questions)
    due_again(assistant, carol, restricted.questions)  # in Carol's reviews (say, from before she moved departments)
    since = stream_fake.mark()
    assert ask(stream_fake, CAROL, "/review")[0]["text"] == texts.NO_REVIEWS
    ask(stream_fake, CAROL, "/quiz 正当防卫 内部口径 持刀追砍", count=6)
    _, *questions = ask(stream_fake, ALICE, "/quiz 正当防卫 内部口径 持刀追砍", count=6)
    assert CRIM in everything_to(stream_fake, ALICE, since)  # Alice's quiz draws on her restricted case
    card = next(q for q in questions if q["kind"] == "card")
    pressed = stream_fake.mark()
    for button in card["buttons"]:  # Carol presses every button of Alice's card
        stream_fake.ack(stream_fake.press(card["track"], button["action"], user=CAROL))
    ask(stream_fake, CAROL, "/help", lambda m: m["text"] == texts.HELP)
    assert [m["text"] for m in stream_fake.outbox(CAROL, since=pressed)] == [texts.HELP]
    assert stream_fake.shown[card["track"]] == stream_fake.cards[card["track"]]["cardData"]["cardParamMap"]  # as sent
    assert assistant.quizzes.progress(principal=carol)["attempts"] == len(restricted.questions)  # the seeded ones only
    assert assistant.quizzes.progress(principal=alice)["attempts"] == 0
    assert not robot.store.delivered(parse_answer_action(card["buttons"][0]["action"])[0]).answered
    assert CRIM not in everything_to(stream_fake, CAROL, since)
