"""The long-connection side of the fake Feishu (tests/fakes/feishu_server.py): ``POST
/callback/ws/endpoint`` ({AppID, AppSecret}) answers a WebSocket URL with device_id and service_id in
its query, good for one connection, and the client config; on that WebSocket events go out as
protobuf DATA frames and the client's answers (the same frame back, payload {"code", "data": base64})
are kept; its ping frames get pong frames carrying the client config."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed

from tests.fakes.feishu_wire import CONTROL, DATA, decode_frame, encode_frame


class LongConnectionSide:
    """Mixed into FakeFeishu, whose ``__init__`` sets the attributes used here."""

    app_id: str
    app_secret: str
    client_config: dict
    answers: list[dict]
    pings: int
    _devices: dict[str, float]
    _connections: list[dict]
    _cond: threading.Condition
    _loop: asyncio.AbstractEventLoop | None
    _ws_done: asyncio.Future | None
    _ws_port: int

    def _endpoint(self, body: dict) -> tuple[int, dict]:
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return 200, {"code": 10014, "msg": "app secret invalid"}
        device = uuid.uuid4().hex
        self._devices[device] = time.time() + 300
        url = f"ws://127.0.0.1:{self._ws_port}/ws?device_id={device}&service_id=7&access_key=x&ticket=y"
        return 200, {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": self.client_config}}

    def _ws_check(self, connection, request):  # the device id of the URL /callback/ws/endpoint gave
        parts = urlsplit(request.path)
        device = parse_qs(parts.query).get("device_id", [""])[0]
        with self._cond:
            until = self._devices.pop(device, None)  # one connection per URL
        if parts.path != "/ws" or until is None or time.time() > until:
            response = connection.respond(403, "forbidden\n")
            response.headers["handshake-status"] = "403"
            response.headers["handshake-msg"] = "invalid connection url"
            return response
        return None

    async def _ws_session(self, ws) -> None:
        conn = {"ws": ws, "closed": False}
        with self._cond:
            self._connections.append(conn)
            self._cond.notify_all()
        try:
            async for raw in ws:
                frame = decode_frame(raw)
                kind = frame["headers"].get("type")
                if frame["method"] == CONTROL and kind == "ping":
                    with self._cond:
                        self.pings += 1
                    await ws.send(encode_frame(method=CONTROL, service=frame["service"], headers={"type": "pong"},
                                               payload=json.dumps(self.client_config).encode()))
                elif frame["method"] == DATA:
                    answer = json.loads(frame["payload"])
                    data = answer.get("data")
                    with self._cond:
                        self.answers.append({"message_id": frame["headers"].get("message_id"),
                                             "code": answer.get("code"),
                                             "data": json.loads(base64.b64decode(data)) if data else None})
                        self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                conn["closed"] = True
                self._cond.notify_all()

    def connected(self, *, count: int = 1, timeout: float = 30) -> dict:
        """Waits until ``count`` connections were opened in all; the newest open one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                open_ = [c for c in self._connections if not c["closed"]]
                if len(self._connections) >= count and open_:
                    return open_[-1]
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {count} connection(s): {len(self._connections)} opened")
                self._cond.wait(0.1)

    @property
    def connections_opened(self) -> int:
        with self._cond:
            return len(self._connections)

    def open_connections(self, *, settle: float = 10) -> int:
        """How many connections are still open, waiting up to ``settle`` seconds for them to close:
        the client's close handshake returns before the server's session has run its last line."""
        deadline = time.monotonic() + settle
        with self._cond:
            while True:
                still = sum(not c["closed"] for c in self._connections)
                if not still or time.monotonic() > deadline:
                    return still
                self._cond.wait(0.1)

    def drop(self) -> None:
        """Closes the open long connection, as a server going away does."""
        conn = self.connected()
        asyncio.run_coroutine_threadsafe(conn["ws"].close(1001, "going away"), self._loop).result(5)  # type: ignore

    def push(self, event: dict, *, timeout: float = 10) -> dict:
        """``event`` as a DATA frame on the open long connection; the client's answer to it."""
        conn = self.connected()
        frame_id = uuid.uuid4().hex
        payload = json.dumps(event, ensure_ascii=False).encode()
        frame = encode_frame(method=DATA, service=7, seq_id=1, log_id=2, payload=payload,
                             headers={"type": "event", "message_id": frame_id, "sum": "1", "seq": "0",
                                      "trace_id": uuid.uuid4().hex})
        asyncio.run_coroutine_threadsafe(conn["ws"].send(frame), self._loop).result(5)  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [a for a in self.answers if a["message_id"] == frame_id]
                if found:
                    return found[0]
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer to frame {frame_id} within {timeout} s")
                self._cond.wait(0.1)
