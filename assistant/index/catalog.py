"""An in-memory view of every committed chunk: filter masks, article lookup, keyword index.

Built from the docstore for one generation; :func:`open_snapshot` reloads when the docstore
moved on, so a reader never serves an index older than what was committed.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from assistant.index.crimes import SOURCES_RE, CrimeNames
from assistant.index.docstore import DocStore
from assistant.index.keyword import KeywordIndex, LegalTokenizer
from assistant.index.store import SearchFilter
from assistant.models import Chunk
from assistant.references import ReferenceResolver

_CASE_NO_RE = re.compile(r"(检例第|指导案例第?|教学案例第)\s*(\d+)\s*号")


def _case_key(m: re.Match) -> str:
    prefix = "指导案例" if m.group(1).startswith("指导案例") else m.group(1)
    return f"{prefix}{int(m.group(2))}号"


def keyword_text(chunk: Chunk) -> str:
    """What BM25 sees: the citation and the headings around the text give it its law and topic."""
    return " ".join((chunk.citation, *chunk.breadcrumb[1:], chunk.text))


@dataclass
class Catalog:
    ids: list[str]
    kinds: np.ndarray
    lines: np.ndarray
    authority: np.ndarray
    access: list[tuple[str, ...]]
    tags: list[tuple[str, ...]]
    source_ids: list[str | None]
    version_dates: np.ndarray
    by_source: dict[str, list[int]]
    row_of: dict[str, int]
    _masks: dict[SearchFilter, tuple[np.ndarray, int]] = field(default_factory=dict, repr=False)
    _masks_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_rows(cls, rows: list[dict]) -> "Catalog":
        by_source: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            if r["source_id"]:
                by_source.setdefault(r["source_id"], []).append(i)
        return cls(
            ids=[r["chunk_id"] for r in rows],
            kinds=np.array([r["kind"] for r in rows], dtype=object),
            lines=np.array([r["line"] for r in rows], dtype=object),
            authority=np.array([r["authority"] for r in rows], dtype=np.int16),
            access=[tuple(r["access"] or ()) for r in rows],
            tags=[tuple(r["tags"] or ()) for r in rows],
            source_ids=[r["source_id"] for r in rows],
            version_dates=np.array([r["version_date"] or "" for r in rows], dtype=object),
            by_source=by_source,
            row_of={r["chunk_id"]: i for i, r in enumerate(rows)},
        )

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def laws(self) -> np.ndarray:
        """Each chunk's law as a small integer: the part of its source id before '#' (刑法 of
        刑法#第二十条); chunks without a source id share one code."""
        codes: dict[str, int] = {"": 0}
        return np.fromiter((codes.setdefault((s or "").split("#", 1)[0], len(codes)) for s in self.source_ids),
                           dtype=np.intp, count=len(self.source_ids))

    @cached_property
    def references(self) -> ReferenceResolver:
        """Resolves 刑法第二十条 and friends against the laws this catalog holds."""
        return ReferenceResolver({sid.split("#", 1)[0] for sid in self.by_source if "#" in sid})

    @cached_property
    def cases(self) -> dict[str, str]:
        """Case number as readers write it (检例第45号, 指导案例3号) -> the case's source id."""
        found = {}
        for sid in self.by_source:
            m = _CASE_NO_RE.search(sid)
            if m and "#" not in sid:
                found[_case_key(m)] = sid
        return found

    def case_references(self, text: str) -> list[tuple[str, str | None]]:
        """(case number, its source id or None when it is not indexed) for each one in ``text``."""
        out = []
        for m in _CASE_NO_RE.finditer(text):
            number = _case_key(m)
            if number not in (n for n, _ in out):
                out.append((number, self.cases.get(number)))
        return out

    def direct(self, text: str) -> list[str]:
        """Source ids the text names: articles, then cases."""
        return self.references.resolve(text) + [sid for _, sid in self.case_references(text) if sid]

    def mask(self, where: SearchFilter) -> np.ndarray:
        """True for every chunk the filter lets through (access first: it is never optional).

        Read-only and cached per filter: a catalog is one generation, and the same few
        department filters come back on every request.
        """
        return self._cached_mask(where)[0]

    def passing(self, where: SearchFilter) -> int:
        """How many chunks the filter lets through."""
        return self._cached_mask(where)[1]

    def _cached_mask(self, where: SearchFilter) -> tuple[np.ndarray, int]:
        with self._masks_lock:
            cached = self._masks.get(where)
        if cached is not None:
            return cached
        keep = self._mask(where)
        keep.flags.writeable = False
        entry = (keep, int(keep.sum()))
        with self._masks_lock:
            if len(self._masks) >= 256:
                self._masks.clear()
            self._masks[where] = entry
        return entry

    def _mask(self, where: SearchFilter) -> np.ndarray:
        keep = np.ones(len(self.ids), dtype=bool)
        if where.departments is not None:
            allowed = set(where.departments)
            verdict: dict[tuple[str, ...], bool] = {}
            keep &= np.fromiter(
                (verdict.setdefault(a, not a or bool(allowed.intersection(a))) for a in self.access),
                dtype=bool, count=len(self.access))
        if where.kinds:
            keep &= np.isin(self.kinds, list(where.kinds))
        if where.lines:
            keep &= np.isin(self.lines, list(where.lines))
        if where.tags:
            wanted = set(where.tags)
            keep &= np.fromiter((bool(wanted.intersection(t)) for t in self.tags), dtype=bool, count=len(self.tags))
        if where.as_of:
            keep &= np.fromiter((not d or d <= where.as_of for d in self.version_dates), dtype=bool,
                                count=len(self.version_dates))
        return keep


@dataclass
class Snapshot:
    generation: int
    catalog: Catalog
    keyword: KeywordIndex
    _chunks: dict[str, Chunk] = field(default_factory=dict, repr=False)
    _chunks_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _crimes: CrimeNames | None = field(default=None, repr=False)

    def crime_names(self, docstore: DocStore) -> CrimeNames:
        """Crime names -> 刑法 articles, mined once per generation from the indexed 罪名 documents."""
        if self._crimes is None:
            sources = sorted((s for s in self.catalog.by_source if "#" in s and SOURCES_RE.search(s.split("#", 1)[0])),
                             key=lambda s: (len(s), s))  # 补充规定 before （二） … （八）: later ones rename
            texts = []
            for source_id in sources:
                ids = [self.catalog.ids[r] for r in self.catalog.by_source[source_id]]
                chunks = docstore.get_chunks(ids)
                texts.append("\n".join(chunks[i].text for i in ids if i in chunks))
            self._crimes = CrimeNames.mine(texts)
        return self._crimes

    def chunks(self, ids: list[str], docstore: DocStore) -> dict[str, Chunk]:
        """The chunks of this generation by id, the ones asked for recently from memory (every
        commit makes a new snapshot, so nothing here outlives the generation it was read in)."""
        with self._chunks_lock:
            found = {i: self._chunks[i] for i in ids if i in self._chunks}
        missing = [i for i in ids if i not in found]
        if missing:
            fetched = docstore.get_chunks(missing)
            found.update(fetched)
            with self._chunks_lock:
                if len(self._chunks) + len(fetched) > CHUNK_CACHE_SIZE:
                    self._chunks.clear()
                self._chunks.update(fetched)
        return found


CHUNK_CACHE_SIZE = 8192  # about 10 MB of chunk texts: the passages that questions keep finding


def _tokenise_missing(rows: list[dict], docstore: DocStore, tokenizer: LegalTokenizer, *, store: bool) -> None:
    missing = [r["chunk_id"] for r in rows if r["tokens"] is None]
    if not missing:
        return
    chunks = docstore.get_chunks(missing)
    tokens = {cid: " ".join(tokenizer.tokens(keyword_text(chunk))) for cid, chunk in chunks.items()}
    for r in rows:
        if r["tokens"] is None:
            r["tokens"] = tokens.get(r["chunk_id"], "")
    if store:
        docstore.set_tokens(tokens)


def refresh_snapshot(docstore: DocStore, folder: Path, tokenizer: LegalTokenizer) -> Snapshot:
    """Writer side, after an ingest: tokenise new chunks, rebuild BM25, save it with its generation."""
    generation = docstore.generation()
    rows = docstore.catalog_rows()
    _tokenise_missing(rows, docstore, tokenizer, store=True)
    keyword = KeywordIndex.build([r["chunk_id"] for r in rows], [r["tokens"].split() for r in rows],
                                 generation=generation)
    keyword.save(folder)
    return Snapshot(generation, Catalog.from_rows(rows), keyword)


def open_snapshot(docstore: DocStore, folder: Path, tokenizer: LegalTokenizer) -> Snapshot:
    """Reader side: the saved keyword index when it matches the docstore, else one built in memory."""
    generation = docstore.generation()
    rows = docstore.catalog_rows()
    keyword = KeywordIndex.load(folder)
    if keyword is None or keyword.generation != generation or keyword.ids != [r["chunk_id"] for r in rows]:
        _tokenise_missing(rows, docstore, tokenizer, store=False)
        keyword = KeywordIndex.build([r["chunk_id"] for r in rows], [r["tokens"].split() for r in rows],
                                     generation=generation)
    return Snapshot(generation, Catalog.from_rows(rows), keyword)
