"""The real python-telegram-bot Application, run as `jianxue bot telegram` runs it, against a
fake Bot API server on 127.0.0.1, over the demo corpus."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.conversation.store import ConversationStore
from assistant.index.embedders import HashEmbedder
from assistant.service import Assistant, build_assistant
from bots.telegram.app import run
from tests.conftest import CORPUS, ingested_copy
from tests.fakes.telegram_server import FakeBotAPI

ALICE, BOB, MALLORY = 1001, 1002, 6666  # a learner, a trainer, a stranger


class TelegramState:
    """The conversation store as the Telegram tests look at it: by Telegram's numeric ids."""

    def __init__(self, engine) -> None:
        self.store = ConversationStore(engine)

    def allow(self, telegram_id: int, **kwargs):
        return self.store.allow("telegram", str(telegram_id), **kwargs)

    def member(self, telegram_id: int):
        return self.store.member("telegram", str(telegram_id))

    def history(self, chat_id: int):
        return self.store.history("telegram", str(chat_id))

    def make_pairing(self, **kwargs):
        return self.store.make_pairing(channel="telegram", **kwargs)

    def __getattr__(self, name):
        return getattr(self.store, name)


class CountingAssistant(Assistant):
    """The real Assistant, counting what reached retrieval (to show a refusal came first)."""

    asked = 0

    def search(self, *args, **kwargs):
        type(self).asked += 1
        return super().search(*args, **kwargs)


def settings_for(data_dir: Path, fake: FakeBotAPI, **extra):
    return load_settings(data_dir=data_dir, embedder={"name": "hash-64"}, answer={"min_support": 0.2},
                         telegram={"token": fake.token, "base_url": fake.base_url, "edit_interval_s": 0.5,
                                   **extra.pop("telegram", {})}, **extra)


class RunningBot:
    """`run(settings)` in a thread with its own event loop, stopped as Ctrl-C would stop it."""

    def __init__(self, settings, factory) -> None:
        self.settings, self.factory = settings, factory
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            run(self.settings, in_thread=True, assistant_factory=self.factory)
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc

    def start(self, fake: FakeBotAPI) -> "RunningBot":
        since = fake.mark()
        self.thread.start()
        fake.wait_for("setMyCommands", since=since, timeout=60)  # post_init builds the Assistant first
        return self

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the bot did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tg")
    shutil.copytree(CORPUS, root / "corpus")
    return root


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    server = FakeBotAPI().start()
    yield server
    server.stop()


@pytest.fixture
def data_dir(corpus_dir, tmp_path) -> Path:
    """A fresh data directory with the demo corpus ingested (copied from a module-wide one)."""
    return ingested_copy(corpus_dir / "corpus", template=corpus_dir / "template", target=tmp_path / "data")


@pytest.fixture
def bot(fake, data_dir) -> Iterator[RunningBot]:
    settings = settings_for(data_dir, fake)
    running = RunningBot(settings, lambda s: CountingAssistant(s, embedder=HashEmbedder(64))).start(fake)
    state = TelegramState(build_assistant(settings, embedder=HashEmbedder(64)).docstore.engine)
    state.allow(ALICE, role="learner", departments=("刑事检察部",), user="alice")
    state.allow(BOB, role="trainer", departments=("刑事检察部",), user="bob")
    running.state = state
    yield running
    running.stop()
