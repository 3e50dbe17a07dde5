"""Errors as JSON {"error": {"code", "message"}}: one translation of the core's errors for the HTTP edge."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import (
    AccessDenied,
    ConfigError,
    Conflict,
    CorpusError,
    InvalidRequest,
    JianxueError,
    LLMUnavailable,
    NotFound,
    StoreUnavailable,
    UnreadableFile,
    UnsupportedType,
    WriterBusy,
)

log = logging.getLogger("jianxue.http")

STATUS = {Conflict: (409, "conflict"), InvalidRequest: (422, "invalid_request"),
          NotFound: (404, "not_found"), AccessDenied: (403, "forbidden"), WriterBusy: (409, "writer_busy"),
          StoreUnavailable: (503, "store_unavailable"), LLMUnavailable: (503, "llm_unavailable"),
          UnsupportedType: (415, "unsupported_type"), UnreadableFile: (422, "unreadable_file"),
          CorpusError: (409, "corpus"), ConfigError: (500, "config")}


class ApiError(Exception):
    """An error the API answers with as it is: status, stable code, human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _audit_refusal(request: Request, status: int, code: str) -> None:
    """A known caller refused (403) or sent looking for what is not theirs to see (404) is audited."""
    principal = getattr(request.state, "principal", None)
    if principal is not None and status in (403, 404):
        request.app.state.audit.write("refused", principal, path=request.url.path, method=request.method,
                                      status=status, code=code)


def install(app: FastAPI) -> None:
    """Register the handlers: no request ever ends in a traceback or an HTML error page."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        _audit_refusal(request, exc.status, exc.code)
        return error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(JianxueError)
    async def core_error(request: Request, exc: JianxueError):
        status, code = next((v for k, v in STATUS.items() if isinstance(exc, k)), (400, "bad_request"))
        _audit_refusal(request, status, code)
        headers = {"Retry-After": "5"} if status == 503 else None
        problems = getattr(exc, "problems", None)
        if problems is not None:  # an expert's answer that does not check out: every problem, to fix them
            return JSONResponse({"error": {"code": exc.code, "message": str(exc), "problems": problems}},
                                status_code=status)
        return error(status, code, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "body"
        return error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception):
        log.exception("unexpected error")
        return error(500, "internal", "internal error; the server log has the details")
