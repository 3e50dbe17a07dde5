"""Files and JSONL records -> :class:`Document` (or a one-line reason to skip)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.config import IngestSettings
from assistant.errors import UnreadableFile
from assistant.ingest import formats
from assistant.ingest.frontmatter import FrontMatter, split_front_matter
from assistant.ingest.legal import (
    case_units_from_record,
    citation_name,
    first_h1,
    infer_line,
    looks_like_case,
    looks_like_statute,
    parse_case_text,
    parse_material_text,
    parse_statute_text,
    qa_units,
    statute_units_from_records,
)
from assistant.models import Document, Kind, Line
from assistant.text import strip_invisible

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx", ".jsonl", ".ndjson"}
IGNORED_NAMES = {"README.md", "readme.md"}


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Defaults for documents that do not say for themselves (front matter wins)."""

    kind: Kind | None = None
    line: Line | None = None
    access: tuple[str, ...] | None = None
    id_root: Path | None = None  # document ids relative to this folder instead of the ingested path
    owner: str | None = None  # the department an upload belongs to; None: the operator's


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file (or one line of a JSONL file) left out, with the reason in one line."""

    path: str
    reason: str
    line: int | None = None

    @property
    def where(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"


def walk(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(root, file) for every candidate file under the given paths, in a stable order.

    Hidden files and folders, names starting with '_', and README.md files are left out.
    """
    for given in paths:
        if given.is_file():
            yield given.parent, given
            continue
        for folder, dirs, files in os.walk(given):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            for name in sorted(files):
                if name.startswith((".", "_")) or name in IGNORED_NAMES:
                    continue
                yield given, Path(folder) / name


def load_file(path: Path, *, root: Path, options: LoadOptions, settings: IngestSettings) -> Iterator[Document | Skipped]:
    """Documents from one file; a file that cannot be read yields one :class:`Skipped`."""
    base = options.id_root if options.id_root is not None and options.id_root in path.parents else root
    rel = path.relative_to(base).as_posix() if path != base else path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        hint = " (save it as .docx)" if suffix == ".doc" else ""
        yield Skipped(str(path), f"unsupported file type '{suffix or path.name}'{hint}")
        return
    try:
        size = path.stat().st_size
        if size > settings.max_file_mb * 1024 * 1024:
            raise UnreadableFile(f"file is {size / 1048576:.1f} MB, over the {settings.max_file_mb:g} MB limit")
        data = path.read_bytes()
        if suffix in {".jsonl", ".ndjson"}:
            yield from _load_jsonl(data, path=path, options=options)
            return
        if suffix == ".pdf":
            extracted = formats.read_pdf(data, settings)
        elif suffix == ".docx":
            extracted = formats.read_docx(data, settings)
        elif suffix in HTML_SUFFIXES:
            extracted = formats.read_html(data)
        else:
            extracted = formats.read_plain(data)
        yield document_from_text(extracted, doc_id=rel, source=str(path), fallback_title=path.stem, options=options)
    except UnreadableFile as exc:
        yield Skipped(str(path), str(exc))
    except OSError as exc:
        yield Skipped(str(path), f"cannot read: {exc.strerror or exc}")


def document_from_text(extracted: formats.Extracted, *, doc_id: str, source: str, fallback_title: str,
                       options: LoadOptions) -> Document:
    # zero-width and bidi characters hide text from a reader (and instructions from a reviewer)
    if extracted.front is not None:
        front, body = extracted.front, strip_invisible(extracted.text)
    else:
        front, body = split_front_matter(strip_invisible(extracted.text))
    kind = front.kind or options.kind or _infer_kind(body)
    title = front.title or extracted.title or ""
    tags = tuple(dict.fromkeys((*front.tags, *extracted.tags)))
    guiding = bool(front.guiding)
    if kind in (Kind.statute, Kind.interpretation):
        title = title or first_h1(body) or fallback_title
        short = front.short or citation_name(title)
        units = parse_statute_text(body, title=title, short=short, law_id=short)
    elif kind is Kind.case:
        case_no = front.case_no
        title, units, keywords = parse_case_text(body, title=title, fallback_title=fallback_title,
                                                 case_no=case_no, case_id=doc_id)
        tags = tuple(dict.fromkeys((*tags, *keywords)))
        if front.guiding is None:
            guiding = bool(case_no and case_no.startswith(("检例", "指导案例")))
    elif kind is Kind.qa:
        title = title or first_h1(body) or fallback_title
        units = qa_units(body, label=front.case_no or title, title=title)
    else:
        title, units = parse_material_text(body, title=title, fallback_title=fallback_title)
    if not units:
        raise UnreadableFile(f"no text found for a {kind.value} after parsing")
    return Document(
        doc_id=doc_id,
        title=title,
        kind=kind,
        line=_line(front, options, title, tags),
        source=source,
        units=units,
        version_date=front.date,
        access=front.access if front.access is not None else (options.access or ()),
        tags=tags,
        guiding=guiding,
        encoding=extracted.encoding,
    )


def _infer_kind(body: str) -> Kind:
    if looks_like_case(body):
        return Kind.case
    if looks_like_statute(body):
        return Kind.statute
    return Kind.material


def _line(front: FrontMatter, options: LoadOptions, title: str, tags: tuple[str, ...]) -> Line:
    return front.line or options.line or infer_line(title, *tags)


# --- JSONL ----------------------------------------------------------------------------

def _load_jsonl(data: bytes, *, path: Path, options: LoadOptions) -> Iterator[Document | Skipped]:
    """statutes.jsonl (one article a line), guiding_cases.jsonl (one case a line) or generic
    records {id, title, text, kind?, line?, access?, tags?}. A bad line is skipped alone."""
    text, _encoding = formats.decode_text(data)
    laws: dict[str, list[dict]] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = _visible(json.loads(raw))
        except json.JSONDecodeError as exc:
            yield Skipped(str(path), f"invalid JSON: {exc.msg} at column {exc.colno}", number)
            continue
        if not isinstance(record, dict):
            yield Skipped(str(path), "a JSONL line must be an object", number)
            continue
        try:
            if "article_label" in record and "law_short" in record:
                _require(record, "id", "law_short", "article_label", "text")
                laws.setdefault(record["law_short"], []).append(record)
            elif "case_no" in record and "key_points" in record:
                _require(record, "id")
                yield _case_document(record, source=str(path), options=options)
            else:
                yield _generic_document(record, source=str(path), options=options)
        except UnreadableFile as exc:
            yield Skipped(str(path), str(exc), number)
    for law_short, records in laws.items():
        first = records[0]
        title = first.get("law_title") or law_short
        kind = Kind.statute if first.get("doc_type", "law") == "law" else Kind.interpretation
        yield Document(
            doc_id=law_short,
            title=title,
            kind=kind,
            line=options.line or infer_line(title),
            source=str(path),
            units=statute_units_from_records(records, name=title),
            version_date=first.get("version_date"),
            access=options.access or (),
        )


def _visible(value):
    if isinstance(value, str):
        return strip_invisible(value)
    if isinstance(value, list):
        return [_visible(v) for v in value]
    if isinstance(value, dict):
        return {k: _visible(v) for k, v in value.items()}
    return value


def _require(record: dict, *keys: str) -> None:
    missing = [k for k in keys if not isinstance(record.get(k), str) or not record.get(k).strip()]
    if missing:
        raise UnreadableFile(f"record lacks {', '.join(missing)}")


def _case_document(record: dict, *, source: str, options: LoadOptions) -> Document:
    units = case_units_from_record(record)
    if not units:
        raise UnreadableFile(f"case {record['id']} has no text")
    keywords = tuple(record.get("keywords") or ())
    title = record.get("title") or record["id"]
    return Document(
        doc_id=record["id"],
        title=title,
        kind=Kind.case,
        line=options.line or infer_line(title, *keywords, record.get("key_points")),
        source=source,
        units=units,
        version_date=record.get("date"),
        access=options.access or (),
        tags=keywords,
        guiding=True,
        cites=tuple(str(c) for c in record.get("gold_article_ids") or ()),
    )


def _generic_document(record: dict, *, source: str, options: LoadOptions) -> Document:
    _require(record, "id", "text")
    extracted = formats.Extracted(record["text"], None, record.get("title"))
    fields = {k: record.get(k) for k in ("kind", "line") if record.get(k)}
    try:
        kind = Kind(fields["kind"]) if "kind" in fields else options.kind
        line = Line(fields["line"]) if "line" in fields else options.line
    except ValueError as exc:
        raise UnreadableFile(str(exc)) from None
    access = record.get("access")
    doc_options = LoadOptions(kind=kind, line=line, access=tuple(access) if isinstance(access, list) else options.access)
    doc = document_from_text(extracted, doc_id=str(record["id"]), source=source,
                             fallback_title=str(record.get("title") or record["id"]), options=doc_options)
    tags = record.get("tags")
    if isinstance(tags, list):
        doc.tags = tuple(dict.fromkeys((*doc.tags, *map(str, tags))))
    return doc
