import json

import numpy as np
import pytest

from assistant.rank import (
    FEATURES,
    STYLES,
    LinearRanker,
    Ranker,
    default_ranker,
    features,
    query_style,
)


def test_the_shipped_ranker_has_a_learned_and_a_plain_model_for_every_style():
    ranker = default_ranker()
    assert ranker is not None
    for style in STYLES:
        assert len(ranker.models[style].coef) == len(FEATURES) == len(ranker.models[f"{style}/plain"].coef)
    assert ranker.for_query("短问题") is ranker.models["question"]
    assert ranker.for_query("短问题", learned=False) is ranker.models["question/plain"]
    assert ranker.for_query(KEY_POINTS) is ranker.models["points"]
    assert ranker.for_query(FACTS, learned=False) is ranker.models["facts/plain"]
    assert Ranker.from_json(ranker.to_json()) == ranker


KEY_POINTS = ("编造、故意传播虚假恐怖信息罪是选择性罪名。编造恐怖信息以后向特定对象散布，"
              "严重扰乱社会秩序的，构成编造虚假恐怖信息罪。对于实施数个编造、故意传播虚假恐怖信息行为的，"
              "不实行数罪并罚，但应当将其作为量刑情节予以考虑。")
FACTS = ("被告人王某某，男，1985年出生。2016年3月至2017年5月，王某某先后三次在某市某区盗窃他人财物，"
         "价值共计人民币12000元。案发后，王某某退赔被害人全部损失。")


@pytest.mark.parametrize("text, style", [
    ("离婚后孩子抚养费怎么算？", "question"),
    ("公司拖欠工资三个月了，我可以直接去法院起诉吗？还是要先申请劳动仲裁？", "question"),
    (KEY_POINTS, "points"),
    (FACTS, "facts"),
    ("公诉机关指控，2016年5月12日，被告人李某在某超市窃得手机一部，价值2000元。", "facts"),  # short, but a narrative
    ("2019年的时候我借给朋友5万元，现在他不还，怎么办？", "question"),  # a question with a date stays one
])
def test_query_style_tells_questions_key_points_and_facts_apart(text, style):
    assert query_style(text) == style


def test_a_version_1_ranker_still_loads_as_one_model_for_short_and_one_for_long_queries():
    short, long = LinearRanker((1.0,) * len(FEATURES), 0.0), LinearRanker((2.0,) * len(FEATURES), -1.0)
    old = json.dumps({"short_query_chars": 80, "short": json.loads(short.to_json()),
                      "long": json.loads(long.to_json())})
    ranker = Ranker.from_json(old)
    assert ranker.for_query("短问题") == short and ranker.for_query(FACTS) == long == ranker.for_query(KEY_POINTS)
    assert ranker.for_query(FACTS, learned=False) == long  # no plain model: the learned one of that style


def test_a_ranker_without_models_is_refused():
    with pytest.raises(ValueError):
        Ranker.from_json('{"version": 2, "models": {}}')


def test_a_stronger_keyword_match_scores_higher():
    ranker = default_ranker()
    matrix = features([1, 2], keyword={1: (0, 10.0), 2: (5, 2.0)}, vector={}, hints={}, expansion={}, article_prior={},
                      law_prior={}, authority=[0, 0], law=[0, 0])  # both 刑法
    scores = ranker.for_query("盗窃").score(matrix)
    assert scores[0] > scores[1]


def test_features_shape_and_hint_share():
    matrix = features([1, 2, 3], keyword={1: (0, 4.0)}, vector={2: (0, 0.8)}, hints={3: (0, 2.0), 1: (1, 1.0)}, expansion={2: (0, 3.0)},
                      article_prior={3: 5}, law_prior={3: 9}, authority=[0, 1, 4],
                      law=[0, 1, 0])  # 刑法, 民法典, 刑法
    assert matrix.shape == (3, len(FEATURES))
    col = {name: i for i, name in enumerate(FEATURES)}
    assert matrix[0, col["keyword_norm"]] == 1.0 and matrix[1, col["vector_sim"]] == pytest.approx(0.8)
    assert matrix[2, col["hint_law_share"]] == pytest.approx(1.0)  # every hint vote went to 刑法
    assert matrix[2, col["article_prior"]] == pytest.approx(np.log1p(5))
    assert matrix[1, col["expansion_norm"]] == 1.0 and matrix[0, col["expansion_rr"]] == 0.0


def test_a_ranker_from_another_version_is_refused():
    with pytest.raises(ValueError):
        LinearRanker.from_json('{"features": ["x"], "coef": [1.0], "intercept": 0}')


def _by_definition(rows, *, keyword, vector, hints, expansion, article_prior, law_prior, authority, law_of):
    """FEATURES row by row, straight from their definitions (the oracle for the by-column code)."""
    top = [r for signal in (keyword, vector) for r, (rank, _) in signal.items() if rank < 30]
    votes: dict[tuple[str, int], float] = {}
    for r, (rank, vote) in hints.items():
        votes.setdefault((law_of[r], rank), vote)  # one vote per cited article
    law_votes = {law: sum(v for (other, _), v in votes.items() if other == law) for law, _ in votes}
    total_votes = sum(votes.values()) or 1.0
    best = {name: max((s for _, s in signal.values()), default=0.0) or 1.0
            for name, signal in (("k", keyword), ("h", hints), ("e", expansion))}
    out = []
    for row in rows:
        k_rank, k = keyword.get(row, (None, 0.0))
        v_rank, v = vector.get(row, (None, 0.0))
        h_rank, h = hints.get(row, (None, 0.0))
        e_rank, e = expansion.get(row, (None, 0.0))
        rr = lambda rank: 0.0 if rank is None else 1 / (rank + 1)  # noqa: E731
        hint = h / best["h"]
        out.append([k / best["k"], rr(k_rank), v, rr(v_rank), hint, rr(h_rank), np.log1p(article_prior.get(row, 0)),
                    np.log1p(law_prior.get(row, 0)), sum(x is not None for x in (k_rank, v_rank, h_rank)),
                    authority[row] / 4, sum(law_of[r] == law_of[row] for r in top) / max(len(top), 1),
                    hint * k / best["k"], hint * v, law_votes.get(law_of[row], 0.0) / total_votes, e / best["e"],
                    rr(e_rank), h, 0.0])
    return np.asarray(out, dtype=np.float64).reshape(len(rows), len(FEATURES))


def test_features_by_column_equal_their_definitions():
    for seed in range(200):
        _check_against_definitions(np.random.default_rng(seed), seed)


def _check_against_definitions(rnd, seed: int) -> None:
    universe = [int(x) for x in rnd.choice(1000, size=int(rnd.integers(1, 60)), replace=False)]
    law_of = {r: str(rnd.choice(["刑法", "民法典", "", "刑事诉讼法"])) for r in universe}

    def signal(most: int) -> dict[int, tuple[int, float]]:
        found = rnd.choice(universe, size=min(int(rnd.integers(0, most + 1)), len(universe)), replace=False)
        return {int(r): (i, float(rnd.random() * 10)) for i, r in enumerate(found)}

    keyword, vector, expansion = signal(40), signal(40), signal(20)
    hints: dict[int, tuple[int, float]] = {}
    for rank in range(int(rnd.integers(0, 8))):  # the rows of one cited article share its rank and vote
        vote = float(rnd.random() * 3)
        for r in rnd.choice(universe, size=min(int(rnd.integers(1, 4)), len(universe)), replace=False):
            hints.setdefault(int(r), (rank, vote))
    rows = list(dict.fromkeys([*keyword, *vector, *hints, *expansion]))
    given = dict(keyword=keyword, vector=vector, hints=hints, expansion=expansion,
                 article_prior={r: int(rnd.integers(0, 9)) for r in rows[::2]},
                 law_prior={r: int(rnd.integers(0, 99)) for r in rows[1::2]},
                 authority={r: int(rnd.integers(0, 5)) for r in rows}, law_of={r: law_of[r] for r in rows})
    codes: dict[str, int] = {}
    arrays = {k: v for k, v in given.items() if k not in ("authority", "law_of")}
    by_column = features(rows, **arrays, authority=[given["authority"][r] for r in rows],
                         law=[codes.setdefault(given["law_of"][r], len(codes)) for r in rows])
    np.testing.assert_allclose(by_column, _by_definition(rows, **given), rtol=1e-12, atol=1e-12,
                               err_msg=f"seed {seed}")


def test_leaning_on_keywords_orders_by_bm25_and_keeps_the_rest_for_ties():
    # row 0: BM25's third; row 1: BM25's first; row 2: BM25's second; row 3: found by vectors only, strongly
    matrix = features([0, 1, 2, 3], keyword={1: (0, 9.0), 2: (1, 8.0), 0: (2, 7.0)}, vector={3: (0, 0.9), 0: (1, 0.8)},
                      hints={}, expansion={}, article_prior={}, law_prior={}, authority=[0, 0, 0, 0], law=[0, 0, 0, 0])
    vector_minded = LinearRanker(tuple(5.0 if f in ("vector_sim", "vector_rr") else 0.0 for f in FEATURES), 0.0)
    assert np.argsort(-vector_minded.score(matrix))[0] == 3
    backed_off = vector_minded.leaning_on_keywords(1e4)
    assert list(np.argsort(-backed_off.score(matrix))) == [1, 2, 0, 3]
    assert vector_minded.leaning_on_keywords(0.0) == vector_minded


def test_the_crime_feature_marks_the_articles_of_a_named_crime():
    matrix = features([5, 6], keyword={5: (0, 3.0), 6: (1, 2.0)}, vector={}, hints={}, expansion={}, article_prior={},
                      law_prior={}, authority=[0, 0], law=[0, 0], crimes={6: (0, 1.0)})
    assert list(matrix[:, FEATURES.index("crime")]) == [0.0, 1.0]
