"""Real servers for the scaled-out tests: a `chroma run` started here on 127.0.0.1, the
PostgreSQL (and Redis) that run on the machine, and a TCP proxy to cut connections to them.

They run when the environment names them, as .ci/run does:

    JIANXUE_TEST_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test
    JIANXUE_TEST_CHROMA=1                      # start `chroma run` for the tests
    JIANXUE_TEST_REDIS_URL=redis://127.0.0.1:6379/15

and are skipped, with that reason, where it does not.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

DATABASE_URL = os.environ.get("JIANXUE_TEST_DATABASE_URL")
CHROMA = os.environ.get("JIANXUE_TEST_CHROMA") == "1"
REDIS_URL = os.environ.get("JIANXUE_TEST_REDIS_URL")

needs_postgres = pytest.mark.skipif(
    not DATABASE_URL, reason="PostgreSQL tests need JIANXUE_TEST_DATABASE_URL (.ci/run sets it)")
needs_chroma = pytest.mark.skipif(not CHROMA, reason="Chroma server tests need JIANXUE_TEST_CHROMA=1 (.ci/run sets it)")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="Redis tests need JIANXUE_TEST_REDIS_URL (.ci/run sets it)")
needs_servers = pytest.mark.skipif(
    not (DATABASE_URL and CHROMA),
    reason="server-mode tests need JIANXUE_TEST_DATABASE_URL and JIANXUE_TEST_CHROMA=1 (.ci/run sets them)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, *, process: subprocess.Popen | None = None, timeout: float = 90) -> None:
    """Until ``url`` answers 200; fails early with the process's stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process is not None and process.poll() is not None:
            detail = process.stderr.read() if process.stderr is not None else f"exit {process.returncode}"
            raise RuntimeError(f"{url}: the process exited: {detail}")
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop_all(processes: list[subprocess.Popen], timeout: float = 20) -> None:
    """Terminate, then kill what does not stop in time."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- PostgreSQL: a fresh schema per test ------------------------------------------------------------


def with_schema(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schemas() -> Iterator:
    """Makes PostgreSQL URLs whose tables live in schemas of their own, all dropped afterwards."""
    if not DATABASE_URL:
        pytest.skip("PostgreSQL tests need JIANXUE_TEST_DATABASE_URL (.ci/run sets it)")
    from sqlalchemy import create_engine, text

    admin = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def new() -> str:
        schema = f"jx_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        return with_schema(DATABASE_URL, schema)

    try:
        yield new
    finally:
        with admin.connect() as conn:
            for schema in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_schemas) -> str:
    """A PostgreSQL URL whose tables live in a schema of their own, dropped afterwards."""
    return pg_schemas()


# -- Chroma server ----------------------------------------------------------------------------------


class ChromaServer:
    """`chroma run` on a free port over a folder; can be killed and started again on both."""

    def __init__(self, path: Path) -> None:
        self.path, self.port = path, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ChromaServer":
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        self.process = subprocess.Popen([chroma, "run", "--path", str(self.path), "--host", "127.0.0.1",
                                         "--port", str(self.port)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_until_up(f"{self.url}/api/v2/heartbeat", process=self.process, timeout=60)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_all([self.process])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory) -> Iterator[ChromaServer]:
    if not CHROMA:
        pytest.skip("Chroma server tests need JIANXUE_TEST_CHROMA=1 (.ci/run sets it)")
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server")).start()
    yield server
    server.stop()


def unique_collection() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def server_settings(tmp_path, pg_url, chroma_server):
    """Settings of a scaled-out deployment: PostgreSQL, Chroma server, a collection of its own."""
    from assistant.config import load_settings

    return load_settings(data_dir=tmp_path / "data", embedder={"name": "hash-64"},
                         database={"url": pg_url}, chroma={"url": chroma_server.url, "collection": unique_collection()})


# -- cutting connections ------------------------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:port -> target; ``cut()`` closes every connection and refuses new ones until ``mend()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._open.clear()

    def mend(self) -> None:
        self.start()
