"""The vector store port, its filter, and an in-memory twin used in tests.

A store keeps vectors and the few fields filters need (kind, line, access, tags);
the text and citation of each chunk live in the docstore's chunk table. The Chroma
backend is :mod:`assistant.index.chroma`; both pass the same contract tests
(tests/index/test_store_contract.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.models import Chunk, Principal


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What a caller may see and asked to see. ``departments=None`` means every department."""

    kinds: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    departments: tuple[str, ...] | None = ()
    as_of: str | None = None  # ISO date: leave out versions dated after it (not yet in force)

    @classmethod
    def for_principal(cls, principal: Principal, **narrowing) -> "SearchFilter":
        departments = None if principal.sees_everything else tuple(principal.departments)
        return cls(departments=departments, **narrowing)

    def matches(self, chunk: Chunk) -> bool:
        if self.kinds and chunk.kind.value not in self.kinds:
            return False
        if self.lines and chunk.line.value not in self.lines:
            return False
        if self.tags and not set(self.tags) & set(chunk.tags):
            return False
        if self.departments is not None and chunk.access and not set(self.departments) & set(chunk.access):
            return False
        if self.as_of and chunk.version_date and chunk.version_date > self.as_of:
            return False
        return True


@runtime_checkable
class VectorStore(Protocol):
    """Holds chunk vectors and the metadata needed to filter them."""

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None: ...

    def update_metadata(self, chunks: Sequence[Chunk]) -> None:
        """Rewrite text and metadata of chunks already stored, keeping their vectors."""
        ...

    def delete(self, ids: Iterable[str]) -> None: ...

    def existing(self, ids: Sequence[str]) -> set[str]: ...

    def all_ids(self) -> set[str]: ...

    def count(self) -> int: ...

    def query(self, vector: np.ndarray, *, k: int, where: SearchFilter) -> list[tuple[str, float]]:
        """The ``k`` nearest chunk ids that pass ``where``, with cosine similarity, best first."""
        ...


class InMemoryStore:
    """A dictionary and a brute-force dot product: the reference the real stores must match."""

    def __init__(self) -> None:
        self._chunks: dict[str, Chunk] = {}
        self._vectors: dict[str, np.ndarray] = {}

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        for chunk, vector in zip(chunks, vectors, strict=True):
            self._chunks[chunk.chunk_id] = chunk
            self._vectors[chunk.chunk_id] = np.asarray(vector, dtype=np.float32)

    def update_metadata(self, chunks: Sequence[Chunk]) -> None:
        for chunk in chunks:
            if chunk.chunk_id in self._chunks:
                self._chunks[chunk.chunk_id] = chunk

    def delete(self, ids: Iterable[str]) -> None:
        for chunk_id in ids:
            self._chunks.pop(chunk_id, None)
            self._vectors.pop(chunk_id, None)

    def existing(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self._chunks}

    def all_ids(self) -> set[str]:
        return set(self._chunks)

    def count(self) -> int:
        return len(self._chunks)

    def query(self, vector: np.ndarray, *, k: int, where: SearchFilter) -> list[tuple[str, float]]:
        candidates = [cid for cid, chunk in self._chunks.items() if where.matches(chunk)]
        if not candidates:
            return []
        matrix = np.vstack([self._vectors[c] for c in candidates])
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(candidates[i], float(scores[i])) for i in order]
