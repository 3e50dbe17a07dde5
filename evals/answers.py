"""Answer evaluation: STARD questions over all statutes, and out-of-corpus questions.

    python -m evals.answers [--limit N] [--fit] [--out evals/reports/answers.md]

Reports, at the configured refusal threshold (answer.min_support) and on a sweep around it:
the share of answers whose citations include a gold article, citation precision (cited
articles that are gold), false refusals on the in-corpus questions (target <= 5%) and the
refusal rate on evals/data/out_of_corpus.jsonl (target >= 95%). The answers are
extractive (no model): that is what a fresh install does, and what the LLM path falls
back to.

Calibration: the support score is a logistic model over three features
(assistant/coverage.py). Five-fold cross-validation over both sets fits the model and
chooses the threshold (the lowest that declines >= 95% of the out-of-corpus questions) on
four folds and measures the fifth, so the reported figures are not measured on the
questions that chose them. ``--fit`` then fits on everything and writes
assistant/resources/support.json; set the printed threshold as answer.min_support.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from assistant.coverage import SupportModel
from assistant.evaluation import Asked, answer_scores, ask_all, out_of_corpus_questions, queries_from_file
from assistant.models import Principal
from evals.common import REPO, REPORTS, shared_data
from evals.retrieval import build_index

OUT_OF_CORPUS = REPO / "evals" / "data" / "out_of_corpus.jsonl"
THRESHOLDS = [round(i / 100, 2) for i in range(101)]
SUPPORT_JSON = REPO / "assistant" / "resources" / "support.json"
FOLDS = 5
TARGET_REFUSAL, TARGET_FALSE = 0.95, 0.05


def fit(asked: list[tuple[Asked, int]]) -> SupportModel:
    """Logistic regression on the support features: in-corpus (1) against out-of-corpus (0).
    Questions declined anyway (foreign law, a named article that is not indexed) are left out."""
    from sklearn.linear_model import LogisticRegression

    rows = [(a.features, label) for a, label in asked if not a.refused]
    model = LogisticRegression(class_weight="balanced", max_iter=1000)
    model.fit(np.array([f for f, _ in rows]), np.array([label for _, label in rows]))
    return SupportModel(tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]))


def rescored(asked: list[Asked], model: SupportModel) -> list[Asked]:
    """The same answers scored by another model; a question that names an indexed article or
    case keeps its support of exactly 1 (ask() gives it that without the model)."""
    return [a if a.support == 1.0 else replace(a, support=model(a.features)) for a in asked]


def cross_validated(inside: list[Asked], outside: list[Asked]) -> dict[float, dict[str, float]]:
    """For every threshold: the model fitted on four folds, measured on the fifth; averaged
    over the five. The threshold is then chosen on these held-out figures."""
    rng = random.Random(7)
    a, b = inside[:], outside[:]
    rng.shuffle(a)
    rng.shuffle(b)
    per_threshold: dict[float, list[dict[str, float]]] = {t: [] for t in THRESHOLDS}
    for k in range(FOLDS):
        model = fit([(x, 1) for i, x in enumerate(a) if i % FOLDS != k]
                    + [(x, 0) for i, x in enumerate(b) if i % FOLDS != k])
        test_in = rescored([x for i, x in enumerate(a) if i % FOLDS == k], model)
        test_out = rescored([x for i, x in enumerate(b) if i % FOLDS == k], model)
        for t in THRESHOLDS:
            per_threshold[t].append(answer_scores(test_in, test_out, t))
    return {t: {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]} for t, rows in per_threshold.items()}


def choose_held_out(cv: dict[float, dict[str, float]]) -> float:
    """The lowest threshold whose held-out out-of-corpus refusal reaches the target."""
    return next((t for t in THRESHOLDS if cv[t]["refusal_out_of_corpus"] >= TARGET_REFUSAL), THRESHOLDS[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N STARD questions")
    parser.add_argument("--fit", action="store_true", help="refit assistant/resources/support.json on all questions")
    parser.add_argument("--out", type=Path, default=REPORTS / "answers.md")
    args = parser.parse_args()

    data = shared_data()
    assistant, _ = build_index(data)
    queries = [q for qs in queries_from_file(data / "eval" / "stard_train.jsonl").values() for q in qs]
    queries = queries[: args.limit] if args.limit else queries
    admin = Principal.local_admin()
    started = time.perf_counter()
    inside = ask_all(assistant, [(q.text, q.gold) for q in queries], principal=admin, features=True)
    outside = ask_all(assistant, [(q, ()) for q in out_of_corpus_questions(OUT_OF_CORPUS)], principal=admin,
                      features=True)
    seconds = time.perf_counter() - started
    cv_sweep = cross_validated(inside, outside)
    best = choose_held_out(cv_sweep)
    cv = cv_sweep[best]
    if args.fit:
        model = fit([(x, 1) for x in inside] + [(x, 0) for x in outside])
        inside, outside = rescored(inside, model), rescored(outside, model)
        SUPPORT_JSON.write_text(model.to_json(threshold=best, fitted_on=f"{len(inside)} STARD + {len(outside)} "
                                              "out-of-corpus questions, use-m3") + "\n", encoding="utf-8")
        print(f"wrote {SUPPORT_JSON}; set answer.min_support = {best}")
    configured = assistant.settings.answer.min_support
    at_setting = answer_scores(inside, outside, configured)
    sweep = [answer_scores(inside, outside, t) for t in THRESHOLDS]
    result = {"questions": len(inside), "out_of_corpus": len(outside), "seconds": round(seconds, 1),
              "min_support": configured, "at_setting": at_setting, "calibrated": best,
              "cross_validated": cv}
    print(json.dumps(result, ensure_ascii=False, indent=2))

    ok = lambda v, target, low: "met" if (v <= target if low else v >= target) else "MISSED"  # noqa: E731
    rows = "\n".join(
        f"| {s['threshold']:.3f} | {s['gold_cited']:.3f} | {s['citation_precision']:.3f} | {s['false_refusal']:.3f} "
        f"| {s['refusal_out_of_corpus']:.3f} |" for s in sweep if round(s["threshold"] * 100) % 5 == 0 or abs(s["threshold"] - best) <= 0.05)
    missed = [a for a in outside if not (a.refused or a.support < configured)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Answer evaluation\n\n"
        f"`python -m evals.answers` on {time.strftime('%Y-%m-%d')}: {len(inside)} STARD questions "
        "(../shared/data/eval/stard_train.jsonl) over all of statutes.jsonl (737 laws, embedder use-m3), and "
        f"{len(outside)} out-of-corpus questions (evals/data/out_of_corpus.jsonl: weather, sports, daily life, "
        "health, technology, finance, culture, science, foreign law, English, small talk). Extractive answers "
        f"(no model), {seconds / (len(inside) + len(outside)) * 1000:.0f} ms per question.\n\n"
        f"## At the setting `JIANXUE_ANSWER__MIN_SUPPORT={configured:g}`\n\n"
        "| measure | value | target |\n|---|---|---|\n"
        f"| answers citing a gold article (share of all questions) | {at_setting['gold_cited']:.3f} | |\n"
        f"| ... of the questions answered | {at_setting['gold_cited_answered']:.3f} | |\n"
        f"| citation precision (cited articles that are gold) | {at_setting['citation_precision']:.3f} | |\n"
        f"| false refusal on in-corpus questions | {at_setting['false_refusal']:.3f} | <= {TARGET_FALSE} "
        f"({ok(at_setting['false_refusal'], TARGET_FALSE, True)}) |\n"
        f"| refusal on out-of-corpus questions | {at_setting['refusal_out_of_corpus']:.3f} | >= {TARGET_REFUSAL} "
        f"({ok(at_setting['refusal_out_of_corpus'], TARGET_REFUSAL, False)}) |\n\n"
        "## Calibration\n\n"
        f"The threshold is **{best:g}**: the lowest whose held-out out-of-corpus refusal reaches 95% under "
        f"{FOLDS}-fold cross-validation over both sets (the model fitted on four folds, measured on the fifth, "
        f"averaged). Held out at {best:g}: false refusal {cv['false_refusal']:.3f}, out-of-corpus refusal "
        f"{cv['refusal_out_of_corpus']:.3f}, gold cited {cv['gold_cited']:.3f}. The table below is the shipped "
        "model (fitted on all questions) on all questions.\n\n"
        "| min_support | gold cited | citation precision | false refusal | out-of-corpus refused |\n"
        f"|---|---|---|---|---|\n{rows}\n\n"
        "Support (assistant/coverage.py) is a logistic model over three features of the question and its "
        "passages: the IDF-weighted share of its key terms the corpus knows, the similarity of the nearest "
        "passage, and how much more often its two most legal words occur in the corpus than in general Chinese "
        f"(jieba's dictionary). Model: {json.dumps(json.loads(SUPPORT_JSON.read_text(encoding='utf-8')), ensure_ascii=False)}. "
        "A question that names an article or case that is indexed has support 1, one that names only missing "
        "ones is declined, and questions about foreign law are declined by rule.\n\n"
        f"Out-of-corpus questions answered at the setting: {len(missed)}"
        + ("".join(f"\n- {a.question} (support {a.support:.2f})" for a in missed) if missed else "") + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
