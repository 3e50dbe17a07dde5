"""Cited answers (JSON or server-sent events), search, and the OpenAI-compatible chat endpoint."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from assistant.errors import JianxueError
from assistant.models import Answer, Principal, Turn
from bots.http.audit import Audit
from bots.http.deps import AssistantDep, AuditDep, CallerDep
from bots.http.errors import ApiError
from bots.http.schemas import AskBody, ChatBody, Fast, SearchBody

router = APIRouter(prefix="/v1")


@router.post("/ask", summary="A cited answer (JSON, or server-sent events with Accept: text/event-stream)")
async def ask(body: AskBody, request: Request, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    history = [Turn(t.question, t.query or t.question, tuple(t.sources)) for t in body.history]
    lines = (body.line.value,) if body.line else ()
    if "text/event-stream" in request.headers.get("accept", ""):
        events = assistant.ask_stream(body.question, principal=principal, history=history, lines=lines)
        return StreamingResponse(_sse(events, request, audit, principal, body.question),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    answer = await asyncio.to_thread(assistant.ask, body.question, principal=principal, history=history, lines=lines)
    audit.answer(principal, body.question, answer)
    return Fast(answer.to_dict() | {"turn": answer.turn().to_dict()})


@router.post("/search", summary="Passages with citations")
async def search(body: SearchBody, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    hits = await asyncio.to_thread(assistant.search, body.query, principal=principal, k=body.k,
                                   kinds=tuple(body.kinds), lines=tuple(x.value for x in body.lines))
    audit.write("search", principal, question=body.query, ids=[h.chunk.chunk_id for h in hits])
    return Fast({"query": body.query, "hits": [h.to_dict() for h in hits]})


@router.post("/chat/completions", summary="OpenAI-compatible chat; citations ride along")
async def chat(body: ChatBody, request: Request, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    users = [m.text for m in body.messages if m.role == "user"]
    if not users or not users[-1].strip():
        raise ApiError(422, "invalid_request", "messages: the last user message is empty")
    question, history = users[-1], [Turn(q, q) for q in users[:-1]]
    created, ident = int(time.time()), "chatcmpl-" + hashlib.sha256(f"{time.time_ns()}".encode()).hexdigest()[:20]
    if body.stream:
        events = assistant.ask_stream(question, principal=principal, history=history)
        return StreamingResponse(_chat_sse(events, request, audit, principal, question, body.model, ident, created),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    answer = await asyncio.to_thread(assistant.ask, question, principal=principal, history=history)
    audit.answer(principal, question, answer, event="chat")
    return Fast({"id": ident, "object": "chat.completion", "created": created, "model": body.model,
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": _with_sources(answer)},
                              "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                 "citations": [c.to_dict() for c in answer.citations], "jianxue": answer.to_dict()})


def _with_sources(answer: Answer) -> str:
    if not answer.citations:
        return answer.text
    return answer.text + "\n\n来源：\n" + "\n".join(f"[{c.n}] {c.label}" for c in answer.citations)


def _event(name: str, data) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _sse(events, request: Request, audit: Audit, principal: Principal, question: str):
    """delta* (reset delta*)* citations done — or error; stops when the client goes away."""
    try:
        async for event in events:
            if await request.is_disconnected():
                audit.write("ask_disconnected", principal, question=question)
                return
            if event["type"] == "delta":
                yield _event("delta", {"text": event["text"]})
            elif event["type"] == "reset":
                yield _event("reset", {})
            else:
                answer = event["answer"]
                audit.answer(principal, question, answer)
                yield _event("citations", [c.to_dict() for c in answer.citations])
                yield _event("done", answer.to_dict() | {"turn": answer.turn().to_dict()})
    except JianxueError as exc:
        yield _event("error", {"code": "failed", "message": str(exc)})
    finally:
        await events.aclose()


async def _chat_sse(events, request: Request, audit: Audit, principal: Principal, question: str, model: str,
                    ident: str, created: int):
    def chunk(delta: dict, finish=None, **extra) -> bytes:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in events:
            if await request.is_disconnected():
                return
            if event["type"] == "delta":
                yield chunk({"content": event["text"]})
            elif event["type"] == "reset":
                yield chunk({"content": "\n"})
            else:
                answer = event["answer"]
                audit.answer(principal, question, answer, event="chat")
                sources = _with_sources(answer)[len(answer.text):]
                if sources:
                    yield chunk({"content": sources})
                yield chunk({}, "stop", citations=[c.to_dict() for c in answer.citations])
        yield b"data: [DONE]\n\n"
    except JianxueError as exc:
        yield chunk({"content": f"\n出错：{exc}"}, "stop")
        yield b"data: [DONE]\n\n"
    finally:
        await events.aclose()
