"""The HTTP API and the intranet widget: a thin FastAPI adapter over the Assistant.

Identity comes from the API key on every request; the department filter is set from it,
never from the request body. Errors are JSON {"error": {"code", "message"}}. The routes
live in bots/http/routes/, one module per resource.
"""

from __future__ import annotations

import secrets
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bots.http import errors
from bots.http.audit import Audit
from bots.http.limits import BodyLimit, HeaderLimit, RateLimiter, RedisRateLimiter
from bots.http.metrics import Metrics
from bots.http.routes import answers, console, documents, experts, learners, ops, quizzes, training


class Observe:
    """Pure ASGI middleware: request counts and latency by route for /metrics (Starlette's
    BaseHTTPMiddleware would cost a task and a stream per request)."""

    def __init__(self, app, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


def app_from_environment() -> FastAPI:
    """The app as each of several uvicorn workers builds it (settings from JIANXUE_*)."""
    from assistant.config import load_settings
    from assistant.service import build_assistant

    return create_app(build_assistant(load_settings()))


def create_app(assistant) -> FastAPI:
    """The app over an Assistant made by build_assistant(settings)."""
    settings = assistant.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        assistant.serve_questions()  # questions asked at once are embedded together, off this GIL
        try:
            yield
        finally:
            assistant.close()
            app.state.audit.close()

    app = FastAPI(title="jianxue 检学 API", version="1", description="Cited answers and quizzes for procurators.",
                  lifespan=lifespan)
    app.state.assistant = assistant
    secret = assistant.docstore.meta_once("audit_secret", lambda: secrets.token_hex(32))
    app.state.audit = Audit(settings.data_dir / "audit.log", secret=bytes.fromhex(secret))
    app.state.metrics = Metrics()
    limits = (settings.http.rate_per_minute, settings.http.burst)
    app.state.limiter = (RedisRateLimiter(settings.http.redis_url, *limits) if settings.http.redis_url
                         else RateLimiter(*limits))
    failures = (settings.http.auth_failures_per_minute, settings.http.auth_failures_per_minute)
    app.state.auth_failures = RateLimiter(*failures)  # per client address, counted only on failures

    if settings.http.cors_origins:  # closed unless the portals that embed the widget are named
        app.add_middleware(CORSMiddleware, allow_origins=settings.http.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Accept"])
    app.add_middleware(BodyLimit, json_bytes=settings.http.max_json_kb * 1024,
                       upload_bytes=int(settings.http.max_upload_mb * 1024 * 1024) + 64 * 1024, audit=app.state.audit)
    app.add_middleware(Observe, metrics=app.state.metrics)
    app.add_middleware(HeaderLimit, max_bytes=settings.http.max_header_kb * 1024)
    errors.install(app)
    for module in (answers, quizzes, learners, documents, experts, ops, training, console):
        app.include_router(module.router)
    return app
