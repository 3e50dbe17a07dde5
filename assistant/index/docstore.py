"""The document store: which documents are indexed, from which source, as which chunks,
and the chunks themselves (text, citation, breadcrumb) for everything that reads them.

Each document moves ``pending`` (new chunk ids recorded *before* the store is touched)
-> ``committed``; deletions go through ``deleting``. So the store never holds a chunk
the docstore does not know, and a run killed at any point converges when run again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from assistant.models import Chunk, Kind, Line

metadata = MetaData()

documents = Table(
    "ingest_documents",
    metadata,
    Column("doc_id", String(512), primary_key=True),
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("kind", String(32), nullable=False),
    Column("line", String(32), nullable=False),
    Column("access", JSON, nullable=False, default=list),
    Column("encoding", String(32)),
    Column("content_hash", String(64)),
    Column("state", String(16), nullable=False),
    Column("chunk_ids", JSON, nullable=False, default=list),
    Column("pending_ids", JSON),
    Column("cites", JSON),  # source ids a case cites in its 相关规定 (for citation hints)
    Column("owner", String(128)),  # the department that uploaded it; NULL: the operator's (command line)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

chunks = Table(
    "chunks",
    metadata,
    Column("chunk_id", String(64), primary_key=True),
    Column("doc_id", String(512), nullable=False, index=True),
    Column("ordinal", Integer, nullable=False),
    Column("locator", Text, nullable=False),
    Column("citation", Text, nullable=False),
    Column("source_id", String(512), index=True),
    Column("text", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("line", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("breadcrumb", JSON, nullable=False),
    Column("version_date", String(32)),
    Column("access", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("authority", Integer, nullable=False),
    Column("tokens", Text),  # keyword tokens, filled by the keyword index on its next refresh
)

examples = Table(
    "learned_examples",
    metadata,
    Column("example_id", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("cites", JSON, nullable=False),
    Column("source", Text, nullable=False),
)

index_meta = Table(
    "index_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

COMMITTED, PENDING, DELETING = "committed", "pending", "deleting"

_VIEW_KEYS = ("generation", "examples", "embedder")  # what a search or an answer reads more than once
_VIEW: ContextVar[tuple[DocStore, dict[str, str | None]] | None] = ContextVar("jianxue_read_view", default=None)


@dataclass(slots=True)
class Entry:
    doc_id: str
    source: str
    title: str
    kind: str
    line: str
    access: list[str]
    encoding: str | None
    content_hash: str | None
    state: str
    chunk_ids: list[str]
    pending_ids: list[str] | None = None
    cites: list[str] = field(default_factory=list)
    owner: str | None = None  # the uploading department; None for the operator's own ingests

    def known_ids(self) -> set[str]:
        """Every chunk id this document may have left in the store."""
        return set(self.chunk_ids) | set(self.pending_ids or ())


@dataclass(slots=True)
class Planned:
    """A document about to be (re)written: its docstore row and chunks once it is committed."""

    entry: Entry
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def new_ids(self) -> list[str]:
        return [c.chunk_id for c in self.chunks]


class DocStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> dict[str, Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents)).mappings().all()
        return {
            r["doc_id"]: Entry(
                doc_id=r["doc_id"], source=r["source"], title=r["title"], kind=r["kind"], line=r["line"],
                access=list(r["access"] or ()), encoding=r["encoding"], content_hash=r["content_hash"],
                state=r["state"], chunk_ids=list(r["chunk_ids"] or ()),
                pending_ids=list(r["pending_ids"]) if r["pending_ids"] is not None else None,
                cites=list(r["cites"] or ()), owner=r["owner"],
            )
            for r in rows
        }

    def access_of(self, doc_ids: Iterable[str]) -> dict[str, list[str]]:
        """The departments each committed document is restricted to ([] for everyone); documents
        that are not (or no longer) indexed are absent."""
        doc_ids = sorted(set(doc_ids))
        found: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(doc_ids), 500):
                rows = conn.execute(select(documents.c.doc_id, documents.c.access).where(
                    documents.c.doc_id.in_(doc_ids[start:start + 500]), documents.c.state == COMMITTED))
                found.update((r.doc_id, list(r.access or ())) for r in rows)
        return found

    def mark_pending(self, planned: Iterable[Planned], existing: dict[str, Entry]) -> None:
        """Record the chunk ids each document is about to get, before the store changes."""
        now = _now()
        with self.engine.begin() as conn:
            for p in planned:
                e = p.entry
                old = existing.get(e.doc_id)
                pending = sorted(set(p.new_ids) | set(old.pending_ids or ()) if old else set(p.new_ids))
                if old is None:
                    conn.execute(insert(documents).values(
                        doc_id=e.doc_id, source=e.source, title=e.title, kind=e.kind, line=e.line,
                        access=e.access, encoding=e.encoding, content_hash=None, state=PENDING,
                        chunk_ids=[], pending_ids=pending, owner=e.owner, updated_at=now,
                    ))
                else:
                    conn.execute(update(documents).where(documents.c.doc_id == e.doc_id).values(
                        state=PENDING, pending_ids=pending, updated_at=now,
                    ))

    def commit(self, planned: Iterable[Planned], *, tokens: dict[str, str] | None = None) -> None:
        """Make each document's new chunks the current ones, in one transaction.

        ``tokens`` (keyword tokens by chunk id) saves the keyword index from tokenising them later.
        """
        planned = list(planned)
        now = _now()
        with self.engine.begin() as conn:
            doc_ids = [p.entry.doc_id for p in planned]
            for start in range(0, len(doc_ids), 500):
                conn.execute(delete(chunks).where(chunks.c.doc_id.in_(doc_ids[start:start + 500])))
            rows = [_chunk_row(c, (tokens or {}).get(c.chunk_id)) for p in planned for c in p.chunks]
            if rows:
                conn.execute(insert(chunks), rows)
            for p in planned:
                e = p.entry
                conn.execute(update(documents).where(documents.c.doc_id == e.doc_id).values(
                    source=e.source, title=e.title, kind=e.kind, line=e.line, access=e.access,
                    encoding=e.encoding, content_hash=e.content_hash, state=COMMITTED,
                    chunk_ids=p.new_ids, pending_ids=None, cites=e.cites, owner=e.owner, updated_at=now,
                ))
            _bump_generation(conn)

    def mark_deleting(self, doc_ids: Iterable[str]) -> None:
        doc_ids = list(doc_ids)
        if doc_ids:
            with self.engine.begin() as conn:
                conn.execute(update(documents).where(documents.c.doc_id.in_(doc_ids)).values(
                    state=DELETING, updated_at=_now()))

    def remove(self, doc_ids: Iterable[str]) -> None:
        doc_ids = list(doc_ids)
        if doc_ids:
            with self.engine.begin() as conn:
                conn.execute(delete(chunks).where(chunks.c.doc_id.in_(doc_ids)))
                conn.execute(delete(documents).where(documents.c.doc_id.in_(doc_ids)))
                _bump_generation(conn)

    def generation(self) -> int:
        """Goes up with every commit or removal: readers compare it to know they are fresh."""
        return int(self.get_meta("generation") or 0)

    def set_tokens(self, tokens: dict[str, str]) -> None:
        if tokens:
            with self.engine.begin() as conn:
                conn.execute(update(chunks).where(chunks.c.chunk_id == bindparam("cid")).values(tokens=bindparam("tok")),
                             [{"cid": k, "tok": v} for k, v in tokens.items()])

    def catalog_rows(self) -> list[dict]:
        """Every committed chunk's id, filter fields and keyword tokens, in a stable order."""
        cols = [chunks.c.chunk_id, chunks.c.doc_id, chunks.c.source_id, chunks.c.kind, chunks.c.line,
                chunks.c.access, chunks.c.tags, chunks.c.authority, chunks.c.version_date, chunks.c.tokens]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(*cols).order_by(chunks.c.chunk_id)).mappings()]

    def get_chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Committed chunks by id (ids of unfinished writes are simply absent)."""
        found: dict[str, Chunk] = {}
        ids = list(dict.fromkeys(ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(select(chunks).where(chunks.c.chunk_id.in_(ids[start:start + 500]))).mappings()
                for r in rows:
                    found[r["chunk_id"]] = _chunk_from_row(r)
        return found

    def chunk_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(chunks)).scalar_one()

    def add_examples(self, items: Sequence[tuple[str, Sequence[str], str]]) -> int:
        """Store labelled examples (text, cited source ids, where from); returns how many were new."""
        import hashlib

        rows = {hashlib.sha256(text.strip().encode()).hexdigest()[:32]: (text.strip(), list(cites), source)
                for text, cites, source in items if text.strip() and cites}
        with self.engine.begin() as conn:
            known = set()
            ids = list(rows)
            for start in range(0, len(ids), 500):
                known |= set(conn.execute(select(examples.c.example_id)
                                          .where(examples.c.example_id.in_(ids[start:start + 500]))).scalars())
            fresh = [{"example_id": i, "text": t, "cites": c, "source": s} for i, (t, c, s) in rows.items() if i not in known]
            if fresh:
                conn.execute(insert(examples), fresh)
                current = conn.execute(select(index_meta.c.value).where(index_meta.c.key == "examples")).scalar()
                if current is None:
                    conn.execute(insert(index_meta).values(key="examples", value="1"))
                else:
                    conn.execute(update(index_meta).where(index_meta.c.key == "examples").values(value=str(int(current) + 1)))
        return len(fresh)

    def load_examples(self) -> list[tuple[str, list[str]]]:
        with self.engine.connect() as conn:
            return [(r.text, list(r.cites)) for r in conn.execute(select(examples.c.text, examples.c.cites))]

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(index_meta.c.value).where(index_meta.c.key == key)).scalar()

    @contextmanager
    def read_view(self) -> Iterator[None]:
        """One read of the store's state for a whole search or answer: within it, :meth:`meta`
        gives every part the same generation, and the database is asked once, not at every step.
        Nested views reuse the outer one."""
        view = _VIEW.get()
        if view is not None and view[0] is self:
            yield
            return
        token = _VIEW.set((self, self.get_metas(_VIEW_KEYS)))
        try:
            yield
        finally:
            _VIEW.reset(token)

    def meta(self, key: str) -> str | None:
        """A meta value as the current read view saw it (read now outside a view)."""
        view = _VIEW.get()
        if view is not None and view[0] is self and key in view[1]:
            return view[1][key]
        return self.get_meta(key)

    def get_metas(self, keys: Sequence[str]) -> dict[str, str | None]:
        """Several meta values in one query (absent keys map to None). The table holds a few
        rows, and reading them all spares SQLAlchemy an expanding IN on every search."""
        with self.engine.connect() as conn:
            found = dict(conn.execute(select(index_meta.c.key, index_meta.c.value)).all())
        return {k: found.get(k) for k in keys}

    def meta_once(self, key: str, make: Callable[[], str]) -> str:
        """The value stored under ``key``, stored first from ``make()`` if there is none (several
        processes asking at once all get the one value that was stored first)."""
        value = self.get_meta(key)
        if value is not None:
            return value
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(index_meta).values(key=key, value=make()))
        except IntegrityError:  # another process stored it first
            pass
        value = self.get_meta(key)
        assert value is not None
        return value

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(update(index_meta).where(index_meta.c.key == key).values(value=value)).rowcount == 0:
                conn.execute(insert(index_meta).values(key=key, value=value))


def _bump_generation(conn) -> None:
    current = conn.execute(select(index_meta.c.value).where(index_meta.c.key == "generation")).scalar()
    if current is None:
        conn.execute(insert(index_meta).values(key="generation", value="1"))
    else:
        conn.execute(update(index_meta).where(index_meta.c.key == "generation").values(value=str(int(current) + 1)))


def _chunk_row(c: Chunk, tokens: str | None = None) -> dict:
    return {
        "chunk_id": c.chunk_id, "doc_id": c.doc_id, "ordinal": c.ordinal, "locator": c.locator,
        "citation": c.citation, "source_id": c.source_id, "text": c.text, "kind": c.kind.value,
        "line": c.line.value, "title": c.title, "breadcrumb": list(c.breadcrumb), "version_date": c.version_date,
        "access": list(c.access), "tags": list(c.tags), "authority": c.authority, "tokens": tokens,
    }


def _chunk_from_row(r) -> Chunk:
    return Chunk(
        chunk_id=r["chunk_id"], doc_id=r["doc_id"], ordinal=r["ordinal"], locator=r["locator"],
        citation=r["citation"], text=r["text"], kind=Kind(r["kind"]), line=Line(r["line"]), title=r["title"],
        source_id=r["source_id"], breadcrumb=tuple(r["breadcrumb"] or ()), version_date=r["version_date"],
        access=tuple(r["access"] or ()), tags=tuple(r["tags"] or ()), authority=r["authority"],
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
