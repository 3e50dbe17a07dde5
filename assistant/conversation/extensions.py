"""The extensions every messenger adapter runs with: one factory per module (the expert
pool, training), each taking the Assistant and returning an Extension. An
adapter calls ``default_extensions(assistant)`` once the assistant is built, or enters
``serving_core`` for the whole of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from assistant.conversation.core import Conversations, Extension
from assistant.conversation.store import ConversationStore


def _experts(assistant) -> Extension:
    from assistant.conversation.experts import expert_extension

    return expert_extension(assistant)


def _training(assistant) -> Extension:
    from assistant.training.chat import training_extension

    return training_extension(assistant)


FACTORIES: list[Callable[..., Extension]] = [_experts, _training]


def default_extensions(assistant) -> list[Extension]:
    return [factory(assistant) for factory in FACTORIES]


def serving_core(settings, assistant_factory: Callable) -> Callable[[], contextlib.AbstractAsyncContextManager]:
    """The conversation core over an assistant built when entered (its question embedder served,
    the default extensions on) and closed when left: what a webhook adapter serves."""

    @contextlib.asynccontextmanager
    async def core() -> AsyncIterator[Conversations]:
        assistant = await asyncio.to_thread(assistant_factory, settings)
        try:
            assistant.serve_questions()
            store = await asyncio.to_thread(lambda: ConversationStore(assistant.docstore.engine))
            yield Conversations(assistant, store, extensions=default_extensions(assistant))
        finally:
            await asyncio.to_thread(assistant.close)

    return core
