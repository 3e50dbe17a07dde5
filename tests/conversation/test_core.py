"""The conversation core on its own: the real Assistant (Chroma, SQLite, the demo corpus and one
restricted case per department) driven by channel-neutral deliveries, as any messenger adapter
drives it."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from itertools import count

import pytest

from assistant.config import load_settings
from assistant.conversation import texts
from assistant.conversation.core import Conversations
from assistant.conversation.messages import Incoming, Progress, Reply, parse_answer_action
from assistant.conversation.store import ConversationStore
from assistant.index.embedders import HashEmbedder
from assistant.learners import now
from assistant.models import Principal
from assistant.service import build_assistant
from tests.conftest import CORPUS, marker, write_restricted_cases

_ids = count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("conversation")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    write_restricted_cases(corpus)
    settings = load_settings(data_dir=root / "data", embedder={"name": "hash-64"}, answer={"min_support": 0.2})
    assistant = build_assistant(settings, embedder=HashEmbedder(64))
    assistant.ingest([corpus])
    store = ConversationStore(assistant.docstore.engine)
    store.allow("wecom", "crim", role="learner", departments=("刑事检察部",), user="crim")
    store.allow("wecom", "civil", role="learner", departments=("民事检察部",), user="civil")
    return Conversations(assistant, store)


def say(conversations: Conversations, user: str, text: str = "", *, action: str = "", group: bool = False,
        mentioned: bool = False, delivery: str | None = None, channel: str = "wecom") -> list:
    incoming = Incoming(channel=channel, delivery_id=delivery or f"d{next(_ids)}", user_id=user,
                        chat_id="g1" if group else user, text=text, action=action, group=group, mentioned=mentioned)

    async def run():
        return [event async for event in conversations.handle(incoming)]

    return asyncio.run(run())


def replies(events: list) -> list[Reply]:
    return [e for e in events if isinstance(e, Reply)]


def text_of(events: list) -> str:
    return "\n".join(r.text + "".join(r.choice.stem + "".join(r.choice.options) for _ in [0] if r.choice)
                     for r in replies(events))


def test_a_stranger_is_refused_before_anything_is_searched(world):
    before = world.assistant.search
    calls = []
    world.assistant.search = lambda *a, **k: calls.append(1) or before(*a, **k)
    try:
        assert [r.text for r in replies(say(world, "stranger", "正当防卫的限度怎么认定"))] == [texts.NOT_ADMITTED]
        assert [r.text for r in replies(say(world, "stranger", "/quiz 正当防卫"))] == [texts.NOT_ADMITTED]
    finally:
        world.assistant.search = before
    assert calls == []


def test_pairing_admits_once_in_its_channel(world):
    code = world.store.make_pairing(role="learner", departments=("民事检察部",), hours=1, channel="dingtalk")
    assert replies(say(world, "newbie", f"配对 {code}", channel="wecom"))[0].text == texts.BAD_CODE
    assert replies(say(world, "newbie", f"/start {code}", channel="dingtalk"))[0].text == texts.PAIRED
    assert world.store.member("dingtalk", "newbie").principal.departments == ("民事检察部",)
    assert replies(say(world, "other", f"/start {code}", channel="dingtalk"))[0].text == texts.BAD_CODE


def test_an_answer_has_its_sources_behind_a_button_filtered_by_department(world):
    events = say(world, "crim", "正当防卫审查逮捕 内部口径 防卫限度")
    assert isinstance(events[0], Progress)
    answer = replies(events)[-1]
    assert "[1]" in answer.text and answer.buttons[0].label == "来源"
    sources = replies(say(world, "crim", action=answer.buttons[0].action))[0].text
    assert sources.startswith("原文出处") and marker("民事检察部") not in sources
    other = text_of(say(world, "civil", "正当防卫审查逮捕 内部口径 防卫限度"))
    assert marker("刑事检察部") not in other
    # a sources button is tied to its chat: another member pressing it sees nothing of it
    assert replies(say(world, "civil", action=answer.buttons[0].action))[0].text == texts.SOURCES_GONE


def test_a_delivery_seen_before_is_handled_once(world):
    assert replies(say(world, "crim", "/help", delivery="same-1"))
    assert say(world, "crim", "/help", delivery="same-1") == []


def test_in_a_group_only_a_mention_is_answered_and_filtered_by_the_asker(world):
    assert say(world, "crim", "正当防卫的限度怎么认定", group=True) == []
    answered = text_of(say(world, "civil", "正当防卫审查逮捕 内部口径", group=True, mentioned=True))
    assert answered and marker("刑事检察部") not in answered


def test_a_quiz_is_delivered_as_choices_graded_by_button_or_by_letters(world):
    events = say(world, "crim", "/quiz 正当防卫")
    choices = [r.choice for r in replies(events) if r.choice]
    assert len(choices) == 5 and all(c.options and c.answer for c in choices)
    first, second = choices[:2]
    right = replies(say(world, "crim", action=first.action(first.answer[0]) if not first.multiple
                        else f"ans:{first.ref}:{''.join('ABCDEF'[i] for i in first.answer)}"))
    assert right[0].text.startswith("回答正确") and "出处：" in right[0].text
    assert say(world, "crim", action=first.action(first.answer[0])) == []  # a second answer counts once
    assert say(world, "civil", action=second.action(0)) == []  # not theirs to answer
    wrong = next(i for i in range(len(second.options)) if i not in second.answer)
    typed = replies(say(world, "crim", "ABCDEF"[wrong]))  # the oldest open question of this chat
    assert typed[0].text.startswith("回答错误")
    progress = replies(say(world, "crim", "/progress"))[0].text
    assert progress.startswith("已答 2 题，答对 1 题")
    assert parse_answer_action(first.action(0)) == (first.ref, "A")


def test_restricted_quizzes_and_reviews_stay_in_their_department(world):
    crim = Principal(user="crim", role="learner", departments=("刑事检察部",))
    quiz = world.assistant.quizzes.make(principal=crim, case="刑事检察部内部口径", n=3)
    for q in quiz.questions:  # answered wrongly two days ago: due now
        world.assistant.learners.record(learner=crim.learner, departments=crim.departments, question=q,
                                        chosen=[99], quiz_id=quiz.id, at=now() - timedelta(days=2))
    review = say(world, "crim", "/review")
    assert any(r.choice for r in replies(review))
    assert replies(say(world, "civil", "/review"))[0].text == texts.NO_REVIEWS
    leaked = text_of(say(world, "civil", "/quiz 内部口径 持刀追砍 防卫限度"))
    assert marker("刑事检察部") not in leaked


def test_line_choice_and_a_fresh_start(world):
    buttons = replies(say(world, "crim", "/line"))[0].buttons
    assert {b.label for b in buttons} >= {"刑事检察", "全部"}
    chosen = replies(say(world, "crim", action=next(b.action for b in buttons if b.label == "民事检察")))
    assert chosen[0].text.startswith("已设置：民事检察")
    assert world.store.member("wecom", "crim").line == "civil"
    assert replies(say(world, "crim", "/line 全部"))[0].text == "已设置：全部条线。"
    say(world, "crim", "正当防卫的限度怎么认定")
    assert world.store.history("wecom", "crim")
    assert replies(say(world, "crim", "/new"))[0].text == texts.NEW
    assert world.store.history("wecom", "crim") == []


def test_nudges_remind_once_per_period_those_with_reviews_due(world):
    civil = Principal(user="civil", role="learner", departments=("民事检察部",))
    quiz = world.assistant.quizzes.make(principal=civil, case="民事检察部内部口径", n=1)
    world.assistant.learners.record(learner=civil.learner, departments=civil.departments,
                                    question=quiz.questions[0], chosen=[99], at=now() - timedelta(days=2))
    pushes = world.nudges("wecom", every_hours=24)
    assert {p.user_id for p in pushes} >= {"civil"} and all("复习" in p.reply.text for p in pushes)
    assert world.nudges("wecom", every_hours=24) == []


def test_an_extension_adds_commands_actions_answer_buttons_and_pushes(world):
    from assistant.conversation.core import Context, Extension
    from assistant.conversation.messages import Button, Push

    seen = []

    async def hello(ctx: Context, rest: str):
        seen.append((ctx.member.principal.user, rest))
        yield Reply(f"你好，{ctx.member.principal.user}：{rest}")

    async def rate(ctx: Context, rest: str):
        yield Reply(f"已记录：{rest}")

    async def buttons(ctx: Context, answer):
        return [Button("赞", "fb:up:" + str(len(answer.citations)))]

    extension = Extension(commands={"/hello": hello}, actions={"fb:": rate}, answer_buttons=buttons,
                          pushes=lambda channel: [Push(channel, "crim", "crim", Reply("提醒"))], help="/hello — 打招呼")
    extended = Conversations(world.assistant, world.store, extensions=[extension])
    assert replies(say(extended, "crim", "/hello 世界"))[0].text == "你好，crim：世界" and seen == [("crim", "世界")]
    answer = replies(say(extended, "crim", "正当防卫的限度怎么认定"))[-1]
    assert [b.label for b in answer.buttons] == ["来源", "赞"]
    assert replies(say(extended, "crim", action=answer.buttons[1].action))[0].text.startswith("已记录：up:")
    assert "/hello — 打招呼" in replies(say(extended, "crim", "/help"))[0].text
    assert say(extended, "stranger", "/hello") and not seen[1:]  # strangers never reach an extension
    assert [p.reply.text for p in extended.pushes("wecom", nudge_hours=0)] == ["提醒"]


def test_a_members_directory_departments_decide_also_what_is_sent_on_their_behalf(world):
    store = world.store
    store.allow("dingtalk", "moved", role="learner", departments=("民事检察部",), user="moved")
    store.map_department("dingtalk", "42", "刑事检察部")
    assert store.member("dingtalk", "moved").principal.departments == ("民事检察部",)
    assert store.member("dingtalk", "moved", platform_departments=("42",)).principal.departments == ("刑事检察部",)
    # a reminder has no delivery to read the directory from: the departments last reported count
    assert store.member("dingtalk", "moved").principal.departments == ("刑事检察部",)
    assert [m.principal.departments for m in store.to_nudge("dingtalk", timedelta(hours=1))
            if m.platform_id == "moved"] == [("刑事检察部",)]
