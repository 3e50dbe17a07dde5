"""A scaled-out jianxue for the benchmarks: `chroma run`, a fresh PostgreSQL schema, N
`jianxue serve` processes (what a load balancer spreads requests over), and clean-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import ChromaServer, free_port, stop_all, wait_until_up, with_schema  # shared with the tests

DEFAULT_DATABASE = os.environ.get("JIANXUE_TEST_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


def cli(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "assistant", *args], env=env, capture_output=True, text=True,
                          timeout=3600)
    if done.returncode:
        raise SystemExit(f"jianxue {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def wait_healthy(url: str, timeout: float = 120) -> None:
    try:
        wait_until_up(f"{url}/healthz", timeout=timeout)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


@dataclass
class Scaled:
    env: dict[str, str]
    work: Path
    urls: list[str] = field(default_factory=list)
    servers: list[subprocess.Popen] = field(default_factory=list)

    def key(self, user: str, role: str = "learner") -> str:
        return json.loads(cli(self.env, "keys", "create", "--user", user, "--role", role, "--dept", "刑事检察部",
                              "--json"))["key"]

    def serve(self, count: int) -> list[str]:
        log = (self.work / "server.log").open("a")
        for _ in range(count):
            port = free_port()
            self.servers.append(subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)],
                                                 env=self.env, stdout=log, stderr=log, text=True))
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            wait_healthy(url)
        return self.urls

    def log(self) -> str:
        path = self.work / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def scaled(database: str = DEFAULT_DATABASE, *, prefix: str = "jianxue-scaled-"):
    """Chroma server + a PostgreSQL schema of its own + a data directory; servers started with
    ``serve`` are stopped and everything dropped on the way out."""
    from sqlalchemy import create_engine, text

    work = Path(tempfile.mkdtemp(prefix=prefix))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    chroma = ChromaServer(work / "chroma").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")}
    env.update(JIANXUE_DATA_DIR=str(work / "data"), JIANXUE_DATABASE__URL=with_schema(database, schema),
               JIANXUE_CHROMA__URL=chroma.url, JIANXUE_HTTP__RATE_PER_MINUTE="10000000",
               JIANXUE_HTTP__BURST="10000000")
    deployment = Scaled(env, work)
    try:
        yield deployment
    finally:
        stop_all(deployment.servers, timeout=60)
        chroma.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
