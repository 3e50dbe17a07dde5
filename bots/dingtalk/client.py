"""DingTalk's server APIs over httpx: the access tokens fetched, cached, refreshed before they
expire and fetched again once when DingTalk rejects them; passing failures retried with backoff;
replies sent through a delivery's sessionWebhook, falling back to the robot API when the webhook
has expired or fails; pushes through the robot API; cards through the card API; a member's
department ids read from the directory.

The SDK's own senders are not used: they are synchronous (requests), swallow every error into a
log line, never retry, and know no fallback from an expired session webhook. DingTalk's error
text never reaches a member: a failed call raises :class:`DingtalkAPIError`, for the log.

Two tokens, because DingTalk has two API generations (the new one takes the token in the
``x-acs-dingtalk-access-token`` header, the older oapi in an ``access_token`` query parameter):
``POST {endpoint}/v1.0/oauth2/accessToken`` gives ``accessToken`` + ``expireIn``;
``GET {oapi_endpoint}/gettoken`` gives ``access_token`` + ``expires_in``. A rejected token shows
as HTTP 400/401 with code ``InvalidAuthentication`` (new) or errcode 40014/42001 (oapi).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from assistant.config import DingtalkSettings
from assistant.conversation.messages import Push, QuestionCards, Reply
from assistant.errors import ConfigError
from bots.common import Transient, retrying
from bots.dingtalk.errors import DingtalkAPIError
from bots.dingtalk.inbound import OUT_TRACK_PREFIX, ReplyTarget
from bots.dingtalk.render import (
    CARD,
    Outgoing,
    answered_params,
    card_params,
    question_ref,
    render_reply,
    robot_message,
    webhook_body,
)

log = logging.getLogger("jianxue.dingtalk")
CARDS_KEPT = 2000  # question cards remembered until pressed, to answer a press with the card answered

TOKEN_HEADER = "x-acs-dingtalk-access-token"
TOKEN_CODES = {"InvalidAuthentication"}  # new API: the token is invalid or expired
TOKEN_ERRCODES = {40014, 42001}  # oapi: invalid / expired access_token
TRANSIENT_ERRCODES = {-1, 90002, 90018}  # system busy, call-rate limits of the oapi
WEBHOOK_GONE = 300001  # a sessionWebhook DingTalk no longer knows ("session 不存在")
REFRESH_BEFORE_S = 300  # renew a token this long before DingTalk says it expires


class _TokenRejected(Exception):
    """DingTalk says the access token is invalid or expired."""


@dataclass
class _Token:
    value: str = ""
    expires: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class DingtalkClient:
    def __init__(self, settings: DingtalkSettings, *, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        settings.check()  # names a missing Client ID or Secret
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=settings.timeout_s)
        self._clock, self._wall = clock, wall
        self._api_token, self._oapi_token = _Token(), _Token()
        self._departments: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._questions = QuestionCards(CARDS_KEPT)  # a direct chat's question cards, until pressed

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- access tokens ---------------------------------------------------------------------------

    async def access_token(self, *, stale: str | None = None) -> str:
        """The new API's token; ``stale`` is one DingTalk just rejected (fetch another unless a
        concurrent call already has)."""
        secret = self.settings.client_secret.get_secret_value()  # type: ignore[union-attr]
        return await self._token(self._api_token, stale, lambda: self._call(
            "POST", f"{self.settings.endpoint}/v1.0/oauth2/accessToken",
            json={"appKey": self.settings.client_id, "appSecret": secret}), "accessToken", "expireIn")

    async def oapi_token(self, *, stale: str | None = None) -> str:
        """The older oapi's token (gettoken)."""
        secret = self.settings.client_secret.get_secret_value()  # type: ignore[union-attr]
        return await self._token(self._oapi_token, stale, lambda: self._call(
            "GET", f"{self.settings.oapi_endpoint}/gettoken",
            params={"appkey": self.settings.client_id, "appsecret": secret}, oapi=True), "access_token", "expires_in")

    async def _token(self, token: _Token, stale: str | None, fetch, value_key: str, lifetime_key: str) -> str:
        async with token.lock:
            fresh = token.value and self._clock() < token.expires
            if fresh and token.value != stale:
                return token.value
            try:
                data = await fetch()
            except _TokenRejected:
                raise DingtalkAPIError("DingTalk refused the Client ID / Client Secret", status=401) from None
            value, lifetime = data.get(value_key), data.get(lifetime_key)
            if not isinstance(value, str) or not value:
                raise DingtalkAPIError(f"the token answer has no {value_key}")
            lifetime = float(lifetime) if isinstance(lifetime, (int, float)) and lifetime > 0 else 7200.0
            token.value = value
            token.expires = self._clock() + max(lifetime - min(REFRESH_BEFORE_S, lifetime / 10), 1.0)
            log.info("access token fetched (%s), valid for %.0f s", value_key, lifetime)
            return value

    # -- calls -----------------------------------------------------------------------------------

    async def api(self, method: str, path: str, *, json: dict | None = None) -> dict:
        """A new-API call with the access token; a rejected token is fetched again, once."""
        token = await self.access_token()
        try:
            return await self._call(method, f"{self.settings.endpoint}{path}", json=json, headers={TOKEN_HEADER: token})
        except _TokenRejected:
            log.info("access token rejected by %s; fetching another", path)
            token = await self.access_token(stale=token)
            try:
                return await self._call(method, f"{self.settings.endpoint}{path}", json=json,
                                        headers={TOKEN_HEADER: token})
            except _TokenRejected:
                raise DingtalkAPIError(f"{path}: a fresh access token was rejected too") from None

    async def oapi(self, path: str, *, json: dict) -> dict:
        """An oapi call (POST, token as a query parameter); a rejected token is fetched again, once."""
        token = await self.oapi_token()
        url = f"{self.settings.oapi_endpoint}{path}"
        try:
            return await self._call("POST", url, params={"access_token": token}, json=json, oapi=True)
        except _TokenRejected:
            token = await self.oapi_token(stale=token)
            try:
                return await self._call("POST", url, params={"access_token": token}, json=json, oapi=True)
            except _TokenRejected:
                raise DingtalkAPIError(f"{path}: a fresh access token was rejected too") from None

    async def _call(self, method: str, url: str, *, json: dict | None = None, params: dict | None = None,
                    headers: dict | None = None, oapi: bool = False, retries: int | None = None) -> dict:
        """One request, retried with backoff while it fails for a passing reason."""
        path = httpx.URL(url).path

        async def request() -> dict:
            response = await self._http.request(method, url, json=json, params=params, headers=headers)
            return _answer(response, path, oapi=oapi)

        return await retrying(request, what=path, retries=self.settings.max_retries if retries is None else retries,
                              base_s=self.settings.retry_base_s, failed=DingtalkAPIError, log=log)

    # -- sending -----------------------------------------------------------------------------------

    async def deliver(self, target: ReplyTarget, replies: list[Reply]) -> None:
        """Every reply to a delivery, in order: through its sessionWebhook while that is valid, else
        (and when it fails) through the robot API; cards through the card API."""
        cards = bool(self.settings.card_template_id)
        for reply in replies:
            for message in render_reply(reply, text_limit=self.settings.text_limit, cards=cards):
                await self.send(target, message)

    async def push(self, push: Push) -> None:
        """A message the core sends on its own: to the member (``chat_id == user_id``) or to a group."""
        group = push.chat_id != push.user_id
        await self.deliver(ReplyTarget(user_id=push.user_id, chat_id=push.chat_id, group=group), [push.reply])

    async def send(self, target: ReplyTarget, message: Outgoing) -> None:
        if message.kind == CARD:
            await self.send_card(target, message)
            return
        margin_ms = self.settings.webhook_margin_s * 1000
        if target.session_webhook and self._wall() * 1000 < target.webhook_expires_ms - margin_ms:
            try:
                await self.send_webhook(target.session_webhook, message)
                return
            except DingtalkAPIError as exc:
                log.warning("session webhook failed (%s); sending through the robot API", exc)
        if target.group:
            await self.send_to_group(target.chat_id, message)
        else:
            await self.send_to_user(target.user_id, message)

    async def send_webhook(self, url: str, message: Outgoing) -> None:
        """POST to a sessionWebhook (no token: the URL is the credential). Any errcode, expired
        sessions (300001) and rate limits included, raises at once so that the caller falls back."""
        await self._call("POST", url, json=webhook_body(message), oapi=True, retries=1)

    async def send_to_user(self, user_id: str, message: Outgoing) -> None:
        key, param = robot_message(message)
        data = await self._robot("/v1.0/robot/oToMessages/batchSend", {
            "robotCode": self.settings.robot, "userIds": [user_id], "msgKey": key, "msgParam": param})
        if user_id in (data.get("invalidStaffIdList") or []):
            raise DingtalkAPIError(f"the robot cannot reach user {user_id} (invalidStaffIdList)")

    async def send_to_group(self, conversation_id: str, message: Outgoing) -> None:
        key, param = robot_message(message)
        await self._robot("/v1.0/robot/groupMessages/send", {
            "robotCode": self.settings.robot, "openConversationId": conversation_id, "msgKey": key, "msgParam": param})

    async def _robot(self, path: str, body: dict) -> dict:
        for attempt in range(self.settings.max_retries + 1):
            data = await self.api("POST", path, json=body)
            if not data.get("flowControlledStaffIdList"):
                return data
            delay = self.settings.retry_base_s * 2 ** attempt
            log.warning("%s: flow-controlled; trying again in %.2f s", path, delay)
            await asyncio.sleep(delay)
        raise DingtalkAPIError(f"{path}: still flow-controlled after {self.settings.max_retries + 1} tries")

    async def send_card(self, target: ReplyTarget, message: Outgoing) -> str:
        """An interactive card (card 2.0, callbacks over the stream) in the member's chat with the
        robot or in the group; its outTrackId, which a press comes back with."""
        if not self.settings.card_template_id:
            raise ConfigError("cards need JIANXUE_DINGTALK__CARD_TEMPLATE_ID")
        track = f"{OUT_TRACK_PREFIX}{uuid.uuid4().hex}"
        ref = question_ref(message)
        if ref is not None and not target.group:  # kept before it goes: a press may come back before this returns
            self._questions.sent(ref, target.user_id, message)
        body: dict = {"cardTemplateId": self.settings.card_template_id, "outTrackId": track,
                      "cardData": {"cardParamMap": card_params(message)}, "callbackType": "STREAM", "userIdType": 1}
        if target.group:
            body |= {"openSpaceId": f"dtv1.card//IM_GROUP.{target.chat_id}",
                     "imGroupOpenSpaceModel": {"supportForward": False},
                     "imGroupOpenDeliverModel": {"robotCode": self.settings.robot}}
        else:
            body |= {"openSpaceId": f"dtv1.card//IM_ROBOT.{target.user_id}",
                     "imRobotOpenSpaceModel": {"supportForward": False},
                     "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": self.settings.robot}}
        data = await self.api("POST", "/v1.0/card/instances/createAndDeliver", json=body)
        result = data.get("result") if isinstance(data.get("result"), dict) else {}
        failed = [d for d in result.get("deliverResults") or [] if isinstance(d, dict) and d.get("success") is False]
        if data.get("success") is False or failed:
            reason = failed[0].get("errorMsg") if failed else data.get("message")
            raise DingtalkAPIError(f"the card was not delivered: {reason}")
        return track

    def answered(self, action: str, user: str) -> dict[str, str] | None:
        """For a press by its member on a question's card in their direct chat: the card data that
        shows it answered (sent back in the press's ACK, which updates the card); None for any
        other press, or a card sent before a restart or CARDS_KEPT questions ago (it keeps its
        buttons)."""
        pressed = self._questions.pressed(action, user)
        return answered_params(*pressed) if pressed is not None else None

    # -- the directory -----------------------------------------------------------------------------

    async def user_departments(self, user_id: str) -> tuple[str, ...]:
        """The member's department ids (topapi/v2/user/get → dept_id_list), cached a while."""
        cached = self._departments.get(user_id)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        data = await self.oapi("/topapi/v2/user/get", json={"userid": user_id, "language": "zh_CN"})
        result = data.get("result")
        ids = result.get("dept_id_list") if isinstance(result, dict) else None
        if not isinstance(ids, list):
            raise DingtalkAPIError("topapi/v2/user/get returned no dept_id_list")
        departments = tuple(str(i) for i in ids)
        self._departments[user_id] = (self._clock() + self.settings.directory_cache_s, departments)
        return departments


def _answer(response: httpx.Response, path: str, *, oapi: bool) -> dict:
    """The JSON answer of a call, or the right exception for its failure."""
    if response.status_code >= 500 or response.status_code == 429:
        raise Transient(f"HTTP {response.status_code}")
    try:
        data = response.json() if response.content else {}
    except ValueError:
        raise DingtalkAPIError(f"{path}: HTTP {response.status_code} with a body that is not JSON",
                               status=response.status_code) from None
    if not isinstance(data, dict):
        raise DingtalkAPIError(f"{path}: the answer is not a JSON object", status=response.status_code)
    code = data.get("code")
    if response.status_code >= 400:
        if code in TOKEN_CODES:
            raise _TokenRejected()
        if response.status_code == 403 and isinstance(code, str) and ("QpsLimit" in code or "Throttling" in code):
            raise Transient(code)
        raise DingtalkAPIError(f"{path}: HTTP {response.status_code} {code}: {data.get('message')}",
                               status=response.status_code, errcode=code)
    errcode = data.get("errcode", 0)
    if oapi and errcode not in (0, "0", None):
        if errcode in TOKEN_ERRCODES:
            raise _TokenRejected()
        if errcode in TRANSIENT_ERRCODES:
            raise Transient(f"errcode {errcode}")
        raise DingtalkAPIError(f"{path}: errcode {errcode}: {data.get('errmsg')}", status=response.status_code,
                               errcode=errcode)
    return data
