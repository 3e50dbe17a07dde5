"""A DingTalk double on 127.0.0.1 for the real ``dingtalk-stream`` SDK and the adapter's client.

It speaks the wire format of DingTalk's Stream mode and server APIs:

- the gateway ``POST /v1.0/gateway/connections/open`` ({clientId, clientSecret, subscriptions})
  answering {endpoint, ticket}; the ticket opens one WebSocket on ``/connect?ticket=`` within 90 s;
- frames on that WebSocket: ``SYSTEM`` ping (data {"opaque"}) and disconnect, ``CALLBACK`` robot
  messages (topic /v1.0/im/bot/messages/get) and card presses (/v1.0/card/instances/callback),
  each with headers {appId, connectionId, contentType, messageId, time, topic} and ``data`` a
  JSON string; every ACK the SDK sends back ({code, headers.messageId, message, data}) is kept;
- the access tokens (``POST /v1.0/oauth2/accessToken`` and the oapi ``GET /gettoken``), which
  expire; a request with a bad token gets HTTP 400 {"code": "InvalidAuthentication"} (new API) or
  errcode 40014 (oapi);
- the session webhook each robot message carries (``/robot/sendBySession?session=``, valid for
  ``session_lifetime_s``; afterwards errcode 300001 "session 不存在");
- the robot send APIs ``/v1.0/robot/oToMessages/batchSend`` and ``/v1.0/robot/groupMessages/send``,
  the card API ``/v1.0/card/instances/createAndDeliver``, and the directory's
  ``/topapi/v2/user/get`` (dept_id_list).

Every HTTP call is recorded with its outcome; ``outbox(chat)`` reads them back as the messages that
reached a chat, whichever way they went. ``fail(path, ...)`` queues failures (5xx, 403 QPS limit,
errcodes).
``endpoint`` goes into JIANXUE_DINGTALK__ENDPOINT and __OAPI_ENDPOINT.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed

from tests.fakes.dingtalk_wire import (
    CARD_TOPIC,
    ROBOT_TOPIC,
    TICKET_LIFETIME_S,
    api_error,
    card_press_data,
    frame,
    message_id,
    robot_message_data,
)
from tests.fakes.loopback import ApiAndSocket

ROBOT_KEYS = {"sampleText": {"content"}, "sampleMarkdown": {"title", "text"},
              "sampleActionCard": {"title", "text", "singleTitle", "singleURL"}}


class FakeDingTalk(ApiAndSocket):
    content_type = "application/json;charset=utf-8"

    def __init__(self, client_id: str = "dingtestapp", client_secret: str = "test-secret", *,
                 corp_id: str = "ding-corp-1") -> None:
        super().__init__()
        self.client_id, self.client_secret, self.corp_id = client_id, client_secret, corp_id
        self.robot_code = client_id
        self.token_lifetime_s = 7200
        self.session_lifetime_s = 5400  # a sessionWebhook lasts about 90 minutes
        self.directory: dict[str, list[int]] = {}  # userid -> dept_id_list
        self.calls: list[dict] = []  # {"path", "query", "body", "headers"}
        self.acks: list[dict] = []
        self.subscriptions: list[list[dict]] = []
        self.opaques: dict[str, str] = {}  # messageId of a ping -> its opaque
        self.cards: dict[str, dict] = {}  # outTrackId -> createAndDeliver body
        self.shown: dict[str, dict[str, str]] = {}  # outTrackId -> its cardParamMap as shown now (after updates)
        self.violations: list[str] = []  # what DingTalk would refuse in a card press's ACK
        self._presses: dict[str, str] = {}  # a card press frame's messageId -> the card's outTrackId
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self._tokens: dict[str, float] = {}  # token -> expiry (new API)
        self._oapi_tokens: dict[str, float] = {}
        self._tickets: dict[str, float] = {}
        self._sessions: dict[str, dict] = {}  # session -> {"chat", "group", "expires"}
        self._connections: list[dict] = []  # {"id", "ws", "closed"}
        self._cond = threading.Condition()

    # -- running ------------------------------------------------------------------------------------

    def _not_json(self) -> dict:
        return api_error("InvalidParameter", "the body is not JSON")

    def _api(self, method: str, path: str, query: dict, body: dict, headers: dict) -> tuple[int, dict]:
        return self._handle(path, query, body, headers)

    @property
    def endpoint(self) -> str:
        return self._address

    def settings(self, **extra) -> dict:
        """The JIANXUE_DINGTALK__* values that point the adapter here."""
        return {"client_id": self.client_id, "client_secret": self.client_secret, "endpoint": self.endpoint,
                "oapi_endpoint": self.endpoint, "retry_base_s": 0.01, **extra}

    # -- the Stream connection --------------------------------------------------------------------------

    def _ws_check(self, connection, request):  # the ticket from /v1.0/gateway/connections/open
        parts = urlsplit(request.path)
        ticket = parse_qs(parts.query).get("ticket", [""])[0]
        with self._cond:
            expires = self._tickets.pop(ticket, None)  # one connection per ticket
        if parts.path != "/connect" or expires is None or time.time() > expires:
            return connection.respond(401, "invalid ticket\n")
        return None

    async def _ws_session(self, ws) -> None:
        conn = {"id": uuid.uuid4().hex, "ws": ws, "closed": False}
        with self._cond:
            self._connections.append(conn)
            self._cond.notify_all()
        try:
            async for raw in ws:
                with self._cond:
                    ack = json.loads(raw)
                    self._card_update(ack)
                    self.acks.append(ack)
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                conn["closed"] = True
                self._cond.notify_all()

    def connected(self, *, count: int = 1, timeout: float = 20) -> dict:
        """Waits until ``count`` connections have been opened in all; the newest open one."""
        def newest() -> dict | None:
            open_ = [c for c in self._connections if not c["closed"]]
            return open_[-1] if len(self._connections) >= count and open_ else None
        return self._until(newest, timeout, lambda: f"no {count} connection(s): {len(self._connections)} opened")

    @property
    def connections_opened(self) -> int:
        with self._cond:
            return len(self._connections)

    def send_frame(self, payload: dict | str) -> None:
        conn = self.connected()
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        asyncio.run_coroutine_threadsafe(conn["ws"].send(text), self._loop).result(5)  # type: ignore[arg-type]

    def deliver(self, topic: str, data: dict, *, kind: str = "CALLBACK", mid: str | None = None) -> str:
        """A frame with ``data`` on ``topic``; its messageId."""
        mid = mid or message_id()
        conn = self.connected()
        self.send_frame(frame(kind, topic, data, message_id=mid, app_id=self.client_id, connection_id=conn["id"]))
        return mid

    def message(self, user: str, text: str, *, group: str | None = None, mentioned: bool = True, **extra) -> dict:
        """A robot message from ``user`` (a staffId) in a direct chat or the group ``group``; the
        data as delivered, with its frame's messageId under "_messageId"."""
        session = uuid.uuid4().hex
        expires_ms = int((time.time() + self.session_lifetime_s) * 1000)
        data = robot_message_data(user, text, group=group, mentioned=mentioned, corp_id=self.corp_id,
                                  robot_code=self.robot_code, webhook=f"{self.endpoint}/robot/sendBySession?session={session}",
                                  webhook_expires_ms=expires_ms, **extra)
        with self._cond:
            self._sessions[session] = {"chat": data["conversationId"] if group else user, "group": bool(group),
                                       "expires": expires_ms / 1000}
        data["_messageId"] = self.deliver(ROBOT_TOPIC, {k: v for k, v in data.items() if k != "_messageId"})
        return data

    def press(self, track: str, action: str, *, user: str, stale: bool = False) -> str:
        """``user`` presses the button of card ``track`` that carries ``action``, as the card shows it
        now (``stale``: as it was sent, on a client that has not shown an update yet); the frame's
        messageId."""
        card = self.cards[track]
        shown = card["cardData"]["cardParamMap"] if stale else self.shown[track]
        buttons = json.loads(shown["buttons"])
        index = next((i for i, b in enumerate(buttons) if b["action"] == action), None)
        assert index is not None, f"card {track} shows no button {action!r}: {buttons}"
        space_type, _, space_id = card["openSpaceId"].removeprefix("dtv1.card//").partition(".")
        mid = message_id()
        with self._cond:
            self._presses[mid] = track  # before the frame goes: its ACK may come back at once
        return self.deliver(CARD_TOPIC, card_press_data(track, action, index=index, user=user, corp_id=self.corp_id,
                                                        space_type=space_type, space_id=space_id), mid=mid)

    def _card_update(self, ack: dict) -> None:
        """What DingTalk does with a card press's ACK whose response carries cardData: the card's
        parameters replaced (or, with cardUpdateOptions.updateCardDataByKey, those keys only)."""
        track = self._presses.get((ack.get("headers") or {}).get("messageId"))
        if track is None:
            return
        try:
            response = json.loads(ack.get("data") or "{}").get("response") or {}
        except ValueError:
            self.violations.append("a card press's ACK whose data is not JSON")
            return
        params = (response.get("cardData") or {}).get("cardParamMap") if isinstance(response, dict) else None
        if params is None:
            return
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            self.violations.append("a card update whose cardParamMap is not strings")
            return
        by_key = ((response.get("cardUpdateOptions") or {}).get("updateCardDataByKey")) is True
        self.shown[track] = {**self.shown[track], **params} if by_key else dict(params)

    def ping(self) -> str:
        """A SYSTEM ping; its messageId (``opaques[mid]`` is what the ACK must carry back)."""
        opaque = uuid.uuid4().hex
        conn = self.connected()
        mid = message_id()
        self.opaques[mid] = opaque
        self.send_frame(frame("SYSTEM", "ping", {"opaque": opaque}, message_id=mid, app_id="", connection_id=conn["id"]))
        return mid

    def disconnect(self, *, grace_s: float = 0.5) -> None:
        """A SYSTEM disconnect, then the connection closed ``grace_s`` later (DingTalk waits 10 s)."""
        conn = self.connected()
        self.send_frame(frame("SYSTEM", "disconnect", {"reason": "connection is expired"}, message_id=message_id(),
                              app_id="", connection_id=conn["id"]))

        async def close_later() -> None:
            await asyncio.sleep(grace_s)
            await conn["ws"].close()

        asyncio.run_coroutine_threadsafe(close_later(), self._loop)  # type: ignore[arg-type]

    def ack(self, mid: str, *, timeout: float = 30) -> dict:
        """The ACK of the frame ``mid``; fails if none comes within ``timeout``."""
        return self._until(lambda: next((a for a in self.acks if a.get("headers", {}).get("messageId") == mid), None),
                           timeout, lambda: f"no ACK of {mid}; ACKs: {self.acks}")

    # -- what the adapter did ---------------------------------------------------------------------------

    def mark(self) -> int:
        with self._cond:
            return len(self.calls)

    def wait_for(self, path: str, predicate=lambda call: True, *, since: int = 0, count: int = 1,
                 timeout: float = 20) -> list[dict]:
        """The first ``count`` calls of ``path`` after ``since`` that match; fails after ``timeout``."""
        def found() -> list[dict] | None:
            matching = [c for c in self.calls[since:] if c["path"] == path and predicate(c)]
            return matching[:count] if len(matching) >= count else None
        return self._until(found, timeout, lambda: f"no {count} x {path}; calls: "
                           f"{[(c['path'], str(c['body'])[:100]) for c in self.calls[since:]]}")

    def _until(self, found, timeout: float, failure):
        """What ``found()`` returns once it is not None, checked as the fake's state changes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (result := found()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"within {timeout} s: {failure()}")
                self._cond.wait(min(left, 0.2))
            return result

    def outbox(self, chat: str, *, since: int = 0) -> list[dict]:
        """What reached ``chat`` (a member's staffId: the direct chat; or a group's conversationId)
        after call ``since``, whichever way it was sent, in order: {"kind": text | markdown | card,
        "text", "path"}, and for a card its "title", "buttons" and "track" (its outTrackId)."""
        with self._cond:
            return [m for call in self.calls[since:] if call["ok"] and (m := self._message_in(call, chat))]

    def wait_outbox(self, chat: str, predicate=lambda message: True, *, since: int = 0, count: int = 1,
                    timeout: float = 30) -> list[dict]:
        """The first ``count`` messages to ``chat`` after ``since`` that match; fails after ``timeout``."""
        def found() -> list[dict] | None:
            matching = [m for m in self.outbox(chat, since=since) if predicate(m)]
            return matching[:count] if len(matching) >= count else None
        return self._until(found, timeout, lambda: f"no {count} matching message(s) to {chat}: "
                           f"{[m['text'][:80] for m in self.outbox(chat, since=since)]}")

    def _message_in(self, call: dict, chat: str) -> dict | None:
        path, body = call["path"], call["body"]
        if path == "/robot/sendBySession":
            session = self._sessions.get(call["query"].get("session", ""))
            kind = body.get("msgtype")
            content = body.get(kind) or {}
            if session is None or session["chat"] != chat:
                return None
            return {"kind": kind, "text": content.get("content", content.get("text", "")), "path": path}
        if path in ("/v1.0/robot/oToMessages/batchSend", "/v1.0/robot/groupMessages/send"):
            if chat not in (body.get("userIds") or []) and body.get("openConversationId") != chat:
                return None
            param = json.loads(body["msgParam"])
            kind = {"sampleText": "text", "sampleMarkdown": "markdown"}.get(body["msgKey"], body["msgKey"])
            return {"kind": kind, "text": param.get("content", param.get("text", "")), "path": path}
        if path == "/v1.0/card/instances/createAndDeliver":
            if body["openSpaceId"].removeprefix("dtv1.card//").partition(".")[2] != chat:
                return None
            params = body["cardData"]["cardParamMap"]
            return {"kind": "card", "text": params.get("markdown", ""), "title": params.get("title", ""),
                    "buttons": json.loads(params.get("buttons") or "[]"), "track": body["outTrackId"], "path": path}
        return None

    def sent(self, path: str, since: int = 0) -> list[dict]:
        with self._cond:
            return [c for c in self.calls[since:] if c["path"] == path]

    def fail(self, path: str, status: int = 500, body: dict | None = None, *, times: int = 1) -> None:
        with self._cond:
            self.failures.setdefault(path, []).extend([(status, body or api_error("ServiceUnavailable", "busy"))] * times)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working, as when DingTalk's own clock runs them out."""
        with self._cond:
            self._tokens.clear()
            self._oapi_tokens.clear()

    def expire_sessions(self) -> None:
        with self._cond:
            for session in self._sessions.values():
                session["expires"] = 0

    # -- the HTTP APIs ------------------------------------------------------------------------------------

    def _handle(self, path: str, query: dict, body: dict, headers: dict) -> tuple[int, dict]:
        call = {"path": path, "query": query, "body": body, "headers": headers}
        with self._cond:
            queued = self.failures.get(path)
            status, answer = queued.pop(0) if queued else (None, None)
        if status is None:
            status, answer = self._answer(path, query, body, headers)
        with self._cond:  # recorded with its outcome, so that outbox() shows only what got through
            call["ok"] = status < 400 and answer.get("errcode", 0) == 0 and answer.get("success") is not False
            self.calls.append(call)
            self._cond.notify_all()
        return status, answer

    def _answer(self, path: str, query: dict, body: dict, headers: dict) -> tuple[int, dict]:
        if path == "/v1.0/gateway/connections/open":
            return self._open_connection(body)
        if path == "/v1.0/oauth2/accessToken":
            return self._issue(body.get("appKey"), body.get("appSecret"), self._tokens, oapi=False)
        if path == "/gettoken":
            return self._issue(query.get("appkey"), query.get("appsecret"), self._oapi_tokens, oapi=True)
        if path == "/robot/sendBySession":
            return self._session_send(query.get("session", ""), body)
        if path == "/topapi/v2/user/get":
            return self._user_get(query.get("access_token", ""), body)
        if not self._valid(headers.get("x-acs-dingtalk-access-token", ""), self._tokens):
            return 400, api_error("InvalidAuthentication", "不合法的access_token")
        if path in ("/v1.0/robot/oToMessages/batchSend", "/v1.0/robot/groupMessages/send"):
            return self._robot_send(path, body)
        if path == "/v1.0/card/instances/createAndDeliver":
            return self._card(body)
        return 404, api_error("InvalidAction.NotFound", f"no API at {path}")

    def _open_connection(self, body: dict) -> tuple[int, dict]:
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return 400, api_error("InvalidAuthentication", "clientId or clientSecret is wrong")
        subscriptions = body.get("subscriptions")
        if not isinstance(subscriptions, list) or not subscriptions:
            return 400, api_error("InvalidParameter", "subscriptions is required")
        ticket = str(uuid.uuid4())
        with self._cond:
            self.subscriptions.append(subscriptions)
            self._tickets[ticket] = time.time() + TICKET_LIFETIME_S
        return 200, {"endpoint": f"ws://127.0.0.1:{self._ws_port}/connect", "ticket": ticket}

    def _issue(self, key, secret, tokens: dict, *, oapi: bool) -> tuple[int, dict]:
        if key != self.client_id or secret != self.client_secret:
            if oapi:
                return 200, {"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"}
            return 400, api_error("invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = uuid.uuid4().hex
        with self._cond:
            tokens[token] = time.time() + self.token_lifetime_s
        if oapi:
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_lifetime_s}
        return 200, {"accessToken": token, "expireIn": self.token_lifetime_s}

    def _valid(self, token: str, tokens: dict) -> bool:
        with self._cond:
            return token in tokens and time.time() < tokens[token]

    def _session_send(self, session: str, body: dict) -> tuple[int, dict]:
        with self._cond:
            known = self._sessions.get(session)
        if known is None or time.time() > known["expires"]:
            return 200, {"errcode": 300001, "errmsg": "session 不存在"}
        kind = body.get("msgtype")
        if kind not in ("text", "markdown", "actionCard") or not isinstance(body.get(kind), dict):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 msgtype"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _robot_send(self, path: str, body: dict) -> tuple[int, dict]:
        if body.get("robotCode") != self.robot_code:
            return 400, api_error("resource.not.found", "robot 不存在")
        keys = ROBOT_KEYS.get(body.get("msgKey"))
        try:
            param = json.loads(body.get("msgParam") or "")
        except (TypeError, ValueError):
            param = None
        if keys is None or not isinstance(param, dict) or not keys <= set(param):
            return 400, api_error("InvalidParameter", "msgKey or msgParam is invalid")
        if path.endswith("batchSend"):
            users = body.get("userIds")
            if not isinstance(users, list) or not users:
                return 400, api_error("InvalidParameter", "userIds is required")
            return 200, {"processQueryKey": uuid.uuid4().hex, "flowControlledStaffIdList": [],
                         "invalidStaffIdList": [u for u in users if not isinstance(u, str) or not u]}
        if not body.get("openConversationId"):
            return 400, api_error("InvalidParameter", "openConversationId is required")
        return 200, {"processQueryKey": uuid.uuid4().hex}

    def _card(self, body: dict) -> tuple[int, dict]:
        params = (body.get("cardData") or {}).get("cardParamMap")
        space = body.get("openSpaceId") or ""
        space_type = space.removeprefix("dtv1.card//").partition(".")[0]
        model = {"IM_ROBOT": "imRobotOpenDeliverModel", "IM_GROUP": "imGroupOpenDeliverModel"}.get(space_type)
        if (not body.get("cardTemplateId") or not body.get("outTrackId") or not isinstance(params, dict)
                or not all(isinstance(v, str) for v in params.values()) or model is None or model not in body):
            return 400, api_error("InvalidParameter", "cardTemplateId, outTrackId, cardParamMap of strings, "
                                  "openSpaceId and its deliver model are required")
        if body.get("callbackType") != "STREAM":
            return 400, api_error("InvalidParameter", "this fake only calls back over the stream")
        with self._cond:
            self.cards[body["outTrackId"]] = body
            self.shown[body["outTrackId"]] = dict(params)
        return 200, {"success": True, "result": {"outTrackId": body["outTrackId"], "deliverResults": [
            {"spaceType": space_type, "spaceId": space.partition(".")[2], "success": True, "carrierId": uuid.uuid4().hex}]}}

    def _user_get(self, token: str, body: dict) -> tuple[int, dict]:
        if not self._valid(token, self._oapi_tokens):
            return 200, {"errcode": 40014, "errmsg": "不合法的access_token"}
        user = body.get("userid")
        if user not in self.directory:
            return 200, {"errcode": 60121, "errmsg": "找不到该用户"}
        return 200, {"errcode": 0, "errmsg": "ok", "request_id": uuid.uuid4().hex,
                     "result": {"userid": user, "name": f"用户{user}", "dept_id_list": self.directory[user]}}
