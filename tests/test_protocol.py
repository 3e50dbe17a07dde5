"""The honest retrieval protocol's own logic (evals/protocol.py): who teaches, who is asked,
the check that must fail loudly, and the back-off to BM25."""

import numpy as np

from assistant.evaluation import Query
from assistant.rank import FEATURES, LinearRanker, Ranker
from evals.protocol import Collected, _earlier, back_off, check, hybrid_order, is_late


def test_cases_after_the_cutoff_are_late_and_month_only_dates_compare_by_month():
    dates = {"SPP-检例第1号": "2010-12", "SPP-检例第90号": "2020-12-14", "SPP-检例第99号": "2021-01-27"}
    assert not is_late("SPP-检例第1号", dates, "2020-12-31") and not is_late("SPP-检例第90号", dates, "2020-12-31")
    assert is_late("SPP-检例第99号", dates, "2020-12-31")
    assert not is_late("stard-17", dates, "2020-12-31")  # undated sets are split by folds, never late
    assert _earlier("2014-01-31", "2014-02") and not _earlier("2014-02-15", "2014-02") and not _earlier("", "2014")


def _results(hybrid: float, bm25: float, vector: float) -> dict:
    systems = {"hybrid": hybrid, "bm25": bm25, "vector": vector}
    return {"timesplit": {"statutes": {"gc_facts": {s: {"recall@10": v} for s, v in systems.items()}}}}


def test_the_check_fails_where_hybrid_is_below_either_single_signal():
    assert check(_results(0.30, 0.25, 0.10)) == []
    assert check(_results(0.25, 0.25, 0.10)) == []  # a tie is not worse
    [line] = check(_results(0.20, 0.25, 0.10))
    assert line.startswith("FAIL timesplit/statutes/gc_facts") and "bm25 0.2500" in line
    assert check(_results(0.20, 0.10, 0.30))[0].endswith("vector 0.3000")


def _collected(i: int, *, bm25_right: bool) -> Collected:
    """Twelve candidates: BM25 ranks rows 0-10, the vectors rows 11, 1-10; the gold article is
    row 0 (BM25's first, not found by vectors) or row 11 (the vectors' first, not found by BM25)."""
    matrix = np.zeros((12, len(FEATURES)), dtype=np.float32)
    for rank, row in enumerate(range(11)):
        matrix[row, FEATURES.index("keyword_rr")] = 1 / (rank + 1)
    for rank, row in enumerate([11, *range(1, 11)]):
        matrix[row, FEATURES.index("vector_rr")] = 1 / (rank + 1)
    sources = [f"法#第{n}条" for n in "一二三四五六七八九十甲乙"]
    gold = sources[0] if bm25_right else sources[11]
    return Collected(query=Query(f"q{i}", "某人盗窃后如何处理", (gold,), f"q{i}"), set="stard_train",
                     sources=sources, features=matrix, authority=np.zeros(12), direct=[],
                     keyword=sources[:10], vector=[sources[11], *sources[1:10]], hints=[])


def test_a_blend_that_loses_to_bm25_on_held_out_queries_leans_on_bm25_until_it_does_not():
    vector_minded = LinearRanker(tuple(3.0 if f == "vector_rr" else 0.0 for f in FEATURES), 0.0)
    held_out = [(_collected(i, bm25_right=i % 4 != 0), vector_minded) for i in range(40)]  # BM25 right 3 times in 4
    ranker, leans = back_off(Ranker({"question/plain": vector_minded}), held_out)
    assert leans["question/plain"] > 0.0
    c = held_out[1][0]
    assert c.query.gold[0] not in hybrid_order(c, vector_minded)  # the fitted blend lost BM25's find
    assert c.query.gold[0] in hybrid_order(c, ranker.models["question/plain"])  # the backed-off one keeps it


def test_a_blend_that_clearly_wins_is_kept_as_fitted():
    keyword_minded = LinearRanker(tuple(1.0 if f == "keyword_rr" else 0.0 for f in FEATURES), 0.0)
    held_out = [(_collected(i, bm25_right=True), keyword_minded) for i in range(40)]
    _, leans = back_off(Ranker({"question/plain": keyword_minded}), held_out)
    assert leans["question/plain"] == 0.0
