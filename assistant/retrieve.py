"""Hybrid search: article references first, then the candidates of every signal —
keyword (BM25), vector, citation hints and document expansion — ordered by the learned
ranker (weighted reciprocal-rank fusion without one), ties broken by authority.

Filters come from the caller's :class:`Principal`, never from query text; they are
applied to every candidate list before anything is ranked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from assistant.index.catalog import Snapshot
from assistant.index.docstore import DocStore
from assistant.index.embedders import Embedder
from assistant.index.hints import CitationHints
from assistant.index.keyword import LegalTokenizer, lay_terms
from assistant.index.store import SearchFilter, VectorStore
from assistant.models import Chunk, Hit, Principal
from assistant.rank import Ranker, features

Mode = Literal["hybrid", "keyword", "vector"]


@dataclass(frozen=True)
class FusionWeights:
    keyword: float = 1.0
    vector: float = 0.5
    hints: float = 1.5
    rrf_k: int = 60
    candidates: int = 150


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


def query_terms(query: str, tokenizer: LegalTokenizer) -> list[str]:
    """The words a query is matched by, each once. A narrative repeats its names, places and
    sums (王某某 eleven times), and BM25 counts a query word as often as it occurs: a case's
    facts then match the articles that share its incidental words. Counting each word once
    took BM25 alone on case facts from 0.10 to 0.19 recall@10 (CAIL facts 0.10 to 0.13, key
    points unchanged, STARD questions 0.48 to 0.49); keeping only the rarer or only the more
    legal words lost on key points and questions."""
    return list(dict.fromkeys(expand_query(query, tokenizer.tokens(query))))


# A vector query fetches n / share * _OVERFETCH neighbours unfiltered and filters them here
# while at least _UNFILTERED_MIN_SHARE of the chunks pass; Chroma's own filter costs more down
# to about 5%. Measured on the 33,107 statute chunks, 150 wanted: Chroma's filter 23-33 ms
# whatever the share; unfiltered 1.9 ms for 150, 6.6 ms for 727 (share 0.25), 8.9 ms for
# 1,498 (0.12), 18 ms for 3,124 (0.06).
_UNFILTERED_MIN_SHARE = 0.1
_OVERFETCH = 1.2


class Retriever:
    def __init__(self, *, embedder: Callable[[], Embedder], store: VectorStore, docstore: DocStore,
                 snapshot: Callable[[], Snapshot], tokenizer: LegalTokenizer,
                 hints: Callable[[], CitationHints | None] = lambda: None,
                 weights: FusionWeights = FusionWeights(), ranker: Ranker | None = None,
                 reranker: Reranker | None = None) -> None:
        self._embedder = embedder
        self.store = store
        self.docstore = docstore
        self._snapshot = snapshot
        self.tokenizer = tokenizer
        self._hints = hints
        self.weights = weights
        self.ranker = ranker
        self.reranker = reranker

    def search(self, query: str, *, principal: Principal, k: int = 8, kinds: tuple[str, ...] = (),
               lines: tuple[str, ...] = (), tags: tuple[str, ...] = (), as_of: str | None = None,
               mode: Mode = "hybrid") -> list[Hit]:
        query = query.strip()
        if not query:
            return []
        where = SearchFilter.for_principal(principal, kinds=kinds, lines=lines, tags=tags, as_of=as_of)
        found = self.candidates(query, where=where, mode=mode)
        catalog = found.catalog
        rows = found.rows
        if mode == "hybrid" and self.ranker is not None and rows:
            values = self.ranker.for_query(query, learned=found.learned).score(found.features())
        else:
            fused = found.rrf(self.weights, mode)
            values = np.array([fused[r] for r in rows], dtype=np.float64)
        scores = dict(zip(rows, values.tolist(), strict=True))
        # best first; equal scores (to 9 places) prefer the more authoritative source, then the earlier find
        ranked = np.lexsort((catalog.authority[rows], -np.round(values, 9))) if rows else []
        wanted = max(k, 1) * (3 if self.reranker else 1)
        order = list(dict.fromkeys(found.direct + [rows[i] for i in ranked[:wanted + len(found.direct)]]))[:wanted]
        chunks = found.snapshot.chunks([catalog.ids[r] for r in order], self.docstore)
        results = [(r, chunks[catalog.ids[r]]) for r in order if catalog.ids[r] in chunks]
        if self.reranker is not None and results:
            rerank = dict(zip((r for r, _ in results), self.reranker.rerank(query, [c for _, c in results]), strict=True))
            results.sort(key=lambda x: (x[0] not in found.direct, -rerank[x[0]]))
        hits = []
        for rank, (row, chunk) in enumerate(results[:k], start=1):
            detail = {name: signal[row][1] for name, signal in found.signals().items() if row in signal}
            if row in found.direct:
                detail["reference"] = 1.0
            detail["fused"] = scores.get(row, 0.0)
            hits.append(Hit(chunk=chunk, score=scores.get(row, 0.0), rank=rank, scores=detail))
        return hits

    def candidates(self, query: str, *, where: SearchFilter, mode: Mode = "hybrid") -> "Candidates":
        """Every signal's candidates (rank and raw score per catalog row) that pass ``where``."""
        snap = self._snapshot()
        catalog = snap.catalog
        mask = catalog.mask(where)
        n = self.weights.candidates
        found = Candidates(catalog=catalog, snapshot=snap)
        tokens = query_terms(query, self.tokenizer)
        if mode in ("hybrid", "keyword"):
            scores = snap.keyword.scores(tokens, mask.astype(np.float32))
            found.keyword = {row: (rank, float(scores[row])) for rank, row in enumerate(_top(scores, n))}
        vector = None
        if mode in ("hybrid", "vector"):
            vector = self._embedder().embed_query(query)
            found.vector = {row: (rank, score) for rank, (row, score)
                            in enumerate(self._vector_rows(vector, catalog, mask, where, n))}
        hints = self._hints() if mode == "hybrid" else None
        if hints is not None and len(hints):
            found.learned = True
            vector = vector if vector is not None else self._embedder().embed_query(query)
            votes = hints.suggest(tokens, vector, query=query)
            ranked = sorted(((s, v) for s, v in votes.items() if s in catalog.by_source), key=lambda kv: -kv[1])[:n]
            for rank, (source_id, vote) in enumerate(ranked):
                for row in catalog.by_source[source_id]:
                    if mask[row]:
                        found.hints[row] = (rank, vote)
            for rank, (source_id, score) in enumerate(hints.expansion(tokens, n=n)):
                for row in catalog.by_source.get(source_id, ()):
                    if mask[row]:
                        found.expansion[row] = (rank, score)
            found.article_prior = {row: hints.article_counts.get(catalog.source_ids[row] or "", 0) for row in found.rows}
            found.law_prior = {row: hints.law_counts.get((catalog.source_ids[row] or "").split("#", 1)[0], 0)
                               for row in found.rows}
        if mode == "hybrid":
            for rank, source_id in enumerate(snap.crime_names(self.docstore).find(query)):
                for row in catalog.by_source.get(source_id, ()):
                    if mask[row]:
                        found.crimes[row] = (rank, 1.0)
            found.direct = [row for source_id in self._references(query, catalog)
                            for row in catalog.by_source.get(source_id, ()) if mask[row]]
        return found

    def _references(self, query: str, catalog) -> list[str]:
        return catalog.direct(query)

    def _vector_rows(self, vector: np.ndarray, catalog, mask: np.ndarray, where: SearchFilter,
                     n: int) -> list[tuple[int, float]]:
        """Nearest chunks that pass the mask. An unfiltered query fetches as many more as the
        mask drops (none more when every chunk passes: each extra neighbour costs query time)
        and filters here; when too few pass, or the filter is narrow, the store filters instead."""
        passing = catalog.passing(where)
        if passing == 0:
            return []
        share = passing / len(mask)
        rows: list[tuple[int, float]] = []
        if share >= _UNFILTERED_MIN_SHARE:
            fetch = n if passing == len(mask) else min(math.ceil(n * _OVERFETCH / share), len(mask))
            rows = self._map(self.store.query(vector, k=fetch, where=SearchFilter(departments=None)), catalog, mask)
        if len(rows) < n and passing > len(rows):
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


@dataclass
class Candidates:
    catalog: object
    snapshot: Snapshot  # where the catalog came from (and its chunk cache)
    keyword: dict[int, tuple[int, float]] = field(default_factory=dict)
    vector: dict[int, tuple[int, float]] = field(default_factory=dict)
    hints: dict[int, tuple[int, float]] = field(default_factory=dict)
    expansion: dict[int, tuple[int, float]] = field(default_factory=dict)
    crimes: dict[int, tuple[int, float]] = field(default_factory=dict)  # articles of the crimes the query names
    article_prior: dict[int, int] = field(default_factory=dict)
    law_prior: dict[int, int] = field(default_factory=dict)
    direct: list[int] = field(default_factory=list)
    learned: bool = False  # hints were there to ask (the ranker's features for them mean something)

    @property
    def rows(self) -> list[int]:
        return list(dict.fromkeys([*self.keyword, *self.vector, *self.hints, *self.expansion, *self.crimes]))

    def signals(self) -> dict[str, dict[int, tuple[int, float]]]:
        return {"keyword": self.keyword, "vector": self.vector, "hints": self.hints, "expansion": self.expansion,
                "crimes": self.crimes}

    def features(self) -> np.ndarray:
        """The ranker's features of ``rows``, in that order."""
        rows = self.rows
        index = np.asarray(rows, dtype=np.intp)
        return features(rows, keyword=self.keyword, vector=self.vector, hints=self.hints, expansion=self.expansion,
                        crimes=self.crimes, article_prior=self.article_prior, law_prior=self.law_prior,
                        authority=self.catalog.authority[index], law=self.catalog.laws[index])

    def rrf(self, w: FusionWeights, mode: Mode) -> dict[int, float]:
        weights = {"keyword": w.keyword, "vector": w.vector, "hints": w.hints, "expansion": w.hints / 2,
                   "crimes": w.keyword} \
            if mode == "hybrid" else {"keyword": 1.0, "vector": 1.0, "hints": 0.0, "expansion": 0.0, "crimes": 0.0}
        fused: dict[int, float] = {}
        for name, signal in self.signals().items():
            for row, (rank, _) in signal.items():
                fused[row] = fused.get(row, 0.0) + weights[name] / (w.rrf_k + rank + 1)
        return fused


def _top(scores: np.ndarray, n: int) -> list[int]:
    positive = int((scores > 0).sum())
    if positive == 0:
        return []
    n = min(n, positive)
    top = np.argpartition(-scores, n - 1)[:n]
    return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]
