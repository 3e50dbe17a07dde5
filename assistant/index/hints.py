"""Citation hints: labelled examples (a question or a case, and the provisions it cites)
vote for the provisions a new query probably needs.

This is how jianxue learns from cases and from question sets without training a model:
a query's nearest examples (by keywords and by vector) pass on their citations, weighted
by how near they are. Examples come from ingested cases (their 相关规定) and from labelled
question files (``jianxue learn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.index.embedders import Embedder
from assistant.index.keyword import KeywordIndex, LegalTokenizer


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    cites: tuple[str, ...]


class CitationHints:
    def __init__(self, examples: Sequence[Example], *, tokenizer: LegalTokenizer, embedder: Embedder,
                 vectors: np.ndarray | None = None) -> None:
        self.examples = [e for e in examples if e.cites and e.text.strip()]
        self._tokens = [tokenizer.tokens(e.text) for e in self.examples]
        self._keyword = KeywordIndex.build([str(i) for i in range(len(self.examples))], self._tokens, generation=0)
        if vectors is None:
            vectors = embedder.embed_documents([e.text[:2000] for e in self.examples]) if self.examples else \
                np.zeros((0, embedder.dim), dtype=np.float32)
        self._vectors = vectors
        self.article_counts: dict[str, int] = {}
        self.law_counts: dict[str, int] = {}
        for e in self.examples:
            for source_id in set(e.cites):
                self.article_counts[source_id] = self.article_counts.get(source_id, 0) + 1
            for law in {c.split("#", 1)[0] for c in e.cites}:
                self.law_counts[law] = self.law_counts.get(law, 0) + 1

    def __len__(self) -> int:
        return len(self.examples)

    def suggest(self, tokens: list[str], vector: np.ndarray, *, query: str = "", neighbours: int = 25,
                rrf_k: int = 10) -> dict[str, float]:
        """Source ids with a vote each: sum over the nearest examples of 1/(rrf_k + rank).

        An example whose text is the query itself is left out: it would only repeat its own label.
        """
        if not self.examples:
            return {}
        fused: dict[int, float] = {}
        keyword = self._keyword.scores(tokens)
        if keyword.any():
            for rank, i in enumerate(np.argsort(-keyword)[:neighbours * 2]):
                if keyword[i] > 0:
                    fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (rrf_k + rank + 1)
        similarity = self._vectors @ np.asarray(vector, dtype=np.float32)
        for rank, i in enumerate(np.argsort(-similarity)[:neighbours * 2]):
            fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (rrf_k + rank + 1)
        query = query.strip()
        nearest = [i for i, _ in sorted(fused.items(), key=lambda kv: -kv[1]) if self.examples[i].text.strip() != query]
        votes: dict[str, float] = {}
        for rank, i in enumerate(nearest[:neighbours]):
            weight = 1.0 / (rrf_k + rank + 1)
            for source_id in self.examples[i].cites:
                votes[source_id] = votes.get(source_id, 0.0) + weight
        return votes
