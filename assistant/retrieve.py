"""Search over the index. Filters come from the caller's :class:`Principal`, never from query text."""

from __future__ import annotations

from collections.abc import Callable

from assistant.index.embedders import Embedder
from assistant.index.ledger import Ledger
from assistant.index.store import SearchFilter, VectorStore
from assistant.models import Hit, Principal


class Retriever:
    def __init__(self, *, embedder: Callable[[], Embedder], store: VectorStore, ledger: Ledger) -> None:
        self._embedder = embedder
        self.store = store
        self.ledger = ledger

    def search(self, query: str, *, principal: Principal, k: int = 8, kinds: tuple[str, ...] = (),
               lines: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> list[Hit]:
        query = query.strip()
        if not query:
            return []
        where = SearchFilter.for_principal(principal, kinds=kinds, lines=lines, tags=tags)
        vector = self._embedder().embed_query(query)
        scored = self.store.query(vector, k=k, where=where)
        chunks = self.ledger.get_chunks([chunk_id for chunk_id, _ in scored])
        # ids of a write still under way have no committed chunk yet: they are left out;
        # the caller's filter is checked again on the committed metadata
        found = [(chunks[i], s) for i, s in scored if i in chunks and where.matches(chunks[i])]
        # equal scores: the more authoritative source first (law > interpretation > case > material)
        found.sort(key=lambda pair: (-round(pair[1], 6), pair[0].authority))
        return [
            Hit(chunk=chunk, score=score, rank=rank, scores={"vector": score})
            for rank, (chunk, score) in enumerate(found, start=1)
        ]
