"""Sentence-level extraction for extractive answers: which sentences of a passage answer the
question, kept verbatim and in the legal structure a reader needs.

A passage is cut into sentences (``text.sentence_spans``: masked instructions are never a
sentence). The excerpt of a passage is the window of one or two consecutive sentences that
covers most of the question's key terms (IDF-weighted; layperson words also count through
the legal terms they usually mean, 坐牢 -> 有期徒刑). Legal structure is kept:

- an item (（三）……) that starts the excerpt carries its list's lead-in (the sentence that
  ends in ：, e.g. 「有下列情形之一的，……：」), so that it reads correctly;
- an excerpt that ends in a lead-in carries the items it introduces, as far as they fit;
- a question that names a 款 (第二款) gets that paragraph; a short provision is quoted whole.

Every piece is an exact span of the passage: the answer quotes each piece as it stands and
joins two pieces that are not adjacent with an ellipsis outside the quotation marks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from assistant.ingest.legal import ITEM_RE
from assistant.models import Chunk, Kind
from assistant.numerals import cn_to_int
from assistant.text import MASKED, looks_like_instruction, sentence_spans

PART_CREDIT = 0.5  # a term that occurs only in part earns this much of the share of its pairs that occur
LAY_WEIGHT = 0.6  # a legal term that a layperson word stands for counts this much of its IDF
WINDOW_CHARS = 200  # two sentences together at most this long
LIST_CHARS = 320  # a lead-in with its items at most this long
WHOLE_CHARS = 160  # a provision this short is quoted whole
_CLAUSE_IN = re.compile(r"第([零〇一二三四五六七八九十两\d]+)款")
_COLON = ("：", ":")

Span = tuple[int, int]


@dataclass(frozen=True)
class Excerpt:
    """The pieces of one passage that an answer quotes (exact spans, in order)."""

    text: str
    spans: tuple[Span, ...]
    score: float = 0.0  # key-term coverage of the pieces, 0..1

    def pieces(self) -> list[str]:
        return [self.text[a:b] for a, b in self.spans]

    @property
    def quote(self) -> str:
        """One exact span of the passage from the first piece to the last."""
        return self.text[self.spans[0][0]:self.spans[-1][1]].strip()

    def quoted(self) -> str:
        """The pieces in quotation marks (corner brackets when a piece holds quotation marks),
        an ellipsis between pieces that do not touch, line breaks left out."""
        out = []
        for i, piece in enumerate(self.pieces()):
            if i and self.text[self.spans[i - 1][1]:self.spans[i][0]].strip():
                out.append("……")
            piece = re.sub(r"\s*\n\s*", "", piece)  # one line per source: the items stay marked （一）（二）
            out.append(f"「{piece}」" if "“" in piece or "”" in piece else f"“{piece}”")
        return "".join(out)


# -- key terms ----------------------------------------------------------------------------------


def expanded_weights(weights: dict[str, float], query: str, lay: dict[str, str],
                     idf: "callable[[str], float]") -> dict[str, float]:
    """The question's key terms (term -> IDF) plus the legal terms its layperson words mean."""
    out = dict(weights)
    for word, terms in lay.items():
        if word in query:
            for term in terms.split():
                if term not in out:
                    out[term] = LAY_WEIGHT * idf(term)
    return out


def coverage(text: str, weights: dict[str, float]) -> float:
    """The IDF-weighted share of the key terms that occur in ``text`` (0..1). A term that does
    not occur whole earns half of the share of its character pairs that do: 诉前检察建议 is
    partly there in 「检察建议书」."""
    total = sum(weights.values())
    if not total:
        return 0.0
    held = 0.0
    for term, weight in weights.items():
        if term in text:
            held += weight
        elif len(term) > 2:
            pairs = [term[i:i + 2] for i in range(len(term) - 1)]
            held += weight * PART_CREDIT * sum(p in text for p in pairs) / len(pairs)
    return held / total


# -- sentences with their structure ---------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    span: Span
    item: bool  # the sentence is (or continues) a list item （一）……
    colon: bool  # it ends in ： and so introduces what follows
    lead_in: int | None  # index of the sentence that introduces its list


def sentences(text: str) -> list[Sentence]:
    spans = [(a, b) for a, b in sentence_spans(text) if not looks_like_instruction(text[a:b])]
    out: list[Sentence] = []
    for a, b in spans:
        line = text[text.rfind("\n", 0, a) + 1:]
        item = bool(ITEM_RE.match(text[a:b])) or bool(ITEM_RE.match(line))
        colon = text[a:b].rstrip().endswith(_COLON)
        out.append(Sentence((a, b), item, colon, None))
    # an item's lead-in: the nearest earlier sentence ending in ： with only items in between
    result: list[Sentence] = []
    lead: int | None = None
    for i, s in enumerate(out):
        if s.item:
            result.append(Sentence(s.span, True, s.colon, lead))
            continue
        result.append(s)
        lead = i if s.colon else None
    return result


# -- excerpts -------------------------------------------------------------------------------------


def excerpt(chunk: Chunk, weights: dict[str, float], query: str, *, limit: int = WINDOW_CHARS) -> Excerpt | None:
    """The passage's most relevant one or two consecutive sentences (a short provision whole; the
    款 the question names when it names one), with the lead-in or the items they need."""
    text = chunk.text
    named = _named_paragraph(chunk, query)
    if named is not None:
        return Excerpt(text, (named,), coverage(text[named[0]:named[1]], weights))
    found = sentences(text)
    if not found:
        return None
    provision = chunk.kind in (Kind.statute, Kind.interpretation)
    if provision and len(text.strip()) <= WHOLE_CHARS and MASKED not in text \
            and len(found) == len(sentence_spans(text)):
        return Excerpt(text, ((found[0].span[0], found[-1].span[1]),), coverage(text, weights))
    best: tuple | None = None
    # a published expert answer (qa) opens with the question it answers: quote the answer, not the question
    first = 1 if chunk.kind is Kind.qa and len(found) > 1 and chunk.text.startswith("问：") else 0
    for i in range(first, len(found)):
        for j in (i, i + 1):
            if j >= len(found):
                continue
            a, b = found[i].span[0], found[j].span[1]
            if j > i and (b - a > limit or MASKED in text[a:b]):
                continue
            score = coverage(text[a:b], weights)
            key = (round(score, 9), -(j - i), -i)
            if best is None or key > best[0]:
                best = (key, i, j, score)
    _, i, j, score = best
    return Excerpt(text, tuple(_with_structure(found, i, j, text)), score)


def _with_structure(found: list[Sentence], i: int, j: int, text: str) -> Iterable[Span]:
    """The window i..j as spans, with its list's lead-in before it and its items after it."""
    spans: list[Span] = []
    lead = found[i].lead_in
    if found[i].item and lead is not None and lead < i:
        spans.append(found[lead].span)
    start, end = found[i].span[0], found[j].span[1]
    if found[j].colon:  # a lead-in: bring the items it introduces while they fit
        k = j + 1
        while k < len(found) and found[k].item and found[k].lead_in == j and found[k].span[1] - start <= LIST_CHARS \
                and MASKED not in text[end:found[k].span[1]]:
            end = found[k].span[1]
            k += 1
    if spans and not text[spans[-1][1]:start].strip():
        spans[-1] = (spans[-1][0], end)
    else:
        spans.append((start, end))
    return spans


def _named_paragraph(chunk: Chunk, query: str) -> Span | None:
    clause = _CLAUSE_IN.search(query)
    if not clause or "款" in chunk.locator:
        return None
    text = chunk.text
    offsets, at = [], 0
    for paragraph in text.split("\n"):
        if paragraph.strip() and not ITEM_RE.match(paragraph):
            offsets.append([at, at + len(paragraph)])
        elif paragraph.strip() and offsets:  # items belong to the 款 that lists them
            offsets[-1][1] = at + len(paragraph)
        at += len(paragraph) + 1
    try:
        index = cn_to_int(clause.group(1)) - 1
    except ValueError:
        return None
    if len(offsets) < 2 or not 0 <= index < len(offsets):
        return None
    a, b = offsets[index]
    body = text[a:b]
    if looks_like_instruction(body) or MASKED in body:
        return None
    while a < b and text[a].isspace():
        a += 1
    return (a, b)
