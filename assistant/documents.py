"""Documents as their users manage them: an upload is typed by its content, stored under a name
that is never a path, and belongs to the uploading department; listing shows what a caller
may read; changing or removing is for whoever manages the document.

An upload lives in ``uploads/<owner>/<content hash>/<name>`` under the data directory and
its id is that path without ``uploads/``: the same file uploaded by two departments is two
documents, each with its own access, and nothing one department does to its copy touches the
other's. Documents ingested from the command line belong to the operator (owner None): only
the command line and admins change or remove them.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.access import may_manage, may_read, require_trainer
from assistant.errors import AccessDenied, NotFound, UnreadableFile, UnsupportedType
from assistant.index.docstore import COMMITTED, DocStore
from assistant.ingest.detect import decode_text
from assistant.ingest.loaders import LoadOptions
from assistant.ingest.pipeline import IngestReport
from assistant.models import Kind, Line, Principal

OPERATOR = "operator"  # the folder of uploads made with an admin key on no department's behalf


@dataclass(frozen=True)
class Uploaded:
    doc_id: str
    name: str
    owner: str | None
    report: IngestReport
    access: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"doc_id": self.doc_id, "name": self.name, "owner": self.owner, "chunks": self.report.chunks,
                "added": self.report.added, "updated": self.report.updated, "unchanged": self.report.unchanged,
                "access": list(self.access)}


class Documents:
    """Uploads, listing and removal for a principal; the ingest and removal themselves are the
    composition root's (they hold the writer lock)."""

    def __init__(self, *, docstore: DocStore, folder: Path, ingest: Callable[..., IngestReport],
                 remove: Callable[..., int]) -> None:
        self.docstore = docstore
        self.folder = folder
        self._ingest = ingest
        self._remove = remove
        self._writing = threading.Lock()  # one upload or removal at a time in this process

    def upload(self, data: bytes, filename: str, *, principal: Principal, kind: str | None = None,
               line: str | None = None, access: list[str] | None = None, owner: str | None = None,
               wait_s: float = 0) -> Uploaded:
        """Ingest an uploaded file into the uploader's department's space (searchable at once).
        Raises AccessDenied, UnsupportedType or UnreadableFile (the file is then not kept)."""
        require_trainer(principal, "uploading documents")
        folder = self.folder.resolve()
        options = replace(self._options(kind, line, access, owner, principal), id_root=folder)
        suffix = sniff(data)
        name = safe_name(filename or "upload", suffix)
        target = folder / owner_folder(options.owner) / hashlib.sha256(data).hexdigest()[:12] / name
        with self._writing:
            existed = target.exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            try:
                report = self._ingest([target], options=options, wait_s=wait_s)
            except BaseException:
                if not existed:
                    target.unlink(missing_ok=True)
                raise
            if report.skipped:
                if not existed:
                    target.unlink(missing_ok=True)
                raise UnreadableFile(report.skipped[0].reason)
        return Uploaded(doc_id=target.relative_to(folder).as_posix(), name=name, owner=options.owner, report=report,
                        access=tuple(options.access or ()))

    def visible(self, principal: Principal) -> list[dict]:
        """The documents this principal may read, and whether they may change them."""
        return [{"doc_id": e.doc_id, "title": e.title, "kind": e.kind, "line": e.line, "access": list(e.access),
                 "chunks": len(e.chunk_ids), "source": Path(e.source).name, "owner": e.owner,
                 "manageable": may_manage(principal, e.owner)}
                for e in sorted(self.docstore.load().values(), key=lambda e: e.doc_id)
                if e.state == COMMITTED and may_read(principal, e.access)]

    def readable(self, doc_ids, *, principal: Principal) -> set[str]:
        """Those of ``doc_ids`` that are indexed and the principal may read now."""
        return {d for d, access in self.docstore.access_of(doc_ids).items() if may_read(principal, access)}

    def remove(self, doc_id: str, *, principal: Principal, wait_s: float = 0) -> None:
        """Remove a document the principal manages: NotFound if they cannot read it,
        AccessDenied if it belongs to another department or to the operator."""
        require_trainer(principal, "removing documents")
        entry = self.docstore.load().get(doc_id)
        if entry is None or entry.state != COMMITTED or not may_read(principal, entry.access):
            raise NotFound(f"no document {doc_id!r}")
        if not may_manage(principal, entry.owner):
            raise AccessDenied("you can remove only documents uploaded by your own departments")
        folder = self.folder.resolve()
        with self._writing:
            self._remove([doc_id], wait_s=wait_s)
            stored = (folder / doc_id).resolve()
            if folder in stored.parents and stored.is_file():
                stored.unlink()

    def stats(self, *, embedder: str, data_dir: str) -> dict:
        """Documents and chunks by kind and by line, and what an interrupted ingest left."""
        entries = self.docstore.load().values()
        docs = Counter((e.kind, e.line) for e in entries if e.state == COMMITTED)
        chunks = Counter()
        for e in entries:
            if e.state == COMMITTED:
                chunks[(e.kind, e.line)] += len(e.chunk_ids)
        by_kind: dict[str, dict[str, int]] = {}
        by_line: dict[str, dict[str, int]] = {}
        for (kind, line), n in docs.items():
            for table, key in ((by_kind, kind), (by_line, line)):
                row = table.setdefault(key, {"documents": 0, "chunks": 0})
                row["documents"] += n
                row["chunks"] += chunks[(kind, line)]
        return {
            "documents": sum(docs.values()),
            "chunks": sum(chunks.values()),
            "unfinished": sum(1 for e in entries if e.state != COMMITTED),
            "by_kind": dict(sorted(by_kind.items())),
            "by_line": dict(sorted(by_line.items())),
            "embedder": (self.docstore.get_meta("embedder") or "").rpartition("@")[0] or embedder,
            "data_dir": data_dir,
        }

    @staticmethod
    def _options(kind: str | None, line: str | None, access: list[str] | None, owner: str | None,
                 principal: Principal) -> LoadOptions:
        """Kind, line, departments and owner of an upload. It belongs to one of the uploader's
        departments (``owner``, else their first); it is restricted to the uploader's departments
        unless ``access`` says otherwise, and never to departments the uploader is not in."""
        try:
            parsed_kind = Kind(kind) if kind else None
            parsed_line = Line(line) if line else None
        except ValueError as exc:
            raise UnreadableFile(str(exc)) from None
        mine = tuple(d for d in principal.departments if d)
        if owner is not None and owner not in mine and not principal.sees_everything:
            raise AccessDenied("a document can belong only to one of your own departments")
        if owner is None and mine:
            owner = mine[0]
        if owner is None and not principal.sees_everything:
            raise AccessDenied("a trainer's key needs a department to upload documents")
        departments = tuple(d.strip() for d in access or () if d.strip()) or mine
        if not principal.sees_everything and set(departments) - set(mine):
            raise AccessDenied("you can restrict documents only to your own departments")
        return LoadOptions(kind=parsed_kind, line=parsed_line, access=departments or None, owner=owner)


def owner_folder(owner: str | None) -> str:
    """A department's folder name: a hash, so that no department name is ever a path."""
    return OPERATOR if owner is None else "d" + hashlib.sha256(owner.encode()).hexdigest()[:10]


def sniff(data: bytes) -> str:
    """The file type by content, whatever the name says: .pdf, .docx, .html or .txt/.md."""
    if not data:
        raise UnreadableFile("the file is empty")
    head = data[:2048]
    if head.startswith(b"%PDF-"):
        return ".pdf"
    if head.startswith(b"PK\x03\x04"):
        if b"word/" in data[:65536] or b"[Content_Types].xml" in data[:65536]:
            return ".docx"
        raise UnsupportedType("a zip archive that is not a DOCX document")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedType("binary content: upload Markdown, TXT, HTML, PDF or DOCX")
    try:
        text, _encoding = decode_text(data)
    except UnreadableFile:
        raise UnsupportedType("not text in UTF-8, GBK or GB18030") from None
    if re.match(r"\s*(<!doctype html|<html)", text[:1024], re.IGNORECASE):
        return ".html"
    return ".md" if text.lstrip().startswith(("---", "#")) else ".txt"


def safe_name(filename: str, suffix: str) -> str:
    """A file name that is never a path: the last part, safe characters, the sniffed suffix."""
    base = re.split(r"[\\/]", filename)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^\w\u4e00-\u9fff-]+", "_", stem).strip("._-")[:80] or "upload"
    return stem + suffix
