"""Documents: upload (ingested at once), list, delete. What a caller may upload, see and remove
is the core's (assistant/documents.py); this module translates HTTP and audits."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, File, Form, UploadFile

from assistant.errors import AccessDenied, JianxueError, NotFound
from bots.http.deps import AssistantDep, AuditDep, CallerDep, TrainerDep
from bots.http.errors import ApiError

router = APIRouter(prefix="/v1/documents")
UPLOAD_WAIT_S = 30  # scaled out, another worker or a CLI ingest may be writing: wait this long, then 409


@router.post("", status_code=201, summary="Upload and ingest a document (trainers)")
async def upload(principal: TrainerDep, assistant: AssistantDep, audit: AuditDep,
                 file: UploadFile = File(...), kind: str | None = Form(None), line: str | None = Form(None),
                 access: list[str] | None = Form(None), owner: str | None = Form(None)):
    limit_mb = assistant.settings.http.max_upload_mb
    data = await file.read(int(limit_mb * 1024 * 1024) + 1)
    name = (file.filename or "upload")[-200:]
    if len(data) > limit_mb * 1024 * 1024:
        audit.write("upload_rejected", principal, name=name, reason="too_large")
        raise ApiError(413, "too_large", f"uploads are limited to {limit_mb:g} MB")
    if not data:
        audit.write("upload_rejected", principal, name=name, reason="empty_file")
        raise ApiError(422, "empty_file", "the file is empty")
    try:
        uploaded = await asyncio.to_thread(assistant.documents.upload, data, name, principal=principal, kind=kind,
                                           line=line, access=access, owner=owner, wait_s=UPLOAD_WAIT_S)
    except JianxueError as exc:
        audit.write("upload_rejected", principal, name=name, reason=f"{exc.code}: {exc}")
        raise
    audit.write("upload", principal, ids=[uploaded.doc_id], chunks=uploaded.report.chunks, owner=uploaded.owner)
    return uploaded.to_dict()


@router.get("", summary="Documents I may read")
async def documents(principal: CallerDep, assistant: AssistantDep):
    return {"documents": await asyncio.to_thread(assistant.documents.visible, principal)}


@router.delete("/{doc_id:path}", summary="Remove a document of my departments (trainers)")
async def delete(doc_id: str, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep):
    try:
        await asyncio.to_thread(assistant.documents.remove, doc_id, principal=principal, wait_s=UPLOAD_WAIT_S)
    except (AccessDenied, NotFound) as exc:
        audit.write("delete_refused", principal, ids=[doc_id], reason=exc.code)
        raise
    audit.write("delete", principal, ids=[doc_id])
    return {"deleted": doc_id}
