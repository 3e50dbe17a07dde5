"""The DingTalk adapter against a fake DingTalk on 127.0.0.1: the platform layer with a stand-in
handler, and the whole robot (`jianxue bot dingtalk`'s runner) with the real conversation core
over the demo corpus and one restricted case per department."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from assistant.config import DingtalkSettings, Settings, load_settings
from assistant.conversation.store import ConversationStore
from assistant.db import open_database
from assistant.index.embedders import HashEmbedder
from assistant.learners import now
from assistant.models import Principal, Question
from assistant.service import Assistant, build_assistant
from bots.dingtalk.runner import DingtalkRunner
from bots.dingtalk.stream import DingtalkStream, Handler
from tests.conftest import CORPUS, write_restricted_cases
from tests.fakes.dingtalk_server import FakeDingTalk

CHANNEL = "dingtalk"
ALICE, BOB, CAROL, MALLORY = "staff01", "staff05", "staff02", "staff66"  # learner 刑事, trainer 刑事, learner 民事, stranger
TEMPLATE = "tpl-jianxue.schema"  # an interactive card template id


@pytest.fixture
def fake() -> Iterator[FakeDingTalk]:
    server = FakeDingTalk().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stream_fake() -> Iterator[FakeDingTalk]:
    """One fake for every test of the SDK in this process: the SDK reads its OpenAPI address once,
    at its first import, so every stream in a process talks to the same address."""
    server = FakeDingTalk().start()
    yield server
    server.stop()


class Running:
    """``await target.<serve>()`` in a thread with its own event loop (as `jianxue bot dingtalk`
    runs it), stopped with ``await target.stop()``."""

    def __init__(self, make: Callable[[], object], *, serve: str = "run") -> None:
        self.make, self.serve = make, serve
        self.target = None
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self._ready = threading.Event()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.target = self.make()
            self._ready.set()
            await getattr(self.target, self.serve)()

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc
        finally:
            self._ready.set()
            self._cancel_leftovers()
            self.loop.close()

    def _cancel_leftovers(self) -> None:
        """What asyncio.run does at the end: the SDK leaves a keepalive task per connection."""
        left = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
        for task in left:
            task.cancel()
        if left:
            self.loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))

    def start(self, fake: FakeDingTalk, *, connect: bool = True) -> "Running":
        opened = fake.connections_opened
        self.thread.start()
        self._ready.wait(30)
        if self.error is not None:
            raise self.error
        if connect:
            fake.connected(count=opened + 1, timeout=60)
        return self

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.target is not None and self.thread.is_alive():
            self.call(self.target.stop())
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "it did not stop"
        if self.error is not None:
            raise self.error


def RunningStream(settings: DingtalkSettings, handler: Handler) -> Running:  # noqa: N802 - reads as a class
    return Running(lambda: DingtalkStream(settings, handler))


# -- the whole robot over the real core -------------------------------------------------------------


class CountingAssistant(Assistant):
    """The real Assistant, counting what reached retrieval (to show a refusal came first)."""

    asked = 0

    def search(self, *args, **kwargs):
        type(self).asked += 1
        return super().search(*args, **kwargs)


def counting(settings: Settings) -> Assistant:
    return CountingAssistant(settings, embedder=HashEmbedder(64))


class Robot:
    """A running `jianxue bot dingtalk` (the runner in a thread), its settings and its store."""

    def __init__(self, settings: Settings, fake: FakeDingTalk, *,
                 factory: Callable[[Settings], Assistant] = counting, extensions=()) -> None:
        self.settings, self.fake = settings, fake
        self.running = Running(lambda: DingtalkRunner(settings, assistant_factory=factory, extensions=extensions),
                               serve="serve")
        self.store = ConversationStore(open_database(settings.database_url))

    def start(self, *, connect: bool = True) -> "Robot":
        self.running.start(self.fake, connect=connect)
        return self

    def stop(self) -> None:
        self.running.stop()

    @property
    def runner(self) -> DingtalkRunner:
        return self.running.target  # type: ignore[return-value]

    @property
    def assistant(self) -> Assistant:
        return self.runner.conversations.assistant  # type: ignore[union-attr]

    def principal(self, user: str):
        return self.store.member(CHANNEL, user).principal  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def template_data(tmp_path_factory) -> Path:
    """The demo corpus and a restricted case per department, ingested once (hash embedder)."""
    root = tmp_path_factory.mktemp("dingtalk")
    shutil.copytree(CORPUS, root / "corpus")
    write_restricted_cases(root / "corpus")
    settings = load_settings(data_dir=root / "data", embedder={"name": "hash-64"})
    build_assistant(settings, embedder=HashEmbedder(64)).ingest([root / "corpus"])
    return root / "data"


@pytest.fixture
def data_dir(template_data, tmp_path) -> Path:
    shutil.copytree(template_data, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def robot_settings(stream_fake, data_dir) -> Callable[..., Settings]:
    """Settings of a robot over ``data_dir`` that talks to the fake; keywords override the DingTalk
    section (``dingtalk={...}``) or any other (``llm={...}``)."""

    def make(**extra) -> Settings:
        dingtalk = stream_fake.settings(nudge_hours=0) | extra.pop("dingtalk", {})
        return load_settings(data_dir=data_dir, embedder={"name": "hash-64"}, answer={"min_support": 0.2},
                             dingtalk=dingtalk, **extra)

    return make


@pytest.fixture
def robots(stream_fake, robot_settings) -> Iterator[Callable[..., Robot]]:
    """Starts robots (each stopped at the end) with the members ALICE, BOB and CAROL admitted."""
    started: list[Robot] = []

    def start(*, factory: Callable[[Settings], Assistant] = counting, connect: bool = True, extensions=(),
              **extra) -> Robot:
        robot = Robot(robot_settings(**extra), stream_fake, factory=factory, extensions=extensions)
        for user, department in ((ALICE, 101), (BOB, 101), (CAROL, 102)):  # in the directory, in unmapped departments
            stream_fake.directory.setdefault(user, [department])
        robot.store.allow(CHANNEL, ALICE, role="learner", departments=("刑事检察部",), user="alice")
        robot.store.allow(CHANNEL, BOB, role="trainer", departments=("刑事检察部",), user="bob")
        robot.store.allow(CHANNEL, CAROL, role="learner", departments=("民事检察部",), user="carol")
        started.append(robot.start(connect=connect))
        return robot

    yield start
    for robot in started:
        robot.stop()


def ask(fake: FakeDingTalk, user: str, text: str, predicate=lambda m: True, *, group: str | None = None,
        count: int = 1, timeout: float = 30) -> list[dict]:
    """``user`` says ``text`` (to the robot, or mentioning it in ``group``); the first ``count``
    messages to that chat afterwards that match."""
    since = fake.mark()
    fake.message(user, text, group=group)
    return fake.wait_outbox(group or user, predicate, since=since, count=count, timeout=timeout)


def due_again(assistant: Assistant, principal: Principal, questions: list[Question]) -> None:
    """``questions`` answered wrongly by ``principal`` two days ago: due for review now."""
    for question in questions:
        assistant.learners.record(learner=principal.learner, departments=principal.departments, question=question,
                                  chosen=[99], at=now() - timedelta(days=2))
