"""The API client against the fake WeCom over HTTP: the token's life, retries, sending, the directory."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from assistant.conversation.messages import Reply
from bots.wecom.client import WecomAPIError, WecomClient
from tests.fakes.wecom_server import FakeWecom
from tests.wecom.conftest import LI, ZHANG, settings_for

pytestmark = pytest.mark.slow  # servers on 127.0.0.1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def run(coro):
    return asyncio.run(coro)


def client_for(fake: FakeWecom, **extra) -> tuple[WecomClient, Clock, Sleeps]:
    clock, sleeps = Clock(), Sleeps()
    return WecomClient(settings_for(fake, **extra), clock=clock, sleep=sleeps), clock, sleeps


def test_the_token_is_fetched_once_and_reused(fake):
    client, _, _ = client_for(fake)

    async def go():
        await client.send(ZHANG, {"msgtype": "text", "text": {"content": "一"}})
        await client.send(ZHANG, {"msgtype": "text", "text": {"content": "二"}})
        await client.aclose()

    run(go())
    assert len(fake.sent("gettoken")) == 1
    sent = fake.sent("message/send")
    assert [m["text"]["content"] for m in sent] == ["一", "二"]
    assert all(m["touser"] == ZHANG and m["agentid"] == fake.agent_id for m in sent)
    assert fake.sent("gettoken")[0] == {"corpid": fake.corp_id, "corpsecret": fake.secret}


def test_the_token_is_renewed_before_it_expires(fake):
    client, clock, _ = client_for(fake)

    async def go():
        await client.send(ZHANG, {"msgtype": "text", "text": {"content": "一"}})
        clock.now += 7200 - 301  # more than five minutes left: kept
        await client.send(ZHANG, {"msgtype": "text", "text": {"content": "二"}})
        fetched_before = len(fake.sent("gettoken"))
        clock.now += 2  # now within five minutes of expiry: renewed
        await client.send(ZHANG, {"msgtype": "text", "text": {"content": "三"}})
        await client.aclose()
        return fetched_before

    assert run(go()) == 1
    assert len(fake.sent("gettoken")) == 2 and len(fake.sent("message/send")) == 3


@pytest.mark.parametrize("expire", ["42001", "40014"])
def test_a_token_wecom_refuses_is_fetched_again_once_and_the_call_repeated(fake, expire):
    client, _, _ = client_for(fake)

    async def go():
        await client.send(ZHANG, {"msgtype": "text", "text": {"content": "一"}})
        if expire == "42001":
            fake.expire_tokens()  # WeCom ended the token early (another process fetched one, say)
        else:
            fake.tokens.clear()  # WeCom no longer knows it
        await client.send(ZHANG, {"msgtype": "text", "text": {"content": "二"}})
        await client.aclose()

    run(go())
    assert len(fake.sent("gettoken")) == 2
    assert [m["text"]["content"] for m in fake.sent("message/send")] == ["一", "二", "二"]


def test_a_token_refused_twice_is_an_error_not_a_loop(fake):
    client, _, _ = client_for(fake)
    fake.fail("message/send", errcode=42001, times=5)
    with pytest.raises(WecomAPIError) as failed:
        run(client.send(ZHANG, {"msgtype": "text", "text": {"content": "一"}}))
    assert failed.value.errcode == 42001 and len(fake.sent("message/send")) == 2 and len(fake.sent("gettoken")) == 2


@pytest.mark.parametrize("failure", [{"errcode": -1}, {"errcode": 45009}, {"status": 502}, {"status": 429}])
def test_a_passing_failure_is_retried_with_backoff(fake, failure):
    client, _, sleeps = client_for(fake)
    fake.fail("message/send", times=2, **failure)
    result = run(client.send(ZHANG, {"msgtype": "text", "text": {"content": "一"}}))
    assert result["errcode"] == 0 and len(fake.sent("message/send")) == 3
    assert sleeps.delays == [0.5, 1.0]


def test_a_lasting_failure_ends_in_one_error_after_the_retries(fake):
    client, _, sleeps = client_for(fake, max_retries=2)
    fake.fail("message/send", errcode=-1, times=10)
    with pytest.raises(WecomAPIError, match="errcode -1"):
        run(client.send(ZHANG, {"msgtype": "text", "text": {"content": "一"}}))
    assert len(fake.sent("message/send")) == 3 and len(sleeps.delays) == 2


def test_a_refusal_is_not_retried(fake):
    client, _, sleeps = client_for(fake)
    with pytest.raises(WecomAPIError) as failed:
        run(client.send("nobody-here", {"msgtype": "text", "text": {"content": "一"}}))
    assert failed.value.errcode == 81013 and sleeps.delays == [] and len(fake.sent("message/send")) == 1


def test_a_wrong_secret_is_reported(fake):
    client = WecomClient(settings_for(fake).model_copy(update={"secret": SecretStr("not the secret")}))
    with pytest.raises(WecomAPIError) as failed:
        run(client.access_token())
    assert failed.value.errcode == 40001


def test_an_unreachable_server_is_retried_then_reported(fake):
    client, _, sleeps = client_for(fake, max_retries=1)
    fake.stop()
    with pytest.raises(WecomAPIError, match="cannot reach"):
        run(client.access_token())
    assert sleeps.delays == [0.5]


def test_a_private_deployment_is_reached_under_its_own_address():
    fake = FakeWecom(prefix="/zwwx/api").start()  # e.g. 政务微信 behind a path on the unit's own host
    try:
        fake.add_user(ZHANG, departments=[1])
        client, _, _ = client_for(fake)
        assert client.url("gettoken").endswith("/zwwx/api/cgi-bin/gettoken")
        run(client.send_reply(ZHANG, Reply("你好。")))
        assert fake.sent("message/send")[0]["text"]["content"] == "你好。"
    finally:
        fake.stop()


def test_a_long_reply_goes_out_in_pieces_none_truncated(fake):
    client, _, _ = client_for(fake)
    text = "检察机关应当依法履行法律监督职责，维护司法公正。[1]" * 120
    run(client.send_reply(ZHANG, Reply(text)))
    pieces = [m["text"]["content"] for m in fake.sent("message/send")]
    assert len(pieces) > 1 and "".join(pieces) == text and fake.violations == []


def test_a_group_made_by_the_app_gets_text_and_no_cards(fake):
    from assistant.conversation.messages import Choice

    client, _, _ = client_for(fake)
    choice = Choice(ref="r", number=1, total=1, stem="选哪个？", options=("甲", "乙"), multiple=False)

    async def go():
        chat = await client.create_group(name="第一检察部学习群", owner=ZHANG, members=[ZHANG, LI])
        await client.send_reply(chat, Reply("今日练习：", choice=choice))
        await client.aclose()
        return chat

    chat = run(go())
    assert chat.startswith("appchat:")
    sent = fake.sent("appchat/send")
    assert [m["msgtype"] for m in sent] == ["text", "text"] and sent[1]["text"]["content"] == choice.lettered()
    assert all(m["chatid"] == chat.removeprefix("appchat:") for m in sent) and fake.violations == []


def test_department_ids_are_read_once_and_cached(fake):
    client, clock, _ = client_for(fake, directory_cache_s=600)

    async def go():
        first = await client.user_departments(ZHANG)
        second = await client.user_departments(ZHANG)
        clock.now += 601
        fake.add_user(ZHANG, departments=[9])  # moved in the directory
        third = await client.user_departments(ZHANG)
        fake.fail("user/get", errcode=-1, times=10)
        clock.now += 601
        fourth = await client.user_departments(ZHANG)  # directory down: the ids read before
        await client.aclose()
        return first, second, third, fourth

    assert run(go()) == (("2", "7"), ("2", "7"), ("9",), ("9",))
    assert [q["userid"] for q in fake.sent("user/get")][:2] == [ZHANG, ZHANG]


def test_an_unknown_member_has_no_departments_but_an_error(fake):
    client, _, _ = client_for(fake)
    with pytest.raises(WecomAPIError) as failed:
        run(client.user_departments("stranger"))
    assert failed.value.errcode == 60111
