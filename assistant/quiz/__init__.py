"""Quizzes: generate (templates, or a configured model), validate, assemble, export."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from assistant.models import Question, Quiz
from assistant.quiz.generate import Source
from assistant.quiz.validate import validate


@dataclass
class Tally:
    """What a generation run produced: candidates made, valid ones, and why others were dropped."""

    candidates: int = 0
    valid: int = 0
    dropped: list[str] = field(default_factory=list)


def collect(generator, sources: Sequence[Source], texts: Mapping[str, str], *, per_source: int,
            tally: Tally | None = None) -> list[Question]:
    """Valid questions from each source, at most ``per_source`` each, in source order."""
    tally = tally if tally is not None else Tally()
    out: list[Question] = []
    seen_stems: set[str] = set()
    before = len(getattr(generator, "dropped", []))  # a generator used again reports only what is new
    for source in sources:
        kept = 0
        for question in generator.candidates(source):
            tally.candidates += 1
            problems = validate(question, texts)
            if problems:
                tally.dropped.append(f"{source.title}: {question.kind}: {'；'.join(problems)}")
                continue
            if question.stem in seen_stems:
                continue
            tally.valid += 1
            seen_stems.add(question.stem)
            out.append(question)
            kept += 1
            if kept >= per_source:
                break
    tally.dropped += getattr(generator, "dropped", [])[before:]
    return out


def pick(questions: Sequence[Question], n: int) -> list[Question]:
    """``n`` questions with the kinds mixed: round-robin over kinds, in the order they came."""
    by_kind: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_kind[q.kind].append(q)
    out: list[Question] = []
    while len(out) < n and any(by_kind.values()):
        for kind in list(by_kind):
            if by_kind[kind] and len(out) < n:
                out.append(by_kind[kind].pop(0))
    return out


def quiz_id(topic: str, questions: Sequence[Question], salt: str) -> str:
    h = hashlib.sha256("\x1f".join([topic, salt, *(q.id for q in questions)]).encode())
    return "z" + h.hexdigest()[:11]


def assemble(questions: list[Question], *, title: str, topic: str, line: str, user: str, salt: str,
             dropped: list[str]) -> Quiz:
    return Quiz(id=quiz_id(topic, questions, salt), title=title, topic=topic, line=line, questions=questions,
                created_by=user, dropped=dropped)


def survey(assistant, *, principal, n: int = 5, samples: int = 10, keep: bool = False) -> dict:
    """Five (``n``) template questions for every case in the index: validity, kinds, difficulties,
    and how each cue solver (cues.py) fares against chance per kind (``keep``: the questions too,
    under ``questions_made``, for an evaluation to slice)."""
    import random

    from assistant.quiz.cues import measure
    from assistant.quiz.generate import Pool, TemplateGenerator, case_charge

    sources = [s for s in assistant.quizzes.sources(principal=principal, limit=100000) if s.chunks]
    texts = {c.chunk_id: c.text for s in sources for c in s.chunks}
    generator = TemplateGenerator(Pool(charges=[f[0] for s in sources if (f := case_charge(s))], cases=sources),
                                  seed="survey")
    tally, made, per_case = Tally(), [], defaultdict(int)
    for source in sources:
        questions = pick(collect(generator, [source], texts, per_source=50, tally=tally), n)
        per_case[len(questions)] += 1
        made += questions
    kinds: dict[str, int] = defaultdict(int)
    levels: dict[int, int] = defaultdict(int)
    types: dict[str, int] = defaultdict(int)
    for q in made:
        kinds[q.kind] += 1
        levels[q.difficulty] += 1
        types[q.type.value] += 1
    rng = random.Random(11)
    return {
        **({"questions_made": made} if keep else {}),
        "cases": len(sources), "candidates": tally.candidates, "valid": tally.valid,
        "validity": tally.valid / tally.candidates if tally.candidates else 0.0,
        "withheld": sum(": withheld, " in d for d in tally.dropped),  # no arrangement hid the cue: no candidate
        "questions": len(made), "cases_by_question_count": dict(sorted(per_case.items())),
        "kinds": dict(sorted(kinds.items())), "types": dict(sorted(types.items())),
        "difficulty": dict(sorted(levels.items())), "dropped": tally.dropped[:20],
        "samples": [q.to_dict() for q in rng.sample(made, min(samples, len(made)))],
        "cues": measure(made), "truth": _truth_mix(made),
    }


def _truth_mix(questions: Sequence[Question]) -> dict:
    """True/false statements: how many are true, and how often each side has a negation word."""
    from assistant.quiz.cues import NEGATION, statement

    tf = [q for q in questions if q.type.value == "true_false"]
    true = [q for q in tf if q.answer == [0]]
    false = [q for q in tf if q.answer == [1]]

    def negated(qs):
        return sum(bool(NEGATION.search(statement(q))) for q in qs) / len(qs) if qs else 0.0

    return {"statements": len(tf), "true": len(true), "negation_in_true": negated(true),
            "negation_in_false": negated(false)}
