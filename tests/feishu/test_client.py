"""FeishuClient against the fake's API over real HTTP: the tenant_access_token fetched once, renewed
before it expires and again once when rejected; passing failures retried, refusals not; messages
and replies; the bot's open_id; department ids cached."""

from __future__ import annotations

import asyncio

import pytest

from assistant.config import FeishuSettings
from bots.feishu.client import FeishuClient, Message
from bots.feishu.errors import FeishuAPIError
from tests.feishu.conftest import GROUP, ZHANG

pytestmark = pytest.mark.slow  # a server on 127.0.0.1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro):
    return asyncio.run(coro)


def client_for(fake, **extra) -> tuple[FeishuClient, Clock]:
    clock = Clock()
    return FeishuClient(FeishuSettings(**fake.settings(**extra)), clock=clock), clock


TEXT = Message("text", {"text": "你好"})


def test_the_token_is_fetched_once_reused_and_renewed_before_it_expires(fake):
    client, clock = client_for(fake)

    async def go():
        await client.send(ZHANG, TEXT)
        await client.send(ZHANG, TEXT)
        clock.now += 7200 - 200  # inside the last five minutes of its life
        await client.send(ZHANG, TEXT)
        await client.aclose()

    run(go())
    fetched = fake.calls_to("/tenant_access_token/internal")
    assert len(fetched) == 2 and fetched[0]["body"] == {"app_id": fake.app_id, "app_secret": fake.app_secret}
    tokens = [c["token"] for c in fake.calls_to("/im/v1/messages")]
    assert tokens[0] == tokens[1] != tokens[2]


def test_a_rejected_token_is_fetched_again_once_and_the_call_repeated(fake):
    client, _ = client_for(fake)

    async def go():
        await client.send(ZHANG, TEXT)
        fake.expire_tokens()
        await client.send(ZHANG, TEXT)
        await client.aclose()

    run(go())
    sends = fake.calls_to("/im/v1/messages")
    assert [c["status"] for c in sends] == [200, 400, 200] and sends[1]["answer"]["code"] == 99991663
    assert sends[1]["body"]["uuid"] == sends[2]["body"]["uuid"]  # the same message: sent once
    assert len(fake.outbox(ZHANG)) == 2


def test_a_token_rejected_twice_is_an_error_not_a_loop(fake):
    client, _ = client_for(fake)
    fake.fail("/im/v1/messages", status=400, code=99991663, times=5)
    with pytest.raises(FeishuAPIError):
        run(client.send(ZHANG, TEXT))
    assert len(fake.calls_to("/im/v1/messages")) == 2


@pytest.mark.parametrize("status, code", [(500, 0), (503, 0), (429, 99991402), (400, 230020)])
def test_a_passing_failure_is_retried_with_backoff(fake, status, code):
    client, _ = client_for(fake)
    fake.fail("/im/v1/messages", status=status, code=code, times=2)
    assert run(client.send(ZHANG, TEXT)).startswith("om_")
    assert len(fake.calls_to("/im/v1/messages")) == 3 and len(fake.outbox(ZHANG)) == 1


def test_a_lasting_failure_ends_in_one_error_and_a_refusal_is_not_retried(fake):
    client, _ = client_for(fake, max_retries=2)
    fake.fail("/im/v1/messages", status=502, times=10)
    with pytest.raises(FeishuAPIError) as lasting:
        run(client.send(ZHANG, TEXT))
    assert "3 tries" in str(lasting.value)
    fake.failures.clear()
    since = len(fake.calls)
    with pytest.raises(FeishuAPIError) as refused:
        run(FeishuClient(FeishuSettings(**fake.settings())).send("ou_nobody", TEXT))
    assert refused.value.feishu_code == 230013 and len(fake.calls_to("/im/v1/messages", since)) == 1


def test_a_wrong_secret_is_reported_as_such(fake):
    client, _ = client_for(fake, app_secret="wrong")
    with pytest.raises(FeishuAPIError) as refused:
        run(client.access_token())
    assert refused.value.status == 401 and "App Secret" in str(refused.value) and "wrong" not in str(refused.value)


def test_an_unreachable_platform_is_retried_then_reported():
    client = FeishuClient(FeishuSettings(app_id="cli_a", app_secret="s", encrypt_key="k", verification_token="v",
                                         domain="http://127.0.0.1:9", max_retries=1, retry_base_s=0.01))
    with pytest.raises(FeishuAPIError) as unreachable:
        run(client.access_token())
    assert "2 tries" in str(unreachable.value)


def test_chats_and_replies_go_where_they_belong(fake):
    client, _ = client_for(fake)
    asked = fake.message(ZHANG, "问", group=GROUP)["event"]["message"]["message_id"]

    async def go():
        await client.send(GROUP, TEXT)
        await client.reply(asked, TEXT)
        await client.aclose()

    run(go())
    group = fake.outbox(GROUP)
    assert len(group) == 2 and group[0]["reply_to"] == "" and group[1]["reply_to"] == asked
    assert fake.calls_to("/im/v1/messages")[0]["query"] == {"receive_id_type": "chat_id"}


def test_the_bots_open_id_and_department_ids_are_read_once(fake):
    client, clock = client_for(fake, directory_cache_s=600)

    async def go():
        assert await client.bot_open_id() == fake.bot_open_id
        assert await client.bot_open_id() == fake.bot_open_id
        first = await client.user_departments(ZHANG)
        again = await client.user_departments(ZHANG)
        clock.now += 601
        fake.fail("/contact/v3/users/" + ZHANG, status=400, code=40004)
        stale = await client.user_departments(ZHANG)  # unreadable now: the ids read before
        await client.aclose()
        return first, again, stale

    assert run(go()) == (("d-2", "d-7"),) * 3
    assert len(fake.calls_to("/bot/v3/info")) == 1 and len(fake.calls_to("/contact/v3/users/" + ZHANG)) == 2
    with pytest.raises(FeishuAPIError):
        run(client_for(fake)[0].user_departments("ou_unknown"))
    opened = client_for(fake, department_id_type="open_department_id")[0]
    assert run(opened.user_departments(ZHANG)) == ("od-d-2", "od-d-7")


def test_a_private_deployment_is_reached_under_its_own_address(fake):
    settings = FeishuSettings(**fake.settings())
    assert settings.base_url == fake.base_url  # JIANXUE_FEISHU__DOMAIN=<address>
    assert run(FeishuClient(settings).send(ZHANG, TEXT)).startswith("om_")
    assert fake.calls_to("/im/v1/messages")[0]["path"] == "/open-apis/im/v1/messages"
