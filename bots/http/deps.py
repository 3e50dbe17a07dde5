"""Dependencies: the Assistant built once by the composition root, the caller's identity
from the API key, and the trainer check. Tests override ``get_assistant`` if they need to."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from assistant.access import is_trainer
from assistant.models import Principal
from assistant.service import Assistant
from bots.http.audit import Audit
from bots.http.errors import ApiError


def get_assistant(request: Request) -> Assistant:
    return request.app.state.assistant


def get_audit(request: Request) -> Audit:
    return request.app.state.audit


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
AuditDep = Annotated[Audit, Depends(get_audit)]


async def caller(request: Request, assistant: AssistantDep, audit: AuditDep) -> Principal:
    """The principal of a valid ``Authorization: Bearer <key>``; 401 otherwise, 429 over the rate.
    A client address whose keys keep failing is refused with 429 before any key is looked up."""
    header = request.headers.get("authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else None
    address = request.client.host if request.client else "unknown"
    found = assistant.keys.recent(secret)
    if found is None:
        failures = request.app.state.auth_failures
        wait = failures.waiting(address)
        if wait:
            audit.write("auth_rate_limited", path=request.url.path, client=address)
            raise ApiError(429, "rate_limited", "too many failed authentications from this address",
                           {"Retry-After": str(max(1, int(wait + 0.999)))})
        found = await asyncio.to_thread(assistant.keys.authenticate, secret)
        if found is None:
            failures.take(address)
            audit.write("auth_failed", path=request.url.path, client=address)
            raise ApiError(401, "unauthorized", "a valid API key is required: Authorization: Bearer <key>",
                           {"WWW-Authenticate": "Bearer"})
    key_id, principal = found
    request.state.principal = principal
    wait = request.app.state.limiter.take(key_id)
    if wait:
        raise ApiError(429, "rate_limited", "too many requests for this key",
                       {"Retry-After": str(max(1, int(wait + 0.999)))})
    request.state.key_id = key_id
    return principal


CallerDep = Annotated[Principal, Depends(caller)]


async def trainer(principal: CallerDep) -> Principal:
    if not is_trainer(principal):
        raise ApiError(403, "forbidden", "this needs a trainer's key")
    return principal


TrainerDep = Annotated[Principal, Depends(trainer)]
