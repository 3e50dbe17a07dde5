"""ws mode: lark-oapi's own long-connection client against the fake's endpoint and WebSocket of
protobuf frames, the bot behind it over a core that replies from a function."""

from __future__ import annotations

import time

import pytest

from assistant.config import load_settings
from assistant.conversation.messages import Choice, Reply
from assistant.errors import ConfigError
from bots.feishu.app import FeishuRunner
from tests.feishu.conftest import GROUP, LI, ZHANG, FunctionCore, RunningRunner
from tests.feishu.test_app import echo, text_of

pytestmark = pytest.mark.slow  # servers on 127.0.0.1, the SDK's client on a thread


def runner(fake, tmp_path, core: FunctionCore, **extra) -> RunningRunner:
    settings = load_settings(data_dir=tmp_path / "data", feishu=fake.settings(mode="ws", encrypt_key=None,
                                                                                verification_token=None, **extra))
    return RunningRunner(lambda: FeishuRunner(settings, core=core))


def test_events_arrive_on_the_long_connection_and_replies_go_through_the_api(fake, tmp_path):
    core = FunctionCore(echo)
    running = runner(fake, tmp_path, core).start(fake)
    try:
        answer = fake.push(fake.message(ZHANG, "你好"))
        assert answer["code"] == 200  # acknowledged at once, on the frame
        assert text_of(fake.wait_outbox(ZHANG)[0]) == "收到：你好"
        asked = fake.message(LI, "群里问", group=GROUP)
        fake.push(asked)
        [reply] = fake.wait_outbox(GROUP)
        assert text_of(reply) == "收到：群里问" and reply["reply_to"] == asked["event"]["message"]["message_id"]
        assert [i.platform_departments for i in core.seen] == [("d-2", "d-7"), ("d-3",)]
    finally:
        running.stop()
    assert fake.open_connections() == 0  # closed on the way out


def test_a_card_press_on_the_long_connection_is_answered_on_its_frame(fake, tmp_path):
    choice = Choice(ref="q1", number=1, total=1, stem="题干", options=("甲", "乙"), multiple=False)

    async def quiz(incoming):
        return [Reply("", choice=choice)] if incoming.text else [Reply(f"答案：{incoming.action}")]

    running = runner(fake, tmp_path, FunctionCore(quiz)).start(fake)
    try:
        fake.push(fake.message(ZHANG, "/quiz"))
        [card] = fake.wait_outbox(ZHANG)
        since = fake.mark()
        answer = fake.push(fake.press_event(ZHANG, card["message_id"], "B"))
        assert answer["code"] == 200 and answer["data"]["toast"]["type"] == "info"
        shown = fake.update_card(card["message_id"], answer["data"])  # answered on the frame, buttons gone
        assert shown["elements"][-1]["elements"][0]["content"] == "已作答：B" and fake.violations == []
        assert text_of(fake.wait_outbox(ZHANG, since=since)[0]) == f"答案：{choice.action(1)}"
    finally:
        running.stop()


def test_a_repeated_event_reaches_the_core_each_time_for_it_to_drop(fake, tmp_path):
    core = FunctionCore(echo)
    running = runner(fake, tmp_path, core).start(fake)
    try:
        event = fake.message(ZHANG, "一次")
        fake.push(event)
        fake.push(event)
        fake.wait_outbox(ZHANG)
        deadline = time.monotonic() + 30
        while len(core.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(core.seen) == 2  # not dropped on the way: de-duplicating is the core's store's work
        assert {i.delivery_id for i in core.seen} == {event["header"]["event_id"]}
    finally:
        running.stop()


def test_a_dropped_connection_is_opened_again_and_pings_are_sent(fake, tmp_path):
    fake.client_config = {**fake.client_config, "PingInterval": 1}
    running = runner(fake, tmp_path, FunctionCore(echo)).start(fake)
    try:
        fake.drop()
        fake.connected(count=2, timeout=30)  # the SDK's reconnect, with the fake's interval
        fake.push(fake.message(ZHANG, "又连上了"))
        assert text_of(fake.wait_outbox(ZHANG)[0]) == "收到：又连上了"
        deadline = time.monotonic() + 15  # one a second, on a machine that may be busy
        while fake.pings < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert fake.pings >= 2
    finally:
        running.stop()


def test_refused_credentials_stop_the_runner_with_that_said(fake, tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", feishu=fake.settings(mode="ws", app_secret="wrong"))
    running = RunningRunner(lambda: FeishuRunner(settings, core=FunctionCore(echo))).start(fake, connect=False)
    running.thread.join(timeout=30)
    assert isinstance(running.error, ConfigError) and "APP_SECRET" in str(running.error)
    assert fake.connections_opened == 0


def test_over_the_real_core_a_group_answer_is_filtered_by_the_askers_departments(fake, data_dir):
    from tests.conftest import marker
    from tests.feishu.conftest import admit, bot_settings, counting, store_for

    settings = bot_settings(data_dir, fake, feishu={"mode": "ws"})
    admit(store_for(settings))
    running = RunningRunner(lambda: FeishuRunner(settings, assistant_factory=counting)).start(fake)
    try:
        asked = fake.message(LI, "正当防卫审查逮捕 内部口径 防卫限度", group=GROUP)
        fake.push(asked)
        messages = fake.wait_outbox(GROUP, lambda m: m["msg_type"] == "interactive", timeout=60)
        shown = "\n".join(text_of(m) for m in fake.outbox(GROUP))
        assert marker("民事检察部") in shown and marker("刑事检察部") not in shown
        assert messages[0]["reply_to"] == asked["event"]["message"]["message_id"]
    finally:
        running.stop()
