"""Feishu's server API (open-apis) over httpx: the tenant_access_token fetched, cached, renewed
before it expires and fetched again once when Feishu rejects it; passing failures (5xx, HTTP 429,
rate-limit codes, network) retried with backoff; messages sent (im/v1/messages, or a reply to the
message that asked: im/v1/messages/:id/reply), the bot's own open_id read (bot/v3/info) to tell
whether a group message mentions it, and a member's department ids read from the contact API.

lark-oapi's own API client is not used for these calls: its token manager fetches the token
synchronously (requests) even on the async path, keeps it in a process-wide cache, never
renews a token Feishu rejects and never retries. Every message carries a ``uuid``, with which
Feishu drops a second copy sent within an hour, so a send that timed out can be retried safely.
Feishu's error text never reaches a member: a failed call raises :class:`FeishuAPIError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from assistant.config import FeishuSettings
from bots.common import Transient, retrying
from bots.feishu.errors import FeishuAPIError

log = logging.getLogger("jianxue.feishu")

# codes as lark-oapi's channel/errors.py buckets them
TOKEN_CODES = {99991661, 99991663, 99991664, 99991665, 99991666, 99991668}  # missing / invalid / expired token
RATE_LIMIT_CODES = {99991402, 11020, 11021, 230020}  # too many requests (230020: to one chat)
APP_REFUSED_CODES = {10003, 10014}  # tenant_access_token: invalid app_id / app_secret
REFRESH_BEFORE_S = 300  # renew the token this long before Feishu says it expires


class _TokenRejected(Exception):
    """Feishu says the access token is invalid or expired."""


@dataclass(frozen=True, slots=True)
class Message:
    """One Feishu message: ``msg_type`` (text | interactive) and its ``content`` object."""

    msg_type: str
    content: dict

    def body(self) -> dict:
        return {"msg_type": self.msg_type, "content": json.dumps(self.content, ensure_ascii=False),
                "uuid": uuid.uuid4().hex}


class FeishuClient:
    def __init__(self, settings: FeishuSettings, *, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        settings.check()
        self.settings = settings
        self.base = f"{settings.base_url}/open-apis"
        self._http = http or httpx.AsyncClient(timeout=settings.timeout_s)
        self._clock = clock
        self._token, self._expires = "", 0.0
        self._lock = asyncio.Lock()
        self._bot_open_id: str | None = None
        self._departments: dict[str, tuple[float, tuple[str, ...]]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the tenant_access_token -------------------------------------------------------------------

    async def access_token(self, *, stale: str | None = None) -> str:
        """The token; ``stale`` is one Feishu just rejected (fetch another unless a concurrent call
        already has)."""
        async with self._lock:
            if self._token and self._clock() < self._expires and self._token != stale:
                return self._token
            secret = self.settings.app_secret.get_secret_value()  # type: ignore[union-attr]
            data = await self._call("POST", "/auth/v3/tenant_access_token/internal",
                                    json={"app_id": self.settings.app_id, "app_secret": secret})
            token, lifetime = data.get("tenant_access_token"), data.get("expire")
            if not isinstance(token, str) or not token:
                raise FeishuAPIError("the token answer has no tenant_access_token")
            lifetime = float(lifetime) if isinstance(lifetime, (int, float)) and lifetime > 0 else 7200.0
            self._token = token
            self._expires = self._clock() + max(lifetime - min(REFRESH_BEFORE_S, lifetime / 10), 1.0)
            log.info("tenant_access_token fetched, valid for %.0f s", lifetime)
            return token

    # -- calls ---------------------------------------------------------------------------------------

    async def api(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None) -> dict:
        """A call with the token; a rejected token is fetched again, once."""
        token = await self.access_token()
        try:
            return await self._call(method, path, json=json, params=params, token=token)
        except _TokenRejected:
            log.info("tenant_access_token rejected by %s; fetching another", path)
        token = await self.access_token(stale=token)
        try:
            return await self._call(method, path, json=json, params=params, token=token)
        except _TokenRejected:
            raise FeishuAPIError(f"{path}: a fresh tenant_access_token was rejected too", status=401) from None

    async def _call(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None,
                    token: str | None = None) -> dict:
        """One request, retried with backoff while it fails for a passing reason."""
        headers = {"Authorization": f"Bearer {token}"} if token else None

        async def request() -> dict:
            response = await self._http.request(method, self.base + path, json=json, params=params, headers=headers)
            return _answer(response, path, token=token is not None)

        return await retrying(request, what=path, retries=self.settings.max_retries, base_s=self.settings.retry_base_s,
                              failed=FeishuAPIError, log=log)

    # -- messages --------------------------------------------------------------------------------------

    async def send(self, chat_id: str, message: Message) -> str:
        """To a member (their open_id, ``ou_...``) or a chat (``oc_...``); the new message's id."""
        kind = "chat_id" if chat_id.startswith("oc_") else "open_id"
        data = await self.api("POST", "/im/v1/messages", params={"receive_id_type": kind},
                              json={"receive_id": chat_id, **message.body()})
        return str((data.get("data") or {}).get("message_id") or "")

    async def reply(self, message_id: str, message: Message) -> str:
        """In answer to ``message_id`` (quoted above it in the chat); the new message's id."""
        data = await self.api("POST", f"/im/v1/messages/{message_id}/reply", json=message.body())
        return str((data.get("data") or {}).get("message_id") or "")

    # -- the bot and the directory ------------------------------------------------------------------------

    async def bot_open_id(self) -> str:
        """The bot's own open_id (bot/v3/info), read once: how a mention of it is recognised."""
        if self._bot_open_id is None:
            data = await self.api("GET", "/bot/v3/info")
            open_id = (data.get("bot") or {}).get("open_id")
            if not isinstance(open_id, str) or not open_id:
                raise FeishuAPIError("bot/v3/info has no bot.open_id: is the bot capability (机器人) enabled?")
            self._bot_open_id = open_id
        return self._bot_open_id

    async def user_departments(self, open_id: str) -> tuple[str, ...]:
        """The member's department ids (contact/v3/users/:user_id, of ``department_id_type``), cached
        for ``directory_cache_s``; while the contact API cannot be read, the ids read last time."""
        cached = self._departments.get(open_id)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        try:
            params = {"user_id_type": "open_id", "department_id_type": self.settings.department_id_type}
            data = await self.api("GET", f"/contact/v3/users/{open_id}", params=params)
        except FeishuAPIError:
            if cached is None:
                raise
            log.warning("contact API unreadable; using %s's department ids read earlier", open_id)
            return cached[1]
        user = (data.get("data") or {}).get("user") or {}
        departments = tuple(str(d) for d in user.get("department_ids") or [])
        self._departments[open_id] = (self._clock() + self.settings.directory_cache_s, departments)
        return departments


def _answer(response: httpx.Response, path: str, *, token: bool) -> dict:
    """The JSON answer of a call whose ``code`` is 0; raises what the failure is."""
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise FeishuAPIError(f"{path}: HTTP {response.status_code}, the answer is not JSON",
                             status=response.status_code) from None
    if not isinstance(data, dict):
        raise FeishuAPIError(f"{path}: the answer is not a JSON object", status=response.status_code)
    code = data.get("code")
    if code == 0 and response.status_code == 200:
        return data
    code = code if isinstance(code, int) else None
    if token and code in TOKEN_CODES:
        raise _TokenRejected()
    if code in RATE_LIMIT_CODES:
        raise Transient(f"code {code}")
    if code in APP_REFUSED_CODES:
        raise FeishuAPIError(f"{path}: Feishu refused the App ID / App Secret (code {code})", status=401,
                             feishu_code=code)
    raise FeishuAPIError(f"{path}: HTTP {response.status_code}, code {code} ({str(data.get('msg', ''))[:200]})",
                         status=response.status_code, feishu_code=code)
