"""One contract, run on the in-memory store, on Chroma embedded (PersistentClient) and on a
Chroma server (`chroma run`, HttpClient) started by the tests."""

import numpy as np
import pytest

from assistant.errors import CorpusError
from assistant.index.chroma import ChromaStore
from assistant.index.store import InMemoryStore, SearchFilter, VectorStore
from assistant.models import Chunk, Kind, Line, Principal
from tests.servers import needs_chroma, unique_collection

DIM = 8


def chunk(i: int, **kw) -> Chunk:
    fields = dict(chunk_id=f"c{i}", doc_id=f"d{i % 3}", ordinal=i, locator=f"第{i}条", citation=f"《某法》第{i}条",
                  text=f"text {i}", kind=Kind.statute, line=Line.criminal, title="某法")
    fields.update(kw)
    return Chunk(**fields)


def unit(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i % DIM] = 1.0
    return v


@pytest.fixture(params=["memory", "chroma", pytest.param("chroma-server", marks=needs_chroma)])
def store(request, tmp_path) -> VectorStore:
    if request.param == "memory":
        return InMemoryStore()
    if request.param == "chroma-server":
        server = request.getfixturevalue("chroma_server")
        return ChromaStore.open(path=None, url=server.url, collection=unique_collection(), embedder_name="test", dim=DIM)
    return ChromaStore.open(path=tmp_path / "chroma", url=None, collection="contract", embedder_name="test", dim=DIM)


def test_upsert_count_existing_all_ids(store):
    assert isinstance(store, VectorStore)
    store.upsert([chunk(0), chunk(1), chunk(2)], np.vstack([unit(0), unit(1), unit(2)]))
    store.upsert([chunk(1)], np.vstack([unit(1)]))  # same id again: still one
    assert store.count() == 3
    assert store.existing(["c0", "c2", "nope"]) == {"c0", "c2"}
    assert store.all_ids() == {"c0", "c1", "c2"}


def test_query_orders_by_cosine(store):
    a = np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    b = np.array([0.8, 0.6, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    c = np.array([0, 1, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    store.upsert([chunk(0), chunk(1), chunk(2)], np.vstack([a, b, c]))
    found = store.query(a, k=3, where=SearchFilter(departments=None))
    assert [i for i, _ in found] == ["c0", "c1", "c2"]
    assert found[0][1] == pytest.approx(1.0, abs=1e-4) and found[1][1] == pytest.approx(0.8, abs=1e-4)
    assert len(store.query(a, k=1, where=SearchFilter(departments=None))) == 1


def test_filters_kind_line_tags(store):
    chunks = [chunk(0, kind=Kind.case, tags=("正当防卫",)), chunk(1, line=Line.civil), chunk(2, tags=("盗窃", "量刑"))]
    store.upsert(chunks, np.vstack([unit(0), unit(0), unit(0)]))
    q = unit(0)
    ids = lambda where: {i for i, _ in store.query(q, k=10, where=where)}  # noqa: E731
    assert ids(SearchFilter(kinds=("case",), departments=None)) == {"c0"}
    assert ids(SearchFilter(lines=("civil",), departments=None)) == {"c1"}
    assert ids(SearchFilter(tags=("量刑", "正当防卫"), departments=None)) == {"c0", "c2"}
    assert ids(SearchFilter(kinds=("statute",), lines=("criminal",), departments=None)) == {"c2"}


def test_access_filter_by_department(store):
    chunks = [chunk(0), chunk(1, access=("刑事检察部",)), chunk(2, access=("公益诉讼部", "行政检察部"))]
    store.upsert(chunks, np.vstack([unit(0)] * 3))
    q = unit(0)

    def seen(principal: Principal) -> set[str]:
        return {i for i, _ in store.query(q, k=10, where=SearchFilter.for_principal(principal))}

    assert seen(Principal(user="a", role="learner", departments=())) == {"c0"}
    assert seen(Principal(user="b", role="learner", departments=("刑事检察部",))) == {"c0", "c1"}
    assert seen(Principal(user="c", role="learner", departments=("行政检察部", "x"))) == {"c0", "c2"}
    assert seen(Principal.local_admin()) == {"c0", "c1", "c2"}


def test_update_metadata_keeps_vector_and_changes_filters(store):
    store.upsert([chunk(0)], np.vstack([unit(3)]))
    store.update_metadata([chunk(0, access=("刑事检察部",))])
    assert store.query(unit(3), k=5, where=SearchFilter(departments=())) == []
    [(found, score)] = store.query(unit(3), k=5, where=SearchFilter(departments=("刑事检察部",)))
    assert found == "c0" and score == pytest.approx(1.0, abs=1e-4)


def test_delete(store):
    store.upsert([chunk(0), chunk(1)], np.vstack([unit(0), unit(1)]))
    store.delete(["c0", "missing"])
    assert store.all_ids() == {"c1"}
    store.delete([])
    assert store.count() == 1


def test_empty_store_query(store):
    assert store.query(unit(0), k=5, where=SearchFilter()) == []


def test_chroma_refuses_an_index_built_with_another_embedder(tmp_path):
    ChromaStore.open(path=tmp_path / "c", url=None, collection="jianxue", embedder_name="use-m3", dim=512)
    with pytest.raises(CorpusError, match="built with the embedder 'use-m3'"):
        ChromaStore.open(path=tmp_path / "c", url=None, collection="jianxue", embedder_name="sentence-transformers:x", dim=384)


def test_as_of_leaves_out_later_versions(store):
    chunks = [chunk(0, version_date="2018-10-26"), chunk(1, version_date="2023-09-01"), chunk(2), chunk(3, version_date="2010-12")]
    store.upsert(chunks, np.vstack([unit(0)] * 4))
    ids = {i for i, _ in store.query(unit(0), k=10, where=SearchFilter(departments=None, as_of="2020-01-01"))}
    assert ids == {"c0", "c2", "c3"}
    assert len(store.query(unit(0), k=10, where=SearchFilter(departments=None))) == 4
