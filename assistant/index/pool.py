"""Embedding in worker processes: for large ingests, and for the questions a server answers.

use-m3 is numpy plus a pure-Python tokenizer: in the ingest process it shares one GIL
with Chroma's writes (which hold it) and the keyword tokenizer, and its BLAS threads
work on matrices too small to use two cores well. One single-threaded worker per core
embeds about 1.2x faster than one process with two BLAS threads, and leaves the ingest
process free to write. Small ingests (an upload) embed in-process: starting workers
costs more than it saves.

A server (the API, the bot) answers many questions at once. :class:`QuestionEmbedder`
embeds the questions that arrive together in one call, which costs little more than one
question (each call streams the model's weights once), and with use-m3 it does so in a
worker process, so that embedding no longer holds the server's GIL while it parses
requests, searches and ranks.
"""

from __future__ import annotations

import logging
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
from assistant.index.embedders import Embedder

log = logging.getLogger("jianxue.embedder")
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


class QuestionEmbedder:
    """An :class:`Embedder` for a long-running server: ``embed_query`` calls that overlap are
    embedded as one batch, in a worker process when ``settings`` are given (else here).

    There is no waiting for a batch to fill: a question is embedded at once when nothing
    else is, and the questions that arrive meanwhile make the next batch. If the worker
    process dies, questions are embedded in this process from then on (and that is logged).
    ``embed_documents`` (an upload's chunks) always runs here, on the wrapped embedder.
    """

    def __init__(self, inner: Embedder, *, settings: EmbedderSettings | None = None, max_batch: int = 32) -> None:
        self.name, self.dim = inner.name, inner.dim
        self.inner = inner
        self.max_batch = max_batch
        self._process = _EmbeddingProcess(settings) if settings is not None else None
        self._pending: list[tuple[str, Future]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="jianxue-questions", daemon=True)
        self._thread.start()

    @property
    def in_worker(self) -> bool:
        return self._process is not None

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        future: Future = Future()
        with self._wake:
            if self._closed:
                raise EmbedderUnavailable("the question embedder is closed")
            self._pending.append((text, future))
            self._wake.notify()
        return future.result()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=10)
        if self._process is not None:
            self._process.close()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                vectors = self._embed([text for text, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every caller gets the error, the thread goes on
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._process is not None:
            try:
                return self._process.embed(texts)
            except EmbedderUnavailable:
                pass  # the worker could not embed these: here, the error (if any) reaches the caller
            except (EOFError, OSError) as exc:  # OSError includes a broken pipe and TimeoutError
                log.warning("the question embedding process is gone or stuck (%s); embedding questions in this "
                            "process", exc)
                self._process.close()
                self._process = None
        return self.inner.embed_documents(texts)


_REPLY_S = 60.0  # a batch takes milliseconds; the first waits for the model to load (seconds)


class _EmbeddingProcess:
    """One spawned process with a single-threaded copy of the embedder, spoken to over a pipe
    by one thread (QuestionEmbedder's)."""

    def __init__(self, settings: EmbedderSettings) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        worker_settings = settings.model_copy(update={"threads": 1}).model_dump()
        self._process = context.Process(target=_answer_questions, args=(child, worker_settings),
                                        name="jianxue-embedder", daemon=True)
        self._process.start()
        child.close()

    def embed(self, texts: list[str]) -> np.ndarray:
        self._conn.send(texts)
        if not self._conn.poll(_REPLY_S):
            raise TimeoutError(f"no answer from the embedding process in {_REPLY_S:.0f} s")
        ok, value = self._conn.recv()
        if not ok:
            raise EmbedderUnavailable(value)
        return value

    def close(self) -> None:
        self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()


def _answer_questions(conn, settings: dict) -> None:
    """The embedding process: texts in, vectors out, until the pipe closes."""
    try:
        _start_worker(settings)
    except Exception as exc:  # noqa: BLE001 - reported to the first caller, then the pipe closes
        conn.send((False, f"the embedder could not start: {exc}"))
        return
    while True:
        try:
            texts = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = (True, _embed(texts))
        except Exception as exc:  # noqa: BLE001
            reply = (False, f"{type(exc).__name__}: {exc}")
        conn.send(reply)
