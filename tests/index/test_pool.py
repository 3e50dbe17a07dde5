"""Embedding worker processes: the same vectors as in-process, and an ingest through them
ends with the same index as one that embeds in-process."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from assistant.config import EmbedderSettings, load_settings
from assistant.index.embedders import make_embedder
from assistant.index.pool import EmbedderPool, pool_size
from assistant.ingest.pipeline import POOL_MIN_CHUNKS
from assistant.service import build_assistant
from tests.conftest import write_jsonl

TEXTS = ["正当防卫的限度", "盗窃罪的数额标准", "认罪认罚从宽", "附条件不起诉的考验期", "公益诉讼诉前程序"]


@pytest.mark.parametrize("name", ["hash-64", "use-m3"])
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
        report = assistant.ingest([source], progress=lambda event, n: workers_seen.append(
            len(multiprocessing.active_children())) if event == "embedded" else None)
        assert report.embedded >= POOL_MIN_CHUNKS
        assert max(workers_seen) == (2 if workers == 2 else 0)
        ids = assistant.store.all_ids()
        probe = sorted(ids)[:20]
        vectors = assistant.store._collection.get(ids=probe, include=["embeddings"])  # noqa: SLF001
        results.append((report.chunks, ids, dict(zip(vectors["ids"], np.asarray(vectors["embeddings"]).round(5).tolist()))))
    assert results[0] == results[1]
