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
             law_prior: dict[int, int], authority: np.ndarray, law: np.ndarray) -> np.ndarray:
    """One feature row per candidate of ``rows``. Each signal map gives (rank, raw score) for
    the rows it found (every one of them among ``rows``); ``authority`` and ``law`` (an integer
    code per law) are aligned with ``rows``."""
    at = {row: i for i, row in enumerate(rows)}
    return feature_matrix(
        keyword=Signal.of(keyword, at), vector=Signal.of(vector, at), hints=Signal.of(hints, at),
        expansion=Signal.of(expansion, at),
        article_prior=np.array([article_prior.get(r, 0) for r in rows], dtype=np.float64),
        law_prior=np.array([law_prior.get(r, 0) for r in rows], dtype=np.float64),
        authority=np.asarray(authority, dtype=np.float64), law=np.asarray(law, dtype=np.intp))


@dataclass(frozen=True)
class Signal:
    """What one retrieval signal found among the candidates: their positions, ranks and raw scores."""

    at: np.ndarray
    rank: np.ndarray
    score: np.ndarray

    @classmethod
    def of(cls, found: dict[int, tuple[int, float]], at: dict[int, int]) -> "Signal":
        """From a signal's {row: (rank, score)} and each candidate row's position."""
        pairs = np.array(list(found.values()), dtype=np.float64).reshape(-1, 2)
        return cls(np.fromiter((at[r] for r in found), dtype=np.intp, count=len(found)), pairs[:, 0], pairs[:, 1])

    def dense(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(1 / (rank + 1), raw score) for each of n candidates; 0 and 0 where not found."""
        rr, score = np.zeros(n), np.zeros(n)
        rr[self.at] = 1.0 / (self.rank + 1)
        score[self.at] = self.score
        return rr, score

    def top(self) -> float:
        return float(self.score.max()) if len(self.score) else 0.0


def feature_matrix(*, keyword: Signal, vector: Signal, hints: Signal, expansion: Signal, article_prior: np.ndarray,
                   law_prior: np.ndarray, authority: np.ndarray, law: np.ndarray) -> np.ndarray:
    """The FEATURES of n candidates, computed by column (a search ranks a few hundred).

    The per-candidate arrays are aligned with the candidates; ``law`` is an integer code per
    candidate's law. ``law_share`` is the share of the top keyword and vector candidates that
    come from the candidate's own law: a question about 劳动合同 pulls most of its candidates
    from one law. ``hint_law_share`` is the same for the hint votes: neighbours citing
    劳动合同法 point at that law even where the exact article differs.
    """
    n = len(law)
    k_rr, k_score = keyword.dense(n)
    v_rr, v_score = vector.dense(n)
    h_rr, h_score = hints.dense(n)
    e_rr, e_score = expansion.dense(n)
    top_keyword, top_expansion, top_hint = keyword.top() or 1.0, expansion.top() or 1.0, hints.top() or 1.0
    size = int(law.max()) + 1 if n else 0

    top = np.concatenate([keyword.at[keyword.rank < 30], vector.at[vector.rank < 30]])
    law_share = np.bincount(law[top], minlength=size)[law] / max(len(top), 1)
    # one vote per cited article (the rows of one article share its rank and vote)
    span = int(hints.rank.max()) + 1 if len(hints.rank) else 1
    _, first = np.unique(law[hints.at] * span + hints.rank.astype(np.intp), return_index=True)
    hint_laws = np.bincount(law[hints.at[first]], weights=hints.score[first], minlength=size)
    hint_total = float(hint_laws.sum()) or 1.0

    hint = h_score / top_hint
    matrix = np.empty((n, len(FEATURES)), dtype=np.float64)
    matrix[:, 0], matrix[:, 1] = k_score / top_keyword, k_rr
    matrix[:, 2], matrix[:, 3] = v_score, v_rr
    matrix[:, 4], matrix[:, 5] = hint, h_rr
    matrix[:, 6], matrix[:, 7] = np.log1p(article_prior), np.log1p(law_prior)
    matrix[:, 8] = (k_rr > 0).astype(np.float64) + (v_rr > 0) + (h_rr > 0)
    matrix[:, 9] = authority / 4.0
    matrix[:, 10] = law_share
    matrix[:, 11] = hint * k_score / top_keyword
    matrix[:, 12] = hint * v_score
    matrix[:, 13] = hint_laws[law] / hint_total
    matrix[:, 14], matrix[:, 15] = e_score / top_expansion, e_rr
    return matrix
