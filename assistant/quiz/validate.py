"""Checks every question from any generator must pass before anyone sees it: its form, its
quotes, its answer against the cited text, and the cue check (cues.py): a question a player
who knows no law answers from its surface alone is dropped with the reason."""

from __future__ import annotations

import re
from collections.abc import Mapping

from assistant.models import Question, QuestionType
from assistant.quiz.cues import cue_problems
from assistant.quiz.vocabulary import DECISIONS, TRUE_FALSE
from assistant.verify import squash

BANNED = re.compile(r"以上(都|皆|均)(是|对|不是|不对|正确|错误)|以上选项|全部正确|都不对|all of the above|none of the above",
                    re.IGNORECASE)


def validate(question: Question, texts: Mapping[str, str]) -> list[str]:
    """Problems with ``question``; ``texts`` maps chunk id -> the passage text as it is now."""
    problems: list[str] = []
    q = question
    options = [o.strip() for o in q.options]
    if not q.stem.strip():
        problems.append("empty stem")
    if not 2 <= len(options) <= 6:
        problems.append(f"{len(options)} options (2 to 6 allowed)")
    if any(not o for o in options):
        problems.append("an empty option")
    if len(set(options)) != len(options):
        problems.append("options are not distinct")
    if any(BANNED.search(o) for o in options):
        problems.append("an 'all/none of the above' option")
    if any(not 0 <= i < len(options) for i in q.answer) or len(set(q.answer)) != len(q.answer):
        problems.append("answer indexes outside the options")
        return problems
    expected = {QuestionType.single: (1, 1), QuestionType.case_analysis: (1, 1), QuestionType.true_false: (1, 1),
                QuestionType.multi: (2, max(len(options) - 1, 2))}[q.type]
    if not expected[0] <= len(q.answer) <= expected[1]:
        problems.append(f"{len(q.answer)} correct options for a {q.type.value} question")
    if q.type is QuestionType.true_false and options != TRUE_FALSE:
        problems.append("a true/false question has the options 正确 / 错误")
    if not q.citations:
        problems.append("no citation")
    quotes = []
    for c in q.citations:
        text = texts.get(c.chunk_id)
        if text is None:
            problems.append(f"cited passage {c.label} is not in the index")
        elif not c.quote or squash(c.quote) not in squash(text):
            problems.append(f"quote not found verbatim in {c.label}")
        else:
            quotes.append(c.quote)
    if problems:
        return problems
    cited = "\n".join(texts[c.chunk_id] for c in q.citations)
    correct = [options[i] for i in q.answer]
    wrong = [o for i, o in enumerate(options) if i not in q.answer]
    if q.type is QuestionType.true_false:
        statement = _statement(q.stem)
        says = squash(statement) in squash(cited)
        if (q.answer == [0]) != says:
            problems.append("the true/false answer is not what the cited text says")
    else:
        for option in correct:
            if not _supported(option, quotes, cited, q):
                problems.append(f"the answer {option!r} is not supported by the cited text")
        if q.type is QuestionType.multi:
            # a wrong option may be borrowed from another case (cited for where it comes from):
            # it must not be what this case says
            own = "\n".join(texts[c.chunk_id] for c in q.citations if c.doc_id == q.citations[0].doc_id)
            for option in wrong:
                if squash(option) in squash(own):
                    problems.append(f"the wrong option {option!r} is what the cited text says")
        for option in correct:
            if len(option) >= 2 and option in q.stem and "＿" not in q.stem:
                problems.append(f"the stem gives the answer away ({option!r})")
    if "＿" in q.stem and q.kind == "cloze":
        filled = _strip_prefix(q.stem).replace("＿＿＿＿", correct[0])
        if squash(filled) not in squash(cited):
            problems.append("the completed cloze sentence is not in the cited text")
    return problems + cue_problems(q)


def _supported(option: str, quotes: list[str], cited: str, q: Question) -> bool:
    if any(squash(option) in squash(x) for x in quotes) or squash(option) in squash(cited):
        return True
    if q.kind == "article":
        return any(c.label.startswith(option) for c in q.citations)
    decision = dict((d[0], d[1]) for d in DECISIONS).get(option)
    if decision and any(re.search(decision, x) for x in quotes):
        return True
    # free wording (LLM): most of the option's character pairs occur in the quote
    pairs = {option[i:i + 2] for i in range(len(option) - 1) if re.match(r"[\u4e00-\u9fff]{2}", option[i:i + 2])}
    joined = "".join(quotes)
    return bool(pairs) and sum(p in joined for p in pairs) / len(pairs) >= 0.6


def _statement(stem: str) -> str:
    head, sep, tail = stem.partition("认为，")
    return (tail if sep else _strip_prefix(stem)).rstrip("。；;，,")


def _strip_prefix(stem: str) -> str:
    return re.sub(r"^(判断|填空)：", "", stem.strip())
