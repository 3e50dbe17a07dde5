"""The WeCom server API over httpx: the access token fetched, cached, refreshed before it
expires and fetched again once when WeCom says it expired; passing failures retried with
backoff; replies sent to a member (message/send) or to an application group chat
(appchat/send); a member's department ids read from the directory and cached.

wechatpy's own client is not used: it is synchronous, it always fetches the token from the
public address (so a private deployment such as 政务微信 could not be named), and it retries a
token error without limit. WeCom's error text never reaches a member: a failed call raises
:class:`WecomAPIError`, whose message is meant for the log and the operator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from assistant.config import WecomSettings
from assistant.conversation.messages import Reply
from assistant.errors import ConfigError, JianxueError
from bots.wecom.render import render_reply

log = logging.getLogger("jianxue.wecom")

APPCHAT = "appchat:"  # a chat id that names an application group chat, e.g. "appchat:wrkSFfCgAA"
TOKEN_ERRORS = {40014, 42001}  # invalid / expired access_token: fetch a new one, once
TRANSIENT_ERRORS = {-1, 45009, 45033}  # system busy, API frequency limit, too many concurrent calls
REFRESH_BEFORE_S = 300  # renew a token this long before WeCom says it expires


class WecomAPIError(JianxueError):
    code = "wecom_api_error"

    def __init__(self, message: str, *, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class WecomClient:
    def __init__(self, settings: WecomSettings, *, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not settings.corp_id or settings.secret is None or not settings.agent_id:
            raise ConfigError("set JIANXUE_WECOM__CORP_ID, __AGENT_ID and __SECRET (the application's page in the admin console)")
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=settings.timeout_s)
        self._clock, self._sleep = clock, sleep
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._departments: dict[str, tuple[float, tuple[str, ...]]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, endpoint: str) -> str:
        """The full URL of a server API, e.g. ``url("message/send")``."""
        return f"{self.settings.api_base_url.rstrip('/')}/cgi-bin/{endpoint.lstrip('/')}"

    # -- the access token ----------------------------------------------------------------------

    async def access_token(self, *, renew: bool = False, stale: str | None = None) -> str:
        async with self._token_lock:
            fresh = self._token is not None and self._clock() < self._token_expires
            if fresh and not (renew and self._token == stale):  # another call may have renewed it already
                return self._token  # type: ignore[return-value]
            data = await self._request("GET", "gettoken", params={
                "corpid": self.settings.corp_id, "corpsecret": self.settings.secret.get_secret_value()})  # type: ignore[union-attr]
            token, lifetime = data.get("access_token"), data.get("expires_in")
            if not isinstance(token, str) or not token:
                raise WecomAPIError("gettoken returned no access_token")
            lifetime = float(lifetime) if isinstance(lifetime, (int, float)) else 7200.0
            self._token = token
            self._token_expires = self._clock() + max(lifetime - min(REFRESH_BEFORE_S, lifetime / 10), 1.0)
            log.info("access token fetched, valid for %.0f s", lifetime)
            return token

    # -- calls ---------------------------------------------------------------------------------

    async def call(self, method: str, endpoint: str, *, params: dict | None = None, json: dict | None = None) -> dict:
        """A server API call with the access token; a token WeCom calls invalid or expired is
        replaced once and the call made again."""
        token = await self.access_token()
        try:
            return await self._request(method, endpoint, params={**(params or {}), "access_token": token}, json=json)
        except WecomAPIError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("access token refused (%s); fetching a new one", exc.errcode)
        token = await self.access_token(renew=True, stale=token)
        return await self._request(method, endpoint, params={**(params or {}), "access_token": token}, json=json)

    async def _request(self, method: str, endpoint: str, *, params: dict, json: dict | None = None) -> dict:
        url = self.url(endpoint)
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._http.request(method, url, params=params, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                problem = f"cannot reach {self.settings.api_base_url}: {type(exc).__name__}"
            except httpx.TimeoutException as exc:
                if method != "GET":  # a POST that timed out may have been delivered: do not send it twice
                    raise WecomAPIError(f"{endpoint}: no answer within {self.settings.timeout_s} s") from exc
                problem = f"{endpoint}: timed out"
            except httpx.HTTPError as exc:
                raise WecomAPIError(f"{endpoint}: {type(exc).__name__}") from exc
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    problem = f"{endpoint}: HTTP {response.status_code}"
                elif response.status_code != 200:
                    raise WecomAPIError(f"{endpoint}: HTTP {response.status_code}")
                else:
                    data = _json(response, endpoint)
                    errcode = int(data.get("errcode") or 0)
                    if errcode == 0:
                        return data
                    problem = f"{endpoint}: errcode {errcode} ({str(data.get('errmsg', ''))[:200]})"
                    if errcode not in TRANSIENT_ERRORS or last:
                        raise WecomAPIError(problem, errcode=errcode)
            if last:
                raise WecomAPIError(problem)
            delay = min(0.5 * 2 ** attempt, 8.0)
            log.warning("%s; retry %d/%d in %.1f s", problem, attempt + 1, attempts - 1, delay)
            await self._sleep(delay)
        raise AssertionError("unreachable")

    # -- messages --------------------------------------------------------------------------------

    async def send(self, chat_id: str, message: dict) -> dict:
        """One rendered message to a member (their UserID) or to an application group chat
        (``appchat:<chatid>``)."""
        if chat_id.startswith(APPCHAT):
            return await self.call("POST", "appchat/send", json={"chatid": chat_id[len(APPCHAT):], **message, "safe": 0})
        return await self.call("POST", "message/send", json={"touser": chat_id, "agentid": self.settings.agent_id, **message,
                                                             "safe": 0})

    async def send_reply(self, chat_id: str, reply: Reply) -> list[dict]:
        """Every message of ``reply``, in order; the first failure stops the rest."""
        messages = render_reply(reply, cards=not chat_id.startswith(APPCHAT), markdown=self.settings.markdown)
        return [await self.send(chat_id, message) for message in messages]

    async def close_card(self, user_id: str, response_code: str, *, label: str = "已提交") -> None:
        """Grey out the buttons of the card a member just pressed, with ``label`` on them
        (message/update_template_card; a response code works once, within 72 hours)."""
        await self.call("POST", "message/update_template_card", json={
            "userids": [user_id], "agentid": self.settings.agent_id, "response_code": response_code,
            "button": {"replace_name": label}})

    async def create_group(self, *, name: str, owner: str, members: list[str], chat_id: str | None = None) -> str:
        """An application group chat (the app's visible range must be the root department);
        returns the id to send to as ``appchat:<id>``."""
        body = {"name": name, "owner": owner, "userlist": members, **({"chatid": chat_id} if chat_id else {})}
        data = await self.call("POST", "appchat/create", json=body)
        return APPCHAT + str(data["chatid"])

    # -- the directory ---------------------------------------------------------------------------

    async def user_departments(self, user_id: str) -> tuple[str, ...]:
        """The member's department ids as the application may see them (/cgi-bin/user/get),
        cached for ``directory_cache_s``; while the directory cannot be read, the last known ids."""
        cached = self._departments.get(user_id)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        try:
            data = await self.call("GET", "user/get", params={"userid": user_id})
        except WecomAPIError:
            if cached is None:
                raise
            log.warning("directory unreadable; using %s's department ids read earlier", user_id)
            return cached[1]
        departments = tuple(str(d) for d in data.get("department") or [])
        self._departments[user_id] = (self._clock() + self.settings.directory_cache_s, departments)
        return departments


def _json(response: httpx.Response, endpoint: str) -> dict:
    try:
        data = response.json()
    except ValueError:
        raise WecomAPIError(f"{endpoint}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise WecomAPIError(f"{endpoint}: the answer is not a JSON object")
    return data
