"""Hybrid search: article references first, then keyword (BM25) and vector candidates
fused by weighted reciprocal rank with citation hints, ties broken by authority.

Filters come from the caller's :class:`Principal`, never from query text; they are
applied to every candidate list before fusion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from assistant.index.catalog import Snapshot
from assistant.index.embedders import Embedder
from assistant.index.hints import CitationHints
from assistant.index.keyword import LegalTokenizer, lay_terms
from assistant.index.ledger import Ledger
from assistant.index.store import SearchFilter, VectorStore
from assistant.models import Chunk, Hit, Principal
from assistant.references import ReferenceResolver

Mode = Literal["hybrid", "keyword", "vector"]


@dataclass(frozen=True)
class FusionWeights:
    keyword: float = 1.0
    vector: float = 0.5
    hints: float = 1.5
    rrf_k: int = 60
    candidates: int = 100


class Reranker(Protocol):
    """Reorders the fused candidates; a CrossEncoder is the real one."""

    def rerank(self, query: str, chunks: list[Chunk]) -> list[float]: ...


class CrossEncoderReranker:
    """sentence-transformers CrossEncoder from a local folder (or a name, downloaded once)."""

    def __init__(self, model: str, *, device: str | None = None) -> None:
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:
            from assistant.errors import ConfigError

            raise ConfigError('the reranker needs its extra: pip install -c constraints.txt "jianxue[st]"') from exc
        self._model = CrossEncoder(model, device=device)

    def rerank(self, query: str, chunks: list[Chunk]) -> list[float]:
        return [float(s) for s in self._model.predict([(query, c.embedding_text()) for c in chunks])]


def expand_query(query: str, tokens: list[str]) -> list[str]:
    """Layperson words bring the legal terms they usually mean (坐牢 -> 有期徒刑 拘役)."""
    extra: list[str] = []
    for word, terms in lay_terms().items():
        if word in query:
            extra += terms.split()
    return tokens + extra


class Retriever:
    def __init__(self, *, embedder: Callable[[], Embedder], store: VectorStore, ledger: Ledger,
                 snapshot: Callable[[], Snapshot], tokenizer: LegalTokenizer,
                 hints: Callable[[], CitationHints | None] = lambda: None,
                 weights: FusionWeights = FusionWeights(), reranker: Reranker | None = None) -> None:
        self._embedder = embedder
        self.store = store
        self.ledger = ledger
        self._snapshot = snapshot
        self.tokenizer = tokenizer
        self._hints = hints
        self.weights = weights
        self.reranker = reranker

    def search(self, query: str, *, principal: Principal, k: int = 8, kinds: tuple[str, ...] = (),
               lines: tuple[str, ...] = (), tags: tuple[str, ...] = (), mode: Mode = "hybrid") -> list[Hit]:
        query = query.strip()
        if not query:
            return []
        snap = self._snapshot()
        catalog = snap.catalog
        where = SearchFilter.for_principal(principal, kinds=kinds, lines=lines, tags=tags)
        mask = catalog.mask(where)
        w = self.weights
        lists: list[tuple[float, list[int], dict[int, float]]] = []
        tokens = expand_query(query, self.tokenizer.tokens(query))

        if mode in ("hybrid", "keyword"):
            scores = snap.keyword.scores(tokens, mask.astype(np.float32))
            top = _top(scores, w.candidates)
            lists.append((w.keyword, top, {i: float(scores[i]) for i in top}))
        vector = None
        if mode in ("hybrid", "vector"):
            vector = self._embedder().embed_query(query)
            rows = self._vector_rows(vector, catalog, mask, where, w.candidates)
            lists.append((w.vector if mode == "hybrid" else 1.0, [r for r, _ in rows], dict(rows)))
        hints = self._hints() if mode == "hybrid" else None
        if hints is not None and len(hints):
            votes = hints.suggest(tokens, vector)
            ranked = [(catalog.by_source[s], v) for s, v in sorted(votes.items(), key=lambda kv: -kv[1])
                      if s in catalog.by_source]
            rows = [(row, v) for group, v in ranked for row in group if mask[row]][: w.candidates]
            lists.append((w.hints, [r for r, _ in rows], dict(rows)))

        fused: dict[int, float] = {}
        parts: dict[int, dict[str, float]] = {}
        for name, (weight, ranked_rows, raw) in zip(("keyword", "vector", "hints") if mode == "hybrid"
                                                     else (mode,), lists, strict=False):
            for rank, row in enumerate(ranked_rows):
                fused[row] = fused.get(row, 0.0) + weight / (w.rrf_k + rank + 1)
                parts.setdefault(row, {})[name] = raw[row]
        direct = [row for source_id in self._references(query, catalog)
                  for row in catalog.by_source.get(source_id, ()) if mask[row]]
        order = sorted(fused, key=lambda r: (-round(fused[r], 9), int(catalog.authority[r])))
        order = list(dict.fromkeys(direct + order))[: max(k, 1) * (3 if self.reranker else 1)]
        chunks = self.ledger.get_chunks([catalog.ids[r] for r in order])
        results = [(r, chunks[catalog.ids[r]]) for r in order if catalog.ids[r] in chunks]
        if self.reranker is not None and results:
            scores = self.reranker.rerank(query, [c for _, c in results])
            pinned = [x for x in results if x[0] in direct]
            rest = sorted((x for x in results if x[0] not in direct), key=lambda x: -scores[results.index(x)])
            results = pinned + rest
        hits = []
        for rank, (row, chunk) in enumerate(results[:k], start=1):
            detail = dict(parts.get(row, {}))
            if row in direct:
                detail["reference"] = 1.0
            detail["fused"] = fused.get(row, 0.0)
            hits.append(Hit(chunk=chunk, score=1.0 if row in direct else fused.get(row, 0.0), rank=rank,
                            scores=detail))
        return hits

    def _references(self, query: str, catalog) -> list[str]:
        laws = {sid.split("#", 1)[0] for sid in catalog.by_source if "#" in sid}
        return ReferenceResolver(laws).resolve(query)

    def _vector_rows(self, vector: np.ndarray, catalog, mask: np.ndarray, where: SearchFilter,
                     n: int) -> list[tuple[int, float]]:
        """Nearest chunks that pass the mask: an unfiltered query over-fetches and filters here;
        when too few pass (a narrow filter), the store filters instead."""
        rows = self._map(self.store.query(vector, k=n * 2, where=SearchFilter(departments=None)), catalog, mask)
        if len(rows) < n and mask.sum() > len(rows):
            rows = self._map(self.store.query(vector, k=n, where=where), catalog, mask)
        return rows[:n]

    @staticmethod
    def _map(found: list[tuple[str, float]], catalog, mask: np.ndarray) -> list[tuple[int, float]]:
        out = []
        for chunk_id, score in found:
            row = catalog.row_of.get(chunk_id)
            if row is not None and mask[row]:
                out.append((row, score))
        return out


def _top(scores: np.ndarray, n: int) -> list[int]:
    positive = int((scores > 0).sum())
    if positive == 0:
        return []
    n = min(n, positive)
    top = np.argpartition(-scores, n - 1)[:n]
    return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]
