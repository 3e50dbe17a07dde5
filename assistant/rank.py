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
             hints: dict[int, tuple[int, float]], expansion: dict[int, tuple[int, float]], article_prior: dict[int, int], law_prior: dict[int, int],
             authority: dict[int, int], law_of: dict[int, str]) -> np.ndarray:
    """One feature row per candidate; each signal map gives (rank, raw score) for the rows it found.

    ``law_share`` is the share of the top keyword and vector candidates that come from the
    candidate's own law: a question about 劳动合同 pulls most of its candidates from one law.
    """
    top = [r for signal in (keyword, vector) for r, (rank, _) in signal.items() if rank < 30]
    laws: dict[str, int] = {}
    for r in top:
        laws[law_of.get(r, "")] = laws.get(law_of.get(r, ""), 0) + 1
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
    matrix = np.zeros((len(rows), len(FEATURES)), dtype=np.float64)
    for i, row in enumerate(rows):
        k_rank, k_score = keyword.get(row, (None, 0.0))
        v_rank, v_score = vector.get(row, (None, 0.0))
        h_rank, h_score = hints.get(row, (None, 0.0))
        hint = h_score / top_hint
        matrix[i] = (
            k_score / top_keyword, 0.0 if k_rank is None else 1.0 / (k_rank + 1),
            v_score, 0.0 if v_rank is None else 1.0 / (v_rank + 1),
            hint, 0.0 if h_rank is None else 1.0 / (h_rank + 1),
            math.log1p(article_prior.get(row, 0)), math.log1p(law_prior.get(row, 0)),
            sum(r is not None for r in (k_rank, v_rank, h_rank)), authority.get(row, 4) / 4.0,
            laws.get(law_of.get(row, ""), 0) / max(len(top), 1), hint * k_score / top_keyword, hint * v_score,
            hint_laws.get(law_of.get(row, ""), 0.0) / hint_total,
            expansion.get(row, (None, 0.0))[1] / top_expansion,
            0.0 if row not in expansion else 1.0 / (expansion[row][0] + 1),
        )
    return matrix
