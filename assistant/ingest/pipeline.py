"""One ingest run: load -> plan against the docstore -> embed and write -> commit -> prune.

Embedding overlaps with store writes in one background thread, so the run goes about as
fast as the embedder alone. A large run embeds in worker processes when the service
provides a pool (see assistant/index/pool.py); small ones embed in-process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from assistant.config import IngestSettings
from assistant.index.docstore import COMMITTED, DELETING, DocStore, Entry, Planned
from assistant.index.embedders import Embedder
from assistant.index.pool import EmbedderPool
from assistant.index.store import VectorStore
from assistant.ingest.chunking import chunk_document
from assistant.ingest.loaders import LoadOptions, Skipped, load_file, walk
from assistant.models import Chunk, Document
from assistant.text import mask_instructions

FLUSH_CHUNKS = 2048
EMBED_BATCH = 256
POOL_MIN_CHUNKS = 1024  # fewer chunks than this embed in-process: starting workers costs ~2 s


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"path": s.where, "reason": s.reason} for s in self.skipped],
            "chunks": self.chunks,
            "embedded": self.embedded,
            "seconds": round(self.seconds, 3),
        }


Progress = Callable[[str, int], None]


@dataclass
class _Flight:
    """A batch whose vectors are being made: written and committed by Ingestor._finish."""

    batch: list["_Plan"]
    parts: list[list[Chunk]]
    vectors: list[Callable[[], np.ndarray]]  # one per part, in order
    tokens: Future | None


@dataclass
class _Plan:
    planned: Planned
    is_new: bool
    to_embed: list[Chunk]
    to_refresh: list[Chunk]
    to_delete: set[str]


class Ingestor:
    """Runs ingests against one embedder, store and docstore. Not thread-safe: one writer."""

    def __init__(self, *, embedder: Callable[[], Embedder], store: VectorStore, docstore: DocStore,
                 settings: IngestSettings, keyword_tokens: Callable[[Chunk], str] | None = None,
                 pool: Callable[[], EmbedderPool] | None = None) -> None:
        self._embedder_factory = embedder
        self._pool_factory = pool
        self._pool: EmbedderPool | None = None
        self.store = store
        self.docstore = docstore
        self.settings = settings
        # keyword tokens are computed beside the embedder (pure Python while numpy holds no GIL)
        self._keyword_tokens = keyword_tokens

    def run(self, paths: Sequence[Path], *, options: LoadOptions = LoadOptions(), prune: bool = False,
            progress: Progress | None = None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        notify = progress or (lambda _event, _n: None)
        entries = self.docstore.load()
        self._finish_deletions(entries, report)
        recovering = any(e.state != COMMITTED for e in entries.values())
        roots = [p.resolve() for p in paths]
        seen_docs: dict[str, str] = {}
        batch: list[_Plan] = []
        in_flight: _Flight | None = None  # the previous batch, embedding while the next one is planned
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jianxue-store") as writer, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="jianxue-tokens") as tokens, \
                self._closing_pool():

            def flush() -> None:
                nonlocal in_flight, batch
                started_next = self._start(batch, entries, tokens)
                if in_flight is not None:
                    self._finish(in_flight, entries, writer, report, notify)
                in_flight, batch = started_next, []

            for root, path in walk(roots):
                for item in load_file(path, root=root, options=options, settings=self.settings):
                    if isinstance(item, Skipped):
                        report.skipped.append(item)
                        continue
                    if item.doc_id in seen_docs:
                        report.skipped.append(Skipped(item.source, f"document id {item.doc_id!r} already came from {seen_docs[item.doc_id]}"))
                        continue
                    seen_docs[item.doc_id] = item.source
                    item.owner = options.owner
                    plan = self._plan(item, entries.get(item.doc_id), report)
                    if plan is not None:
                        batch.append(plan)
                        if sum(len(p.to_embed) for p in batch) >= FLUSH_CHUNKS:
                            flush()
                notify("file", 1)
            if batch:
                flush()
            if in_flight is not None:
                self._finish(in_flight, entries, writer, report, notify)
        if prune:
            self._prune(entries, roots, seen_docs, report)
        if recovering or prune:
            self._sweep_orphans()
        report.seconds = time.perf_counter() - started
        return report

    # -- planning ------------------------------------------------------------------------

    def _plan(self, doc: Document, old: Entry | None, report: IngestReport) -> _Plan | None:
        doc = masked(doc)
        content_hash = doc.content_hash()
        source = str(Path(doc.source))
        if old is not None and old.state == COMMITTED and old.content_hash == content_hash and old.source == source:
            report.unchanged += 1
            report.chunks += len(old.chunk_ids)
            return None
        chunks = chunk_document(doc, target=self.settings.chunk_chars, hard_max=self.settings.hard_max_chars)
        new_ids = [c.chunk_id for c in chunks]
        reusable = self._reusable(old, chunks) if old is not None else set()
        entry = Entry(
            doc_id=doc.doc_id, source=source, title=doc.title, kind=doc.kind.value, line=doc.line.value,
            access=list(doc.access), encoding=doc.encoding, content_hash=content_hash, state=COMMITTED,
            chunk_ids=new_ids, cites=list(doc.cites), owner=doc.owner,
        )
        return _Plan(
            planned=Planned(entry=entry, chunks=chunks),
            is_new=old is None or old.state == DELETING or not old.chunk_ids and old.content_hash is None,
            to_embed=[c for c in chunks if c.chunk_id not in reusable],
            to_refresh=[c for c in chunks if c.chunk_id in reusable],
            to_delete=(old.known_ids() - set(new_ids)) if old is not None else set(),
        )

    def _reusable(self, old: Entry, chunks: list[Chunk]) -> set[str]:
        """Ids whose stored vector can be kept: same id and same embedded text, and really in the store.

        The id covers (doc_id, locator, text); the embedded text also carries the citation,
        so a renamed law or case re-embeds. Ids only a killed run wrote (pending) were
        embedded from that run's text, which is as new as the docstore knows.
        """
        candidates = old.known_ids() & {c.chunk_id for c in chunks}
        if not candidates:
            return set()
        committed = self.docstore.get_chunks(sorted(candidates & set(old.chunk_ids)))
        same = {c.chunk_id for c in chunks if c.chunk_id in candidates and (
            c.chunk_id not in committed or committed[c.chunk_id].embedding_text() == c.embedding_text())}
        return self.store.existing(sorted(same)) if same else set()

    # -- writing -------------------------------------------------------------------------

    def _start(self, batch: list[_Plan], entries: dict[str, Entry], tokenizer: ThreadPoolExecutor) -> "_Flight":
        """Record the batch's new ids as pending and set its embedding and keyword tokens going."""
        self.docstore.mark_pending([p.planned for p in batch], entries)
        tokens: Future | None = None
        if self._keyword_tokens is not None:
            chunks = [c for p in batch for c in p.planned.chunks]
            tokens = tokenizer.submit(lambda: {c.chunk_id: self._keyword_tokens(c) for c in chunks})
        to_embed = [c for p in batch for c in p.to_embed]
        parts = [to_embed[i:i + EMBED_BATCH] for i in range(0, len(to_embed), EMBED_BATCH)]
        return _Flight(batch=batch, parts=parts, vectors=self._vectors(parts, total=len(to_embed)), tokens=tokens)

    def _vectors(self, parts: list[list[Chunk]], *, total: int) -> list[Callable[[], np.ndarray]]:
        """One getter per part. From the worker pool (a large run) the parts are submitted now
        and embed while the previous batch is written; in-process they embed when asked for."""
        if self._pool is None and self._pool_factory is not None and total >= POOL_MIN_CHUNKS:
            self._pool = self._pool_factory()
        if self._pool is not None:
            return [self._pool.submit([c.embedding_text() for c in part]) for part in parts]
        embedder = self._embedder_factory
        return [lambda part=part: embedder().embed_documents([c.embedding_text() for c in part]) for part in parts]

    def _finish(self, flight: "_Flight", entries: dict[str, Entry], writer: ThreadPoolExecutor,
                report: IngestReport, notify: Progress) -> None:
        """Write the batch's vectors and metadata, delete what it replaced, commit it."""
        batch = flight.batch
        pending: list[Future] = []
        refresh = [c for p in batch for c in p.to_refresh]
        if refresh:
            pending.append(writer.submit(self.store.update_metadata, refresh))
        for part, vectors in zip(flight.parts, flight.vectors, strict=True):
            # keep at most two writes queued so memory stays flat
            while len([f for f in pending if not f.done()]) >= 2:
                pending[0].result()
                pending = [f for f in pending if not f.done()]
            pending.append(writer.submit(self.store.upsert, part, vectors()))
            report.embedded += len(part)
            notify("embedded", len(part))
        for future in pending:
            future.result()
        stale = set().union(*(p.to_delete for p in batch))
        if stale:
            self.store.delete(sorted(stale))
        self.docstore.commit([p.planned for p in batch], tokens=flight.tokens.result() if flight.tokens else None)
        for p in batch:
            entries[p.planned.entry.doc_id] = p.planned.entry
            report.chunks += len(p.planned.new_ids)
            if p.is_new:
                report.added += 1
            else:
                report.updated += 1

    @contextmanager
    def _closing_pool(self) -> Iterator[None]:
        try:
            yield
        finally:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # -- removal -------------------------------------------------------------------------

    def remove(self, doc_ids: Sequence[str]) -> int:
        """Remove these documents (their chunks from the store, then their docstore rows)."""
        entries = self.docstore.load()
        doomed = [entries[d] for d in doc_ids if d in entries]
        if doomed:
            self._delete(doomed, entries)
        return len(doomed)

    def _finish_deletions(self, entries: dict[str, Entry], report: IngestReport) -> None:
        """Deletions a killed run had started are completed before anything else."""
        doomed = [e for e in entries.values() if e.state == DELETING]
        if doomed:
            self._delete(doomed, entries)
            report.removed += len(doomed)

    def _prune(self, entries: dict[str, Entry], roots: list[Path], seen_docs: dict[str, str],
               report: IngestReport) -> None:
        # a file that could not be read (wholly or in part) this time keeps what it had
        unreadable = {s.path for s in report.skipped}
        gone = [
            e for e in entries.values()
            if e.doc_id not in seen_docs and _under(Path(e.source), roots) and e.source not in unreadable
        ]
        if gone:
            self._delete(gone, entries)
            report.removed += len(gone)

    def _delete(self, doomed: list[Entry], entries: dict[str, Entry]) -> None:
        self.docstore.mark_deleting(e.doc_id for e in doomed)
        ids = set().union(*(e.known_ids() for e in doomed))
        if ids:
            self.store.delete(sorted(ids))
        self.docstore.remove(e.doc_id for e in doomed)
        for e in doomed:
            entries.pop(e.doc_id, None)

    def _sweep_orphans(self) -> None:
        """Chunks no docstore row claims (left by a killed run) are removed."""
        claimed: set[str] = set()
        for e in self.docstore.load().values():
            claimed |= e.known_ids()
        orphans = self.store.all_ids() - claimed
        if orphans:
            self.store.delete(sorted(orphans))


def masked(doc: Document) -> Document:
    """The document with every instruction-like sentence masked (assistant.text.mask_instructions):
    what is stored, searched, quoted, quizzed and exported never carries one."""
    units = [replace(u, paragraphs=tuple(mask_instructions(p) for p in u.paragraphs)) for u in doc.units]
    if all(new.paragraphs == old.paragraphs for new, old in zip(units, doc.units, strict=True)):
        return doc
    return replace(doc, units=units)


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)
