"""What the DingTalk and Feishu fakes share: a JSON API over HTTP and a WebSocket server, both on
127.0.0.1, each on a thread of its own, started and stopped together."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve


class ApiAndSocket:
    """A subclass answers ``_api(method, path, query, body, headers) -> (status, answer)``, says
    what its platform answers to a body that is not JSON (``_not_json``), and serves the socket
    with ``_ws_session(ws)`` behind ``_ws_check(connection, request)`` (None lets it in)."""

    content_type = "application/json; charset=utf-8"

    def __init__(self) -> None:
        self._http: ThreadingHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws_done: asyncio.Future | None = None
        self._ws_thread: threading.Thread | None = None
        self._ws_port = 0

    def _not_json(self) -> dict:
        raise NotImplementedError

    def _api(self, method: str, path: str, query: dict, body: dict, headers: dict) -> tuple[int, dict]:
        raise NotImplementedError

    def _ws_check(self, connection, request):
        raise NotImplementedError

    async def _ws_session(self, ws) -> None:
        raise NotImplementedError

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return self._send(400, fake._not_json())
                self._send(*fake._api(self.command, parts.path, query, body, dict(self.headers)))

            do_GET = do_POST  # noqa: N815

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", fake.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        ready = threading.Event()
        self._ws_thread = threading.Thread(target=self._run_ws, args=(ready,), daemon=True)
        self._ws_thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake's WebSocket server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._ws_done is not None:
            self._loop.call_soon_threadsafe(self._ws_done.set_result, None)
            self._ws_thread.join(timeout=10)  # type: ignore[union-attr]
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    @property
    def _address(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def _run_ws(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._ws_done = self._loop.create_future()  # type: ignore[union-attr]
            async with serve(self._ws_session, "127.0.0.1", 0, process_request=self._ws_check) as server:
                self._ws_port = next(iter(server.sockets)).getsockname()[1]
                ready.set()
                await self._ws_done

        self._loop.run_until_complete(main())
        left = asyncio.all_tasks(self._loop)  # e.g. a close_later() the client beat to it
        for task in left:
            task.cancel()
        if left:
            self._loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        self._loop.close()
