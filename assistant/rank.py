"""A learned linear ranker over the candidates of every retrieval signal.

Each candidate chunk gets a few features (its BM25 score and rank, its vector similarity
and rank, the citation-hint vote for its article, how often training examples cite its
article and its law, how many signals found it); a logistic model trained on labelled
questions (evals/retrieval.py --train-ranker) turns them into one score. The coefficients
ship in resources/ranker.json; without them, weighted reciprocal-rank fusion is used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

FEATURES = (
    "keyword_norm", "keyword_rr", "vector_sim", "vector_rr", "hint_norm", "hint_rr",
    "article_prior", "law_prior", "signals", "authority", "law_share", "hint_x_keyword", "hint_x_vector",
    "hint_law_share", "expansion_norm", "expansion_rr", "hint_vote",
    "crime",
)


@dataclass(frozen=True)
class LinearRanker:
    coef: tuple[float, ...]
    intercept: float
    features: tuple[str, ...] = FEATURES

    def score(self, matrix: np.ndarray) -> np.ndarray:
        return matrix @ np.asarray(self.coef, dtype=np.float64) + self.intercept

    def leaning_on_keywords(self, weight: float) -> "LinearRanker":
        """The same model with ``weight`` more on BM25's reciprocal rank: the back-off for a style
        where the fitted blend lost to BM25 alone on held-out training queries. A large weight
        orders the keyword candidates as BM25 does and lets the other signals only break ties
        and follow after them."""
        coef = list(self.coef)
        coef[FEATURES.index("keyword_rr")] += weight
        return LinearRanker(tuple(coef), self.intercept, self.features)

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

STYLES = ("question", "points", "facts")
# What gives a narrative away: years and months, anonymised names (张某), the parties of a
# criminal case, sums of money. Key points (要旨) state rules and have next to none of them.
_NARRATIVE_RE = re.compile(r"(?:\d{4}|[〇零一二三四五六七八九]{4})年|\d{1,2}月|某|被告人|犯罪嫌疑人|\d元|万元")
NARRATIVE_PER_100 = 1.5  # markers per 100 characters: facts 2-11, key points and questions under 1.1


def query_style(query: str) -> str:
    """question (a short layperson question), points (a long statement of law, e.g. a case's
    要旨) or facts (a narrative of what happened). Each style has its own ranker: the signals
    that work for one mislead on another (BM25 over a long narrative matches its incidental
    words; hints learned from CAIL facts repeat charges that newer cases rarely share)."""
    text = query.strip()
    if len(_NARRATIVE_RE.findall(text)) * 100 / max(len(text), 1) >= NARRATIVE_PER_100 and len(text) >= 40:
        return "facts"
    return "question" if len(text) < SHORT_QUERY_CHARS else "points"


@dataclass(frozen=True)
class Ranker:
    """One linear model per query style, each in two variants: with learned hints, and for an
    index that has learned nothing (``<style>/plain``), whose features for hints are all zero.
    A missing model falls back to the same style's other variant, then to ``question``."""

    models: dict[str, LinearRanker]

    def for_query(self, query: str, *, learned: bool = True) -> LinearRanker:
        style = query_style(query)
        keys = (style, f"{style}/plain") if learned else (f"{style}/plain", style)
        for key in (*keys, "question", "question/plain"):
            if key in self.models:
                return self.models[key]
        raise KeyError("an empty ranker")

    def to_json(self) -> str:
        return json.dumps({"version": 2, "models": {k: json.loads(m.to_json()) for k, m in self.models.items()}},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Ranker":
        data = json.loads(text)
        if "models" not in data:  # version 1: one model for short questions, one for long texts
            short, long = (LinearRanker.from_json(json.dumps(data[k])) for k in ("short", "long"))
            return cls({"question": short, "points": long, "facts": long})
        if not data["models"]:
            raise ValueError("a ranker without models")
        return cls({k: LinearRanker.from_json(json.dumps(m)) for k, m in data["models"].items()})


@lru_cache(maxsize=1)
def default_ranker() -> Ranker | None:
    """The ranker trained by evals/retrieval.py --train-ranker and shipped with jianxue."""
    try:
        return Ranker.from_json((resources.files("assistant.resources") / "ranker.json").read_text())
    except (FileNotFoundError, ValueError, KeyError):
        return None


def features(rows: list[int], *, keyword: dict[int, tuple[int, float]], vector: dict[int, tuple[int, float]],
             hints: dict[int, tuple[int, float]], expansion: dict[int, tuple[int, float]],
             article_prior: dict[int, int], law_prior: dict[int, int], authority: np.ndarray, law: np.ndarray,
             crimes: dict[int, tuple[int, float]] | None = None) -> np.ndarray:
    """One feature row per candidate of ``rows``. Each signal map gives (rank, raw score) for
    the rows it found (every one of them among ``rows``); ``authority`` and ``law`` (an integer
    code per law) are aligned with ``rows``."""
    at = {row: i for i, row in enumerate(rows)}
    return feature_matrix(
        keyword=Signal.of(keyword, at), vector=Signal.of(vector, at), hints=Signal.of(hints, at),
        expansion=Signal.of(expansion, at), crimes=Signal.of(crimes or {}, at),
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
                   law_prior: np.ndarray, authority: np.ndarray, law: np.ndarray,
                   crimes: Signal | None = None) -> np.ndarray:
    """The FEATURES of n candidates, computed by column (a search ranks a few hundred).

    The per-candidate arrays are aligned with the candidates; ``law`` is an integer code per
    candidate's law. ``law_share`` is the share of the top keyword and vector candidates that
    come from the candidate's own law: a question about 劳动合同 pulls most of its candidates
    from one law. ``hint_vote`` is the raw vote, not relative to the query's best: near
    neighbours that agree (a CAIL charge seen a hundred times) give about 1, a new kind of
    case whose neighbours scatter their citations gives a tenth of that, and the ranker
    learns to trust BM25 more there. ``crime`` marks the articles that define a crime the
    query names (盗窃罪 -> 刑法第二百六十四条, from the indexed 罪名 documents). ``hint_law_share`` is the same for the hint votes: neighbours citing
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
    matrix[:, 9] = np.minimum(authority, 4) / 4.0
    matrix[:, 10] = law_share
    matrix[:, 11] = hint * k_score / top_keyword
    matrix[:, 12] = hint * v_score
    matrix[:, 13] = hint_laws[law] / hint_total
    matrix[:, 14], matrix[:, 15] = e_score / top_expansion, e_rr
    matrix[:, 16] = h_score
    matrix[:, 17] = (crimes.dense(n)[0] > 0) if crimes is not None else 0.0
    return matrix
