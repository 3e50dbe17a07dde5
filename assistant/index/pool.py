"""Embedding in worker processes for large ingests.

use-m3 is numpy plus a pure-Python tokenizer: in the ingest process it shares one GIL
with Chroma's writes (which hold it) and the keyword tokenizer, and its BLAS threads
work on matrices too small to use two cores well. One single-threaded worker per core
embeds about 1.2x faster than one process with two BLAS threads, and leaves the ingest
process free to write. Small ingests (an upload) embed in-process: starting workers
costs more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from assistant.config import EmbedderSettings
from assistant.errors import EmbedderUnavailable

_worker_embedder = None


def pool_size(settings: EmbedderSettings) -> int:
    """Worker processes for a large ingest; 1 means embed in-process."""
    if settings.name.startswith("sentence-transformers:"):
        return 1  # torch runs its own threads (or a GPU) better than processes would
    return settings.workers or os.cpu_count() or 1


class EmbedderPool:
    """Worker processes, each with its own single-threaded copy of the configured embedder."""

    def __init__(self, settings: EmbedderSettings, *, workers: int) -> None:
        self.workers = workers
        worker_settings = settings.model_copy(update={"threads": 1})
        self._executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(worker_settings.model_dump(),))

    def submit(self, texts: Sequence[str]) -> Callable[[], np.ndarray]:
        """Start embedding ``texts`` now; the returned getter waits for their vectors."""
        future = self._executor.submit(_embed, list(texts))
        return lambda: _result(future)

    def map(self, batches: Iterable[Sequence[str]]) -> Iterator[np.ndarray]:
        """Vectors for each batch, in order, with at most two batches per worker in flight."""
        in_flight: deque[Callable[[], np.ndarray]] = deque()
        for batch in batches:
            in_flight.append(self.submit(batch))
            if len(in_flight) >= 2 * self.workers:
                yield in_flight.popleft()()
        while in_flight:
            yield in_flight.popleft()()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _result(future: Future) -> np.ndarray:
    try:
        return future.result()
    except BrokenProcessPool:
        raise EmbedderUnavailable("an embedding worker process died; run the ingest again") from None


def _start_worker(settings: dict) -> None:
    global _worker_embedder
    from assistant.index.embedders import make_embedder

    # Ctrl-C is the ingest's to handle (it shuts the pool down); a killed ingest cannot tell
    # its workers to stop, so they stop when it is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    _worker_embedder = make_embedder(EmbedderSettings(**settings))


def _exit_with(sentinel: int) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])
    os._exit(0)


def _embed(texts: list[str]) -> np.ndarray:
    assert _worker_embedder is not None, "worker not started"
    return _worker_embedder.embed_documents(texts)
