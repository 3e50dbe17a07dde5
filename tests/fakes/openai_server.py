"""An OpenAI-compatible chat server on 127.0.0.1 for tests: the real langchain-openai client
talks HTTP to it (and the real langchain-ollama client to its /api/chat). Each request takes the next scripted reply (or the default one) and is
recorded, so tests can look at exactly what the model was sent."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Content = str | Callable[[dict], str]


@dataclass
class Reply:
    content: Content = ""
    status: int = 200
    delay: float = 0.0  # seconds before the first byte
    fail_after: int | None = None  # stream: cut the connection after this many chunks


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.default = Reply("好的。")
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def then(self, content: Content = "", **kwargs) -> "FakeOpenAI":
        self.script.append(Reply(content, **kwargs))
        return self

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> Reply:
        return self.script.popleft() if self.script else self.default

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the model list an OpenAI-compatible server gives
                if self.path.endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                elif self.path == "/api/tags":
                    self._json(200, {"models": [{"name": "fake-model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path == "/api/chat":
                    self._ollama(body)
                    return
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                fake.requests.append(body)
                reply = fake._next()
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._json(reply.status, {"error": {"message": "scripted failure", "type": "server_error"}})
                    return
                content = reply.content(body) if callable(reply.content) else reply.content
                if body.get("stream"):
                    self._stream(body, content, reply.fail_after)
                else:
                    self._json(200, {
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    })

            def _ollama(self, body: dict) -> None:
                fake.requests.append(body)
                reply = fake._next()
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._json(reply.status, {"error": "scripted failure"})
                    return
                content = reply.content(body) if callable(reply.content) else reply.content
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ")
                pieces = [content[i:i + 7] for i in range(0, len(content), 7)] if body.get("stream", True) else [content]
                lines = [{"model": body.get("model"), "created_at": stamp, "message": {"role": "assistant", "content": p},
                          "done": False} for p in pieces]
                lines.append({"model": body.get("model"), "created_at": stamp, "message": {"role": "assistant", "content": ""},
                              "done": True, "done_reason": "stop", "total_duration": 1, "eval_count": 1,
                              "prompt_eval_count": 1})
                raw = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _json(self, status: int, data: dict) -> None:
                raw = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, body: dict, content: str, fail_after: int | None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [content[i:i + 7] for i in range(0, len(content), 7)]
                for i, piece in enumerate(pieces):
                    if fail_after is not None and i >= fail_after:
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        return
                    self._event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                                              "finish_reason": None}]}, body)
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, body)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, data: dict, body: dict) -> None:
                data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": body.get("model", "fake"), **data}
                self.wfile.write(f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()

        return Handler


def passages_of(request: dict) -> dict[int, str]:
    """The numbered passages a request carried, as the model saw them."""
    import re

    prompt = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
    return {int(n): text.strip() for n, text in re.findall(r'<资料 编号="(\d+)"[^>]*>\n(.*?)\n</资料>', prompt, re.S)}
