"""Which retrieved passages an answer cites: a learned relevance model, judged against the best
passage for the question.

Every retrieved passage gets features that keep their meaning when the retriever's scores
change (another embedder, another ranker): its rank; its score min-max scaled among the
passages retrieved for this question; the share of the question's key terms it contains,
alone and relative to the passage that contains most, by words and by character pairs; the
same for its best sentence; the raw citation-hint vote (rank-based, so embedder-free); its
vector similarity and citation-hint vote relative to the best; which signals found it; its
kind; whether it belongs to the same law as the first passage and how many of the passages
do; whether a better passage already is the same article. A logistic model fitted on the
shared labelled questions (``python -m evals.answers --fit``, shipped in
resources/relevance.json) turns them into a probability that the passage is one a
correct answer cites.

A passage is cited when its probability reaches ``threshold`` and ``ratio`` times the best
passage's; the best one is always cited. So the number of sources follows the question:
one when one article stands out, more when several are about as likely.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from assistant.extract import coverage, sentences
from assistant.models import Hit, Kind

FEATURES = (
    "first", "inv_rank", "score_scaled", "cover", "cover_rel", "sentence_cover", "sentence_cover_rel",
    "bigram_cover", "bigram_cover_rel", "sentence_bigram", "sentence_bigram_rel",
    "vector_rel", "hint_rel", "hint_vote", "keyword", "vector", "hint", "reference", "case", "interpretation", "other",
    "same_law_as_first", "law_share", "repeat_article",
)
RELEVANCE_JSON_NAME = "relevance.json"
MAX_SOURCES = 4  # at most this many passages in one answer
MAX_CASES = 2
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_FUNCTION = frozenset("的了吗呢吧啊么是在有和与或及其这那哪什怎如何为可以能否会要该应当请问一下个些")


def law_of(hit: Hit) -> str:
    source = hit.chunk.source_id or hit.chunk.doc_id
    return source.split("#", 1)[0] if "#" in source else hit.chunk.doc_id


def bigrams(text: str) -> set[str]:
    """The question's (or a passage's) Chinese character pairs, without pairs of function characters."""
    out = set()
    for run in _CJK_RUN.findall(text):
        out.update(run[i:i + 2] for i in range(len(run) - 1) if not (run[i] in _FUNCTION and run[i + 1] in _FUNCTION))
    return out


def relevance_features(hits: Sequence[Hit], weights: dict[str, float], query: str = "") -> list[tuple[float, ...]]:
    """One feature row (in :data:`FEATURES` order) per hit, in the order given (best first)."""
    if not hits:
        return []
    scores = [h.score for h in hits]
    low, high = min(scores), max(scores)
    covers = [coverage(h.chunk.citation + h.chunk.text, weights) for h in hits]
    spans = [[h.chunk.text[a:b] for a, b in (s.span for s in sentences(h.chunk.text))] for h in hits]
    best_sentences = [max((coverage(s, weights) for s in ss), default=0.0) for ss in spans]
    asked = bigrams(query)

    def share(text: str) -> float:
        return len(asked & bigrams(text)) / len(asked) if asked else 0.0

    pairs = [share(h.chunk.citation + h.chunk.text) for h in hits]
    sentence_pairs = [max((share(s) for s in ss), default=0.0) for ss in spans]
    vectors = [h.scores.get("vector", 0.0) for h in hits]
    hints = [h.scores.get("hints", 0.0) for h in hits]
    laws = [law_of(h) for h in hits]
    rows = []
    for i, h in enumerate(hits):
        kind = h.chunk.kind
        rows.append((
            1.0 if i == 0 else 0.0,
            1.0 / (i + 1),
            (h.score - low) / (high - low) if high > low else 1.0,
            covers[i],
            _relative(covers[i], covers),
            best_sentences[i],
            _relative(best_sentences[i], best_sentences),
            pairs[i],
            _relative(pairs[i], pairs),
            sentence_pairs[i],
            _relative(sentence_pairs[i], sentence_pairs),
            _relative(vectors[i], vectors),
            _relative(hints[i], hints),
            min(hints[i], 1.0),  # rank-based (a sum of 1/(10 + rank)), so it means the same whatever the embedder
            1.0 if "keyword" in h.scores else 0.0,
            1.0 if "vector" in h.scores else 0.0,
            1.0 if "hints" in h.scores else 0.0,
            1.0 if "reference" in h.scores else 0.0,
            1.0 if kind is Kind.case else 0.0,
            1.0 if kind is Kind.interpretation else 0.0,
            1.0 if kind in (Kind.material, Kind.qa) else 0.0,
            1.0 if laws[i] == laws[0] else 0.0,
            laws.count(laws[i]) / len(laws),
            1.0 if h.chunk.source_id and any(o.chunk.source_id == h.chunk.source_id for o in hits[:i]) else 0.0,
        ))
    return rows


def _relative(value: float, values: Sequence[float]) -> float:
    top = max(values)
    return value / top if top > 0 else 0.0


@dataclass(frozen=True)
class RelevanceModel:
    coef: tuple[float, ...]
    intercept: float
    threshold: float = 0.5  # a passage below this probability is not cited (the best one always is)
    ratio: float = 0.0  # ... nor one below this share of the best passage's probability

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        out = []
        for row in rows:
            z = self.intercept + sum(c * f for c, f in zip(self.coef, row, strict=True))
            out.append(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))))
        return out

    def select(self, hits: Sequence[Hit], probabilities: Sequence[float]) -> list[int]:
        """Indexes of the hits to cite, most probable first: the best always; others at or above
        the threshold and the ratio to the best; no article twice; at most MAX_SOURCES, MAX_CASES."""
        if not hits:
            return []
        order = sorted(range(len(hits)), key=lambda i: (-probabilities[i], i))
        best = probabilities[order[0]]
        chosen: list[int] = []
        seen: set[str] = set()
        for i in order:
            p = probabilities[i]
            if chosen and (p < self.threshold or p < self.ratio * best):
                break
            source = hits[i].chunk.source_id or hits[i].chunk.chunk_id
            cases = sum(1 for c in chosen if hits[c].chunk.kind is Kind.case)
            if source in seen or (hits[i].chunk.kind is Kind.case and cases >= MAX_CASES):
                continue
            seen.add(source)
            chosen.append(i)
            if len(chosen) >= MAX_SOURCES:
                break
        return chosen

    def with_cut(self, threshold: float, ratio: float) -> "RelevanceModel":
        return RelevanceModel(self.coef, self.intercept, threshold, ratio)

    def to_json(self, **extra) -> str:
        return json.dumps({"features": list(FEATURES), "coef": list(self.coef), "intercept": self.intercept,
                           "threshold": self.threshold, "ratio": self.ratio, **extra}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "RelevanceModel":
        data = json.loads(text)
        if tuple(data["features"]) != FEATURES:
            raise ValueError("resources/relevance.json was fitted on other features: run python -m evals.answers --fit")
        return cls(tuple(float(c) for c in data["coef"]), float(data["intercept"]), float(data["threshold"]),
                   float(data["ratio"]))


@lru_cache(maxsize=1)
def shipped_relevance() -> RelevanceModel:
    return RelevanceModel.from_json((resources.files("assistant.resources") / RELEVANCE_JSON_NAME)
                                    .read_text(encoding="utf-8"))
