"""Article references in a question ("刑法第二十条", "民法典1165条", "《人民检察院刑事诉讼规则》第二百七十八条")
resolved to source ids (``刑法#第二十条``) of what is indexed."""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.numerals import cn_to_int, int_to_cn

ALIASES = {
    "刑诉法": "刑事诉讼法",
    "刑事诉讼法": "刑事诉讼法",
    "民诉法": "民事诉讼法",
    "行诉法": "行政诉讼法",
    "检察院组织法": "人民检察院组织法",
    "高检规则": "人民检察院刑事诉讼规则",
    "刑诉规则": "人民检察院刑事诉讼规则",
    "高检院规则": "人民检察院刑事诉讼规则",
    "刑事诉讼规则": "人民检察院刑事诉讼规则",
    "刑诉解释": "最高法刑诉解释",
    "高法解释": "最高法刑诉解释",
    "民法典": "民法典",
    "刑法": "刑法",
}

_NUM = "零〇一二三四五六七八九十百千两"
REF_RE = re.compile(rf"第?\s*([{_NUM}]+|\d+)\s*条(之[一二三四五六七八九十])?")
_QUOTED_RE = re.compile(r"《([^《》]{1,60})》\s*$")


def _law_names(laws: Iterable[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for law in laws:
        names[law] = law
        names["中华人民共和国" + law] = law
    for alias, law in ALIASES.items():
        if law in names:
            names.setdefault(alias, law)
    return names


class ReferenceResolver:
    """Finds law + article in free text; knows the laws that are indexed."""

    def __init__(self, laws: Iterable[str]) -> None:
        self.names = _law_names(laws)
        # longest names first, so 刑事诉讼法 wins over 刑法 inside "刑事诉讼法第…"
        self._ordered = sorted(self.names, key=len, reverse=True)

    def resolve(self, text: str) -> list[str]:
        found: list[str] = []
        last_law, last_end = None, -1
        for m in REF_RE.finditer(text):
            law = self._law_before(text[: m.start()])
            if law is None and last_law and re.fullmatch(r"[\s、，,和及与或以]*(第[^条]{1,8}款)?[\s、，,和及与或以]*",
                                                        text[last_end: m.start()]):
                law = last_law  # "刑法第二十条和第二十一条": the second shares the first's law
            if law is None:
                continue
            last_law, last_end = law, m.end()
            try:
                number = cn_to_int(m.group(1))
            except ValueError:
                continue
            if number <= 0:
                continue
            source_id = f"{law}#第{int_to_cn(number)}条{m.group(2) or ''}"
            if source_id not in found:
                found.append(source_id)
        return found

    def _law_before(self, head: str) -> str | None:
        head = head.rstrip()
        quoted = _QUOTED_RE.search(head)
        if quoted:
            name = quoted.group(1).strip()
            return self.names.get(name) or self.names.get(name.removeprefix("中华人民共和国"))
        tail = head[-40:]
        for name in self._ordered:
            if tail.endswith(name):
                return self.names[name]
        return None
