"""Units to chunks: long articles per paragraph (款), long sections at sentence ends.

A chunk never crosses a unit, and never ends mid-sentence unless one sentence is
longer than ``hard_max`` characters with no punctuation at all.
"""

from __future__ import annotations

import re

from assistant.ingest.legal import is_item
from assistant.models import Chunk, Document, Unit, make_chunk_id
from assistant.numerals import int_to_cn

SENTENCE_RE = re.compile(r"[^。！？；!?;]*(?:[。！？；!?;]+[”’」』）)\]]*|$)")


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph, each ending with its own 。！？； (and closing quotes)."""
    return [s for s in SENTENCE_RE.findall(paragraph) if s.strip()]


def pack(paragraphs: tuple[str, ...] | list[str], *, target: int, hard_max: int) -> list[str]:
    """Join paragraphs into pieces of about ``target`` characters, cut only at sentence ends."""
    pieces: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for sentence in _sentences_capped(paragraph, hard_max):
            if current and len(current) + len(sentence) > target:
                pieces.append(current)
                current = ""
            current += sentence
        # a paragraph break is kept inside a piece as a newline
        if current:
            current += "\n"
    if current.strip():
        pieces.append(current)
    return [p.strip("\n") for p in pieces if p.strip()]


def _sentences_capped(paragraph: str, hard_max: int) -> list[str]:
    out = []
    for sentence in split_sentences(paragraph):
        while len(sentence) > hard_max:
            out.append(sentence[:hard_max])
            sentence = sentence[hard_max:]
        out.append(sentence)
    return out


def paragraph_groups(paragraphs: tuple[str, ...]) -> list[list[str]]:
    """Group an article's lines into 款: items （一）（二）… stay with the 款 that lists them."""
    groups: list[list[str]] = []
    for paragraph in paragraphs:
        if groups and is_item(paragraph):
            groups[-1].append(paragraph)
        else:
            groups.append([paragraph])
    return groups


def unit_pieces(unit: Unit, *, target: int, hard_max: int) -> list[tuple[str, str, str]]:
    """(locator, citation, text) for each chunk of one unit."""
    whole = "\n".join(unit.paragraphs)
    if len(whole) <= target:
        return [(unit.locator, unit.citation, whole)]
    if unit.is_article:
        groups = paragraph_groups(unit.paragraphs)
        if len(groups) > 1:
            out = []
            for number, group in enumerate(groups, start=1):
                kuan = f"第{int_to_cn(number)}款"
                for text in _fit(group, hard_max):
                    out.append((unit.locator + kuan, unit.citation + kuan, text))
            return out
        return [(unit.locator, unit.citation, text) for text in _fit(unit.paragraphs, hard_max)]
    return [(unit.locator, unit.citation, text) for text in pack(unit.paragraphs, target=target, hard_max=hard_max)]


def _fit(paragraphs, hard_max: int) -> list[str]:
    """A 款 stays whole unless it exceeds ``hard_max``; then it is cut between its lines or sentences."""
    text = "\n".join(paragraphs)
    if len(text) <= hard_max:
        return [text]
    return pack(paragraphs, target=hard_max, hard_max=hard_max)


def chunk_document(doc: Document, *, target: int = 400, hard_max: int = 2000) -> list[Chunk]:
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    authority = doc.authority
    for unit in doc.units:
        for locator, citation, text in unit_pieces(unit, target=target, hard_max=hard_max):
            key = make_chunk_id(doc.doc_id, locator, text)
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            chunks.append(Chunk(
                chunk_id=make_chunk_id(doc.doc_id, locator, text, occurrence),
                doc_id=doc.doc_id,
                ordinal=len(chunks),
                locator=locator,
                citation=citation,
                text=text,
                kind=doc.kind,
                line=doc.line,
                title=doc.title,
                source_id=unit.source_id,
                breadcrumb=unit.breadcrumb,
                version_date=doc.version_date,
                access=doc.access,
                tags=doc.tags,
                authority=authority,
            ))
    return chunks
