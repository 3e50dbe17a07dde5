"""Retrieval metrics at the source_id level, answer metrics (gold citations, citation
precision, refusal rates by threshold), and the query files they run on.

Used by ``jianxue eval retrieval`` / ``eval answers`` and by evals/retrieval.py / answers.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import CorpusError

KS = (1, 5, 10)


@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    gold: tuple[str, ...]
    item: str  # the labelled item this query comes from (for cross-validation)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def queries_from_file(path: Path) -> dict[str, list[Query]]:
    """Query sets in a file, by schema: stard-like, CAIL-like, or guiding-case retrieval (two sets)."""
    try:
        sets = _queries(path)
        if not any(sets.values()):
            raise KeyError("gold_article_ids")
        return sets
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{path}: not a JSONL file ({exc})") from None
    except (KeyError, TypeError, AttributeError):
        raise CorpusError(f"{path}: each line needs qid, a question (or fact, or query) and gold_article_ids") from None


def _queries(path: Path) -> dict[str, list[Query]]:
    rows = read_jsonl(path)
    if not rows:
        return {}
    first = rows[0]
    if "query_key_points" in first:
        return {
            "gc_key_points": [Query(r["qid"], r["query_key_points"], tuple(r["gold_article_ids"]), r["case_id"]) for r in rows],
            "gc_facts": [Query(r["qid"] + ":facts", r["query_facts"], tuple(r["gold_article_ids"]), r["case_id"]) for r in rows],
        }
    field = "question" if "question" in first else "fact" if "fact" in first else "query"
    name = path.stem
    return {name: [Query(str(r["qid"]), r[field], tuple(r["gold_article_ids"]), str(r["qid"]))
                   for r in rows if r.get("gold_article_ids")]}


def metrics(ranked: list[str], gold: Iterable[str]) -> dict[str, float]:
    gold = set(gold)
    out = {f"recall@{k}": len(gold & set(ranked[:k])) / len(gold) for k in KS}
    first = next((i for i, s in enumerate(ranked[:10]) if s in gold), None)
    out["mrr@10"] = 0.0 if first is None else 1.0 / (first + 1)
    dcg = sum(1.0 / math.log2(i + 2) for i, s in enumerate(ranked[:10]) if s in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), 10)))
    out["ndcg@10"] = dcg / ideal if ideal else 0.0
    return out


def unique_sources(source_ids: Iterable[str | None], n: int = 10) -> list[str]:
    out: list[str] = []
    for s in source_ids:
        if s and s not in out:
            out.append(s)
            if len(out) == n:
                break
    return out


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]} if rows else {}


def labelled_examples(path: Path) -> list[tuple[str, list[str]]]:
    """(text, cited source ids) from a labelled file: stard-like questions, CAIL-like facts,
    guiding cases (key points and facts), or generic {"text", "cites"} lines."""
    from assistant.errors import CorpusError

    out: list[tuple[str, list[str]]] = []
    try:
        rows = read_jsonl(path)
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{path}: not a JSONL file of labelled examples ({exc})") from None
    for row in rows:
        cites = row.get("gold_article_ids") or row.get("cites") or []
        if not isinstance(cites, list) or not cites:
            continue
        texts = [row.get(k) for k in ("question", "fact", "text", "key_points", "facts")]
        out += [(t, [str(c) for c in cites]) for t in texts if isinstance(t, str) and t.strip()]
    return out


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """One question put to ask() with refusals by threshold switched off."""

    support: float
    refused: bool  # declined anyway (foreign law, a named article that is not indexed, nothing found)
    cited: tuple[str, ...]  # source ids (or labels) of the citations, the first sentence's source first
    gold: tuple[str, ...] = ()
    question: str = ""
    features: tuple[float, ...] = ()  # the support features (assistant/coverage.py)
    kinds: tuple[str, ...] = ()  # the kind of each citation (statute, interpretation, case …)

    def articles(self) -> list[str]:
        """The cited provisions (not cases or materials), each once."""
        kinds = self.kinds or ("statute",) * len(self.cited)
        return list(dict.fromkeys(s for s, k in zip(self.cited, kinds, strict=True)
                                  if k in ("statute", "interpretation")))


def ask_all(assistant, questions: list[tuple[str, tuple[str, ...]]], *, principal,
            features: bool = False) -> list[Asked]:
    """Ask every question with ``min_support`` at 0, so thresholds can be swept afterwards;
    ``features`` also records the support features (a second search each), to refit the model."""
    answerer = assistant.answerer
    original = answerer.settings
    answerer.settings = original.model_copy(update={"min_support": 0.0})
    try:
        out = []
        for text, gold in questions:
            answer = assistant.ask(text, principal=principal)
            out.append(Asked(answer.support, answer.refused,
                             tuple(c.source_id or c.label for c in answer.citations), gold, text,
                             answerer.coverage(text, principal=principal) if features else (),
                             tuple(c.kind for c in answer.citations)))
        return out
    finally:
        answerer.settings = original


def answer_scores(in_corpus: list[Asked], out_of_corpus: list[Asked], threshold: float) -> dict[str, float]:
    """At one refusal threshold: gold citations, citation precision (cited articles that are gold),
    the share whose first sentence comes from a gold article, sources per answer, refusal rates."""
    def declined(a: Asked) -> bool:
        return a.refused or a.support < threshold

    answered = [a for a in in_corpus if not declined(a)]
    labelled = [a for a in in_corpus if a.gold]
    articles = [(a, a.articles()) for a in answered if a.gold]
    cited = sum(len(x) for _, x in articles)
    good = sum(1 for a, x in articles for s in x if s in a.gold)
    n = len(labelled)
    return {
        "threshold": threshold,
        "gold_cited": sum(1 for a, x in articles if set(x) & set(a.gold)) / n if n else 0.0,
        "gold_cited_answered": (sum(1 for a, x in articles if set(x) & set(a.gold)) / len(articles)
                                if articles else 0.0),
        "citation_precision": good / cited if cited else 0.0,
        "first_gold": sum(1 for a, _ in articles if a.cited and a.cited[0] in a.gold) / n if n else 0.0,
        "sources": sum(len(dict.fromkeys(a.cited)) for a in answered) / len(answered) if answered else 0.0,
        "one_source": sum(len(dict.fromkeys(a.cited)) == 1 for a in answered) / len(answered) if answered else 0.0,
        "false_refusal": sum(map(declined, in_corpus)) / len(in_corpus) if in_corpus else 0.0,
        "refusal_out_of_corpus": sum(map(declined, out_of_corpus)) / len(out_of_corpus) if out_of_corpus else 0.0,
    }


def out_of_corpus_questions(path: Path) -> list[str]:
    """A JSONL file of {question} (or {query}) lines the corpus cannot answer."""
    try:
        rows = read_jsonl(path)
        return [str(r.get("question") or r["query"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorpusError(f"{path}: each line must be a JSON object with 'question' ({type(exc).__name__})") from None
