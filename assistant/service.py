"""The composition root: :func:`build_assistant` makes every part once from settings.

Adapters (CLI, HTTP, Telegram) receive the :class:`Assistant` and call its methods;
they never build stores or models themselves. Heavy parts (the embedding model, the
Chroma client) are built on first use, so ``jianxue config`` or ``stats`` stay fast.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from assistant.config import Settings
from assistant.db import make_engine
from assistant.errors import CorpusError
from assistant.index.embedders import Embedder, make_embedder
from assistant.index.ledger import COMMITTED, Ledger
from assistant.index.lock import WriterLock
from assistant.index.store import VectorStore
from assistant.ingest.loaders import LoadOptions
from assistant.ingest.pipeline import Ingestor, IngestReport, Progress
from assistant.models import Hit, Principal
from assistant.retrieve import Retriever


class Assistant:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 store: VectorStore | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._store = store
        self._lock = threading.RLock()

    # -- parts, built once and lazily -----------------------------------------------------

    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings.embedder)
            return self._embedder

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(make_engine(self.settings.database_url))

    @property
    def store(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                from assistant.index.chroma import ChromaStore

                name, dim = self._index_identity()
                self._store = ChromaStore.open(
                    path=self.settings.chroma_path, url=self.settings.chroma.url,
                    collection=self.settings.chroma.collection, embedder_name=name, dim=dim,
                )
            return self._store

    def _index_identity(self) -> tuple[str, int]:
        """The embedder the index was built with, checked against the configured one
        without loading a model when the ledger already knows it."""
        configured = self.settings.embedder.name
        recorded = self.ledger.get_meta("embedder")
        if recorded is not None:
            name, _, dim = recorded.rpartition("@")
            if name != configured and not (self._embedder is not None and self._embedder.name == name):
                raise CorpusError(
                    f"the index in {self.settings.data_dir} was built with the embedder {name!r}, but "
                    f"{configured!r} is configured. Set JIANXUE_EMBEDDER__NAME={name}, or point "
                    "JIANXUE_DATA_DIR at a fresh directory and ingest again."
                )
            return name, int(dim)
        embedder = self.embedder()
        return embedder.name, embedder.dim

    # -- jobs ----------------------------------------------------------------------------

    def ingest(self, paths: Sequence[Path], *, options: LoadOptions = LoadOptions(), prune: bool = False,
               progress: Progress | None = None) -> IngestReport:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CorpusError(f"no such file or folder: {', '.join(missing)}")
        with WriterLock(self.settings.data_dir, purpose="ingest"):
            store = self.store
            if self.ledger.get_meta("embedder") is None:
                embedder = self.embedder()
                self.ledger.set_meta("embedder", f"{embedder.name}@{embedder.dim}")
            ingestor = Ingestor(embedder=self.embedder, store=store, ledger=self.ledger,
                                settings=self.settings.ingest)
            return ingestor.run(list(paths), options=options, prune=prune, progress=progress)

    def stats(self) -> dict:
        entries = self.ledger.load().values()
        docs = Counter((e.kind, e.line) for e in entries if e.state == COMMITTED)
        chunks = Counter()
        for e in entries:
            if e.state == COMMITTED:
                chunks[(e.kind, e.line)] += len(e.chunk_ids)
        by_kind: dict[str, dict[str, int]] = {}
        by_line: dict[str, dict[str, int]] = {}
        for (kind, line), n in docs.items():
            for table, key in ((by_kind, kind), (by_line, line)):
                row = table.setdefault(key, {"documents": 0, "chunks": 0})
                row["documents"] += n
                row["chunks"] += chunks[(kind, line)]
        return {
            "documents": sum(docs.values()),
            "chunks": sum(chunks.values()),
            "unfinished": sum(1 for e in entries if e.state != COMMITTED),
            "by_kind": dict(sorted(by_kind.items())),
            "by_line": dict(sorted(by_line.items())),
            "embedder": (self.ledger.get_meta("embedder") or "").rpartition("@")[0] or self.settings.embedder.name,
            "data_dir": str(self.settings.data_dir),
        }

    def search(self, query: str, *, principal: Principal, k: int | None = None, kinds: tuple[str, ...] = (),
               lines: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> list[Hit]:
        if self.ledger.get_meta("embedder") is None:
            raise CorpusError(f"nothing is indexed in {self.settings.data_dir} yet: run `jianxue ingest PATH` first")
        retriever = Retriever(embedder=self.embedder, store=self.store, ledger=self.ledger)
        return retriever.search(query, principal=principal, k=k or self.settings.search.k, kinds=kinds,
                                lines=lines, tags=tags)


def build_assistant(settings: Settings, **parts) -> Assistant:
    """Make the assistant for these settings; tests may pass ``embedder=`` or ``store=``."""
    return Assistant(settings, **parts)
