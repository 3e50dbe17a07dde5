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

from assistant.index.docstore import COMMITTED, DocStore
from assistant.index.embedders import Embedder
from assistant.index.keyword import KeywordIndex, LegalTokenizer
from assistant.models import FACT_SECTIONS, KEY_SECTIONS


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    cites: tuple[str, ...]


def case_examples(docstore: DocStore) -> list[Example]:
    """What ingested cases teach: each committed case that cites provisions gives its key points
    and its facts, each as an example of text that leads to those provisions."""
    examples = []
    for entry in docstore.load().values():
        if entry.cites and entry.state == COMMITTED:
            chunks = sorted(docstore.get_chunks(entry.chunk_ids).values(), key=lambda c: c.ordinal)
            for section in (KEY_SECTIONS, FACT_SECTIONS[:1]):
                text = "\n".join(c.text for c in chunks if c.locator in section)
                if text:
                    examples.append(Example(text, tuple(entry.cites)))
    return examples


class CitationHints:
    def __init__(self, examples: Sequence[Example], *, tokenizer: LegalTokenizer, embedder: Embedder,
                 vectors: np.ndarray | None = None, tokens: list[list[str]] | None = None) -> None:
        self.examples = [e for e in examples if e.cites and e.text.strip()]
        self._tokens = tokens if tokens is not None else [tokenizer.tokens(e.text) for e in self.examples]
        self._keyword = KeywordIndex.build([str(i) for i in range(len(self.examples))], self._tokens, generation=0)
        if vectors is None:
            vectors = embedder.embed_documents([e.text[:2000] for e in self.examples]) if self.examples else \
                np.zeros((0, embedder.dim), dtype=np.float32)
        self._vectors = vectors
        self.article_counts: dict[str, int] = {}
        self.law_counts: dict[str, int] = {}
        # every provision also gets a document made of the words of the examples that cite it
        # (document expansion): it matches questions worded like the ones that needed it
        words: dict[str, list[str]] = {}
        for e, tokens in zip(self.examples, self._tokens, strict=True):
            for source_id in set(e.cites):
                words.setdefault(source_id, []).extend(tokens)
        self._expanded = KeywordIndex.build(list(words), list(words.values()), generation=0)
        for e in self.examples:
            for source_id in set(e.cites):
                self.article_counts[source_id] = self.article_counts.get(source_id, 0) + 1
            for law in {c.split("#", 1)[0] for c in e.cites}:
                self.law_counts[law] = self.law_counts.get(law, 0) + 1

    def __len__(self) -> int:
        return len(self.examples)

    def expansion(self, tokens: list[str], *, n: int = 100) -> list[tuple[str, float]]:
        """Provisions whose citing examples share the query's words, best first."""
        if not self._expanded.ids:
            return []
        scores = self._expanded.scores(tokens)
        top = np.argsort(-scores)[:n]
        return [(self._expanded.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    @staticmethod
    def fingerprint(examples: Sequence[Example], embedder_name: str) -> str:
        import hashlib

        h = hashlib.sha256(embedder_name.encode())
        for e in examples:
            if e.cites and e.text.strip():
                h.update(e.text.encode())
                h.update("|".join(e.cites).encode())
        return h.hexdigest()[:24]

    def save(self, folder, key: str) -> None:
        """Vectors and tokens on disk, so that a new process does not embed every example again."""
        import json
        import os

        folder.mkdir(parents=True, exist_ok=True)
        # written aside and renamed: several workers may save or load the same key at once
        stamp = f".{os.getpid()}.tmp"
        with open(folder / f"{key}.npy{stamp}", "wb") as fh:
            np.save(fh, self._vectors)
        (folder / f"{key}.tokens.json{stamp}").write_text(json.dumps(self._tokens, ensure_ascii=False), encoding="utf-8")
        os.replace(folder / f"{key}.npy{stamp}", folder / f"{key}.npy")
        os.replace(folder / f"{key}.tokens.json{stamp}", folder / f"{key}.tokens.json")

    @classmethod
    def load(cls, folder, key: str, examples: Sequence[Example], *, tokenizer: LegalTokenizer,
             embedder: Embedder) -> "CitationHints | None":
        import json

        try:
            vectors = np.load(folder / f"{key}.npy")
            tokens = json.loads((folder / f"{key}.tokens.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, EOFError):
            return None
        kept = [e for e in examples if e.cites and e.text.strip()]
        if len(kept) != len(vectors) or len(tokens) != len(kept):
            return None
        return cls(kept, tokenizer=tokenizer, embedder=embedder, vectors=vectors, tokens=tokens)

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
