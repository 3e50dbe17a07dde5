"""False statements and wrong options that carry no surface tell.

A false statement is never a true one with a 不 put in (the cue solvers of cues.py would
answer it without reading the case). It is the true one with a word of the legal vocabulary
exchanged for its neighbour — the subject, a period or amount, a decision of the same stage,
a confusable crime, the modal or another legal pair — or, where the statement already says
no, with its negation removed, so that 不 is as common in false statements as in true ones.
Options of a multiple-answer question may also be borrowed from the key points of another
case of the same line: true there, not what this case holds, and the explanation says so.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.models import Chunk
from assistant.quiz.cues import NEGATION
from assistant.quiz.source import KEY_SECTIONS, TEACHING_SECTIONS, Pool, Source, ordered, sentences
from assistant.quiz.vocabulary import (
    DIGITS,
    NUMBER_SHIFT,
    PERIOD,
    REMOVABLE_NEGATIONS,
    STAGES,
    SUBJECT_SWAPS,
    WORD_SWAPS,
    confusable_crimes,
    crime_groups,
    legal_terms,
)


@dataclass(frozen=True)
class Falsehood:
    """A false version of a true statement: its text, how it was made, and what was changed."""

    text: str
    method: str  # negation_removed | subject | period | decision | crime | word
    was: str
    now: str

    @property
    def note(self) -> str:
        return f"原文为“{self.was}”，题中改为“{self.now}”"


def _replace_at(sentence: str, at: int, word: str, new: str, method: str) -> Falsehood:
    return Falsehood(sentence[:at] + new + sentence[at + len(word):], method, word, new)


def remove_negation(sentence: str) -> Falsehood | None:
    """The statement with its first negation word taken out (不应当 → 应当, 不构成 → 构成 …)."""
    best = None
    for word, plain in REMOVABLE_NEGATIONS:
        at = sentence.find(word)
        if at >= 0 and (best is None or at < best[0] or (at == best[0] and len(word) > len(best[1]))):
            best = (at, word, plain)
    if best is None:
        return None
    at, word, plain = best
    if sentence[max(0, at - 1):at] in ("不", "并") or sentence[at + len(word):at + len(word) + 1] == "不":
        return None  # 不得不, 并不 …: taking one out leaves a double negation or nonsense
    return _replace_at(sentence, at, word, plain, "negation_removed")


def _inside_crime_name(sentence: str, at: int, word: str) -> bool:
    return bool(re.match(r"[\u4e00-\u9fff]{0,6}罪", sentence[at + len(word):]))


def substitutions(sentence: str, *, context: str) -> list[Falsehood]:
    """Every exchange within the legal vocabulary this statement allows. ``context`` is the
    whole case: a crime or decision it names anywhere is no wrong answer for it."""
    out: list[Falsehood] = []
    for word, targets in SUBJECT_SWAPS.items():
        at = sentence.find(word)
        if at < 0 or any(t in sentence for t in targets):
            continue
        if sentence.count(word) == 1:
            out.append(_replace_at(sentence, at, word, targets[len(sentence) % len(targets)], "subject"))
    for pattern in (PERIOD, DIGITS):
        m = pattern.search(sentence)
        if m:
            value = m.group(1)
            new = NUMBER_SHIFT.get(value) if not value.isdigit() else str(int(value) * 2 if int(value) < 10 else
                                                                           int(value) // 2)
            if new and new != value:
                out.append(_replace_at(sentence, m.start(1), value, new, "period"))
                break
    for stage in STAGES.values():
        for name, _ in stage:
            at = sentence.find(name)
            if at < 0 or any(o != name and name in o and o in sentence for o, _ in stage):
                continue
            negated = "不" in name
            others = [o for o, mention in stage if o != name and ("不" in o) == negated
                      and o not in name and name not in o and not re.search(mention, context)]
            if others:
                out.append(_replace_at(sentence, at, name, others[0], "decision"))
                break
    crimes = set(legal_terms()[0]) | set(crime_groups())
    for name in sorted(crimes, key=len, reverse=True):
        at = sentence.find(name)
        if at < 0 or sentence.count(name) != 1 or (at > 0 and re.match(r"[\u4e00-\u9fff]", sentence[at - 1])
                                                   and sentence[at - 1] not in "构成犯以为定认涉及和与或"):
            continue
        others = [c for c in confusable_crimes(name) if c not in context]
        if others:
            out.append(_replace_at(sentence, at, name, others[0], "crime"))
        break
    for word, new in WORD_SWAPS:
        at = sentence.find(word)
        if at < 0 or new in sentence or _inside_crime_name(sentence, at, word):
            continue
        out.append(_replace_at(sentence, at, word, new, "word"))
        break
    # an exchange that brings a negation word in (非法持有 for 贩卖) is a tell like an inserted 不
    return [f for f in out if f.text != sentence and len(NEGATION.findall(f.now)) <= len(NEGATION.findall(f.was))]


def falsehoods(sentence: str, *, context: str) -> list[Falsehood]:
    """All false versions of ``sentence`` without a surface tell, one per method."""
    found = substitutions(sentence, context=context)
    removed = remove_negation(sentence)
    if removed is not None:
        found.append(removed)
    return found


def pick_falsehood(found: Sequence[Falsehood], rng: random.Random) -> Falsehood:
    """One method at random, so no method (and no word it brings) dominates the false statements."""
    return found[rng.randrange(len(found))]


def statements(source: Source) -> list[tuple[Chunk, str]]:
    """The key-point and guidance sentences a statement question may quote (no quoted provision:
    never put words into its mouth)."""
    return [(chunk, s) for chunk in ordered(source, TEACHING_SECTIONS) for s in sentences(chunk, low=14, high=200)
            if "“" not in s and "「" not in s]


def bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1) if re.match(r"[\u4e00-\u9fff]{2}", text[i:i + 2])}


@lru_cache(maxsize=4096)
def _key_sentences(doc_id: str, chunks: tuple[Chunk, ...]) -> tuple[tuple[Chunk, str], ...]:
    return tuple((c, s) for c in chunks if c.locator in KEY_SECTIONS for s in sentences(c, low=14, high=200)
                 if "“" not in s and "「" not in s)


def borrowed(source: Source, pool: Pool, *, length: int, n: int, rng: random.Random) -> list[tuple[Chunk, str]]:
    """Key-point sentences of other cases of the same line on the nearest topics, of about
    ``length`` characters, that this case does not say (little of their wording is in it)."""
    own = bigrams(source.section((*TEACHING_SECTIONS,)))
    everything = bigrams("".join(c.text for c in source.chunks))
    scored = []
    for other in pool.cases:
        if other.doc_id == source.doc_id or other.line != source.line or other.kind is not source.kind:
            continue
        for chunk, sentence in _key_sentences(other.doc_id, tuple(other.chunks)):
            words = bigrams(sentence)
            if not words or not 0.6 * length <= len(sentence) <= 1.5 * length:
                continue
            if len(words & everything) / len(words) >= 0.5:
                continue  # this case may well say it too
            scored.append((len(words & own) / len(words) + rng.random() * 0.05, chunk, sentence))
    scored.sort(key=lambda x: -x[0])
    return [(c, s) for _, c, s in scored[:n]]


def _chars(text: str) -> set[str]:
    return {c for c in text if "\u4e00" <= c <= "\u9fff" or c.isdigit()}


def _jaccard(a: str, b: str) -> float:
    x, y = _chars(a), _chars(b)
    return len(x & y) / len(x | y) if x | y else 0.0


def _wins(values: Sequence[float], of: int) -> tuple[float, float]:
    """What "pick the highest" and "pick the lowest" score when ``values[of]`` is the answer (ties shared)."""
    top, low = max(values), min(values)
    return ((values[of] == top) / values.count(top), (values[of] == low) / values.count(low))


def surface(options: Sequence[str], stem: str) -> list[list[float]]:
    """What a player who knows no law sees of each option: its length, how much of it the stem
    already holds, and how close it is to the other options."""
    held = _chars(stem)
    return [[float(len(o)) for o in options],
            [len(_chars(o) & held) / max(len(_chars(o)), 1) for o in options],
            [sum(_jaccard(o, p) for p in options if p is not o) for o in options]]


class Balance:
    """How often, over the questions made so far, the answer was the highest and the lowest of
    the options by each surface measure (length, overlap with the stem, closeness to the others).
    The next question's options are chosen to bring each share toward one in n: a per-question
    draw cannot, as the answer of a long term can rarely be the shortest option, and a lone
    draw leaves the shares to chance on a few questions."""

    def __init__(self) -> None:
        self.counts: dict[str, list[float]] = {}  # kind -> [questions, then high and low wins per measure]

    def cost(self, kind: str, wins: Sequence[tuple[float, float]], n: int) -> float:
        row = self.counts.get(kind) or [0.0] * (1 + 2 * len(wins))
        fair = (row[0] + 1) / n
        return sum(abs(row[1 + 2 * i] + high - fair) + abs(row[2 + 2 * i] + low - fair)
                   for i, (high, low) in enumerate(wins))

    def add(self, kind: str, wins: Sequence[tuple[float, float]]) -> None:
        row = self.counts.setdefault(kind, [0.0] * (1 + 2 * len(wins)))
        row[0] += 1
        for i, (high, low) in enumerate(wins):
            row[1 + 2 * i] += high
            row[2 + 2 * i] += low


def choose_options(correct: Sequence[str], candidates: Sequence[str], *, k: int, rng: random.Random,
                   tells: Callable[[list[str], list[int]], list[str]], stem: str = "", width: int = 24,
                   prefer_same: Callable[[str], float] | None = None, balance: Balance | None = None,
                   kind: str = "") -> list[str] | None:
    """``k`` wrong options from ``candidates`` (most plausible first) such that no surface tell
    picks out the correct ones (``tells``), the correct ones are of the same form as the others
    where candidates allow (``prefer_same``), and the answer is the longest, the shortest, the
    one most like the stem, the odd one out … about as often as chance over the questions made
    (``balance``; without one, its place in each order is drawn at random). None when no set of
    ``k`` is free of tells."""
    pool = [c for c in dict.fromkeys(candidates) if c and c not in correct][:width]
    if len(pool) < k:
        return None
    targets = [rng.randrange(k + 1) for _ in range(3)]  # the correct option's place in each surface order
    best = None
    combos = list(itertools.combinations(range(len(pool)), k))
    if len(combos) > 400:  # the most plausible ones, and a sample of the rest
        combos = combos[:100] + rng.sample(combos[100:], 300)
    for combo in combos:
        chosen = [pool[i] for i in combo]
        options = [*correct, *chosen]
        if tells(options, list(range(len(correct)))):
            continue
        unlike = sum(1 - prefer_same(c) for c in chosen) if prefer_same else 0
        wins = [_wins(values, 0) for values in surface(options, stem)]
        if balance is not None:
            miss = balance.cost(kind, wins, k + 1)
        else:
            miss = sum(abs(high - (t == 0)) + abs(low - (t == k)) for (high, low), t in zip(wins, targets, strict=True))
        score = (round(miss * 2 + unlike + sum(combo) / (4 * k)), sum(combo) + rng.random())  # plausible first
        if best is None or score < best[0]:
            best = (score, chosen, wins)
    if best is None:
        return None
    if balance is not None:
        balance.add(kind, best[2])
    return best[1]
