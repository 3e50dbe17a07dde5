"""The HTTP API and the intranet widget: a thin FastAPI adapter over the Assistant.

Identity comes from the API key on every request; the department filter is set from it,
never from the request body. Errors are JSON {"error": {"code", "message"}}.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
from importlib import resources
from pathlib import Path
from dataclasses import replace
from typing import Any, Literal

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.access import RANK
from assistant.errors import (
    AccessDenied,
    ConfigError,
    CorpusError,
    JianxueError,
    LLMUnavailable,
    NotFound,
    StoreUnavailable,
    UnreadableFile,
    WriterBusy,
)
from assistant.ingest.detect import decode_text
from assistant.ingest.loaders import LoadOptions
from assistant.models import Answer, Line, Principal, Question, Turn
from bots.http.metrics import Metrics

log = logging.getLogger("jianxue.http")

STATUS = {NotFound: (404, "not_found"), AccessDenied: (403, "forbidden"), WriterBusy: (409, "writer_busy"),
          StoreUnavailable: (503, "store_unavailable"), LLMUnavailable: (503, "llm_unavailable"),
          UnreadableFile: (422, "unreadable_file"), CorpusError: (409, "corpus"), ConfigError: (500, "config")}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


# -- request bodies ----------------------------------------------------------------------------


class AskBody(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000, description="The question, in plain Chinese.")
    history: list[dict] = Field(default_factory=list, max_length=20,
                                description="Earlier turns ({question, query, sources}) for follow-ups.")
    line: Line | None = Field(None, description="Only material of this prosecution line.")


class SearchBody(BaseModel):
    query: str = Field(..., min_length=1, max_length=2000)
    k: int = Field(8, ge=1, le=50)
    kinds: list[Literal["statute", "interpretation", "case", "material", "qa"]] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)


class QuizBody(BaseModel):
    topic: str | None = Field(None, max_length=200)
    case: str | None = Field(None, max_length=200)
    line: Line | None = None
    n: int = Field(5, ge=1, le=20)


class AnswerBody(BaseModel):
    question_id: str = Field(..., min_length=1, max_length=64)
    chosen: list[int] = Field(..., min_length=1, max_length=6)


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatBody(BaseModel):
    model: str = "jianxue"
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=50)
    stream: bool = False


# -- limits ------------------------------------------------------------------------------------


class RateLimiter:
    """Token bucket per key: ``burst`` at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class BodyLimit:
    """Pure ASGI middleware: 413 for bodies over the cap, by Content-Length or as they stream in."""

    def __init__(self, app, *, json_bytes: int, upload_bytes: int) -> None:
        self.app, self.json_bytes, self.upload_bytes = app, json_bytes, upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        limit = self.upload_bytes if scope["path"].startswith("/v1/documents") else self.json_bytes
        declared = headers.get(b"content-length")
        too_big = error(413, "too_large", f"request body over {limit // 1024} KB")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await too_big(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass


# -- audit -------------------------------------------------------------------------------------


class Audit:
    """One JSON line per ask, search, quiz, upload, delete and failed authentication; no secrets."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, principal: Principal | None = None, **fields) -> None:
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event}
        if principal is not None:
            line.update(user=principal.user, role=principal.role, departments=list(principal.departments))
        if "question" in fields:
            fields["question_sha256"] = hashlib.sha256(str(fields.pop("question")).encode()).hexdigest()[:16]
        line.update(fields)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


# -- the app -----------------------------------------------------------------------------------


def create_app(assistant) -> FastAPI:
    settings = assistant.settings
    app = FastAPI(title="jianxue 检学 API", version="1", description="Cited answers and quizzes for procurators.")
    limiter = RateLimiter(settings.http.rate_per_minute, settings.http.burst)
    audit = Audit(settings.data_dir / "audit.log")
    metrics = Metrics()
    writer = threading.Lock()  # one upload or delete at a time in this process
    app.state.assistant, app.state.audit, app.state.metrics = assistant, audit, metrics

    app.add_middleware(CORSMiddleware, allow_origins=settings.http.cors_origins, allow_credentials=False,
                       allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type", "Accept"])
    app.add_middleware(BodyLimit, json_bytes=settings.http.max_json_kb * 1024,
                       upload_bytes=int(settings.http.max_upload_mb * 1024 * 1024) + 64 * 1024)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.observe(request.method, getattr(route, "path", "unmatched"), response.status_code,
                        time.perf_counter() - started)
        return response

    @app.exception_handler(ApiError)
    async def api_error(_request, exc: ApiError):
        return error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(JianxueError)
    async def core_error(_request, exc: JianxueError):
        status, code = next((v for k, v in STATUS.items() if isinstance(exc, k)), (400, "bad_request"))
        headers = {"Retry-After": "5"} if status == 503 else None
        return error(status, code, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "body"
        return error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):
        log.exception("unexpected error")
        return error(500, "internal", "internal error; the server log has the details")

    # -- identity ------------------------------------------------------------------------

    async def caller(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        secret = header[7:].strip() if header.lower().startswith("bearer ") else None
        found = await asyncio.to_thread(assistant.keys.authenticate, secret)
        if found is None:
            audit.write("auth_failed", path=request.url.path, client=request.client.host if request.client else None)
            raise ApiError(401, "unauthorized", "a valid API key is required: Authorization: Bearer <key>",
                           {"WWW-Authenticate": "Bearer"})
        key_id, principal = found
        wait = limiter.take(key_id)
        if wait:
            raise ApiError(429, "rate_limited", "too many requests for this key",
                           {"Retry-After": str(max(1, int(wait + 0.999)))})
        request.state.key_id = key_id
        return principal

    async def trainer(principal: Principal = Depends(caller)) -> Principal:
        if RANK[principal.role] < RANK["trainer"]:
            raise ApiError(403, "forbidden", "this needs a trainer's key")
        return principal

    # -- answers and search ----------------------------------------------------------------

    @app.post("/v1/ask", summary="A cited answer (JSON, or server-sent events with Accept: text/event-stream)")
    async def ask(body: AskBody, request: Request, principal: Principal = Depends(caller)):
        history = [_turn(t) for t in body.history]
        lines = (body.line.value,) if body.line else ()
        if "text/event-stream" in request.headers.get("accept", ""):
            events = assistant.ask_stream(body.question, principal=principal, history=history, lines=lines)
            return StreamingResponse(_sse(events, request, audit, principal, body.question),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        answer = await asyncio.to_thread(assistant.ask, body.question, principal=principal, history=history,
                                         lines=lines)
        _audit_answer(audit, principal, body.question, answer)
        return answer.to_dict() | {"turn": answer.turn().to_dict()}

    @app.post("/v1/search", summary="Passages with citations")
    async def search(body: SearchBody, principal: Principal = Depends(caller)):
        hits = await asyncio.to_thread(assistant.search, body.query, principal=principal, k=body.k,
                                       kinds=tuple(body.kinds), lines=tuple(x.value for x in body.lines))
        audit.write("search", principal, question=body.query, ids=[h.chunk.chunk_id for h in hits])
        return {"query": body.query, "hits": [h.to_dict() for h in hits]}

    # -- quizzes ---------------------------------------------------------------------------

    @app.post("/v1/quizzes", summary="Generate a draft quiz")
    async def make_quiz(body: QuizBody, principal: Principal = Depends(caller)):
        quiz = await asyncio.to_thread(assistant.make_quiz, principal=principal, topic=body.topic, case=body.case,
                                       line=body.line.value if body.line else None, n=body.n)
        audit.write("quiz", principal, quiz=quiz.id, ids=[q.id for q in quiz.questions])
        return _quiz_view(quiz, principal)

    @app.get("/v1/quizzes/{quiz_id}", summary="A quiz (answers only for trainers)")
    async def get_quiz(quiz_id: str, principal: Principal = Depends(caller)):
        return _quiz_view(await asyncio.to_thread(_visible_quiz, assistant, quiz_id, principal), principal)

    @app.post("/v1/quizzes/{quiz_id}/answers", summary="Grade and record an answer")
    async def answer_quiz(quiz_id: str, body: AnswerBody, principal: Principal = Depends(caller)):
        quiz = await asyncio.to_thread(_visible_quiz, assistant, quiz_id, principal)
        if body.question_id not in {q.id for q in quiz.questions}:
            raise NotFound(f"no question {body.question_id!r} in quiz {quiz_id!r}")
        grade = await asyncio.to_thread(assistant.grade, body.question_id, body.chosen, principal=principal,
                                        quiz_id=quiz_id)
        audit.write("quiz_answer", principal, quiz=quiz_id, ids=[body.question_id], correct=grade.correct)
        return grade.to_dict()

    @app.post("/v1/quizzes/{quiz_id}/publish", summary="Publish a reviewed quiz (trainers)")
    async def publish(quiz_id: str, principal: Principal = Depends(trainer)):
        await asyncio.to_thread(_visible_quiz, assistant, quiz_id, principal)
        quiz = await asyncio.to_thread(assistant.learners.publish, quiz_id)
        audit.write("quiz_publish", principal, quiz=quiz_id)
        return _quiz_view(quiz, principal)

    @app.get("/v1/quizzes/{quiz_id}/export", summary="Export: gift, moodle, anki, json or md (trainers)")
    async def export_quiz(quiz_id: str, format: Literal["gift", "moodle", "anki", "json", "md"] = "md",
                          principal: Principal = Depends(trainer)):
        from assistant.quiz.export import SUFFIX, export

        quiz = await asyncio.to_thread(_visible_quiz, assistant, quiz_id, principal)
        data = await asyncio.to_thread(export, quiz, format)
        audit.write("quiz_export", principal, quiz=quiz_id, format=format)
        media = {"json": "application/json", "moodle": "application/xml", "anki": "application/octet-stream"}
        return Response(data, media_type=media.get(format, "text/plain; charset=utf-8"),
                        headers={"Content-Disposition": f'attachment; filename="{quiz_id}{SUFFIX[format]}"'})

    # -- learners --------------------------------------------------------------------------

    @app.get("/v1/progress/me", summary="My mastery by topic and line")
    async def progress(principal: Principal = Depends(caller)):
        return await asyncio.to_thread(assistant.learners.progress, principal.user)

    @app.get("/v1/reviews/due", summary="Questions due for review (without answers)")
    async def due(principal: Principal = Depends(caller)):
        questions = await asyncio.to_thread(assistant.learners.due, principal.user)
        visible = _visible_questions(assistant, questions, principal)
        return {"questions": [_question_view(q, principal) for q in visible]}

    @app.get("/v1/stats/groups", summary="A group's scores, weakest topics, hardest questions (trainers)")
    async def groups(department: str | None = None, principal: Principal = Depends(trainer)):
        if department is None and not principal.sees_everything:
            department = principal.departments[0] if principal.departments else None
        if department is not None and not principal.sees_everything and department not in principal.departments:
            raise ApiError(403, "forbidden", "a trainer sees only their own departments")
        if department is None and not principal.sees_everything:
            raise ApiError(400, "bad_request", "give ?department=")
        return await asyncio.to_thread(assistant.learners.group, department)

    # -- documents ---------------------------------------------------------------------------

    @app.post("/v1/documents", status_code=201, summary="Upload and ingest a document (trainers)")
    async def upload(file: UploadFile = File(...), kind: str | None = Form(None), line: str | None = Form(None),
                     access: list[str] | None = Form(None), principal: Principal = Depends(trainer)):
        data = await file.read(int(settings.http.max_upload_mb * 1024 * 1024) + 1)
        if len(data) > settings.http.max_upload_mb * 1024 * 1024:
            raise ApiError(413, "too_large", f"uploads are limited to {settings.http.max_upload_mb:g} MB")
        if not data:
            raise ApiError(422, "empty_file", "the file is empty")
        suffix = sniff(data)
        folder = (settings.data_dir / "uploads").resolve()
        options = replace(_options(kind, line, access, principal), id_root=folder)
        name = safe_name(file.filename or "upload", suffix)
        digest = hashlib.sha256(data).hexdigest()[:12]
        target = folder / digest / name

        def ingest():
            with writer:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                report = assistant.ingest([target], options=options)
                if report.skipped:
                    target.unlink(missing_ok=True)
                return report

        report = await asyncio.to_thread(ingest)
        if report.skipped:
            audit.write("upload_rejected", principal, name=name, reason=report.skipped[0].reason)
            raise ApiError(422, "unreadable_file", report.skipped[0].reason)
        doc_id = f"{digest}/{name}"
        audit.write("upload", principal, ids=[doc_id], chunks=report.chunks)
        return {"doc_id": doc_id, "name": name, "chunks": report.chunks, "added": report.added,
                "updated": report.updated, "unchanged": report.unchanged, "access": list(options.access or ())}

    @app.get("/v1/documents", summary="Documents I may read")
    async def documents(principal: Principal = Depends(caller)):
        return {"documents": await asyncio.to_thread(assistant.documents, principal)}

    @app.delete("/v1/documents/{doc_id:path}", summary="Remove a document (trainers)")
    async def delete(doc_id: str, principal: Principal = Depends(trainer)):
        visible = {d["doc_id"] for d in await asyncio.to_thread(assistant.documents, principal)}
        if doc_id not in visible:
            raise NotFound(f"no document {doc_id!r}")

        def remove():
            with writer:
                removed = assistant.remove_documents([doc_id])
                upload = settings.data_dir / "uploads" / doc_id
                if upload.is_file():
                    upload.unlink()
                return removed

        await asyncio.to_thread(remove)
        audit.write("delete", principal, ids=[doc_id])
        return {"deleted": doc_id}

    # -- OpenAI-compatible chat ----------------------------------------------------------------

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat; citations ride along")
    async def chat(body: ChatBody, request: Request, principal: Principal = Depends(caller)):
        turns = [m for m in body.messages if m.role in ("user", "assistant")]
        users = [_text(m.content) for m in turns if m.role == "user"]
        if not users or not users[-1].strip():
            raise ApiError(422, "invalid_request", "messages: the last user message is empty")
        question, history = users[-1], [Turn(q, q) for q in users[:-1]]
        created, ident = int(time.time()), "chatcmpl-" + hashlib.sha256(f"{time.time_ns()}".encode()).hexdigest()[:20]
        if body.stream:
            events = assistant.ask_stream(question, principal=principal, history=history)
            return StreamingResponse(_chat_sse(events, request, audit, principal, question, body.model, ident, created),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        answer = await asyncio.to_thread(assistant.ask, question, principal=principal, history=history)
        _audit_answer(audit, principal, question, answer, event="chat")
        return {"id": ident, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": _with_sources(answer)},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "citations": [c.to_dict() for c in answer.citations], "jianxue": answer.to_dict()}

    # -- operations and the widget -----------------------------------------------------------

    @app.get("/healthz", summary="Liveness and index state")
    async def healthz():
        def check():
            return {"status": "ok", "documents": len(assistant.ledger.load()),
                    "generation": assistant.ledger.generation()}

        try:
            return await asyncio.to_thread(check)
        except Exception as exc:  # noqa: BLE001 - a dead database is a 503, not a traceback
            return error(503, "unavailable", f"database: {type(exc).__name__}", {"Retry-After": "5"})

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def metrics_text():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    static = resources.files("bots.http") / "static"

    @app.get("/widget/jianxue.js", include_in_schema=False)
    async def widget():
        return Response((static / "jianxue.js").read_bytes(), media_type="application/javascript; charset=utf-8")

    @app.get("/widget/demo.html", include_in_schema=False)
    async def demo():
        return Response((static / "demo.html").read_bytes(), media_type="text/html; charset=utf-8")

    return app


# -- helpers -----------------------------------------------------------------------------------


def sniff(data: bytes) -> str:
    """The file type by content, whatever the name says: .pdf, .docx, .html or .txt/.md."""
    head = data[:2048]
    if head.startswith(b"%PDF-"):
        return ".pdf"
    if head.startswith(b"PK\x03\x04"):
        if b"word/" in data[:65536] or b"[Content_Types].xml" in data[:65536]:
            return ".docx"
        raise ApiError(415, "unsupported_type", "a zip archive that is not a DOCX document")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ApiError(415, "unsupported_type", "binary content: upload Markdown, TXT, HTML, PDF or DOCX")
    try:
        text, _encoding = decode_text(data)
    except Exception:  # noqa: BLE001 - any decoding failure is the same answer
        raise ApiError(415, "unsupported_type", "not text in UTF-8, GBK or GB18030") from None
    if re.match(r"\s*(<!doctype html|<html)", text[:1024], re.IGNORECASE):
        return ".html"
    return ".md" if text.lstrip().startswith(("---", "#")) else ".txt"


def safe_name(filename: str, suffix: str) -> str:
    """A file name that is never a path: the last part, safe characters, the sniffed suffix."""
    base = re.split(r"[\\/]", filename)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^\w\u4e00-\u9fff-]+", "_", stem).strip("._-")[:80] or "upload"
    return stem + suffix


def _options(kind: str | None, line: str | None, access: list[str] | None, principal: Principal) -> LoadOptions:
    from assistant.models import Kind

    try:
        parsed_kind = Kind(kind) if kind else None
        parsed_line = Line(line) if line else None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    departments = tuple(d.strip() for d in access or () if d.strip())
    if not departments:
        departments = principal.departments  # the uploader's own when omitted
    if not principal.sees_everything and set(departments) - set(principal.departments):
        raise ApiError(403, "forbidden", "you can restrict documents only to your own departments")
    return LoadOptions(kind=parsed_kind, line=parsed_line, access=departments or None)


def _turn(data: dict) -> Turn:
    try:
        return Turn.from_dict(data)
    except (KeyError, TypeError, ValueError):
        raise ApiError(422, "invalid_request", "history: each turn needs at least a question") from None


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _with_sources(answer: Answer) -> str:
    if not answer.citations:
        return answer.text
    return answer.text + "\n\n来源：\n" + "\n".join(f"[{c.n}] {c.label}" for c in answer.citations)


def _audit_answer(audit: Audit, principal: Principal, question: str, answer: Answer, event: str = "ask") -> None:
    audit.write(event, principal, question=question, ids=[c.chunk_id for c in answer.citations],
                refused=answer.refused, mode=answer.mode)


def _visible_questions(assistant, questions: list[Question], principal: Principal) -> list[Question]:
    if principal.sees_everything:
        return questions
    readable = {d["doc_id"] for d in assistant.documents(principal)}
    return [q for q in questions if all(c.doc_id in readable for c in q.citations)]


def _visible_quiz(assistant, quiz_id: str, principal: Principal):
    quiz = assistant.get_quiz(quiz_id)
    quiz.questions = _visible_questions(assistant, quiz.questions, principal)
    if not quiz.questions:
        raise NotFound(f"no quiz {quiz_id!r}")
    return quiz


def _question_view(q: Question, principal: Principal) -> dict:
    data = q.to_dict()
    if RANK[principal.role] < RANK["trainer"]:
        for hidden in ("answer", "explanation", "citations", "source_hash"):
            data.pop(hidden, None)
    return data


def _quiz_view(quiz, principal: Principal) -> dict:
    data = quiz.to_dict()
    data["questions"] = [_question_view(q, principal) for q in quiz.questions]
    if RANK[principal.role] < RANK["trainer"]:
        data.pop("dropped", None)
    return data


def _event(name: str, data) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _sse(events, request: Request, audit: Audit, principal: Principal, question: str):
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
                _audit_answer(audit, principal, question, answer)
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
                _audit_answer(audit, principal, question, answer, event="chat")
                sources = _with_sources(answer)[len(answer.text):]
                if sources:
                    yield chunk({"content": sources})
                yield chunk({}, "stop", citations=[c.to_dict() for c in answer.citations])
        yield b"data: [DONE]\n\n"
    finally:
        await events.aclose()


