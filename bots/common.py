"""What the messenger adapters share: each chat's work in the order it came, a platform API call
tried again while it fails for a passing reason, and a request body read no further than its
limit."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, TypeVar

import httpx

if TYPE_CHECKING:  # the DingTalk robot runs without Starlette
    from starlette.requests import Request


class ChatLanes:
    """Work for many chats at once, one chat's in the order it came, so that its replies never
    overtake each other; at most ``workers`` pieces run at a time. Call from the event loop."""

    def __init__(self, workers: int) -> None:
        self._slots = asyncio.Semaphore(workers)
        self._last: dict[Hashable, asyncio.Task] = {}  # each chat's latest work
        self._running: set[asyncio.Task] = set()

    def run(self, chat: Hashable, work: Callable[[], Awaitable[None]], *, name: str | None = None) -> None:
        """Start ``work`` once the chat's work before it has ended, however it ended."""
        previous = self._last.get(chat)

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.wait({previous})
            async with self._slots:
                await work()

        task = asyncio.get_running_loop().create_task(after_previous(), name=name)
        self._last[chat] = task
        self.track(task)
        task.add_done_callback(lambda done: self._last.pop(chat) if self._last.get(chat) is done else None)

    def track(self, task: asyncio.Task) -> None:
        """A task outside any chat's order that shutdown still waits for."""
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def drain(self, timeout: float = 30) -> None:
        """Let the work in hand finish (shutdown), then cancel what is left."""
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()


T = TypeVar("T")


class Transient(Exception):
    """A failure worth another try: a 5xx, a rate limit, a busy platform."""


async def retrying(request: Callable[[], Awaitable[T]], *, what: str, retries: int, base_s: float,
                   failed: Callable[[str], Exception], log: logging.Logger) -> T:
    """``request()``, tried again after a doubling, jittered pause while it fails on the network or
    with :class:`Transient`; after ``retries`` more tries ``failed(message)`` is raised."""
    for attempt in range(retries + 1):
        try:
            return await request()
        except (httpx.TransportError, Transient) as exc:
            if attempt == retries:
                raise failed(f"{what}: still failing after {retries + 1} tries: {exc!r}") from None
            delay = base_s * 2 ** attempt * random.uniform(0.75, 1.25)
            log.warning("%s failed (%r); trying again in %.2f s", what, exc, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None once it passes ``limit`` bytes (the rest is not read)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
