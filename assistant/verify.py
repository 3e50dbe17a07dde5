"""Verification of a model's reply against the passages it was given, sentence by sentence:
every [n] names a passage retrieved for this caller, every quoted span stands verbatim in its
passage, article and case numbers and links that occur in no passage are taken out, and a
reply that repeats the system prompt is caught. Also what passages look like to a model:
instruction-like sentences masked, delimiters neutralised."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant import prompts
from assistant.models import Chunk, Kind
from assistant.text import LINK_RE, article_mentions, law_key, mask_instructions, strip_invisible

_MARKER_RE = re.compile(r"\[\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*\]|【\s*(\d{1,3})\s*】")
_QUOTE_RE = re.compile(r"“([^“”]{4,})”|「([^「」]{4,})」|\"([^\"]{4,})\"")
CJK_RE = re.compile(r"[\u4e00-\u9fff]")
_SPACE_RE = re.compile(r"\s+")


# -- verification ------------------------------------------------------------------------------


@dataclass
class Verified:
    text: str
    citations: list[int]  # passage indexes in the order of their new numbers
    quotes: dict[int, str]
    problems: list[str]
    uncited: int
    leaked: bool


class Verifier:
    """Checks a model's reply sentence by sentence against the passages it was given."""

    def __init__(self, passages: Sequence[Chunk]) -> None:
        self.passages = list(passages)
        self._texts = [squash(safe_passage(c.text)) for c in self.passages]
        self._all = "\n".join(self._texts + [squash(c.citation + c.title) for c in self.passages])
        self._allowed = _allowed_mentions(self.passages)
        self._links = {m.lower() for c in self.passages for m in LINK_RE.findall(safe_passage(c.text))}
        self._prompt_shingles = _shingles(prompts.SYSTEM, 14)
        self.order: dict[int, int] = {}  # passage index -> number shown
        self.quotes: dict[int, str] = {}
        self.problems: list[str] = []
        self.uncited = 0
        self.leaked = False
        self._out: list[str] = []

    def sentence(self, sentence: str) -> str:
        """The sentence as it may be shown ('' when it has to go)."""
        body = sentence.rstrip()
        end = sentence[len(body):]
        s = strip_invisible(body).strip()
        if not s:
            return end if "\n" in end and self._out else ""
        if _shingles(s, 14) & self._prompt_shingles:
            self.leaked = True
            self.problems.append("the reply repeated the system prompt")
            return ""
        for link in LINK_RE.findall(s):
            if link.lower() not in self._links:
                s = s.replace(link, "")
                self.problems.append(f"link not in any passage removed: {link}")
        for law, number in article_mentions(s):
            if not self._mentioned(law, number):
                self.problems.append(f"sentence dropped: it names {law or ''}第{number}条/号, which no passage contains")
                return ""
        cited = self._markers(s)
        quotes = [next(g for g in m.groups() if g is not None) for m in _QUOTE_RE.finditer(s)]
        if open_quote(s):  # a quotation that never closes is checked up to the sentence end
            tail = _MARKER_RE.sub("", s[max(s.rfind("“"), s.rfind("「")) + 1:]).rstrip("。！？；!?;")
            if len(tail) >= 4:
                quotes.append(tail)
        for quote in quotes:
            where = self._find(quote, cited)
            if where is None:
                self.problems.append(f"sentence dropped: quote not found verbatim in the passages: {quote[:40]}")
                return ""
            if where not in cited:
                cited.append(where)
            self.quotes.setdefault(where, _exact(self.passages[where].text, quote))
        s = _MARKER_RE.sub("", s).rstrip()
        if not CJK_RE.search(s) and not re.search(r"[A-Za-z0-9]", s):
            return ""  # only markers or punctuation were left
        if cited:
            tail = ""
            while s and s[-1] in "。！？；!?;\n":
                tail = s[-1] + tail
                s = s[:-1]
            s = s + "".join(f"[{self._number(i)}]" for i in dict.fromkeys(cited)) + tail
        elif len(CJK_RE.findall(s)) >= 10:
            self.uncited += 1
        out = s + ("\n" if "\n" in end else "")
        self._out.append(out)
        return out

    def result(self) -> Verified:
        return Verified(text="".join(self._out).strip(), citations=sorted(self.order, key=self.order.get),
                        quotes=self.quotes, problems=self.problems, uncited=self.uncited, leaked=self.leaked)

    def _markers(self, s: str) -> list[int]:
        cited: list[int] = []
        for m in _MARKER_RE.finditer(s):
            for part in re.split(r"\s*[,，、]\s*", m.group(1) or m.group(2)):
                n = int(part)
                if 1 <= n <= len(self.passages):
                    if n - 1 not in cited:
                        cited.append(n - 1)
                else:
                    self.problems.append(f"citation [{n}] names no retrieved passage and was removed")
        return cited

    def _find(self, quote: str, cited: list[int]) -> int | None:
        q = squash(quote)
        for i in [*cited, *range(len(self.passages))]:
            if q and q in self._texts[i]:
                return i
        return None

    def _mentioned(self, law: str | None, number: str) -> bool:
        if law is None:
            return number in self._allowed["numbers"]
        if law in ("检例", "指导案例"):
            return (law, number) in self._allowed["pairs"]
        return (law, number) in self._allowed["pairs"]

    def _number(self, index: int) -> int:
        return self.order.setdefault(index, len(self.order) + 1)


def _allowed_mentions(passages: Sequence[Chunk]) -> dict[str, set]:
    numbers: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for c in passages:
        own_law = law_key(c.source_id.split("#", 1)[0]) if c.source_id and "#" in c.source_id else None
        if own_law is None and c.kind in (Kind.statute, Kind.interpretation):
            own_law = law_key(c.citation.split("》", 1)[0]) if c.citation.startswith("《") else None
        for text in (c.citation, c.title, c.text):
            for law, number in article_mentions(text):
                numbers.add(number)
                pairs.add((law or own_law or "", number))
    return {"numbers": numbers, "pairs": pairs}


def safe_passage(text: str) -> str:
    """Passage text as the model sees it: invisible characters gone, instruction-like sentences
    masked, our own delimiters neutralised."""
    return mask_instructions(strip_invisible(text)).replace("<", "＜").replace(">", "＞")


def squash(text: str) -> str:
    return _SPACE_RE.sub("", text)


def _exact(passage: str, quote: str) -> str:
    """The quote as it stands in the passage (the model may have dropped a line break)."""
    if quote in passage:
        return quote
    squashed = squash(quote)
    # map back from the squashed match to the passage's own characters
    chars = [(i, ch) for i, ch in enumerate(passage) if not ch.isspace()]
    joined = "".join(ch for _, ch in chars)
    at = joined.find(squashed)
    if at < 0:
        return quote
    return passage[chars[at][0]: chars[at + len(squashed) - 1][0] + 1]


def _shingles(text: str, size: int) -> set[str]:
    t = squash(text)
    return {t[i:i + size] for i in range(0, max(len(t) - size + 1, 0))}


def open_quote(text: str) -> bool:
    return text.count("“") > text.count("”") or text.count("「") > text.count("」")
