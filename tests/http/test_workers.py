"""Scaled out: several `jianxue serve` workers on a Chroma server and PostgreSQL, as separate
processes over real HTTP. Uploads through one are answered by the others at once, a dead
Chroma or database is a 503 until it is back, and a shared rate limit counts across them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import CORPUS
from tests.servers import (
    DATABASE_URL,
    REDIS_URL,
    ChromaServer,
    TcpProxy,
    free_port,
    needs_redis,
    needs_servers,
    stop_all,
    unique_collection,
    wait_until_up,
)

pytestmark = [pytest.mark.slow, needs_servers]
TEXT = "---\ntitle: 羁押听证指引\nline: criminal\n---\n# 羁押听证指引\n\n羁押必要性审查听证的口令词 ZQXWORKERS 应当记录。\n"


class Deployment:
    """One scaled-out install: its environment, a demo corpus ingested, a trainer's key."""

    def __init__(self, root: Path, *, database_url: str, chroma_url: str, **extra: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}
        self.env.update(JIANXUE_DATA_DIR=str(root / "data"), JIANXUE_EMBEDDER__NAME="hash-64",
                        JIANXUE_DATABASE__URL=database_url, JIANXUE_CHROMA__URL=chroma_url,
                        JIANXUE_CHROMA__COLLECTION=unique_collection(), JIANXUE_ANSWER__MIN_SUPPORT="0.2", **extra)
        self.servers: list[subprocess.Popen] = []

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "assistant", *args], env=self.env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def setup(self) -> str:
        self.cli("ingest", str(CORPUS / "cases"))
        return json.loads(self.cli("keys", "create", "--user", "li", "--role", "trainer", "--dept", "刑事检察部",
                                   "--json"))["key"]

    def serve(self, *, workers: int = 1) -> str:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port), "--workers",
                                   str(workers)], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        self.servers.append(server)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/healthz", process=server)
        return url

    def stop(self) -> None:
        stop_all(self.servers)


@pytest.fixture
def deployment(tmp_path, pg_url, chroma_server):
    made = Deployment(tmp_path, database_url=pg_url, chroma_url=chroma_server.url)
    yield made
    made.stop()


def hits(url: str, key: str, query: str) -> list[dict]:
    r = httpx.post(f"{url}/v1/search", json={"query": query, "k": 5}, headers={"Authorization": f"Bearer {key}"},
                   timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["hits"]


def test_an_upload_through_one_worker_is_found_by_the_other_at_once(deployment):
    key = deployment.setup()
    first, second = deployment.serve(), deployment.serve()
    auth = {"Authorization": f"Bearer {key}"}
    up = httpx.post(f"{first}/v1/documents", files={"file": ("羁押听证.md", TEXT.encode())}, headers=auth, timeout=60)
    assert up.status_code == 201, up.text
    doc = up.json()["doc_id"]
    assert hits(second, key, "ZQXWORKERS 羁押听证")[0]["doc_id"] == doc
    assert httpx.delete(f"{second}/v1/documents/{doc}", headers=auth, timeout=60).status_code == 200
    assert all(h["doc_id"] != doc for h in hits(first, key, "ZQXWORKERS 羁押听证"))
    # a CLI ingest beside running servers goes through the same lock and is seen at once
    extra = Path(deployment.env["JIANXUE_DATA_DIR"]).parent / "extra"
    extra.mkdir()
    (extra / "指引.md").write_text(TEXT.replace("ZQXWORKERS", "ZQXCLIINGEST"), encoding="utf-8")
    deployment.cli("ingest", str(extra))
    assert hits(first, key, "ZQXCLIINGEST")[0]["title"] == "羁押听证指引"


def test_several_workers_behind_one_port(deployment):
    key = deployment.setup()
    url = deployment.serve(workers=2)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
        assert client.post("/v1/documents", files={"file": ("听证.md", TEXT.encode())}).status_code == 201
        found = [client.post("/v1/search", json={"query": "ZQXWORKERS", "k": 3}).json()["hits"] for _ in range(12)]
    assert all(h and h[0]["title"] == "羁押听证指引" for h in found)


def test_a_dead_chroma_server_is_a_503_until_it_is_back(tmp_path, pg_url):
    chroma = ChromaServer(tmp_path / "own-chroma").start()
    made = Deployment(tmp_path, database_url=pg_url, chroma_url=chroma.url)
    try:
        key = made.setup()
        url = made.serve()
        chroma.stop()
        r = httpx.post(f"{url}/v1/search", json={"query": "正当防卫"}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 503 and r.headers["retry-after"] and r.json()["error"]["code"] == "store_unavailable"
        assert httpx.get(f"{url}/healthz").status_code == 503
        chroma.start()
        assert hits(url, key, "正当防卫")  # the same server process, no restart
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    finally:
        made.stop()
        chroma.stop()


def test_a_dead_database_is_a_503_until_it_is_back(tmp_path, pg_url, chroma_server):
    target = make_url(DATABASE_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    through = make_url(pg_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    made = Deployment(tmp_path, database_url=through, chroma_url=chroma_server.url)
    try:
        key = made.setup()
        url = made.serve()
        proxy.cut()
        r = httpx.post(f"{url}/v1/search", json={"query": "正当防卫"}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 503 and r.headers["retry-after"]
        assert r.json()["error"]["code"] in ("database_unavailable", "store_unavailable")
        proxy.mend()
        assert hits(url, key, "正当防卫")
    finally:
        made.stop()
        proxy.cut()


@needs_redis
def test_the_rate_limit_is_shared_by_the_workers(tmp_path, pg_url, chroma_server):
    made = Deployment(tmp_path, database_url=pg_url, chroma_url=chroma_server.url, JIANXUE_HTTP__REDIS_URL=REDIS_URL,
                      JIANXUE_HTTP__BURST="4", JIANXUE_HTTP__RATE_PER_MINUTE="2")
    try:
        key = made.setup()
        urls = [made.serve(), made.serve()]
        codes = [httpx.get(f"{urls[i % 2]}/v1/progress/me", headers={"Authorization": f"Bearer {key}"}).status_code
                 for i in range(6)]
        assert codes[:4] == [200] * 4 and codes[4:] == [429, 429]  # four in all, not four per worker
    finally:
        made.stop()
