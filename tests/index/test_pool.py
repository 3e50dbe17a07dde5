"""Embedding worker processes: the same vectors as in-process, an ingest through them ends
with the same index as one that embeds in-process, and a server's questions are batched
(in a worker for use-m3) and survive the worker's death."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from assistant.config import EmbedderSettings, load_settings
from assistant.errors import EmbedderUnavailable
from assistant.index.embedders import make_embedder
from assistant.index.pool import EmbedderPool, QuestionEmbedder, pool_size
from assistant.ingest.pipeline import POOL_MIN_CHUNKS
from assistant.service import build_assistant
from tests.conftest import write_jsonl

TEXTS = ["正当防卫的限度", "盗窃罪的数额标准", "认罪认罚从宽", "附条件不起诉的考验期", "公益诉讼诉前程序"]


@pytest.mark.parametrize("name", ["hash-64", pytest.param("use-m3", marks=pytest.mark.slow)])
def test_workers_embed_exactly_what_the_process_itself_would(name):
    settings = EmbedderSettings(name=name)
    pool = EmbedderPool(settings, workers=2)
    try:
        batches = [TEXTS[:3], TEXTS[3:], TEXTS]
        got = list(pool.map(batches))
    finally:
        pool.close()
    local = make_embedder(settings.model_copy(update={"threads": 1}))
    for batch, vectors in zip(batches, got, strict=True):
        np.testing.assert_allclose(vectors, local.embed_documents(batch), atol=1e-5)


def test_pool_size_follows_the_settings():
    assert pool_size(EmbedderSettings(name="use-m3", workers=3)) == 3
    assert pool_size(EmbedderSettings(name="use-m3", workers=1)) == 1
    assert pool_size(EmbedderSettings(name="use-m3")) >= 1  # one per core
    assert pool_size(EmbedderSettings(name="sentence-transformers:/models/x", workers=4)) == 1


@pytest.mark.slow
def test_an_ingest_through_workers_equals_one_in_process(tmp_path, statute_records):
    source = write_jsonl(tmp_path / "laws.jsonl", statute_records[:1500])
    results = []
    for workers in (2, 1):
        settings = load_settings(data_dir=tmp_path / f"w{workers}", embedder={"name": "hash-64", "workers": workers})
        assistant = build_assistant(settings)
        workers_seen: list[int] = []
        report = assistant.ingest([source], progress=lambda event, n, seen=workers_seen: seen.append(
            len(multiprocessing.active_children())) if event == "embedded" else None)
        assert report.embedded >= POOL_MIN_CHUNKS
        assert max(workers_seen) == (2 if workers == 2 else 0)
        ids = assistant.store.all_ids()
        probe = sorted(ids)[:20]
        vectors = assistant.store._collection.get(ids=probe, include=["embeddings"])  # noqa: SLF001
        results.append((report.chunks, ids, dict(zip(vectors["ids"], np.asarray(vectors["embeddings"]).round(5).tolist(), strict=True))))
    assert results[0] == results[1]


# -- the questions a server embeds -------------------------------------------------------------


@pytest.mark.slow
def test_questions_embedded_in_the_worker_equal_in_process_and_outlive_its_death():
    settings = EmbedderSettings(name="use-m3")
    local = make_embedder(settings)
    questions = QuestionEmbedder(make_embedder(settings), settings=settings)
    try:
        assert questions.in_worker
        with ThreadPoolExecutor(4) as threads:
            got = list(threads.map(questions.embed_query, TEXTS))
        np.testing.assert_allclose(np.vstack(got), local.embed_documents(TEXTS), atol=1e-5)

        questions._process._process.kill()  # noqa: SLF001 - the worker dies (OOM killer, an operator)
        questions._process._process.join()  # noqa: SLF001
        np.testing.assert_allclose(questions.embed_query(TEXTS[0]), local.embed_query(TEXTS[0]), atol=1e-5)
        assert not questions.in_worker  # from now on in this process
    finally:
        questions.close()


@pytest.mark.slow
def test_a_stuck_worker_is_given_up_after_its_timeout(monkeypatch):
    import assistant.index.pool as pool

    settings = EmbedderSettings(name="hash-64")
    questions = QuestionEmbedder(make_embedder(settings), settings=settings)
    try:
        np.testing.assert_allclose(questions.embed_query(TEXTS[0]), make_embedder(settings).embed_query(TEXTS[0]))
        monkeypatch.setattr(pool, "_REPLY_S", 0.5)
        os.kill(questions._process._process.pid, signal.SIGSTOP)  # noqa: SLF001 - hung, not dead
        np.testing.assert_allclose(questions.embed_query(TEXTS[1]), make_embedder(settings).embed_query(TEXTS[1]))
        assert not questions.in_worker
    finally:
        questions.close()


class _Gate:
    """An embedder whose first call waits until the test opens the gate; records batch sizes."""

    name, dim = "gate", 4

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.entered, self.gate = threading.Event(), threading.Event()

    def embed_documents(self, texts):
        self.batches.append(list(texts))
        self.entered.set()
        assert self.gate.wait(10)
        return np.asarray([[len(t), 0, 0, 1] for t in texts], dtype=np.float32)

    def embed_query(self, text):
        return self.embed_documents([text])[0]


def test_questions_asked_while_one_is_embedded_make_the_next_batch_and_errors_reach_every_caller():
    inner = _Gate()
    questions = QuestionEmbedder(inner)
    try:
        with ThreadPoolExecutor(6) as threads:
            first = threads.submit(questions.embed_query, "甲")
            assert inner.entered.wait(10)
            rest = [threads.submit(questions.embed_query, "乙" * n) for n in range(1, 6)]
            while len(questions._pending) < 5:  # noqa: SLF001
                time.sleep(0.01)
            inner.gate.set()
            assert first.result()[0] == 1
            assert [f.result()[0] for f in rest] == [1, 2, 3, 4, 5]  # each caller its own vector
        assert [len(b) for b in inner.batches] == [1, 5]
    finally:
        questions.close()

    broken = QuestionEmbedder(_Broken())
    try:
        with ThreadPoolExecutor(3) as threads:
            failures = [threads.submit(broken.embed_query, t) for t in TEXTS[:3]]
            for failure in failures:
                with pytest.raises(EmbedderUnavailable, match="model file"):
                    failure.result()
        with pytest.raises(EmbedderUnavailable):
            broken.embed_query("再问一次")  # the embedder thread is still there
    finally:
        broken.close()
    with pytest.raises(EmbedderUnavailable, match="closed"):
        broken.embed_query("关闭之后")


class _Broken:
    name, dim = "broken", 4

    def embed_documents(self, texts):
        raise EmbedderUnavailable("model file unreadable")


def test_the_assistant_serves_questions_through_the_worker_only_for_use_m3(tmp_path):
    assistant = build_assistant(load_settings(data_dir=tmp_path / "a", embedder={"name": "use-m3"}))
    assistant.serve_questions()
    try:
        assert isinstance(assistant.embedder(), QuestionEmbedder) and assistant.embedder().in_worker
    finally:
        assistant.close()
    assert not isinstance(assistant.embedder(), QuestionEmbedder)

    scaled = build_assistant(load_settings(data_dir=tmp_path / "s", embedder={"name": "use-m3"},
                                           chroma={"url": "http://127.0.0.1:9"},
                                           database={"url": "postgresql+psycopg://x@127.0.0.1:9/x"}))
    assert scaled.settings.scaled_out
    scaled.serve_questions()
    try:
        assert not scaled.embedder().in_worker  # a worker per core already; one more process would only cost
    finally:
        scaled.close()

    hashed = build_assistant(load_settings(data_dir=tmp_path / "b", embedder={"name": "hash-64"}))
    hashed.serve_questions()
    try:
        assert not hashed.embedder().in_worker  # batched here: a process would cost more than it saves
    finally:
        hashed.close()
