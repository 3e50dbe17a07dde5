"""The Feishu adapter over real HTTP on 127.0.0.1: a fake Feishu (tests/fakes/feishu_server.py),
and the bot as `jianxue bot feishu` runs it — the webhook app served by uvicorn in a thread, or
the long-connection runner in a thread with its own event loop — over the real conversation
core and Assistant (the demo corpus, one restricted case per department, the hash embedder),
or, for the platform layer's own tests, over a core that replies from a function."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.config import FeishuSettings, Settings, load_settings
from assistant.conversation.messages import Incoming, Push
from assistant.conversation.store import ConversationStore
from assistant.index.embedders import HashEmbedder
from assistant.service import Assistant, build_assistant
from tests.conftest import CORPUS, ingested_copy, write_restricted_cases
from tests.fakes.feishu_server import FakeFeishu
from tests.servers import free_port

CHANNEL = "feishu"
ZHANG, LI = "ou_" + "a1" * 16, "ou_" + "a2" * 16  # learners of 刑事检察部 / 民事检察部; departments d-2 and d-3
ZHAO, STRANGER = "ou_" + "a3" * 16, "ou_" + "a4" * 16  # ZHAO in d-12; STRANGER in the directory, not admitted
GROUP = "oc_" + "9f" * 16  # a group chat with all four and the bot


@pytest.fixture
def fake() -> Iterator[FakeFeishu]:
    fake = FakeFeishu().start()
    fake.add_user(ZHANG, departments=["d-2", "d-7"], name="张三")
    fake.add_user(LI, departments=["d-3"], name="李四")
    fake.add_user(ZHAO, departments=["d-12"], name="赵六")
    fake.add_user(STRANGER, departments=["d-3"], name="王五")
    fake.add_chat(GROUP, [ZHANG, LI, ZHAO, STRANGER])
    yield fake
    fake.stop()


def feishu_settings(fake: FakeFeishu, **extra) -> FeishuSettings:
    return FeishuSettings(**fake.settings(port=free_port(), **extra))


class RunningWebhook:
    """A Starlette app served by uvicorn in a thread with its own event loop."""

    def __init__(self, app, feishu: FeishuSettings) -> None:
        import uvicorn

        self.feishu = feishu
        config = uvicorn.Config(app, host="127.0.0.1", port=feishu.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.feishu.port}{self.feishu.path}"

    def start(self) -> "RunningWebhook":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the webhook server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=40)
        assert not self.thread.is_alive(), "the webhook server did not stop"


class RunningRunner:
    """``await runner.serve()`` in a thread with its own event loop (as `jianxue bot feishu` runs it in
    ws mode), stopped with ``await runner.stop()``."""

    def __init__(self, make: Callable[[], object]) -> None:
        self.make, self.target = make, None
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self._ready = threading.Event()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.target = self.make()
            self._ready.set()
            await self.target.serve()  # type: ignore[attr-defined]

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc
        finally:
            self._ready.set()
            self.loop.close()

    def start(self, fake: FakeFeishu, *, connect: bool = True) -> "RunningRunner":
        opened = fake.connections_opened
        self.thread.start()
        self._ready.wait(30)
        if connect:
            fake.connected(count=opened + 1, timeout=60)
        return self

    def stop(self) -> None:
        if self.target is not None and self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.target.stop(), self.loop).result(30)  # type: ignore[attr-defined]
        self.thread.join(timeout=40)
        assert not self.thread.is_alive(), "the runner did not stop"
        if self.error is not None:
            raise self.error


# -- the platform layer over a core that replies from a function ---------------------------------


class FunctionCore:
    """Replies from ``handler(incoming) -> list[Reply]``; ``queued`` pushes handed out once."""

    def __init__(self, handler, pushes: list[Push] | None = None) -> None:
        self.handler, self.queued = handler, list(pushes or [])
        self.seen: list[Incoming] = []
        self.entered = self.exited = 0

    async def handle(self, incoming: Incoming):
        self.seen.append(incoming)
        for reply in await self.handler(incoming):
            yield reply

    def pushes(self, channel: str, *, nudge_hours: float) -> list[Push]:
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
    """serve(handler, **feishu settings) -> the webhook app over ``FunctionCore(handler)``."""
    from bots.feishu.app import webhook_app

    running: list[RunningWebhook] = []

    def start(handler, *, pushes=None, push_check_s: float | None = None, **extra) -> RunningWebhook:
        feishu = feishu_settings(fake, **extra)
        core = handler if isinstance(handler, FunctionCore) else FunctionCore(handler, pushes)
        app = RunningWebhook(webhook_app(feishu, core, push_check_s=push_check_s), feishu).start()
        app.core = core
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


def bot_settings(data_dir: Path, fake: FakeFeishu, **extra) -> Settings:
    feishu = fake.settings(port=free_port(), nudge_hours=0) | extra.pop("feishu", {})
    return load_settings(data_dir=data_dir, embedder={"name": "hash-64"}, answer={"min_support": 0.2},
                         feishu=feishu, **extra)


def counting(settings: Settings) -> Assistant:
    return CountingAssistant(settings, embedder=HashEmbedder(64))


def store_for(settings: Settings) -> ConversationStore:
    return ConversationStore(build_assistant(settings, embedder=HashEmbedder(64)).docstore.engine)


def start_bot(settings: Settings, factory=counting, **build) -> RunningWebhook:
    from bots.feishu.app import build_app

    return RunningWebhook(build_app(settings, assistant_factory=factory, **build), settings.feishu).start()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """The demo corpus and one case per department that only that department may read."""
    root = tmp_path_factory.mktemp("feishu")
    shutil.copytree(CORPUS, root / "corpus")
    write_restricted_cases(root / "corpus")
    return root


@pytest.fixture
def data_dir(corpus_dir, tmp_path) -> Path:
    return ingested_copy(corpus_dir / "corpus", template=corpus_dir / "template", target=tmp_path / "data")


def admit(store: ConversationStore) -> None:
    store.allow(CHANNEL, ZHANG, role="learner", departments=("刑事检察部",), user="zhang")
    store.allow(CHANNEL, LI, role="learner", departments=("民事检察部",), user="li")


@pytest.fixture
def bot(fake, data_dir) -> Iterator[RunningWebhook]:
    """`jianxue bot feishu` (webhook) in a thread; ZHANG a learner of 刑事检察部, LI of 民事检察部."""
    settings = bot_settings(data_dir, fake)
    store = store_for(settings)
    admit(store)
    running = start_bot(settings)
    running.settings, running.store = settings, store
    yield running
    running.stop()
