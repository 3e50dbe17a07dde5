"""The chat-model port, and the one place that builds a model from settings.

The rest of jianxue talks to a :class:`ChatModel`: ``complete`` (one reply), ``stream`` (the
reply as it is written, ending with an explicit finished signal) and ``complete_json`` (one
JSON object). Behind it, LangChain is the provider layer: ``openai`` talks to any
OpenAI-compatible server (vLLM, Ollama's /v1, llama.cpp server, hosted Qwen or DeepSeek),
``ollama`` to Ollama's own API, ``llamacpp`` loads a GGUF file in-process (optional extra).
Provider metadata (finish reasons) is read here and nowhere else. Building a model never
contacts the server: a dead server shows up on the first call, where callers fall back.

:class:`FunctionModel` is an in-process model driven by a Python function, in the spirit of
pydantic-ai's FunctionModel: tests and evaluations drive the answer and quiz code with it,
while the loopback OpenAI-compatible and Ollama servers test the real clients.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from assistant.config import LLMSettings
from assistant.errors import ConfigError, LLMUnavailable


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a streamed reply. ``finished`` is the model saying it is done: a stream that
    ends without it was cut off."""

    text: str
    finished: bool = False


class ModelReplyError(LLMUnavailable):
    """The model answered, but not in the shape asked for (no JSON object, say)."""


@runtime_checkable
class ChatModel(Protocol):
    name: str

    def complete(self, messages: Sequence[Message]) -> str: ...

    def stream(self, messages: Sequence[Message]) -> AsyncIterator[Delta]: ...

    def complete_json(self, messages: Sequence[Message]) -> dict: ...


def ask(text: str) -> list[Message]:
    """A one-message conversation."""
    return [Message("user", text)]


def parse_json_object(text: str) -> dict:
    """The JSON object in a reply (models wrap it in prose or code fences now and then)."""
    match = re.search(r"\{.*\}", text, re.S)
    try:
        data = json.loads(match.group()) if match else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ModelReplyError("the model did not reply with a JSON object")
    return data


# -- LangChain behind the port ------------------------------------------------------------------


class LangChainModel:
    """A LangChain ``BaseChatModel`` as a :class:`ChatModel`."""

    def __init__(self, chat, *, provider: str, name: str) -> None:
        self._chat = chat
        self._provider = provider
        self.name = name

    def complete(self, messages: Sequence[Message]) -> str:
        return _text(self._chat.invoke(_langchain(messages)))

    async def stream(self, messages: Sequence[Message]) -> AsyncIterator[Delta]:
        finished = False
        async for piece in self._chat.astream(_langchain(messages)):
            meta = getattr(piece, "response_metadata", None) or {}
            done = bool(meta.get("finish_reason") or meta.get("done_reason") or meta.get("done"))
            finished = finished or done
            text = _text(piece)
            if text or done:
                yield Delta(text, finished=done)
        if not finished:
            return  # the caller sees no finished delta: the stream was cut

    def complete_json(self, messages: Sequence[Message]) -> dict:
        """JSON mode where the server has one (OpenAI-compatible response_format, Ollama's
        format=json); the schema itself travels in the prompt."""
        chat = self._chat
        if self._provider == "openai":
            chat = chat.bind(response_format={"type": "json_object"})
        elif self._provider == "ollama":
            chat = chat.bind(format="json")
        return parse_json_object(_text(chat.invoke(_langchain(messages))))


def _langchain(messages: Sequence[Message]) -> list:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m.role](m.content) for m in messages]


def _text(message) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return content if isinstance(content, str) else ""


def build_chat_model(settings: LLMSettings) -> ChatModel | None:
    """The configured model behind the port, or None when ``provider`` is ``none``."""
    provider = settings.provider
    if provider == "none":
        return None
    if not settings.model:
        raise ConfigError(f"JIANXUE_LLM__MODEL must name the model (provider {provider!r})")
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        chat = ChatOpenAI(
            model=settings.model,
            base_url=settings.base_url,
            # local servers want no key, but the client insists on one
            api_key=key or "not-needed",
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            stream_usage=False,
        )
    elif provider == "ollama":
        from langchain_ollama import ChatOllama

        chat = ChatOllama(
            model=settings.model,
            base_url=settings.base_url,
            temperature=settings.temperature,
            num_predict=settings.max_tokens,
            client_kwargs={"timeout": settings.timeout_s},
        )
    elif provider == "llamacpp":
        try:
            from langchain_community.chat_models import ChatLlamaCpp
        except ImportError:
            raise LLMUnavailable(
                "the llamacpp provider needs the optional extra: "
                "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install -c constraints.txt 'jianxue[llamacpp]'"
            ) from None
        try:
            chat = ChatLlamaCpp(model_path=settings.model, temperature=settings.temperature,
                                max_tokens=settings.max_tokens, n_ctx=8192, verbose=False)
        except Exception as exc:  # a missing or unreadable GGUF file
            raise LLMUnavailable(f"cannot load the GGUF model {settings.model}: {exc}") from None
    else:
        raise ConfigError(f"unknown LLM provider {provider!r}")
    return LangChainModel(chat, provider=provider, name=f"{provider}:{settings.model}")


# -- an in-process model for tests and evaluations ---------------------------------------------


Reply = Callable[[Sequence[Message]], str]


class FunctionModel:
    """A model whose reply is ``function(messages)``. ``stream`` yields it in pieces of
    ``chunk`` characters and then the finished signal (``cut_after`` pieces and no signal, to
    play a connection that drops). Every conversation it saw is kept in ``seen``."""

    name = "function"

    def __init__(self, function: Reply, *, chunk: int = 6, cut_after: int | None = None) -> None:
        self.function = function
        self.chunk = chunk
        self.cut_after = cut_after
        self.seen: list[list[Message]] = []

    def complete(self, messages: Sequence[Message]) -> str:
        self.seen.append(list(messages))
        return self.function(messages)

    async def stream(self, messages: Sequence[Message]) -> AsyncIterator[Delta]:
        text = self.complete(messages)
        pieces = [text[i:i + self.chunk] for i in range(0, len(text), self.chunk)]
        for i, piece in enumerate(pieces):
            if self.cut_after is not None and i >= self.cut_after:
                return
            yield Delta(piece)
        yield Delta("", finished=True)

    def complete_json(self, messages: Sequence[Message]) -> dict:
        return parse_json_object(self.complete(messages))
