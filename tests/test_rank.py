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
                      law_prior={}, authority=[0, 0], law=[0, 0])  # both 刑法
    scores = ranker.short.score(matrix)
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
                    rr(e_rank)])
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
