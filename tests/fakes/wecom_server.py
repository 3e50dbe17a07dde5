"""A WeCom server on 127.0.0.1: the server API the adapter calls (gettoken, message/send,
appchat/create|get|send, user/get) with WeCom's JSON bodies, error codes and token lifetime, and
the callbacks WeCom makes (``deliver``, ``press``, ``verify_url``: signed and encrypted as WeCom
does, through tests/fakes/wecom_callback.py).

Every API call is recorded; ``fail`` queues failures (an errcode, or an HTTP status) for an
endpoint, ``expire_tokens`` makes every token issued so far expired (errcode 42001). What WeCom
would truncate or refuse in a message (text over 2,048 bytes, a card over its limits) is
recorded in ``violations`` so that tests can insist on none. ``base_url`` goes into
JIANXUE_WECOM__API_BASE_URL; a ``prefix`` serves the API under a path, as a private deployment
may.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.fakes.wecom_callback import CallbackSender

TEXT_BYTES = 2048
CARD_TYPES = {"text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction"}
INTERACTIVE = {"button_interaction", "vote_interaction", "multiple_interaction"}
TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
USER_TYPES = {"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
              "miniprogram_notice", "template_card"}
CHAT_TYPES = {"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown"}


class FakeWecom:
    def __init__(self, *, corp_id: str = "wwfakecorp0001", secret: str = "fake-app-secret", agent_id: int = 1000002,
                 token: str = "cbtoken", aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                 token_ttl: int = 7200, prefix: str = "") -> None:
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.callback_token, self.aes_key, self.token_ttl, self.prefix = token, aes_key, token_ttl, prefix.rstrip("/")
        self.sender = CallbackSender(token=token, aes_key=aes_key, corp_id=corp_id, agent_id=agent_id)
        self.calls: list[tuple[str, dict, dict | None]] = []  # (endpoint, query, JSON body)
        self.violations: list[str] = []
        self.users: dict[str, dict] = {}
        self.chats: dict[str, dict] = {}
        self.cards: dict[str, dict] = {}  # task_id -> template_card sent
        self.response_codes: dict[str, str] = {}  # response code not used yet -> task_id
        self.tokens: dict[str, float] = {}  # access_token -> expiry (time.time())
        self.failures: dict[str, list[tuple[int, dict | None]]] = {}
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> "FakeWecom":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self._answer(None)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length) if length else b"")

            def _answer(self, raw: bytes | None) -> None:
                parts = urlsplit(self.path)
                head = f"{fake.prefix}/cgi-bin/"
                if not parts.path.startswith(head):
                    return self._send(404, {"errcode": 404, "errmsg": "not found"})
                status, body = fake._handle(parts.path[len(head):], dict(parse_qsl(parts.query)), raw)
                self._send(status, body)

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    # -- setting the scene ---------------------------------------------------------------------

    def add_user(self, user_id: str, *, departments: list[int], name: str | None = None) -> None:
        self.users[user_id] = {"userid": user_id, "name": name or user_id, "department": departments,
                               "main_department": departments[0] if departments else 1, "status": 1}

    def fail(self, endpoint: str, *, errcode: int | None = None, status: int = 200, times: int = 1) -> None:
        body = {"errcode": errcode, "errmsg": f"injected error {errcode}"} if errcode is not None else None
        with self._cond:
            self.failures.setdefault(endpoint, []).extend([(status, body)] * times)

    def expire_tokens(self) -> None:
        with self._cond:
            self.tokens = {token: 0.0 for token in self.tokens}

    # -- callbacks, as WeCom makes them -----------------------------------------------------------

    def deliver(self, url: str, xml: str, **kwargs) -> httpx.Response:
        return self.sender.post(url, xml, **kwargs)

    def press(self, url: str, user: str, task_id: str, key: str) -> httpx.Response:
        """A member presses the button ``key`` on the card ``task_id`` that was sent to them."""
        card = self.cards[task_id]
        assert "closed" not in card, f"card {task_id} was greyed out ({card['closed']}): it cannot be pressed"
        keys = [b["key"] for b in card.get("button_list", [])]
        assert key in keys, f"no button {key!r} on card {task_id}: {keys}"
        return self.deliver(url, self.sender.card_event(user, task_id=task_id, event_key=key, card_type=card["card_type"],
                                                        response_code=self._response_code(task_id)))

    def vote(self, url: str, user: str, task_id: str, option_ids: list[str]) -> httpx.Response:
        """A member ticks ``option_ids`` on the vote card ``task_id`` and submits it."""
        card = self.cards[task_id]
        assert "closed" not in card, f"card {task_id} was greyed out ({card['closed']}): it cannot be submitted"
        box = card["checkbox"]
        known = {o["id"] for o in box["option_list"]}
        assert set(option_ids) <= known, f"no options {option_ids} on card {task_id}: {sorted(known)}"
        xml = self.sender.card_event(user, task_id=task_id, event_key=card["submit_button"]["key"], card_type=card["card_type"],
                                     selected={box["question_key"]: option_ids}, response_code=self._response_code(task_id))
        return self.deliver(url, xml)

    def _response_code(self, task_id: str) -> str:
        code = secrets.token_hex(16)
        with self._cond:
            self.response_codes[code] = task_id
        return code

    # -- what the adapter did ------------------------------------------------------------------

    def mark(self) -> int:
        with self._cond:
            return len(self.calls)

    def sent(self, endpoint: str, since: int = 0) -> list[dict]:
        with self._cond:
            return [body or query for e, query, body in self.calls[since:] if e == endpoint]

    def wait_for(self, endpoint: str, predicate=lambda body: True, *, since: int = 0, count: int = 1,
                 timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [body for e, query, body in self.calls[since:] if e == endpoint and predicate(body or query)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e, str(b or q)[:120]) for e, q, b in self.calls[since:]]
                    raise AssertionError(f"no {count} x {endpoint} within {timeout} s; calls: {seen}")
                self._cond.wait(min(left, 0.2))

    # -- the API -------------------------------------------------------------------------------------

    def _handle(self, endpoint: str, query: dict, raw: bytes | None) -> tuple[int, dict]:
        body = None
        if raw is not None:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return 200, {"errcode": 47001, "errmsg": "data format error"}
        with self._cond:
            self.calls.append((endpoint, query, body))
            self._cond.notify_all()
            queued = self.failures.get(endpoint)
            if queued:
                status, failure = queued.pop(0)
                return status, failure or {"errcode": -1, "errmsg": "system busy"}
            if endpoint == "gettoken":
                return 200, self._gettoken(query)
            refused = self._check_token(query.get("access_token"))
            if refused:
                return 200, refused
            route = {"message/send": self._message_send, "appchat/create": self._appchat_create,
                     "appchat/send": self._appchat_send, "appchat/get": self._appchat_get, "user/get": self._user_get,
                     "message/update_template_card": self._update_card}.get(endpoint)
            if route is None:
                return 404, {"errcode": 404, "errmsg": f"no such API: {endpoint}"}
            return 200, route(query, body if isinstance(body, dict) else {})

    def _gettoken(self, query: dict) -> dict:
        if query.get("corpid") != self.corp_id:
            return {"errcode": 40013, "errmsg": "invalid corpid"}
        if query.get("corpsecret") != self.secret:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.time() + self.token_ttl
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}

    def _check_token(self, token: str | None) -> dict | None:
        if not token:
            return {"errcode": 41001, "errmsg": "access_token missing"}
        if token not in self.tokens:
            return {"errcode": 40014, "errmsg": "invalid access_token"}
        if time.time() >= self.tokens[token]:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def _message_send(self, query: dict, body: dict) -> dict:
        if body.get("agentid") != self.agent_id:
            return {"errcode": 40056, "errmsg": "invalid agentid"}
        users = [u for u in str(body.get("touser") or "").split("|") if u]
        invalid = [u for u in users if u not in self.users]
        if not users or len(invalid) == len(users):
            return {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
        problem = self._check_message(body, USER_TYPES)
        if problem:
            return problem
        answer = {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid), "msgid": secrets.token_hex(12)}
        if body["msgtype"] == "template_card" and body["template_card"]["card_type"] in INTERACTIVE:
            answer["response_code"] = secrets.token_hex(16)
            self.response_codes[answer["response_code"]] = body["template_card"]["task_id"]
        return answer

    def _update_card(self, query: dict, body: dict) -> dict:
        if body.get("agentid") != self.agent_id:
            return {"errcode": 40056, "errmsg": "invalid agentid"}
        task_id = self.response_codes.pop(str(body.get("response_code")), None)  # each code works once
        if task_id is None:
            return {"errcode": 40058, "errmsg": "invalid response_code"}  # the fake's code
        if not (body.get("button") or {}).get("replace_name") and "template_card" not in body:
            return {"errcode": 40058, "errmsg": "button.replace_name or template_card required"}
        self.cards[task_id] = {**self.cards[task_id], "closed": body.get("button", {}).get("replace_name", "")}
        return {"errcode": 0, "errmsg": "ok", "invaliduser": ""}

    def _appchat_create(self, query: dict, body: dict) -> dict:
        members = body.get("userlist") or []
        if len(members) < 2 or any(m not in self.users for m in members):
            return {"errcode": 40003, "errmsg": "invalid userid"}
        chat_id = body.get("chatid") or secrets.token_hex(8)
        self.chats[chat_id] = {"chatid": chat_id, "name": body.get("name", ""), "owner": body.get("owner") or members[0],
                               "userlist": members, "chat_type": 0}
        return {"errcode": 0, "errmsg": "ok", "chatid": chat_id}

    def _appchat_get(self, query: dict, body: dict) -> dict:
        chat = self.chats.get(query.get("chatid", ""))
        return {"errcode": 0, "errmsg": "ok", "chat_info": chat} if chat else {"errcode": 86003, "errmsg": "chat not found"}

    def _appchat_send(self, query: dict, body: dict) -> dict:
        if body.get("chatid") not in self.chats:
            return {"errcode": 86003, "errmsg": "chat not found"}  # the fake's code for an unknown chat
        return self._check_message(body, CHAT_TYPES) or {"errcode": 0, "errmsg": "ok"}

    def _user_get(self, query: dict, body: dict) -> dict:
        user = self.users.get(query.get("userid", ""))
        return {"errcode": 0, "errmsg": "ok", **user} if user else {"errcode": 60111, "errmsg": "userid not found"}

    def _check_message(self, body: dict, allowed: set[str]) -> dict | None:
        kind = body.get("msgtype")
        if kind not in allowed or not isinstance(body.get(kind), dict):
            return {"errcode": 40008, "errmsg": f"invalid message type {kind}"}
        if kind in ("text", "markdown"):
            content = body[kind].get("content")
            if not isinstance(content, str) or not content:
                return {"errcode": 44004, "errmsg": "empty content"}
            if len(content.encode()) > TEXT_BYTES:  # WeCom truncates; a test wants none
                self.violations.append(f"{kind} of {len(content.encode())} bytes truncated")
                body[kind]["content"] = content.encode()[:TEXT_BYTES].decode("utf-8", "ignore")
        if kind == "template_card":
            problems = _card_problems(body["template_card"], self.cards)
            if problems:
                self.violations.extend(problems)
                return {"errcode": 40058, "errmsg": "; ".join(problems)}  # the fake's code for a bad card
            self.cards[body["template_card"]["task_id"]] = body["template_card"]
        return None


def _card_problems(card: dict, sent: dict[str, dict]) -> list[str]:
    kind = card.get("card_type")
    if kind not in CARD_TYPES:
        return [f"card_type {kind!r}"]
    problems = []
    task = card.get("task_id")
    if kind in INTERACTIVE and not (isinstance(task, str) and TASK_ID.match(task)):
        problems.append(f"task_id {task!r} is not 1-128 of [0-9A-Za-z_-@]")
    if task in sent:
        problems.append(f"task_id {task!r} used before")
    if not (card.get("main_title") or {}).get("title") and not card.get("sub_title_text"):
        problems.append("neither main_title.title nor sub_title_text")
    if kind == "button_interaction":
        buttons = card.get("button_list") or []
        keys = [b.get("key") for b in buttons]
        if not 1 <= len(buttons) <= 6:
            problems.append(f"{len(buttons)} buttons (1-6)")
        if any(not isinstance(k, str) or not k or len(k.encode()) > 1024 for k in keys) or len(set(keys)) != len(keys):
            problems.append("button keys must be unique, 1-1024 bytes")
    if kind == "vote_interaction":
        box = card.get("checkbox") or {}
        options = box.get("option_list") or []
        ids = [o.get("id") for o in options]
        if not box.get("question_key") or not 1 <= len(options) <= 20 or len(set(ids)) != len(ids):
            problems.append("checkbox needs a question_key and 1-20 options with unique ids")
        if box.get("mode") not in (0, 1) or not (card.get("submit_button") or {}).get("key"):
            problems.append("checkbox mode 0/1 and a submit_button key")
    return problems
