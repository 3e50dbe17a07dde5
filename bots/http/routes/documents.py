"""Documents: upload (ingested at once), list, delete. Uploads are typed by their content,
never by their name, and stored under a name that is never a path."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import replace

from fastapi import APIRouter, File, Form, Request, UploadFile

from assistant.errors import NotFound
from assistant.ingest.detect import decode_text
from assistant.ingest.loaders import LoadOptions
from assistant.models import Kind, Line, Principal
from bots.http.deps import AssistantDep, AuditDep, CallerDep, TrainerDep
from bots.http.errors import ApiError

router = APIRouter(prefix="/v1/documents")
UPLOAD_WAIT_S = 30  # scaled out, another worker or a CLI ingest may be writing: wait this long, then 409


@router.post("", status_code=201, summary="Upload and ingest a document (trainers)")
async def upload(request: Request, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep,
                 file: UploadFile = File(...), kind: str | None = Form(None), line: str | None = Form(None),
                 access: list[str] | None = Form(None)):
    limit_mb = assistant.settings.http.max_upload_mb
    data = await file.read(int(limit_mb * 1024 * 1024) + 1)
    if len(data) > limit_mb * 1024 * 1024:
        raise ApiError(413, "too_large", f"uploads are limited to {limit_mb:g} MB")
    if not data:
        raise ApiError(422, "empty_file", "the file is empty")
    suffix = sniff(data)
    folder = (assistant.settings.data_dir / "uploads").resolve()
    options = replace(load_options(kind, line, access, principal), id_root=folder)
    name = safe_name(file.filename or "upload", suffix)
    digest = hashlib.sha256(data).hexdigest()[:12]
    target = folder / digest / name
    writer = request.app.state.writer

    def ingest():
        with writer:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            report = assistant.ingest([target], options=options, wait_s=UPLOAD_WAIT_S)
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


@router.get("", summary="Documents I may read")
async def documents(principal: CallerDep, assistant: AssistantDep):
    return {"documents": await asyncio.to_thread(assistant.documents, principal)}


@router.delete("/{doc_id:path}", summary="Remove a document (trainers)")
async def delete(doc_id: str, request: Request, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep):
    visible = {d["doc_id"] for d in await asyncio.to_thread(assistant.documents, principal)}
    if doc_id not in visible:
        raise NotFound(f"no document {doc_id!r}")
    uploads = (assistant.settings.data_dir / "uploads").resolve()
    writer = request.app.state.writer

    def remove():
        with writer:
            assistant.remove_documents([doc_id], wait_s=UPLOAD_WAIT_S)
            stored = (uploads / doc_id).resolve()
            if uploads in stored.parents and stored.is_file():
                stored.unlink()

    await asyncio.to_thread(remove)
    audit.write("delete", principal, ids=[doc_id])
    return {"deleted": doc_id}


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


def load_options(kind: str | None, line: str | None, access: list[str] | None, principal: Principal) -> LoadOptions:
    """Kind, line and departments for an upload: restricted to the uploader's own departments
    when ``access`` is omitted, and never to departments the uploader is not in."""
    try:
        parsed_kind = Kind(kind) if kind else None
        parsed_line = Line(line) if line else None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    departments = tuple(d.strip() for d in access or () if d.strip())
    if not departments:
        departments = principal.departments
    if not principal.sees_everything and set(departments) - set(principal.departments):
        raise ApiError(403, "forbidden", "you can restrict documents only to your own departments")
    return LoadOptions(kind=parsed_kind, line=parsed_line, access=departments or None)
