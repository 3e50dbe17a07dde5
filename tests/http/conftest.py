"""A real uvicorn server on 127.0.0.1 for black-box tests, over a data directory with
department marker documents."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from assistant.config import load_settings
from assistant.index.embedders import HashEmbedder
from assistant.service import build_assistant
from bots.http.app import create_app
from tests.conftest import CORPUS, DEPARTMENTS, marker, write_restricted_cases

__all__ = ["DEPARTMENTS", "marker", "serve"]


@dataclass
class Server:
    url: str
    assistant: object
    keys: dict[str, str]
    data_dir: Path

    def client(self, who: str | None = None, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)

    def audit(self) -> list[dict]:
        import json

        path = self.data_dir / "audit.log"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def serve(root: Path, *, http: dict | None = None) -> Iterator[Server]:
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    write_restricted_cases(corpus)
    settings = load_settings(data_dir=root / "data", embedder={"name": "hash-64"}, answer={"min_support": 0.2},
                             http=http or {})
    assistant = build_assistant(settings, embedder=HashEmbedder(64))
    assistant.ingest([corpus])
    keys = {}
    for name, role, depts in (("crim", "learner", ("刑事检察部",)), ("civil", "learner", ("民事检察部",)),
                              ("trainer_crim", "trainer", ("刑事检察部",)), ("trainer_civil", "trainer", ("民事检察部",)),
                              ("admin", "admin", ())):
        keys[name] = assistant.keys.create(user=name, role=role, departments=depts)[1]
    server, thread, url = start(create_app(assistant))
    try:
        yield Server(url=url, assistant=assistant, keys=keys, data_dir=settings.data_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[Server]:
    yield from serve(tmp_path_factory.mktemp("api"))
