"""Another department's restricted case and quiz never reach a Telegram member: not in an
answer, behind a 来源 button, in /quiz, in /review, nor by answering a poll meant for someone
else — the real bot against the fake Bot API, with one restricted case per department."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from assistant.conversation import texts
from assistant.index.embedders import HashEmbedder
from assistant.learners import now
from assistant.models import Principal
from assistant.service import build_assistant
from tests.conftest import CORPUS, marker, write_restricted_cases
from tests.telegram.conftest import ALICE, RunningBot, TelegramState, settings_for
from tests.telegram.test_bot import as_message, eventually, reply_to

pytestmark = pytest.mark.slow
CAROL = 1003  # a learner of 民事检察部; ALICE is of 刑事检察部
CRIM, CIVIL = marker("刑事检察部"), marker("民事检察部")


@pytest.fixture
def doors(fake, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / "cases", corpus)
    write_restricted_cases(corpus)
    settings = settings_for(tmp_path / "data", fake)
    assistant = build_assistant(settings, embedder=HashEmbedder(64))
    assistant.ingest([corpus])
    state = TelegramState(assistant.docstore.engine)
    state.allow(ALICE, role="learner", departments=("刑事检察部",), user="alice")
    state.allow(CAROL, role="learner", departments=("民事检察部",), user="carol")
    running = RunningBot(settings, lambda s: build_assistant(s, embedder=HashEmbedder(64))).start(fake)
    yield assistant, state
    running.stop()


def texts_to(fake, user: int, since: int) -> str:
    sent = [p["text"] for p in fake.sent("sendMessage", since) if int(p["chat_id"]) == user]
    sent += [p["question"] + "".join(o["text"] for o in p["options"]) + p.get("explanation", "")
             for p in fake.sent("sendPoll", since) if int(p["chat_id"]) == user]
    return "\n".join(sent)


def test_answers_and_sources_keep_to_the_members_departments(doors, fake):
    since = fake.mark()
    alice = reply_to(fake, ALICE, "正当防卫审查逮捕 内部口径 防卫限度", predicate=lambda p: "reply_markup" in p)
    carol = reply_to(fake, CAROL, "正当防卫审查逮捕 内部口径 防卫限度", predicate=lambda p: "reply_markup" in p)
    button = carol["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    pressed = fake.mark()
    fake.press(CAROL, as_message(carol, carol["sent_id"]), button)
    fake.wait_for("sendMessage", lambda p: p["text"].startswith("原文出处") and int(p["chat_id"]) == CAROL,
                  since=pressed)
    # Alice's 来源 button, pressed by Carol in her own chat, names nothing of Alice's answer
    stolen = alice["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.press(CAROL, as_message(carol, carol["sent_id"]), stolen)
    fake.wait_for("sendMessage", lambda p: p["text"] == texts.SOURCES_GONE and int(p["chat_id"]) == CAROL,
                  since=pressed)
    assert CRIM not in texts_to(fake, CAROL, since)
    assert CIVIL not in texts_to(fake, ALICE, since)


def test_quizzes_reviews_and_polls_keep_to_the_members_departments(doors, fake):
    assistant, state = doors
    alice = Principal(user="alice", role="learner", departments=("刑事检察部",))
    carol = Principal(user="carol", role="learner", departments=("民事检察部",))
    restricted = assistant.quizzes.make(principal=alice, case="刑事检察部内部口径", n=3)
    assert any(CRIM in q.stem + "".join(q.options) + q.explanation for q in restricted.questions)
    for q in restricted.questions:  # in Carol's review schedule (say, from before she moved departments)
        assistant.learners.record(learner=carol.learner, departments=carol.departments, question=q, chosen=[99],
                                  at=now() - timedelta(days=2))
    since = fake.mark()
    assert reply_to(fake, CAROL, "/review")["text"] == texts.NO_REVIEWS
    fake.message(CAROL, "/quiz 正当防卫 内部口径 持刀追砍")
    fake.wait_for("sendPoll", lambda p: int(p["chat_id"]) == CAROL, since=since, count=5)
    # a poll of Alice's, answered by Carol: nothing is graded or recorded for either
    fake.message(ALICE, "/quiz 正当防卫 内部口径 持刀追砍")
    polls = fake.wait_for("sendPoll", lambda p: int(p["chat_id"]) == ALICE, since=since, count=5)
    assert eventually(lambda: state.by_platform_ref("telegram", polls[0]["poll_id"]))
    before = assistant.quizzes.progress(principal=carol)["attempts"]
    fake.answer_poll(CAROL, polls[0]["poll_id"], polls[0]["correct_option_ids"])
    reply_to(fake, CAROL, "/help")  # everything before it has been handled
    assert assistant.quizzes.progress(principal=carol)["attempts"] == before
    assert assistant.quizzes.progress(principal=alice)["attempts"] == 0
    assert CRIM not in texts_to(fake, CAROL, since)
