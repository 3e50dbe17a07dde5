"""The robot end to end: `jianxue bot dingtalk`'s runner with the real conversation core (demo corpus,
one restricted case per department, hash embedder), the official SDK on the fake's Stream
gateway and WebSocket, replies through the fake's session webhooks and robot APIs. No card
template here: quiz questions come as lettered text and are answered by typing the letters
(tests/dingtalk/test_cards.py has the template)."""

from __future__ import annotations

import time
from urllib.parse import unquote

import pytest

from assistant.conversation import texts
from assistant.conversation.core import Context, Extension
from assistant.conversation.messages import Button, Push, Reply
from assistant.errors import ConfigError
from assistant.index.embedders import HashEmbedder
from assistant.models import Principal
from assistant.service import Assistant, build_assistant
from bots.dingtalk.render import LINK
from tests.conftest import marker
from tests.dingtalk.conftest import ALICE, BOB, CAROL, CHANNEL, MALLORY, CountingAssistant, Robot, ask, due_again
from tests.fakes.dingtalk_wire import ROBOT_TOPIC, api_error, robot_message_data
from tests.http.conftest import free_port
from tests.test_cli import jianxue

pytestmark = pytest.mark.slow

CRIM, CIVIL = marker("刑事检察部"), marker("民事检察部")
RESTRICTED = "正当防卫审查逮捕 内部口径 防卫限度"  # each department's restricted case answers it
GATEWAY, TOKEN, OAPI_TOKEN = "/v1.0/gateway/connections/open", "/v1.0/oauth2/accessToken", "/gettoken"
WEBHOOK, BATCH = "/robot/sendBySession", "/v1.0/robot/oToMessages/batchSend"


def texts_to(fake, chat: str, since: int) -> str:
    return "\n".join(m["text"] for m in fake.outbox(chat, since=since))


def link_action(message: dict) -> str:
    """The action a markdown link sends when pressed (DingTalk sends '#<action>' as the member's message)."""
    assert message["kind"] == "markdown" and LINK in message["text"]
    return unquote(message["text"].split(LINK, 1)[1].split(")", 1)[0])


def answer_of(robot: Robot, user: str, ref_or_pending) -> str:
    """The letters that answer a delivered question right."""
    delivered = robot.store.delivered(ref_or_pending) if isinstance(ref_or_pending, str) else ref_or_pending
    question = robot.assistant.quizzes.question(delivered.question_id, principal=robot.principal(user))
    return "".join("ABCDEFGHIJKL"[i] for i in question.answer)


# -- the connection --------------------------------------------------------------------------------


def test_the_robot_opens_the_stream_with_the_apps_credentials(robots, stream_fake):
    since = stream_fake.mark()
    robots()
    body = stream_fake.sent(GATEWAY, since)[-1]["body"]
    assert (body["clientId"], body["clientSecret"]) == (stream_fake.client_id, stream_fake.client_secret)
    assert {s["topic"] for s in body["subscriptions"]} == {"/v1.0/im/bot/messages/get", "/v1.0/card/instances/callback"}


def test_credentials_dingtalk_refuses_stop_the_robot_with_a_clear_error(robot_settings, stream_fake):
    opened = stream_fake.connections_opened
    robot = Robot(robot_settings(dingtalk={"client_secret": "not-the-secret"}), stream_fake)
    robot.running.thread.start()
    robot.running.thread.join(60)
    assert isinstance(robot.running.error, ConfigError)
    assert "JIANXUE_DINGTALK__CLIENT_ID / __CLIENT_SECRET" in str(robot.running.error)
    assert "not-the-secret" not in str(robot.running.error) and stream_fake.connections_opened == opened


def test_a_delivery_for_another_robot_is_refused_and_nothing_is_searched(robots, stream_fake):
    robots()
    before, since = CountingAssistant.asked, stream_fake.mark()
    foreign = robot_message_data(ALICE, "正当防卫的限度怎么认定", robot_code="dingotherrobot", corp_id=stream_fake.corp_id)
    assert stream_fake.ack(stream_fake.deliver(ROBOT_TOPIC, foreign))["code"] == 400
    ask(stream_fake, ALICE, "/help", lambda m: m["text"] == texts.HELP)  # everything before it is done
    assert CountingAssistant.asked == before and texts_to(stream_fake, ALICE, since) == texts.HELP


# -- admission and answers ---------------------------------------------------------------------------


def test_a_stranger_is_refused_before_any_retrieval(robots, stream_fake):
    robots()
    before = CountingAssistant.asked
    assert ask(stream_fake, MALLORY, "正当防卫的限度怎么认定")[0]["text"] == texts.NOT_ADMITTED
    assert ask(stream_fake, MALLORY, "/quiz 正当防卫")[0]["text"] == texts.NOT_ADMITTED
    assert CountingAssistant.asked == before


def test_an_answer_with_citation_labels_and_its_sources_behind_a_link(robots, stream_fake):
    robots()
    text, link = ask(stream_fake, ALICE, "正当防卫的限度怎么认定", count=2)
    assert text["kind"] == "text" and "[1]" in text["text"] and "来源：[1] " in text["text"]
    action = link_action(link)
    assert action.startswith("#src:")
    sources = ask(stream_fake, ALICE, action)[0]["text"]  # what pressing the link sends
    assert sources.startswith("原文出处") and "[1] " in sources and "“" in sources
    follow = ask(stream_fake, ALICE, "那防卫过当呢？")[0]["text"]
    assert "[1]" in follow or "资料中" in follow
    ask(stream_fake, ALICE, "/new", lambda m: m["text"] == texts.NEW)


def test_a_delivery_made_twice_is_answered_once(robots, stream_fake):
    robots()
    since = stream_fake.mark()
    for _ in range(2):  # DingTalk pushes a message again when its ACK went astray: same msgId, new frame
        stream_fake.message(ALICE, "认罪认罚案件量刑建议怎么提", msg_id="msgRepeated0001==")
    ask(stream_fake, ALICE, "/help", lambda m: m["text"] == texts.HELP)  # one chat's deliveries are handled in turn
    answers = [m for m in stream_fake.outbox(ALICE, since=since) if "来源：[1]" in m["text"]]
    assert len(answers) == 1


def test_a_reply_longer_than_the_limit_is_split_at_sentence_ends(robots, stream_fake):
    robots(dingtalk={"text_limit": 100})
    since = stream_fake.mark()
    stream_fake.message(ALICE, "附条件不起诉的条件是什么")
    stream_fake.wait_outbox(ALICE, lambda m: m["kind"] == "markdown", since=since)  # the 来源 link comes last
    pieces = [m["text"] for m in stream_fake.outbox(ALICE, since=since) if m["kind"] == "text"]
    assert len(pieces) >= 2 and all(len(p) <= 100 for p in pieces)
    assert not any(p.lstrip().startswith("[") for p in pieces)  # a label stays with its sentence
    whole = "".join(pieces)
    assert whole.count("[1]") == 2 and whole.count("来源：[1]") == 1  # after its sentence, and in the list


def test_a_group_message_is_answered_only_when_mentioned_and_by_the_askers_departments(robots, stream_fake):
    robots()
    group, since = "cidGroupStudy01==", stream_fake.mark()
    stream_fake.message(ALICE, "正当防卫的限度怎么认定", group=group, mentioned=False)
    ask(stream_fake, ALICE, "/help", lambda m: m["text"] == texts.HELP, group=group)
    assert texts_to(stream_fake, group, since) == texts.HELP  # the unmentioned one got nothing
    carol = ask(stream_fake, CAROL, RESTRICTED, group=group, count=2)[0]["text"]  # the answer, its 来源 link
    alice = ask(stream_fake, ALICE, RESTRICTED, group=group, count=2)[0]["text"]
    assert CIVIL in carol and CRIM not in carol
    assert CRIM in alice and CIVIL not in alice


def test_platform_departments_mapped_with_map_dept_decide_what_a_member_reads(robots, stream_fake):
    robot = robots()
    stream_fake.directory["staff07"] = [4242, 1]
    robot.store.allow(CHANNEL, "staff07", role="learner", departments=("民事检察部",), user="dora")
    before = ask(stream_fake, "staff07", RESTRICTED, count=2)[0]["text"]
    assert CIVIL in before and CRIM not in before  # her own departments while 4242 is mapped to nothing
    jianxue("bot", "map-dept", "--channel", "dingtalk", "4242", "刑事检察部", data_dir=robot.settings.data_dir)
    after = ask(stream_fake, "staff07", RESTRICTED, count=2)[0]["text"]
    assert CRIM in after and CIVIL not in after  # the directory's department now decides


# -- quizzes by typed letters ------------------------------------------------------------------------


def test_a_quiz_answered_by_typing_the_letters_is_recorded(robots, stream_fake):
    robot = robots()
    intro, *questions = ask(stream_fake, ALICE, "/quiz 正当防卫", count=6)
    assert intro["text"].endswith("选择后即给出解析和出处。")
    assert all(q["kind"] == "text" and "\nA. " in q["text"] and "回复选项字母作答" in q["text"] for q in questions)
    pending = robot.store.pending(CHANNEL, ALICE, ALICE)
    right = ask(stream_fake, ALICE, answer_of(robot, ALICE, pending))[0]["text"]
    assert right.startswith("回答正确") and "出处：" in right
    second = robot.store.pending(CHANNEL, ALICE, ALICE)
    wrong = next(ch for ch in "ABCD" if ch not in answer_of(robot, ALICE, second))
    assert ask(stream_fake, ALICE, wrong.lower())[0]["text"].startswith("回答错误")
    assert ask(stream_fake, ALICE, "/progress")[0]["text"].startswith("已答 2 题，答对 1 题")
    assert robot.assistant.quizzes.progress(principal=robot.principal(ALICE))["attempts"] == 2


# -- operations ---------------------------------------------------------------------------------------


def test_state_survives_a_restart(robots, stream_fake):
    first = robots()
    code = first.store.make_pairing(role="learner", departments=("刑事检察部",), hours=1, channel=CHANNEL)
    assert ask(stream_fake, "staff09", f"配对 {code}")[0]["text"] == texts.PAIRED
    ask(stream_fake, "staff09", "正当防卫的限度怎么认定", count=2)
    ask(stream_fake, "staff09", "/quiz 正当防卫", count=6)
    first.stop()
    second = robots()
    pending = second.store.pending(CHANNEL, "staff09", "staff09")
    assert ask(stream_fake, "staff09", answer_of(second, "staff09", pending))[0]["text"].startswith("回答正确")
    ask(stream_fake, "staff09", "那防卫过当呢？")
    turns = second.store.history(CHANNEL, "staff09")
    assert len(turns) == 2 and "防卫过当" in turns[1].query and turns[1].query != turns[1].question


def test_an_expired_access_token_is_fetched_again(robots, stream_fake):
    robots(dingtalk={"directory_cache_s": 0})  # the directory read for each message, with the older API's token
    ask(stream_fake, ALICE, "/help")
    stream_fake.expire_tokens()
    since = stream_fake.mark()
    # the session webhook gone: both replies of the answer take the robot API, whose token is stale
    stream_fake.fail(WEBHOOK, 200, {"errcode": 300001, "errmsg": "session 不存在"}, times=2)
    text, link = ask(stream_fake, ALICE, "正当防卫的限度怎么认定", count=2)
    assert "[1]" in text["text"] and text["path"] == link["path"] == BATCH
    assert len(stream_fake.sent(TOKEN, since)) == 1 and len(stream_fake.sent(OAPI_TOKEN, since)) == 1
    rejected = [c for c in stream_fake.sent(BATCH, since) if not c["ok"]]
    assert len(rejected) == 1  # the stale token, once; then a fresh one for both


def test_a_dead_model_server_gives_the_extractive_answer(robots, stream_fake):
    robots(llm={"provider": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "m", "timeout_s": 2})
    text = ask(stream_fake, ALICE, "正当防卫的限度怎么认定", timeout=60)[0]["text"]
    assert "[1]" in text and "（" in text  # the fallback notice


class BrokenAssistant(Assistant):
    def search(self, *args, **kwargs):
        raise RuntimeError("Traceback (most recent call last): the index is on fire")


def test_an_unexpected_failure_gets_one_polite_message(robots, stream_fake):
    robots(factory=lambda s: BrokenAssistant(s, embedder=HashEmbedder(64)))
    since = stream_fake.mark()
    assert ask(stream_fake, ALICE, "正当防卫的限度怎么认定")[0]["text"] == texts.FAILED
    ask(stream_fake, ALICE, "/help", lambda m: m["text"] == texts.HELP)
    assert "Traceback" not in texts_to(stream_fake, ALICE, since)


def test_members_with_due_reviews_are_reminded_on_schedule(robots, robot_settings, stream_fake):
    assistant = build_assistant(robot_settings(), embedder=HashEmbedder(64))
    bob = Principal(user="bob", role="trainer", departments=("刑事检察部",))
    quiz = assistant.quizzes.make(principal=bob, topic="认罪认罚", n=2)
    due_again(assistant, bob, quiz.questions)
    since = stream_fake.mark()
    robots(dingtalk={"nudge_hours": 0.002})  # looked for every 1.8 s, each member reminded at most every 7.2 s
    (reminder,) = stream_fake.wait_outbox(BOB, since=since)
    assert reminder["text"] == texts.nudge(len(quiz.questions)) and reminder["path"] == BATCH
    time.sleep(3)  # two more rounds: nothing new, and nothing for members with nothing due
    assert len(stream_fake.outbox(BOB, since=since)) == 1
    assert not stream_fake.outbox(ALICE, since=since) and not stream_fake.outbox(CAROL, since=since)
    assert ask(stream_fake, BOB, "/review", count=1 + len(quiz.questions))[0]["text"].startswith("到期复习")


def test_a_reply_that_cannot_be_sent_is_logged_not_shown(robots, stream_fake, caplog):
    robots(dingtalk={"max_retries": 0})
    stream_fake.fail(WEBHOOK, 200, {"errcode": 300001, "errmsg": "session 不存在"}, times=1)
    stream_fake.fail(BATCH, 400, api_error("Forbidden.AccessDenied", "robot 无权限 SECRET-DETAIL"), times=1)
    since = stream_fake.mark()
    stream_fake.message(ALICE, "/help")
    ask(stream_fake, ALICE, "/new", lambda m: m["text"] == texts.NEW)  # the robot goes on
    assert "SECRET-DETAIL" not in texts_to(stream_fake, ALICE, since) and texts.HELP not in texts_to(
        stream_fake, ALICE, since)
    assert any("not sent" in r.getMessage() for r in caplog.records)


def test_an_extensions_commands_actions_and_pushes_reach_dingtalk(robots, stream_fake):
    async def hello(context: Context, rest: str):
        yield Reply(f"你好，{context.member.principal.user}{rest}", buttons=(Button("好评", "fb:up"),))

    async def rate(context: Context, rest: str):
        yield Reply(f"已记录：{rest}")

    pushed = [Push(CHANNEL, ALICE, ALICE, Reply("专家已回答您的问题。"), key="expert-answer")]
    extension = Extension(commands={"/hello": hello}, actions={"fb:": rate}, help="/hello — 打招呼",
                          pushes=lambda channel: pushed if channel == CHANNEL else [])
    robot = robots(extensions=[extension])  # reminders off: the pushes are the extension's
    assert "/hello — 打招呼" in ask(stream_fake, ALICE, "/help")[0]["text"]
    greeting, link = ask(stream_fake, ALICE, "/hello 检察官", count=2)
    assert greeting["text"] == "你好，alice检察官" and "fb%3Aup" in link["text"]
    assert ask(stream_fake, ALICE, link_action(link))[0]["text"] == "已记录：up"
    since = stream_fake.mark()
    assert robot.running.call(robot.runner.push()) == 1
    assert stream_fake.outbox(ALICE, since=since)[0] == {"kind": "text", "text": "专家已回答您的问题。", "path": BATCH}
