"""Cue solvers: players who know no law and answer from the surface of a question alone —
negation words, length, the odd one out, overlap with the stem, hedges. A question one of
them answers for a reason the cited text does not give is no training (validate.py repairs
or drops it), and evals/quizzes.py measures each of them against chance over a whole set.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.models import Question, QuestionType

NEGATION = re.compile(r"不|未|无|非|没有|禁止|否")
HEDGE = re.compile(r"一般|通常|可以|可能|原则上|往往|酌情|适当|基本")
ABSOLUTE = re.compile(r"一律|必须|凡是|只要|任何|所有|绝对|完全|都|均")
NUMBER = re.compile(r"[0-9０-９]|[一二两三四五六七八九十百千万]+(个月|日|天|年|小时|周|倍|元|人|次|种|项)")
FEATURES: dict[str, re.Pattern] = {"negation": NEGATION, "number": NUMBER, "hedge": HEDGE}

Guess = list[frozenset[int]] | None  # equally likely answer sets, or None: no signal, a blind guess


def statement(question: Question) -> str:
    head, sep, tail = question.stem.partition("认为，")
    return (tail if sep else re.sub(r"^(判断|填空)：", "", question.stem.strip())).rstrip("。；;，,")


def chance(question: Question) -> float:
    """What a blind guess scores: one of the options, or for several answers any non-empty set."""
    n = len(question.options)
    return 1 / (2 ** n - 1) if question.type is QuestionType.multi else 1 / n


def _chars(text: str) -> set[str]:
    return {c for c in text if "\u4e00" <= c <= "\u9fff" or c.isdigit()}


def _similarity(a: str, b: str) -> float:
    x, y = _chars(a), _chars(b)
    return len(x & y) / len(x | y) if x | y else 0.0


def _pick(options: list[str], score: Callable[[int], float], *, multi: bool, top: bool = True) -> Guess:
    """The best-scoring option (ties shared); for several answers those above the mean."""
    values = [score(i) for i in range(len(options))]
    if max(values) == min(values):
        return None
    if multi:
        mean = sum(values) / len(values)
        return [frozenset(i for i, v in enumerate(values) if (v > mean if top else v < mean))]
    best = max(values) if top else min(values)
    return [frozenset([i]) for i, v in enumerate(values) if v == best]


def negation(q: Question) -> Guess:
    """A statement with a negation word is false; the options without one are right."""
    if q.type is QuestionType.true_false:
        return [frozenset([1 if NEGATION.search(statement(q)) else 0])]
    return _pick(q.options, lambda i: -len(NEGATION.findall(q.options[i])), multi=q.type is QuestionType.multi)


def hedge(q: Question) -> Guess:
    """Hedged statements are true, absolute ones false; a hedged option is right."""
    if q.type is QuestionType.true_false:
        text = statement(q)
        score = bool(HEDGE.search(text)) - bool(ABSOLUTE.search(text))
        return None if score == 0 else [frozenset([0 if score > 0 else 1])]
    return _pick(q.options, lambda i: bool(HEDGE.search(q.options[i])) - bool(ABSOLUTE.search(q.options[i])),
                 multi=q.type is QuestionType.multi)


def length(q: Question) -> Guess:
    """The longest option is right (a statement: long ones are true, as if copied from the text)."""
    if q.type is QuestionType.true_false:
        return [frozenset([0 if len(statement(q)) >= 45 else 1])]
    return _pick(q.options, lambda i: len(q.options[i]), multi=q.type is QuestionType.multi)


def odd_one_out(q: Question) -> Guess:
    """The option unlike the others — the only one with a number, a negation or a hedge, else
    the one sharing fewest characters with the rest — is right; for several answers, all but it."""
    if q.type is QuestionType.true_false:
        return None
    n = len(q.options)
    odd = None
    for pattern in FEATURES.values():
        has = [bool(pattern.search(o)) for o in q.options]
        if sum(has) == 1 or sum(has) == n - 1:
            odd = has.index(sum(has) == 1)
            break
    if odd is None:
        closeness = [sum(_similarity(q.options[i], q.options[j]) for j in range(n) if j != i) for i in range(n)]
        if max(closeness) == min(closeness):
            return None
        odd = closeness.index(min(closeness))
    if q.type is QuestionType.multi:
        return [frozenset(i for i in range(n) if i != odd)]
    return [frozenset([odd])]


def stem_overlap(q: Question) -> Guess:
    """The option sharing most characters with the stem is right."""
    if q.type is QuestionType.true_false:
        return None
    stem = _chars(q.stem)
    return _pick(q.options, lambda i: len(_chars(q.options[i]) & stem) / max(len(_chars(q.options[i])), 1),
                 multi=q.type is QuestionType.multi)


def always_true(q: Question) -> Guess:
    """A true/false statement is true (and otherwise a blind guess): how balanced the verdicts are."""
    return [frozenset([0])] if q.type is QuestionType.true_false else None


SOLVERS: dict[str, Callable[[Question], Guess]] = {
    "negation": negation, "length": length, "odd_one_out": odd_one_out, "stem_overlap": stem_overlap,
    "hedge": hedge, "always_true": always_true,
}


def score(solver: Callable[[Question], Guess], q: Question) -> float:
    """The solver's expected score on ``q``: a share of its tied guesses, or chance when it has none."""
    guess = solver(q)
    if not guess:
        return chance(q)
    return sum(g == frozenset(q.answer) for g in guess) / len(guess)


def tells(options: list[str], answer: list[int]) -> list[str]:
    """Surface features that single out the correct options: they are exactly those with (or
    without) a negation, a number or a hedge while the others differ."""
    found = []
    right = frozenset(answer)
    for name, pattern in FEATURES.items():
        has = frozenset(i for i, o in enumerate(options) if pattern.search(o))
        if 0 < len(has) < len(options) and (has == right or frozenset(range(len(options))) - has == right):
            found.append(f"the correct option{'s are' if len(right) > 1 else ' is'} the only one"
                         f"{'s' if len(right) > 1 else ''} {'with' if has == right else 'without'} a {name}")
        elif len(has) == 1 or len(has) == len(options) - 1 and len(options) > 2:
            lone = next(iter(has)) if len(has) == 1 else next(iter(frozenset(range(len(options))) - has))
            found.append(f"option {lone + 1} is the only one {'with' if len(has) == 1 else 'without'} a {name}")
    return found


def echo(stem: str, options: list[str], answer: list[int], *, margin: float = 0.34) -> list[str]:
    """The stem spells out the answer: far more of the correct option's characters are in it
    than of any wrong one's (a fact pattern that names the charge's own words)."""
    held = _chars(stem)
    share = [len(_chars(o) & held) / max(len(_chars(o)), 1) for o in options]
    right = [share[i] for i in answer]
    wrong = [v for i, v in enumerate(share) if i not in answer]
    if len(answer) == 1 and wrong and min(right) - max(wrong) >= margin:
        return [f"the stem holds {min(right):.0%} of the answer's characters, at most {max(wrong):.0%} of another's"]
    return []


def inserted_negation(said: str, quote: str) -> bool:
    """Whether ``said`` is ``quote`` with a negation put in (the one difference, or a word for it)."""
    a, b = re.sub(r"\W", "", said), re.sub(r"\W", "", quote)
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    end = 0
    while end < min(len(a), len(b)) - start and a[len(a) - 1 - end] == b[len(b) - 1 - end]:
        end += 1
    new, old = a[start:len(a) - end], b[start:len(b) - end]
    if not new or len(new) > len(old) + 2:
        return False
    # widen to the whole words around the change (应当 → 不应当 differs only in 不)
    new_w, old_w = a[max(0, start - 1):len(a) - end + 1], b[max(0, start - 1):len(b) - end + 1]
    return len(NEGATION.findall(new_w)) > len(NEGATION.findall(old_w))


def cue_problems(q: Question) -> list[str]:
    """Why a cue solver answers ``q`` for a reason the text does not give, or nothing."""
    problems = []
    if q.type is QuestionType.true_false:
        quote = q.citations[0].quote if q.citations else ""
        if q.answer == [1] and quote and inserted_negation(statement(q), quote):
            problems.append("cue: the false statement is the cited one with a negation put in")
        return problems
    if len(q.options) > 2:
        problems += [f"cue: {t}" for t in tells(list(q.options), list(q.answer)) if t.startswith("the correct")]
        if "＿" not in q.stem:  # a cloze's sentence is its own context, checked when the blank is chosen
            problems += [f"cue: {t}" for t in echo(q.stem, list(q.options), list(q.answer))]
    return problems


def measure(questions: list[Question]) -> dict[str, dict]:
    """Per question kind (and ``all``): how many, the chance score, and each solver's mean score."""
    groups: dict[str, list[Question]] = {"all": list(questions)}
    for q in questions:
        groups.setdefault(q.kind, []).append(q)
    out = {}
    for kind, qs in groups.items():
        row = {"n": len(qs), "chance": sum(chance(q) for q in qs) / len(qs) if qs else 0.0}
        for name, solver in SOLVERS.items():
            row[name] = sum(score(solver, q) for q in qs) / len(qs) if qs else 0.0
        out[kind] = row
    return out
