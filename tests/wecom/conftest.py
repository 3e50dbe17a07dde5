"""The WeCom adapter over real HTTP on 127.0.0.1: a fake WeCom (tests/fakes/wecom_server.py) and
the callback app served by uvicorn in a thread, as `jianxue bot wecom` serves it — over the real
conversation core and Assistant (the demo corpus, one restricted case per department, the hash
embedder), or, for the platform layer's own tests, over a core that replies from a function."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings, WecomSettings, load_settings
from assistant.conversation.messages import Incoming, Push
from assistant.conversation.store import ConversationStore
from assistant.index.embedders import HashEmbedder
from assistant.service import Assistant, build_assistant
from tests.conftest import CORPUS, ingested_copy, write_restricted_cases
from tests.fakes.wecom_server import FakeWecom
from tests.servers import free_port

ZHANG, LI = "zhangsan", "lisi"  # members of the organisation; ZHANG in departments 2 and 7, LI in 3
ZHAO, STRANGER = "zhaoliu", "wangwu"  # ZHAO in department 12; STRANGER is in the directory but not admitted


@pytest.fixture
def fake() -> Iterator[FakeWecom]:
    fake = FakeWecom().start()
    fake.add_user(ZHANG, departments=[2, 7], name="张三")
    fake.add_user(LI, departments=[3], name="李四")
    fake.add_user(ZHAO, departments=[12], name="赵六")
    fake.add_user(STRANGER, departments=[3], name="王五")
    yield fake
    fake.stop()


def wecom_settings(fake: FakeWecom, **extra) -> WecomSettings:
    return WecomSettings(corp_id=fake.corp_id, agent_id=fake.agent_id, secret=fake.secret, token=fake.callback_token,
                         aes_key=fake.aes_key, api_base_url=fake.base_url, port=free_port(), **extra)


settings_for = wecom_settings  # the name the client tests use


class RunningCallback:
    """A Starlette app served by uvicorn in a thread with its own event loop."""

    def __init__(self, app, wecom: WecomSettings) -> None:
        import uvicorn

        self.wecom = wecom
        config = uvicorn.Config(app, host="127.0.0.1", port=wecom.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.wecom.port}{self.wecom.path}"

    def start(self) -> "RunningCallback":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the callback server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=40)
        assert not self.thread.is_alive(), "the callback server did not stop"


# -- the platform layer over a core that replies from a function ---------------------------------


class FunctionCore:
    """Replies from ``handler(incoming) -> list[Reply]``; ``queued`` pushes handed out once, and
    what it was asked for them remembered."""

    def __init__(self, handler, pushes: list[Push] | None = None) -> None:
        self.handler, self.queued = handler, list(pushes or [])
        self.asked: list[tuple[str, float]] = []
        self.entered = self.exited = 0

    async def handle(self, incoming: Incoming):
        for reply in await self.handler(incoming):
            yield reply

    def pushes(self, channel: str, *, nudge_hours: float) -> list[Push]:
        self.asked.append((channel, nudge_hours))
        pushes, self.queued = self.queued, []
        return pushes

    @contextlib.asynccontextmanager
    async def __call__(self):
        self.entered += 1
        try:
            yield self
        finally:
            self.exited += 1


@pytest.fixture
def serve(fake):
    """serve(handler, **wecom settings) -> the callback app over ``FunctionCore(handler)``, talking to ``fake``."""
    from bots.wecom.app import callback_app

    running: list[RunningCallback] = []

    def start(handler, *, pushes=None, push_check_s: float = 3600, **extra) -> RunningCallback:
        wecom = wecom_settings(fake, **extra)
        core = handler if isinstance(handler, FunctionCore) else FunctionCore(handler, pushes)
        app = RunningCallback(callback_app(wecom, core, push_check_s=push_check_s), wecom).start()
        running.append(app)
        return app

    yield start
    for app in running:
        app.stop()


# -- the whole adapter over the real core ----------------------------------------------------------


class CountingAssistant(Assistant):
    """The real Assistant, counting what reached retrieval (to show a refusal came first)."""

    asked = 0

    def search(self, *args, **kwargs):
        type(self).asked += 1
        return super().search(*args, **kwargs)


def bot_settings(data_dir: Path, fake: FakeWecom, **extra) -> Settings:
    wecom = wecom_settings(fake, **extra.pop("wecom", {})).model_dump()
    return load_settings(data_dir=data_dir, embedder={"name": "hash-64"}, answer={"min_support": 0.2},
                         wecom=wecom, **extra)


def counting(settings: Settings) -> Assistant:
    return CountingAssistant(settings, embedder=HashEmbedder(64))


def store_for(settings: Settings) -> ConversationStore:
    return ConversationStore(build_assistant(settings, embedder=HashEmbedder(64)).docstore.engine)


def start_bot(settings: Settings, factory=counting, **build) -> RunningCallback:
    from bots.wecom.app import build_app

    return RunningCallback(build_app(settings, assistant_factory=factory, **build), settings.wecom).start()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """The demo corpus and one case per department that only that department may read."""
    root = tmp_path_factory.mktemp("wecom")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    write_restricted_cases(corpus)
    return root


@pytest.fixture
def data_dir(corpus_dir, tmp_path) -> Path:
    """A fresh data directory with the corpus ingested (copied from a module-wide one)."""
    return ingested_copy(corpus_dir / "corpus", template=corpus_dir / "template", target=tmp_path / "data")


@pytest.fixture
def bot(fake, data_dir) -> Iterator[RunningCallback]:
    """`jianxue bot wecom` in a thread; ZHANG a learner of 刑事检察部, LI of 民事检察部."""
    settings = bot_settings(data_dir, fake)
    store = store_for(settings)
    store.allow("wecom", ZHANG, role="learner", departments=("刑事检察部",), user="zhang")
    store.allow("wecom", LI, role="learner", departments=("民事检察部",), user="li")
    running = start_bot(settings)
    running.settings, running.store = settings, store
    yield running
    running.stop()
