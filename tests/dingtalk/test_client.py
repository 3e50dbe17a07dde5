"""The DingTalk server APIs through DingtalkClient, over HTTP against the fake: tokens cached,
refreshed before they expire and fetched again when rejected; passing failures retried; replies
through the session webhook or, once it has expired or failed, the robot API; cards; the
directory's department ids."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from assistant.config import DingtalkSettings
from assistant.conversation.messages import Button, Choice, Push, Reply
from assistant.errors import ConfigError
from bots.dingtalk.client import DingtalkClient
from bots.dingtalk.errors import DingtalkAPIError
from bots.dingtalk.inbound import OUT_TRACK_PREFIX, ReplyTarget
from tests.fakes.dingtalk_wire import api_error

pytestmark = pytest.mark.slow  # servers on 127.0.0.1

BATCH, GROUP_SEND = "/v1.0/robot/oToMessages/batchSend", "/v1.0/robot/groupMessages/send"
TOKEN, WEBHOOK, CARD = "/v1.0/oauth2/accessToken", "/robot/sendBySession", "/v1.0/card/instances/createAndDeliver"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(fake, work, clock=None, **settings):
    """``work(client)`` on a client of the fake, in a fresh event loop."""
    async def main():
        client = DingtalkClient(DingtalkSettings(**fake.settings(**settings)), clock=clock or time.monotonic)
        try:
            return await work(client)
        finally:
            await client.aclose()
    return asyncio.run(main())


def direct(fake, text="你好") -> ReplyTarget:
    """Where replies to a fresh direct message from staff01 go (its live session webhook)."""
    data = fake.message("staff01", text)
    return ReplyTarget(user_id="staff01", chat_id="staff01", group=False, session_webhook=data["sessionWebhook"],
                       webhook_expires_ms=data["sessionWebhookExpiredTime"])


@pytest.fixture(autouse=True)
def _connection(fake):
    """fake.message() needs a Stream connection to deliver on: one opened as the SDK opens it."""
    from websockets.sync.client import connect

    opened = httpx.post(f"{fake.endpoint}/v1.0/gateway/connections/open", json={
        "clientId": fake.client_id, "clientSecret": fake.client_secret,
        "subscriptions": [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]}).json()
    with connect(f"{opened['endpoint']}?ticket={opened['ticket']}") as ws:
        yield ws


def test_the_token_is_fetched_once_and_sent_in_its_header(fake):
    async def work(client):
        await client.send_to_user("staff01", _text("一"))
        await client.send_to_user("staff01", _text("二"))
    run(fake, work)
    assert len(fake.sent(TOKEN)) == 1
    token = fake.sent(BATCH)[0]["headers"]["x-acs-dingtalk-access-token"]
    assert token and all(c["headers"]["x-acs-dingtalk-access-token"] == token for c in fake.sent(BATCH))


def test_the_token_is_refreshed_before_it_expires(fake):
    clock = Clock()

    async def work(client):
        await client.send_to_user("staff01", _text("一"))
        clock.now += 7200 - 299  # inside the last five minutes of its life
        await client.send_to_user("staff01", _text("二"))
    run(fake, work, clock=clock)
    assert len(fake.sent(TOKEN)) == 2
    first, second = (c["headers"]["x-acs-dingtalk-access-token"] for c in fake.sent(BATCH))
    assert first != second


def test_a_token_dingtalk_rejects_is_fetched_again_once(fake):
    async def work(client):
        await client.send_to_user("staff01", _text("一"))
        fake.expire_tokens()
        await client.send_to_user("staff01", _text("二"))
    run(fake, work)
    assert len(fake.sent(TOKEN)) == 2
    assert len(fake.sent(BATCH)) == 3  # one refused, retried with the new token


def test_a_token_rejected_again_is_an_error_not_a_loop(fake):
    fake.fail(BATCH, 400, api_error("InvalidAuthentication", "不合法的access_token"), times=5)
    with pytest.raises(DingtalkAPIError, match="rejected too"):
        run(fake, lambda client: client.send_to_user("staff01", _text("一")))
    assert len(fake.sent(TOKEN)) == 2 and len(fake.sent(BATCH)) == 2


def test_wrong_credentials_are_reported_once(fake):
    with pytest.raises(DingtalkAPIError, match="invalidClientIdOrSecret"):
        run(fake, lambda client: client.access_token(), client_secret="wrong")
    assert len(fake.sent(TOKEN)) == 1


@pytest.mark.parametrize("status, body", [
    (500, api_error("ServiceUnavailable", "busy")), (502, {}), (429, api_error("Throttling", "slow down")),
    (403, api_error("Forbidden.AccessDenied.QpsLimitForApi", "QPS 限流")),
], ids=["500", "502", "429", "403 QPS"])
def test_a_passing_failure_is_retried(fake, status, body):
    fake.fail(BATCH, status, body, times=2)
    run(fake, lambda client: client.send_to_user("staff01", _text("一")))
    assert len(fake.sent(BATCH)) == 3


def test_retries_end_in_an_error_for_the_log(fake):
    fake.fail(BATCH, 503, times=10)
    with pytest.raises(DingtalkAPIError, match="still failing after 3 tries"):
        run(fake, lambda client: client.send_to_user("staff01", _text("一")), max_retries=2)
    assert len(fake.sent(BATCH)) == 3


def test_a_refused_request_is_not_retried(fake):
    with pytest.raises(DingtalkAPIError, match="resource.not.found"):
        run(fake, lambda client: client.send_to_user("staff01", _text("一")), robot_code="dingsomeotherrobot")
    assert len(fake.sent(BATCH)) == 1


def test_replies_go_through_the_session_webhook_while_it_is_valid(fake):
    target = direct(fake)
    since = fake.mark()
    run(fake, lambda client: client.deliver(target, [Reply("答案。[1]")]))
    assert [c["body"] for c in fake.sent(WEBHOOK, since)] == [{"msgtype": "text", "text": {"content": "答案。[1]"}}]
    assert not fake.sent(BATCH, since) and not fake.sent(TOKEN, since)  # the webhook needs no token


def test_a_long_reply_is_split_and_sent_in_order(fake):
    target = direct(fake)
    since = fake.mark()
    answer = "".join(f"第{i}句说明防卫限度的认定标准。[{i}]" for i in range(1, 60))
    run(fake, lambda client: client.deliver(target, [Reply(answer)]), text_limit=200)
    texts = [c["body"]["text"]["content"] for c in fake.sent(WEBHOOK, since)]
    assert len(texts) > 3 and all(len(t) <= 200 for t in texts) and "".join(texts) == answer


def test_an_expiring_webhook_is_passed_over_for_the_robot_api(fake):
    target = direct(fake)
    soon = ReplyTarget(**{**_fields(target), "webhook_expires_ms": int(time.time() * 1000) + 30_000})
    since = fake.mark()
    run(fake, lambda client: client.deliver(soon, [Reply("答案。")]), webhook_margin_s=60)
    assert not fake.sent(WEBHOOK, since)
    call = fake.sent(BATCH, since)[0]["body"]
    assert call["userIds"] == ["staff01"] and call["robotCode"] == fake.client_id
    assert call["msgKey"] == "sampleText" and json.loads(call["msgParam"]) == {"content": "答案。"}


def test_a_webhook_dingtalk_no_longer_knows_falls_back_to_the_robot_api(fake):
    data = fake.message("staff02", "问题", group="cidGroupOne==")
    target = ReplyTarget(user_id="staff02", chat_id="cidGroupOne==", group=True, session_webhook=data["sessionWebhook"],
                         webhook_expires_ms=data["sessionWebhookExpiredTime"])
    fake.expire_sessions()
    since = fake.mark()
    run(fake, lambda client: client.deliver(target, [Reply("答案。")]))
    assert len(fake.sent(WEBHOOK, since)) == 1  # tried, answered errcode 300001
    call = fake.sent(GROUP_SEND, since)[0]["body"]
    assert call["openConversationId"] == "cidGroupOne==" and json.loads(call["msgParam"]) == {"content": "答案。"}


def test_pushes_go_through_the_robot_api_to_a_member_or_a_group(fake):
    async def work(client):
        await client.push(Push(channel="dingtalk", user_id="staff01", chat_id="staff01", reply=Reply("有三道题到期。")))
        await client.push(Push(channel="dingtalk", user_id="staff01", chat_id="cidGroupOne==", reply=Reply("专家已答复。")))
    run(fake, work)
    assert fake.sent(BATCH)[0]["body"]["userIds"] == ["staff01"]
    assert fake.sent(GROUP_SEND)[0]["body"]["openConversationId"] == "cidGroupOne=="


@pytest.mark.parametrize("group", [False, True])
def test_cards_are_created_and_delivered_with_stream_callbacks(fake, group):
    chat = "cidGroupOne==" if group else "staff01"
    target = ReplyTarget(user_id="staff01", chat_id=chat, group=group)
    choice = Choice(ref="q7", number=1, total=5, stem="下列哪项属于正当防卫？", options=("甲", "乙"), multiple=False)
    run(fake, lambda client: client.deliver(target, [Reply("", choice=choice), Reply("答案。", buttons=(Button("来源", "src"),))]),
        card_template_id="tpl-123.schema")
    bodies = [c["body"] for c in fake.sent(CARD)]
    assert len(bodies) == 2 and all(b["cardTemplateId"] == "tpl-123.schema" and b["callbackType"] == "STREAM" for b in bodies)
    assert all(b["outTrackId"].startswith(OUT_TRACK_PREFIX) for b in bodies)
    space = f"dtv1.card//IM_GROUP.{chat}" if group else "dtv1.card//IM_ROBOT.staff01"
    assert all(b["openSpaceId"] == space for b in bodies)
    model = "imGroupOpenDeliverModel" if group else "imRobotOpenDeliverModel"
    assert all(b[model]["robotCode"] == fake.client_id for b in bodies)
    assert [json.loads(b["cardData"]["cardParamMap"]["buttons"])[0]["action"] for b in bodies] == ["ans:q7:A", "src"]


def test_a_card_the_api_did_not_deliver_is_an_error(fake):
    fake.fail(CARD, 200, {"success": True, "result": {"deliverResults": [{"success": False, "errorMsg": "robot not in group"}]}})
    target = ReplyTarget(user_id="staff01", chat_id="staff01", group=False)
    with pytest.raises(DingtalkAPIError, match="robot not in group"):
        run(fake, lambda client: client.deliver(target, [Reply("答案。", buttons=(Button("来源", "src"),))]),
            card_template_id="tpl-123.schema")


def test_department_ids_come_from_the_directory_and_are_cached(fake):
    fake.directory["staff01"] = [932988755, 1]

    async def work(client):
        return await client.user_departments("staff01"), await client.user_departments("staff01")
    first, second = run(fake, work)
    assert first == second == ("932988755", "1")
    assert len(fake.sent("/topapi/v2/user/get")) == 1 and len(fake.sent("/gettoken")) == 1
    assert fake.sent("/topapi/v2/user/get")[0]["body"]["userid"] == "staff01"


def test_an_oapi_token_rejected_is_fetched_again_and_an_unknown_member_is_an_error(fake):
    fake.directory["staff01"] = [7]

    async def work(client):
        await client.user_departments("staff01")
        fake.expire_tokens()
        client._departments.clear()
        assert await client.user_departments("staff01") == ("7",)
        await client.user_departments("nobody")
    with pytest.raises(DingtalkAPIError, match="60121"):
        run(fake, work)
    assert len(fake.sent("/gettoken")) == 2


def test_the_client_needs_the_credentials():
    with pytest.raises(ConfigError, match="CLIENT_ID"):
        DingtalkClient(DingtalkSettings())


def _text(text: str):
    from bots.dingtalk.render import TEXT, Outgoing
    return Outgoing(TEXT, text)


def _fields(target: ReplyTarget) -> dict:
    return {name: getattr(target, name) for name in target.__slots__}
