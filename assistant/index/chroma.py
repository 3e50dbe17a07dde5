"""Chroma backend of the vector store: PersistentClient under the data directory, or
HttpClient for a Chroma server. The only module that imports chromadb."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from assistant.errors import CorpusError, StoreUnavailable
from assistant.index.store import SearchFilter
from assistant.models import Chunk

_WRITE_BATCH = 1000
# Measured on the 33,107 statute chunks and the 1,137 STARD questions (use-m3): against exact
# search, recall@10 0.991 and recall@50 0.979, the same as Chroma's defaults (M 16,
# ef_construction 100: 0.991 / 0.975), for three quarters of the insert CPU.
_HNSW = {"space": "cosine", "max_neighbors": 12, "ef_construction": 64, "ef_search": 150}


def _reachable(method):
    """A Chroma server that is down or restarting becomes StoreUnavailable (503 at the API);
    the next call simply tries again, so nothing needs restarting when it is back."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        import httpx

        try:
            return method(self, *args, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"the Chroma server cannot be reached ({type(exc).__name__}: {exc}); "
                                   "try again shortly") from None

    return call


class ChromaStore:
    def __init__(self, collection, *, embedder_name: str, dim: int) -> None:
        self._collection = collection
        meta = collection.metadata or {}
        built_with = meta.get("embedder")
        if built_with and (built_with != embedder_name or int(meta.get("dim", dim)) != dim):
            raise CorpusError(
                f"the index was built with the embedder {built_with!r} ({meta.get('dim')}-d) but "
                f"{embedder_name!r} ({dim}-d) is configured. Set JIANXUE_EMBEDDER__NAME={built_with} "
                "or use a fresh JIANXUE_DATA_DIR (and Chroma collection) for the new embedder."
            )

    @classmethod
    def open(cls, *, path: Path | None, url: str | None, collection: str, embedder_name: str, dim: int) -> "ChromaStore":
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if url:
                parsed = urlparse(url)
                client = chromadb.HttpClient(
                    host=parsed.hostname or "127.0.0.1",
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=chroma_settings,
                )
            else:
                assert path is not None
                path.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            handle = client.get_or_create_collection(
                collection,
                embedding_function=None,
                metadata={"embedder": embedder_name, "dim": dim},
                configuration={"hnsw": _HNSW},
            )
        except CorpusError:
            raise
        except Exception as exc:
            where = url or str(path)
            raise StoreUnavailable(f"cannot open the Chroma store at {where}: {type(exc).__name__}: {exc}") from None
        return cls(handle, embedder_name=embedder_name, dim=dim)

    @_reachable
    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        for start in range(0, len(chunks), _WRITE_BATCH):
            part = chunks[start:start + _WRITE_BATCH]
            self._collection.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=np.asarray(vectors[start:start + _WRITE_BATCH], dtype=np.float32),
                metadatas=[to_metadata(c) for c in part],
            )

    @_reachable
    def update_metadata(self, chunks: Sequence[Chunk]) -> None:
        for start in range(0, len(chunks), _WRITE_BATCH):
            part = chunks[start:start + _WRITE_BATCH]
            self._collection.update(ids=[c.chunk_id for c in part], metadatas=[to_metadata(c) for c in part])

    @_reachable
    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), _WRITE_BATCH):
            self._collection.delete(ids=ids[start:start + _WRITE_BATCH])

    @_reachable
    def existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _WRITE_BATCH):
            found.update(self._collection.get(ids=list(ids[start:start + _WRITE_BATCH]), include=[])["ids"])
        return found

    @_reachable
    def all_ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    @_reachable
    def count(self) -> int:
        return self._collection.count()

    @_reachable
    def query(self, vector: np.ndarray, *, k: int, where: SearchFilter) -> list[tuple[str, float]]:
        # Chroma returns fewer than k (none from an empty collection) by itself; a count() first
        # would cost as much as the query.
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=to_where(where),
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]


def to_metadata(chunk: Chunk) -> dict:
    """Only what filters need (see to_where): Chroma indexes every metadata key, and each
    costs ingest time. Ids, citations and texts live in the docstore's chunk table."""
    meta: dict = {
        "kind": chunk.kind.value,
        "line": chunk.line.value,
        "restricted": bool(chunk.access),
    }
    # Chroma keeps no None and no empty lists: absent keys mean "none".
    day = date_number(chunk.version_date)
    meta["dated"] = day is not None
    if day is not None:
        meta["version_day"] = day
    for key in ("access", "tags"):
        value = list(getattr(chunk, key))
        if value:
            meta[key] = value
    return meta


def date_number(value: str | None) -> int | None:
    """'2018-12-19' -> 20181219, '2010-12' -> 20101200 (Chroma compares numbers, not strings)."""
    if not value or not re.fullmatch(r"\d{4}(-\d{2}){0,2}", value):
        return None
    parts = [int(p) for p in value.split("-")] + [0, 0]
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


def to_where(where: SearchFilter) -> dict | None:
    clauses: list[dict] = []
    if where.kinds:
        clauses.append({"kind": {"$in": list(where.kinds)}})
    if where.lines:
        clauses.append({"line": {"$in": list(where.lines)}})
    if where.tags:
        tag_clauses = [{"tags": {"$contains": t}} for t in where.tags]
        clauses.append(tag_clauses[0] if len(tag_clauses) == 1 else {"$or": tag_clauses})
    if where.as_of and date_number(where.as_of) is not None:
        clauses.append({"$or": [{"dated": False}, {"version_day": {"$lte": date_number(where.as_of)}}]})
    if where.departments is not None:
        allowed = [{"restricted": False}] + [{"access": {"$contains": d}} for d in where.departments]
        clauses.append(allowed[0] if len(allowed) == 1 else {"$or": allowed})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
