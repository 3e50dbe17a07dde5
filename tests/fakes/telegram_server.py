"""A Telegram Bot API double on 127.0.0.1 for the real python-telegram-bot client.

It answers the methods the bot uses with well-formed Bot API objects, hands queued updates
to getUpdates (long polling), and records every call, so a test can feed a message and
wait for what the bot did about it. ``base_url`` goes into JIANXUE_TELEGRAM__BASE_URL.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

BOT = {"id": 4242, "is_bot": True, "first_name": "检学", "username": "jianxue_bot"}
TRUE_METHODS = {"deleteWebhook", "setWebhook", "setMyCommands", "answerCallbackQuery", "sendChatAction", "close",
                "logOut", "deleteMyCommands"}


class FakeBotAPI:
    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token = token
        self.calls: list[tuple[str, dict]] = []
        self._updates: list[dict] = []
        self._cond = threading.Condition()
        self._next_update = 1
        self._next_message = 100
        self._next_poll = 5000
        self.failures: dict[str, list[tuple[int, dict]]] = {}  # method -> queued (status, body) answers
        self._server: ThreadingHTTPServer | None = None

    # -- running ---------------------------------------------------------------------------

    def start(self) -> "FakeBotAPI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                method = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith(f"/bot{fake.token}/"):
                    return self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                status, body = fake._handle(method, _params(raw, self.headers.get("Content-Type", "")))
                self._send(status, body)

            do_GET = do_POST  # noqa: N815

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the bot stopped mid long-poll
                    pass

            def log_message(self, *args):  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with self._cond:
                self._cond.notify_all()
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    # -- feeding updates ----------------------------------------------------------------------

    def push(self, update: dict) -> int:
        with self._cond:
            if "update_id" not in update:
                update = {"update_id": self._next_update, **update}
            self._next_update = max(self._next_update, update["update_id"] + 1)  # Telegram's ids only grow
            self._updates.append(update)
            self._cond.notify_all()
        return update["update_id"]

    def message(self, user_id: int, text: str, *, chat_id: int | None = None) -> int:
        chat_id = chat_id or user_id
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
        return self.push({"message": {
            "message_id": self._message_id(), "date": int(time.time()), "text": text, "entities": entities,
            "chat": {"id": chat_id, "type": "private"}, "from": _user(user_id)}})

    def press(self, user_id: int, message: dict, data: str) -> int:
        return self.push({"callback_query": {
            "id": f"cb{time.time_ns()}", "from": _user(user_id), "chat_instance": "ci", "data": data,
            "message": message}})

    def answer_poll(self, user_id: int, poll_id: str, option_ids: list[int]) -> int:
        return self.push({"poll_answer": {"poll_id": poll_id, "user": _user(user_id), "option_ids": option_ids,
                                          "option_persistent_ids": [f"o{i}" for i in option_ids]}})

    # -- what the bot did ---------------------------------------------------------------------

    def sent(self, method: str, since: int = 0) -> list[dict]:
        with self._cond:
            return [p for m, p in self.calls[since:] if m == method]

    def mark(self) -> int:
        with self._cond:
            return len(self.calls)

    def wait_for(self, method: str, predicate=lambda p: True, *, since: int = 0, count: int = 1,
                 timeout: float = 20) -> list[dict]:
        """The first ``count`` calls of ``method`` after ``since`` that match; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [p for m, p in self.calls[since:] if m == method and predicate(p)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m, str(p)[:120]) for m, p in self.calls[since:]]
                    raise AssertionError(f"no {count} x {method} within {timeout} s; calls: {seen}")
                self._cond.wait(min(left, 0.2))

    # -- the API ---------------------------------------------------------------------------------

    def _handle(self, method: str, params: dict) -> tuple[int, dict]:
        if method != "getUpdates":
            with self._cond:
                self.calls.append((method, params))
                self._cond.notify_all()
                queued = self.failures.get(method)
                if queued:
                    return queued.pop(0)
        if method == "getMe":
            return 200, {"ok": True, "result": BOT}
        if method in TRUE_METHODS:
            return 200, {"ok": True, "result": True}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._take(int(params.get("offset") or 0), float(params.get("timeout") or 0))}
        if method in ("sendMessage", "editMessageText"):
            params["sent_id"] = int(params.get("message_id") or self._message_id())  # what the bot gets back
            message = {"message_id": params["sent_id"], "date": int(time.time()),
                       "chat": {"id": int(params["chat_id"]), "type": "private"}, "from": BOT, "text": params["text"]}
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            return 200, {"ok": True, "result": message}
        if method == "sendPoll":
            options = [o["text"] if isinstance(o, dict) else o for o in params["options"]]
            with self._cond:
                self._next_poll += 1
                poll_id = str(self._next_poll)
            params["poll_id"] = poll_id
            poll = {"id": poll_id, "question": params["question"], "options": [{"text": o, "voter_count": 0, "persistent_id": f"o{i}"} for i, o in enumerate(options)],
                    "total_voter_count": 0, "is_closed": False, "is_anonymous": bool(params.get("is_anonymous", True)),
                    "type": params.get("type", "regular"),
                    "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
                    "allows_revoting": False, "members_only": False}
            return 200, {"ok": True, "result": {"message_id": self._message_id(), "date": int(time.time()),
                                                "chat": {"id": int(params["chat_id"]), "type": "private"},
                                                "from": BOT, "poll": poll}}
        return 404, {"ok": False, "error_code": 404, "description": f"Not Found: method {method}"}

    def _take(self, offset: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + min(timeout, 1.0)
        with self._cond:
            while True:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or time.monotonic() >= deadline:
                    return list(self._updates)
                self._cond.wait(max(0.0, deadline - time.monotonic()))

    def _message_id(self) -> int:
        with self._cond:
            self._next_message += 1
            return self._next_message


def _user(user_id: int) -> dict:
    return {"id": user_id, "is_bot": False, "first_name": f"用户{user_id}", "language_code": "zh-hans"}


def _params(raw: bytes, content_type: str) -> dict:
    if not raw:
        return {}
    if "json" in content_type:
        return json.loads(raw)
    out = {}
    for key, value in parse_qsl(raw.decode(), keep_blank_values=True):
        try:
            out[key] = json.loads(value) if value[:1] in "[{" or value in ("true", "false") else value
        except ValueError:
            out[key] = value
    return out
