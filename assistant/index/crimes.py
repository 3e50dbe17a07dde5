"""Crime names (罪名) and the 刑法 articles that define them, mined from the indexed statutes.

A key point says 构成编造虚假恐怖信息罪, a case's facts say 以涉嫌盗窃罪移送审查起诉; neither
names the article. The SPP's 《关于适用刑法分则规定的犯罪的罪名的意见》 lists every crime with its
article (``1．背叛国家罪（第102条）``), and the two courts' 《关于执行〈刑法〉确定罪名的补充规定》
(一 to 八) add and rename them in tables (``| 第120条之一 |资助恐怖活动罪 |``). Both are statutes
jianxue indexes anyway, so the map needs no labels and follows whatever version is ingested;
without those documents it is simply empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.numerals import int_to_cn

CRIMINAL_LAW = "刑法"
# the documents the map is read from, by the law part of their source ids
SOURCES_RE = re.compile(r"罪名")
_LISTED_RE = re.compile(r"([\u4e00-\u9fff、]{2,40}罪)（(第\d+条[^）]*)）")
_ARTICLE_RE = re.compile(r"第(\d+)条(之[一二三四五六七八九十])?")
_BRACKETS_RE = re.compile(r"（[^（）]*）")


def _unbracketed(text: str) -> str:
    """Text without its (nested) brackets."""
    while True:
        stripped = _BRACKETS_RE.sub("", text)
        if stripped == text:
            return text
        text = stripped


def _articles(text: str) -> list[str]:
    """刑法 source ids of the articles in ``第114条、第115条第1款`` (paragraphs dropped)."""
    text = _unbracketed(text)  # （《修正案（三）》第1、2条） names the amendment, not the article
    out = []
    for m in _ARTICLE_RE.finditer(text):
        if text[m.start() - 1: m.start()] == "款" or (m.start() >= 1 and text[m.start() - 1].isdigit()):
            continue
        source_id = f"{CRIMINAL_LAW}#第{int_to_cn(int(m.group(1)))}条{m.group(2) or ''}"
        if source_id not in out:
            out.append(source_id)
    return out


class CrimeNames:
    """Crime name -> the 刑法 articles that define it; ``find`` reads the names in a text."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = {name: tuple(articles) for name, articles in names.items() if articles}
        self._longest = max((len(n) for n in self.names), default=0)

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def mine(cls, texts: Iterable[str]) -> "CrimeNames":
        """From the texts of the 罪名 documents, oldest first (a later table renames)."""
        names: dict[str, list[str]] = {}
        for text in texts:
            for line in text.splitlines():
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if line.lstrip().startswith("|") and len(cells) >= 2 and "条" in cells[0]:
                    articles = _articles(cells[0])
                    for name in re.split(r"[；;]", _unbracketed(cells[1])):
                        if name.strip().endswith("罪") and articles:
                            names[name.strip()] = articles
                    continue
                for m in _LISTED_RE.finditer(line):
                    articles = _articles(m.group(2))
                    if articles:
                        names[m.group(1).lstrip("、")] = articles
        return cls(names)

    def find(self, text: str) -> list[str]:
        """The articles of every crime named in ``text``, in order of mention; at each 罪 the
        longest name wins (合同诈骗罪, not 诈骗罪)."""
        out: list[str] = []
        for end in (i for i, ch in enumerate(text) if ch == "罪"):
            for length in range(min(self._longest, end + 1), 2, -1):
                articles = self.names.get(text[end - length + 1: end + 1])
                if articles:
                    out += [a for a in articles if a not in out]
                    break
        return out
