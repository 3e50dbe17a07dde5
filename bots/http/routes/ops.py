"""Operations: liveness, Prometheus metrics, and the widget's static files."""

from __future__ import annotations

import asyncio
import hmac
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from assistant.errors import JianxueError
from bots.http.deps import AssistantDep
from bots.http.errors import error

router = APIRouter()
STATIC = resources.files("bots.http") / "static"


@router.get("/healthz", summary="The database and the vector store answer; the index generation")
async def healthz(assistant: AssistantDep):
    def check():
        return {"status": "ok", "generation": assistant.docstore.generation(), "chunks": assistant.store.count()}

    try:
        return await asyncio.to_thread(check)
    except JianxueError as exc:  # a dead database or Chroma server: 503, and what is down
        return error(503, "unavailable", str(exc), {"Retry-After": "5"})


LOCAL = {"127.0.0.1", "::1"}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (token, or this host only)")
async def metrics(request: Request, assistant: AssistantDep):
    token = assistant.settings.http.metrics_token
    if token is None:
        if (request.client.host if request.client else "") not in LOCAL:
            return error(403, "forbidden", "metrics are served to this host only; set JIANXUE_HTTP__METRICS_TOKEN "
                         "to scrape them from elsewhere")
    else:
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            return error(401, "unauthorized", "metrics need Authorization: Bearer <JIANXUE_HTTP__METRICS_TOKEN>",
                         {"WWW-Authenticate": "Bearer"})
    return PlainTextResponse(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/widget/jianxue.js", include_in_schema=False)
async def widget():
    return Response((STATIC / "jianxue.js").read_bytes(), media_type="application/javascript; charset=utf-8")


@router.get("/widget/demo.html", include_in_schema=False)
async def demo():
    return Response((STATIC / "demo.html").read_bytes(), media_type="text/html; charset=utf-8")
