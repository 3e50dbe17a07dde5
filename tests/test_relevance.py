"""The relevance model: features that keep their meaning when the retriever's scores change,
and a cut that cites the best passage always and the others only when about as likely."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import pytest

from assistant.models import Chunk, Hit, Kind, Line
from assistant.relevance import (
    FEATURES,
    MAX_CASES,
    MAX_SOURCES,
    RELEVANCE_JSON_NAME,
    RelevanceModel,
    bigrams,
    relevance_features,
    shipped_relevance,
)

WEIGHTS = {"量刑建议": 5.0, "认罪认罚": 6.0}
QUERY = "认罪认罚案件量刑建议怎么提"


def hit(n: int, text: str, *, score: float, source: str, kind: Kind = Kind.statute, **scores: float) -> Hit:
    chunk = Chunk(f"c{n}", source.split("#")[0], n, source, f"《{source}》", text, kind, Line.criminal, "t", source)
    return Hit(chunk, score, n, {"fused": score, **scores})


HITS = [
    hit(1, "犯罪嫌疑人认罪认罚的，人民检察院应当就主刑、附加刑、是否适用缓刑等提出量刑建议。", score=2.0,
        source="甲法#第一条", keyword=9.0, vector=0.6, hints=0.2),
    hit(2, "人民法院经审理认为量刑建议明显不当的，人民检察院可以调整量刑建议。", score=1.2,
        source="甲法#第二条", keyword=7.0, vector=0.5),
    hit(3, "行政机关应当依法履行职责。", score=-0.5, source="乙法#第九条", vector=0.3),
    hit(4, "本案要旨：认罪认罚从宽制度适用于侦查、起诉、审判各阶段。", score=-0.7, source="检例第1号",
        kind=Kind.case, keyword=3.0),
]


def test_features_are_the_same_whatever_the_scale_of_the_retrievers_scores():
    rows = relevance_features(HITS, WEIGHTS, QUERY)
    assert len(rows) == len(HITS) and all(len(r) == len(FEATURES) for r in rows)
    scaled = [Hit(h.chunk, 10 * h.score + 3, h.rank, {k: 4 * v for k, v in h.scores.items() if k != "hints"}
                  | ({"hints": h.scores["hints"]} if "hints" in h.scores else {})) for h in HITS]
    again = relevance_features(scaled, WEIGHTS, QUERY)
    assert [v for r in again for v in r] == pytest.approx([v for r in rows for v in r])


def test_features_see_what_the_passage_holds():
    rows = {name: [r[FEATURES.index(name)] for r in relevance_features(HITS, WEIGHTS, QUERY)]
            for name in ("cover", "bigram_cover", "first", "case", "same_law_as_first")}
    assert rows["cover"][0] == 1.0 and rows["cover"][2] == 0.0
    assert rows["bigram_cover"][0] > rows["bigram_cover"][2]
    assert rows["first"] == [1.0, 0.0, 0.0, 0.0] and rows["case"] == [0.0, 0.0, 0.0, 1.0]
    assert rows["same_law_as_first"] == [1.0, 1.0, 0.0, 0.0]
    assert "认罪" in bigrams(QUERY) and "怎么" not in bigrams(QUERY)


def test_the_cut_cites_the_best_always_and_the_rest_only_when_about_as_likely():
    model = RelevanceModel((0.0,) * len(FEATURES), 0.0, threshold=0.3, ratio=0.5)
    assert model.select(HITS, [0.9, 0.5, 0.2, 0.6]) == [0, 3, 1]
    assert model.select(HITS, [0.9, 0.4, 0.2, 0.1]) == [0]  # 0.4 < 0.5 of the best
    assert model.select(HITS, [0.1, 0.05, 0.02, 0.01]) == [0]  # nothing is likely: the best alone
    assert model.select([], []) == []


def test_an_article_is_cited_once_and_the_counts_are_capped():
    twice = HITS[:1] + [Hit(replace(HITS[0].chunk, chunk_id="c9", locator="第一条第二款"), 1.9, 2)]
    model = RelevanceModel((0.0,) * len(FEATURES), 0.0, threshold=0.0, ratio=0.0)
    assert model.select(twice, [0.9, 0.8]) == [0]
    many = [hit(i, "量刑建议", score=1.0, source=f"丙法#第{i}条") for i in range(1, 9)]
    assert len(model.select(many, [0.9] * 8)) == MAX_SOURCES
    cases = [hit(i, "要旨", score=1.0, source=f"检例第{i}号", kind=Kind.case) for i in range(1, 6)]
    assert len(model.select(cases, [0.9] * 5)) == MAX_CASES


def test_the_shipped_model_matches_the_features_and_round_trips():
    data = json.loads((resources.files("assistant.resources") / RELEVANCE_JSON_NAME).read_text(encoding="utf-8"))
    assert tuple(data["features"]) == FEATURES and 0 < data["threshold"] < 1 and 0 <= data["ratio"] < 1
    model = shipped_relevance()
    assert RelevanceModel.from_json(model.to_json()) == model
    with pytest.raises(ValueError, match="other features"):
        RelevanceModel.from_json(json.dumps({**data, "features": ["rank"]}))
    # what it learned makes sense: the passage that holds the question's terms beats one that does not
    p = model.probabilities(relevance_features(HITS, WEIGHTS, QUERY))
    assert p[0] > p[2]
