import numpy as np
import pytest

from assistant.rank import (
    FEATURES,
    SHORT_QUERY_CHARS,
    LinearRanker,
    Ranker,
    default_ranker,
    features,
)


def test_the_shipped_ranker_loads_and_gates_by_query_length():
    ranker = default_ranker()
    assert ranker is not None
    assert len(ranker.short.coef) == len(FEATURES) == len(ranker.long.coef)
    assert ranker.for_query("短问题") is ranker.short
    assert ranker.for_query("长" * SHORT_QUERY_CHARS) is ranker.long
    assert Ranker.from_json(ranker.to_json()) == ranker


def test_a_stronger_keyword_match_scores_higher():
    ranker = default_ranker()
    matrix = features([1, 2], keyword={1: (0, 10.0), 2: (5, 2.0)}, vector={}, hints={}, expansion={}, article_prior={},
                      law_prior={}, authority={1: 0, 2: 0}, law_of={1: "刑法", 2: "刑法"})
    scores = ranker.short.score(matrix)
    assert scores[0] > scores[1]


def test_features_shape_and_hint_share():
    matrix = features([1, 2, 3], keyword={1: (0, 4.0)}, vector={2: (0, 0.8)}, hints={3: (0, 2.0), 1: (1, 1.0)}, expansion={2: (0, 3.0)},
                      article_prior={3: 5}, law_prior={3: 9}, authority={1: 0, 2: 1, 3: 4},
                      law_of={1: "刑法", 2: "民法典", 3: "刑法"})
    assert matrix.shape == (3, len(FEATURES))
    col = {name: i for i, name in enumerate(FEATURES)}
    assert matrix[0, col["keyword_norm"]] == 1.0 and matrix[1, col["vector_sim"]] == pytest.approx(0.8)
    assert matrix[2, col["hint_law_share"]] == pytest.approx(1.0)  # every hint vote went to 刑法
    assert matrix[2, col["article_prior"]] == pytest.approx(np.log1p(5))
    assert matrix[1, col["expansion_norm"]] == 1.0 and matrix[0, col["expansion_rr"]] == 0.0


def test_a_ranker_from_another_version_is_refused():
    with pytest.raises(ValueError):
        LinearRanker.from_json('{"features": ["x"], "coef": [1.0], "intercept": 0}')
