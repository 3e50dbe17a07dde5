"""A learned linear ranker over the candidates of every retrieval signal.

Each candidate chunk gets a few features (its BM25 score and rank, its vector similarity
and rank, the citation-hint vote for its article, how often training examples cite its
article and its law, how many signals found it); a logistic model trained on labelled
questions (evals/retrieval.py --train-ranker) turns them into one score. The coefficients
ship in resources/ranker.json; without them, weighted reciprocal-rank fusion is used.
"""

from __future__ import annotations

import json
from functools import lru_cache
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

FEATURES = (
    "keyword_norm", "keyword_rr", "vector_sim", "vector_rr", "hint_norm", "hint_rr",
    "article_prior", "law_prior", "signals", "authority", "law_share", "hint_x_keyword", "hint_x_vector",
    "hint_law_share", "expansion_norm", "expansion_rr",
)


@dataclass(frozen=True)
class LinearRanker:
    coef: tuple[float, ...]
    intercept: float
    features: tuple[str, ...] = FEATURES

    def score(self, matrix: np.ndarray) -> np.ndarray:
        return matrix @ np.asarray(self.coef, dtype=np.float64) + self.intercept

    def to_json(self) -> str:
        return json.dumps({"features": list(self.features), "coef": list(self.coef), "intercept": self.intercept},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> "LinearRanker":
        data = json.loads(text)
        if tuple(data["features"]) != FEATURES:
            raise ValueError("ranker features do not match this version of jianxue")
        return cls(tuple(float(c) for c in data["coef"]), float(data["intercept"]))


SHORT_QUERY_CHARS = 80  # questions are short; case facts and key points are long


@dataclass(frozen=True)
class Ranker:
    """One linear model for short questions and one for long texts (facts, key points)."""

    short: LinearRanker
    long: LinearRanker

    def for_query(self, query: str) -> LinearRanker:
        return self.short if len(query) < SHORT_QUERY_CHARS else self.long

    def to_json(self) -> str:
        return json.dumps({"short_query_chars": SHORT_QUERY_CHARS, "short": json.loads(self.short.to_json()),
                           "long": json.loads(self.long.to_json())}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Ranker":
        data = json.loads(text)
        return cls(LinearRanker.from_json(json.dumps(data["short"])), LinearRanker.from_json(json.dumps(data["long"])))


@lru_cache(maxsize=1)
def default_ranker() -> Ranker | None:
    """The ranker trained by evals/retrieval.py --train-ranker and shipped with jianxue."""
    try:
        return Ranker.from_json((resources.files("assistant.resources") / "ranker.json").read_text())
    except (FileNotFoundError, ValueError, KeyError):
        return None


def features(rows: list[int], *, keyword: dict[int, tuple[int, float]], vector: dict[int, tuple[int, float]],
             hints: dict[int, tuple[int, float]], expansion: dict[int, tuple[int, float]], article_prior: dict[int, int],
             law_prior: dict[int, int], authority: dict[int, int], law_of: dict[int, str]) -> np.ndarray:
    """One feature row per candidate; each signal map gives (rank, raw score) for the rows it found.

    ``law_share`` is the share of the top keyword and vector candidates that come from the
    candidate's own law: a question about 劳动合同 pulls most of its candidates from one law.
    Computed column by column (a search ranks a few hundred candidates per question).
    """
    n = len(rows)
    at = {row: i for i, row in enumerate(rows)}
    k_rr, k_score = _signal(keyword, at, n)
    v_rr, v_score = _signal(vector, at, n)
    h_rr, h_score = _signal(hints, at, n)
    e_rr, e_score = _signal(expansion, at, n)

    top = [r for signal in (keyword, vector) for r, (rank, _) in signal.items() if rank < 30]
    laws: dict[str, int] = {}
    for r in top:
        law = law_of.get(r, "")
        laws[law] = laws.get(law, 0) + 1
    # the hint votes' own law share: neighbours citing 劳动合同法 point at that law even
    # where the exact article differs
    hint_laws: dict[str, float] = {}
    seen_articles: set[tuple[str, int]] = set()
    for r, (rank, vote) in hints.items():
        key = (law_of.get(r, ""), rank)
        if key not in seen_articles:
            seen_articles.add(key)
            hint_laws[key[0]] = hint_laws.get(key[0], 0.0) + vote
    hint_total = sum(hint_laws.values()) or 1.0
    top_keyword = max((s for _, s in keyword.values()), default=0.0) or 1.0
    top_expansion = max((s for _, s in expansion.values()), default=0.0) or 1.0
    top_hint = max((s for _, s in hints.values()), default=0.0) or 1.0

    row_laws = [law_of.get(r, "") for r in rows]
    keyword_norm = k_score / top_keyword
    hint = h_score / top_hint
    matrix = np.empty((n, len(FEATURES)), dtype=np.float64)
    matrix[:, 0], matrix[:, 1] = keyword_norm, k_rr
    matrix[:, 2], matrix[:, 3] = v_score, v_rr
    matrix[:, 4], matrix[:, 5] = hint, h_rr
    matrix[:, 6] = [math.log1p(article_prior.get(r, 0)) for r in rows]
    matrix[:, 7] = [math.log1p(law_prior.get(r, 0)) for r in rows]
    matrix[:, 8] = (k_rr > 0).astype(np.float64) + (v_rr > 0) + (h_rr > 0)
    matrix[:, 9] = [authority.get(r, 4) / 4.0 for r in rows]
    matrix[:, 10] = [laws.get(law, 0) for law in row_laws]
    matrix[:, 10] /= max(len(top), 1)
    matrix[:, 11] = hint * k_score / top_keyword
    matrix[:, 12] = hint * v_score
    matrix[:, 13] = [hint_laws.get(law, 0.0) for law in row_laws]
    matrix[:, 13] /= hint_total
    matrix[:, 14], matrix[:, 15] = e_score / top_expansion, e_rr
    return matrix


def _signal(found: dict[int, tuple[int, float]], at: dict[int, int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(1 / (rank + 1), raw score) per candidate row; 0 and 0 where the signal did not find it."""
    rr, score = np.zeros(n), np.zeros(n)
    where = [(at[r], rank, value) for r, (rank, value) in found.items() if r in at]
    if where:
        index, ranks, values = zip(*where, strict=True)
        rr[list(index)] = 1.0 / (np.asarray(ranks, dtype=np.float64) + 1)
        score[list(index)] = values
    return rr, score
