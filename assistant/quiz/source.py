"""What questions are made from: a document's chunks (Source), what distractors are drawn
from across documents (Pool), and the small text helpers every generator shares."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.models import Chunk, Citation, Kind
from assistant.text import looks_like_instruction, sentence_spans

KEY_SECTIONS = ("要旨", "裁判要点")
TEACHING_SECTIONS = (*KEY_SECTIONS, "指导意义")  # what statements and clozes are cut from, key points first
FACT_SECTIONS = ("基本案情", "案情", "案件事实")


@dataclass
class Source:
    """One document to make questions from: a case commentary or a statute, with its chunks in order."""

    doc_id: str
    title: str
    kind: Kind
    line: str
    chunks: list[Chunk]
    tags: tuple[str, ...] = ()
    guiding: bool = False
    focus: tuple[str, ...] = ()  # chunk ids to ask about first (search hits inside a long statute)

    def section(self, names: Sequence[str]) -> str:
        return "\n".join(c.text for c in self.chunks if c.locator in names)

    def chunks_of(self, names: Sequence[str]) -> list[Chunk]:
        return [c for c in self.chunks if c.locator in names]

    @property
    def case_no(self) -> str:
        head = self.chunks[0].citation.split("·", 1)[0] if self.chunks else ""
        return head or self.title


@dataclass
class Pool:
    """What distractors are drawn from: charges seen across the sources, statutes, and the other
    cases whose key-point statements may stand as options that are true elsewhere, false here."""

    charges: list[str] = field(default_factory=list)
    statutes: dict[str, list[Chunk]] = field(default_factory=dict)  # doc_id -> article chunks
    cases: list[Source] = field(default_factory=list)  # sources a borrowed statement may come from


def question_id(origin: str, kind: str, stem: str, options: Sequence[str], answer: Sequence[int]) -> str:
    """A question is stored once under this id and graded by what is stored, so the id covers all
    a learner sees and is graded on. Wrong options are drawn afresh for every quiz, and one sentence
    gives a true and a false statement: each draw is a question of its own."""
    parts = [origin, kind, stem, *options, ",".join(str(i) for i in answer)]
    return "q" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:15]


def source_hash(chunks: Sequence[Chunk]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c.chunk_id.encode())
        h.update(c.text.encode())
    return h.hexdigest()[:32]


def cite(chunk: Chunk, quote: str, n: int = 1) -> Citation:
    return Citation(n=n, label=chunk.citation, source_id=chunk.source_id, chunk_id=chunk.chunk_id,
                    doc_id=chunk.doc_id, kind=chunk.kind.value, title=chunk.title, quote=quote)


def sentences(chunk: Chunk, *, low: int = 12, high: int = 240) -> list[str]:
    text = chunk.text
    return [text[a:b] for a, b in sentence_spans(text)
            if low <= b - a <= high and not looks_like_instruction(text[a:b])]


def excerpt(text: str, limit: int = 220) -> str:
    """The opening sentences of ``text`` up to ``limit`` characters, never mid-sentence."""
    out = ""
    for a, b in sentence_spans(text):
        piece = text[a:b]
        if out and len(out) + len(piece) > limit:
            break
        out += piece
        if len(out) >= limit:
            break
    return out.strip()


def ordered(source: Source, sections: Sequence[str]) -> list[Chunk]:
    """The source's chunks of these sections, in the order the sections are named."""
    return [c for name in sections for c in source.chunks if c.locator == name]


def first_sentence(chunk: Chunk) -> str:
    spans = sentence_spans(chunk.text)
    if not spans:
        return ""
    a, b = spans[0]
    text = chunk.text[a:b]
    return text if len(text) <= 120 else ""


def article_label(chunk: Chunk) -> str:
    return re.sub(r"第[一二三四五六七八九十]+款$", "", chunk.citation)


def chapter(chunk: Chunk) -> str:
    return chunk.breadcrumb[-1] if len(chunk.breadcrumb) > 1 else ""
