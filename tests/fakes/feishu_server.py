"""A Feishu / Lark open platform on 127.0.0.1 for the adapter and the real lark-oapi SDK.

It speaks Feishu's wire formats (tests/fakes/feishu_wire.py builds them without the SDK):

- the API under ``/open-apis``: ``POST auth/v3/tenant_access_token/internal`` ({app_id, app_secret}
  -> {code, tenant_access_token, expire}; tokens expire), ``POST im/v1/messages?receive_id_type=``
  and ``POST im/v1/messages/:message_id/reply`` (content a JSON string; a ``uuid`` seen within
  the hour sends nothing twice), ``GET bot/v3/info`` and ``GET contact/v3/users/:user_id``
  (department_ids). A missing, unknown or expired token gets HTTP 400 with code 99991663 (as
  Feishu answers); ``fail(path, ...)`` queues failures (5xx, 429, codes);
- webhook events as Feishu posts them: encrypted with the Encrypt Key, signed with
  X-Lark-Signature, the Verification Token inside (``post``, ``verify_url``);
- the long connection: ``POST /callback/ws/endpoint`` ({AppID, AppSecret}) answers the WebSocket
  URL (device_id and service_id in its query) and the client config; on that WebSocket events
  go out as protobuf DATA frames (headers type=event, message_id, sum, seq, trace_id) and the
  client's answers (the same frame, payload {"code", "data": base64}) are kept; its pings get pongs.

``outbox(chat)`` reads back the messages that reached a chat (an open_id or an ``oc_`` chat),
whichever API sent them; ``violations`` records what Feishu would refuse or cut (a text over
150 KB, a card over 30 KB, a card button's value that is not an object) so that tests can
insist on none. ``base_url`` goes into JIANXUE_FEISHU__DOMAIN.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid

import httpx

from tests.fakes.feishu_longconn import LongConnectionSide
from tests.fakes.feishu_wire import (
    CARD_EVENT,
    MESSAGE_EVENT,
    card_action_event,
    encrypt,
    envelope,
    mention,
    message_event,
    new_id,
    signed_headers,
)
from tests.fakes.loopback import ApiAndSocket

TEXT_BYTES, CARD_BYTES = 150 * 1024, 30 * 1024
TOKEN_INVALID = 99991663


class FakeFeishu(LongConnectionSide, ApiAndSocket):
    def __init__(self, *, app_id: str = "cli_fake0000000001", app_secret: str = "fake-app-secret",
                 encrypt_key: str = "fake-encrypt-key", verification_token: str = "fake-verification-token") -> None:
        super().__init__()
        self.app_id, self.app_secret = app_id, app_secret
        self.encrypt_key, self.verification_token = encrypt_key, verification_token
        self.bot_open_id, self.bot_name = "ou_" + "b0" * 16, "检学"
        self.token_lifetime_s = 7200
        self.users: dict[str, dict] = {}  # open_id -> {"name", "department_ids"}
        self.chats: dict[str, set[str]] = {}  # oc_ chat -> members (the bot is in all of them)
        self.calls: list[dict] = []  # {"method", "path", "query", "body", "status", "answer"}
        self.messages: dict[str, dict] = {}  # message_id -> {"chat", "msg_type", "content", "reply_to", "uuid"}
        self.sent: list[str] = []  # message ids in the order they were sent
        self.violations: list[str] = []
        self.answers: list[dict] = []  # the long connection's answers: {"message_id", "code", "data"}
        self.pings = 0
        self.tokens: dict[str, float] = {}
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.client_config = {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0, "PingInterval": 30}
        self._uuids: dict[str, tuple[float, str]] = {}
        self._received: dict[str, dict] = {}  # members' messages (from the events made), which a reply may answer
        self._devices: dict[str, float] = {}  # device_id -> until when its URL may connect
        self._connections: list[dict] = []
        self._cond = threading.Condition()

    # -- running ------------------------------------------------------------------------------------

    def _not_json(self) -> dict:
        return {"code": 9499, "msg": "Bad Request: body is not JSON"}

    def _api(self, method: str, path: str, query: dict, body: dict, headers: dict) -> tuple[int, dict]:
        return self._handle(method, path, query, body, headers)

    @property
    def base_url(self) -> str:
        return self._address

    def settings(self, **extra) -> dict:
        """The JIANXUE_FEISHU__* values that point the adapter here."""
        return {"app_id": self.app_id, "app_secret": self.app_secret, "domain": self.base_url,
                "encrypt_key": self.encrypt_key, "verification_token": self.verification_token,
                "retry_base_s": 0.01, **extra}

    # -- setting the scene --------------------------------------------------------------------------

    def add_user(self, open_id: str, *, departments: list[str], name: str | None = None) -> None:
        self.users[open_id] = {"name": name or open_id, "department_ids": list(departments)}

    def add_chat(self, chat_id: str, members: list[str]) -> None:
        self.chats[chat_id] = set(members)

    def fail(self, path: str, *, status: int = 500, code: int = 0, times: int = 1) -> None:
        """The next ``times`` calls whose path ends with ``path`` fail so."""
        with self._cond:
            self.failures.setdefault(path, []).extend([(status, {"code": code, "msg": "injected failure"})] * times)

    def expire_tokens(self) -> None:
        with self._cond:
            self.tokens = {token: 0.0 for token in self.tokens}

    # -- events, as Feishu sends them -----------------------------------------------------------------

    def message(self, user: str, text: str, *, group: str | None = None, mentioned: bool = True,
                event_id: str | None = None, msg_type: str = "text", content: dict | None = None,
                sender_type: str = "user") -> dict:
        """The event of ``user`` saying ``text`` to the bot, or in ``group`` (mentioning the bot unless
        ``mentioned`` is False: then another member is mentioned)."""
        mentions = []
        if group is not None:
            who = (self.bot_open_id, self.bot_name) if mentioned else ("ou_" + "c1" * 16, "某同事")
            mentions = [mention("@_user_1", *who)]
            text = f"@_user_1 {text}"
        event = message_event(user, content or {"text": text}, msg_type=msg_type, chat_id=group or new_id("oc_"),
                              chat_type="group" if group else "p2p", mentions=mentions, sender_type=sender_type)
        return self.remember(envelope(MESSAGE_EVENT, event, token=self.verification_token, app_id=self.app_id,
                                      event_id=event_id))

    def press_event(self, user: str, message_id: str, label: str) -> dict:
        """The callback of ``user`` pressing the button ``label`` on the card ``message_id`` jianxue sent."""
        message = self.messages[message_id]
        assert message["msg_type"] == "interactive", f"{message_id} is not a card"
        buttons = {a["text"]["content"]: a for e in message["content"]["elements"] if e["tag"] == "action"
                   for a in e["actions"]}
        assert label in buttons, f"no button {label!r} on card {message_id}: {list(buttons)}"
        chat = message["chat"] if message["chat"].startswith("oc_") else new_id("oc_")  # a p2p chat's own id
        event = card_action_event(user, buttons[label]["value"], message_id=message_id, chat_id=chat)
        return envelope(CARD_EVENT, event, token=self.verification_token, app_id=self.app_id)

    def update_card(self, message_id: str, answer: dict) -> dict:
        """What Feishu does with a card callback's answer that carries a ``card``: a raw card is
        checked as a sent one is and shown in place of the pressed one (jianxue's cards are not
        shared, update_multi false: to the presser). The card shown now."""
        card = answer.get("card")
        with self._cond:
            message = self.messages[message_id]
            if card is None:
                return message["content"]
            data = card.get("data")
            if card.get("type") != "raw" or not isinstance(data, dict):
                self.violations.append(f"a callback card that is not raw card JSON: {card.get('type')!r}")
                return message["content"]
            problems = _card_problems(data, len(json.dumps(data, ensure_ascii=False).encode()))
            if problems:
                self.violations.extend(problems)
                return message["content"]
            message["content"] = data
            return data

    def post(self, url: str, event: dict, *, signature: str | None = None, encrypt_key: str | None = None,
             token: str | None = None) -> httpx.Response:
        """POST ``event`` to a webhook as Feishu does (encrypted, signed); ``signature``, ``encrypt_key``
        and ``token`` forge one part."""
        if token is not None:
            event = json.loads(json.dumps(event))
            (event["header"] if "header" in event else event)["token"] = token
        body = json.dumps({"encrypt": encrypt(json.dumps(event, ensure_ascii=False),
                                              encrypt_key or self.encrypt_key)}).encode()
        headers = signed_headers(body, self.encrypt_key)
        if signature is not None:
            headers["X-Lark-Signature"] = signature
        return httpx.post(url, content=body, headers=headers, timeout=10)

    def verify_url(self, url: str, *, token: str | None = None) -> tuple[str, httpx.Response]:
        """The console's check of a request URL: an encrypted challenge, unsigned; (challenge, answer)."""
        challenge = uuid.uuid4().hex
        event = {"challenge": challenge, "token": token or self.verification_token, "type": "url_verification"}
        body = json.dumps({"encrypt": encrypt(json.dumps(event), self.encrypt_key)}).encode()
        return challenge, httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=10)

    # -- what reached a chat --------------------------------------------------------------------------------

    def mark(self) -> int:
        with self._cond:
            return len(self.sent)

    def outbox(self, chat: str, since: int = 0) -> list[dict]:
        with self._cond:
            return [{"message_id": m, **self.messages[m]} for m in self.sent[since:]
                    if self.messages[m]["chat"] == chat]

    def wait_outbox(self, chat: str, predicate=lambda m: True, *, since: int = 0, count: int = 1,
                    timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.outbox(chat, since) if predicate(m)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m["chat"], str(m["content"])[:100]) for m in map(self.messages.get, self.sent[since:])]
                    raise AssertionError(f"no {count} message(s) to {chat} within {timeout} s; sent: {seen}")
                self._cond.wait(min(left, 0.2))

    def calls_to(self, path_end: str, since_call: int = 0) -> list[dict]:
        with self._cond:
            return [c for c in self.calls[since_call:] if c["path"].endswith(path_end)]

    # -- the API ------------------------------------------------------------------------------------------

    def _handle(self, method: str, path: str, query: dict, body: dict, headers: dict) -> tuple[int, dict]:
        with self._cond:
            call = {"method": method, "path": path, "query": query, "body": body,
                    "token": (headers.get("Authorization") or "").removeprefix("Bearer ")}
            self.calls.append(call)
            self._cond.notify_all()
            status, answer = self._route(method, path, query, body, call["token"])
            call["status"], call["answer"] = status, answer
            self._cond.notify_all()
            return status, answer

    def _route(self, method: str, path: str, query: dict, body: dict, token: str) -> tuple[int, dict]:
        for end, queued in self.failures.items():
            if path.endswith(end) and queued:
                return queued.pop(0)
        if path == "/callback/ws/endpoint" and method == "POST":
            return self._endpoint(body)
        if path == "/open-apis/auth/v3/tenant_access_token/internal" and method == "POST":
            return self._tenant_token(body)
        if not path.startswith("/open-apis/"):
            return 404, {"code": 404, "msg": "404 page not found"}
        if not token or self.tokens.get(token, 0) <= time.time():
            return 400, {"code": TOKEN_INVALID, "msg": "Invalid access token for authorization. Please make a "
                                                       "request with token attached."}
        parts = path.removeprefix("/open-apis/").split("/")
        if parts == ["im", "v1", "messages"] and method == "POST":
            return self._create(query, body)
        if len(parts) == 5 and parts[:3] == ["im", "v1", "messages"] and parts[4] == "reply" and method == "POST":
            return self._reply(parts[3], body)
        if parts == ["bot", "v3", "info"] and method == "GET":
            return 200, {"code": 0, "msg": "ok", "bot": {"activate_status": 2, "app_name": self.bot_name,
                                                          "avatar_url": "", "ip_white_list": [],
                                                          "open_id": self.bot_open_id}}
        if len(parts) == 4 and parts[:3] == ["contact", "v3", "users"] and method == "GET":
            return self._user(parts[3], query)
        return 404, {"code": 404, "msg": "404 page not found"}

    def _tenant_token(self, body: dict) -> tuple[int, dict]:
        if body.get("app_id") != self.app_id:
            return 400, {"code": 10003, "msg": "invalid param"}
        if body.get("app_secret") != self.app_secret:
            return 400, {"code": 10014, "msg": "app secret invalid"}
        token = "t-" + secrets.token_hex(20)
        self.tokens[token] = time.time() + self.token_lifetime_s
        return 200, {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.token_lifetime_s}

    def _create(self, query: dict, body: dict) -> tuple[int, dict]:
        kind, receiver = query.get("receive_id_type"), body.get("receive_id")
        if kind == "open_id" and receiver not in self.users:
            return 400, {"code": 230013, "msg": "Bot has NO availability to this user."}
        if kind == "chat_id" and receiver not in self.chats:
            return 400, {"code": 230002, "msg": "Bot/User can NOT be out of the chat."}
        if kind not in ("open_id", "chat_id"):
            return 400, {"code": 99992402, "msg": "field validation failed: receive_id_type"}
        return self._store(receiver, body, reply_to="")

    def _reply(self, message_id: str, body: dict) -> tuple[int, dict]:
        replied = self.messages.get(message_id) or self._received.get(message_id)
        if replied is None:
            return 400, {"code": 230011, "msg": "The message was withdrawn or not found."}
        return self._store(replied["chat"], body, reply_to=message_id)

    def remember(self, event: dict) -> dict:
        """Lets the API know the message of a message event (so that it can be replied to)."""
        message = event["event"]["message"]
        sender = event["event"]["sender"]["sender_id"]["open_id"]
        chat = message["chat_id"] if message["chat_type"] == "group" else sender
        with self._cond:
            self._received[message["message_id"]] = {"chat": chat}
        return event

    def _store(self, chat: str, body: dict, *, reply_to: str) -> tuple[int, dict]:
        msg_type, raw = body.get("msg_type"), body.get("content")
        if msg_type not in ("text", "post", "interactive", "image", "file", "share_chat"):
            return 400, {"code": 230001, "msg": f"invalid msg_type {msg_type}"}
        try:
            content = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            content = None
        if not isinstance(content, dict):
            return 400, {"code": 230001, "msg": "content is not a JSON string of an object"}
        key = body.get("uuid")
        if key and key in self._uuids and self._uuids[key][0] > time.time():
            return 200, {"code": 0, "msg": "success", "data": {"message_id": self._uuids[key][1]}}
        size = len(json.dumps(body, ensure_ascii=False).encode())
        if msg_type == "text":
            if not isinstance(content.get("text"), str) or not content["text"].strip():
                return 400, {"code": 230001, "msg": "text is empty"}
            if size > TEXT_BYTES:
                self.violations.append(f"a text message of {size} bytes")
                return 400, {"code": 230025, "msg": "message content exceeds the limit"}
        if msg_type == "interactive":
            problems = _card_problems(content, size)
            if problems:
                self.violations.extend(problems)
                return 400, {"code": 230099, "msg": "; ".join(problems)}
        message_id = new_id("om_")
        self.messages[message_id] = {"chat": chat, "msg_type": msg_type, "content": content, "reply_to": reply_to,
                                     "uuid": key}
        self.sent.append(message_id)
        if key:
            self._uuids[key] = (time.time() + 3600, message_id)
        return 200, {"code": 0, "msg": "success", "data": {"message_id": message_id, "msg_type": msg_type,
                                                           "chat_id": chat, "create_time": str(int(time.time()))}}

    def _user(self, user_id: str, query: dict) -> tuple[int, dict]:
        if query.get("user_id_type") != "open_id":
            return 400, {"code": 40001, "msg": "the fake knows open_ids only"}
        user = self.users.get(user_id)
        if user is None:
            return 400, {"code": 41050, "msg": "no user authority error"}
        departments = user["department_ids"] if query.get("department_id_type") == "department_id" else [
            "od-" + d for d in user["department_ids"]]
        return 200, {"code": 0, "msg": "success", "data": {"user": {"open_id": user_id, "name": user["name"],
                                                                    "department_ids": departments}}}


CARD_TAGS = {"div", "markdown", "hr", "img", "note", "action", "column_set"}  # card JSON 1.0's elements


def _card_problems(card: dict, size: int) -> list[str]:
    problems = [f"a card of {size} bytes"] if size > CARD_BYTES else []
    elements = card.get("elements") if "elements" in card else (card.get("body") or {}).get("elements")
    if not isinstance(elements, list) or not elements:
        problems.append("a card without elements")
        return problems
    for element in elements:
        if element.get("tag") not in CARD_TAGS:
            problems.append(f"an element of tag {element.get('tag')!r}")
        if element.get("tag") == "note" and not all(e.get("tag") in ("plain_text", "lark_md", "img")
                                                    for e in element.get("elements") or [{}]):
            problems.append("a note with an element that is not text or an image")
        for action in element.get("actions", []) if element.get("tag") == "action" else []:
            if action.get("tag") == "button" and not isinstance(action.get("value", {}), dict):
                problems.append("a button value that is not an object")
            if not (action.get("text") or {}).get("content"):
                problems.append("a button without text")
    return problems
