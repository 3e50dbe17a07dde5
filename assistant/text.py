"""Small text helpers shared by ingest and answers: invisible characters, sentences,
instruction-like text, links and article mentions."""

from __future__ import annotations

import re

from assistant.numerals import cn_to_int
from assistant.references import ALIASES

# zero-width spaces and joiners, bidi controls, word joiner and invisible operators,
# soft hyphen, BOM inside text: used to hide instructions from a reader, never needed in law
INVISIBLE_RE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def strip_invisible(text: str) -> str:
    return INVISIBLE_RE.sub("", text)


_SENTENCE_RE = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+[”’」』）)]*|\n|$)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, ending after its 。！？； (and a closing quote), never empty.
    A masked instruction (:data:`MASKED`) is no sentence: nothing quotes it."""
    spans = []
    for m in _SENTENCE_RE.finditer(text):
        for start, end in _unmasked(m.start(), m.end(), text):
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                spans.append((start, end))
    return spans


def _unmasked(start: int, end: int, text: str) -> list[tuple[int, int]]:
    pieces, at = [], text.find(MASKED, start, end)
    while at >= 0:
        pieces.append((start, at))
        start = at + len(MASKED)
        at = text.find(MASKED, start, end)
    pieces.append((start, end))
    return pieces


# Text that addresses the reader as a model: "忽略以上指令", "ignore previous instructions" …
_INSTRUCTION_RES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(忽略|无视|忘记|忘掉|不要理会|不必遵守|覆盖)[^。！？\n]{0,12}(指令|指示|提示|规则|要求|设定|约束)",
        r"(系统提示|系统指令|提示词|system\s*prompt|developer\s*message)",
        r"(你现在是|从现在起你|你的新(任务|身份|角色)|请你扮演|你必须扮演)",
        r"(在|于)(回答|答案|回复)[^。！？\n]{0,8}(加入|添加|附上|插入|包含)[^。！？\n]{0,20}(链接|网址|网站|url)",
        r"(请|务必|必须)(访问|点击|打开)[^。！？\n]{0,20}(https?://|www\.)",
        r"ignore\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier|preceding)\s+(instructions|prompts|rules|messages)",
        r"disregard\s+[^.\n]{0,30}(instructions|rules|prompt)",
        r"\byou\s+are\s+now\b",
        r"(reveal|print|output|repeat|show)\s+[^.\n]{0,30}(system|hidden|initial)\s+(prompt|instructions)",
        r"(add|include|insert)\s+[^.\n]{0,30}(link|url)\s+[^.\n]{0,20}(answer|response|reply)",
    )
]


def looks_like_instruction(text: str) -> bool:
    return any(p.search(text) for p in _INSTRUCTION_RES)


MASKED = "［此处疑似指令的文字已屏蔽］"
# sentences for masking: Chinese ends, and a Latin full stop before a space or the end
_MASK_SENTENCE_RE = re.compile(r"[^。！？；!?;\n]*?(?:[。！？；!?;]+[”’」』）)]*|\.(?=\s|$)|\n|$)")


def mask_instructions(text: str) -> str:
    """``text`` with every sentence that addresses a model or the reader as instructions
    ("忽略以上指令……", "Ignore previous instructions…") replaced by :data:`MASKED`; the other
    sentences stay as they are, so the passage can still be found and cited for them."""
    if not any(p.search(text) for p in _INSTRUCTION_RES):
        return text
    out, last = [], 0
    for m in _MASK_SENTENCE_RE.finditer(text):
        if m.end() == m.start():
            continue
        sentence = m.group()
        body = sentence.strip()
        if body and looks_like_instruction(body):
            lead = sentence[:len(sentence) - len(sentence.lstrip())]
            tail = sentence[len(sentence.rstrip()):]
            out.append(text[last:m.start()] + lead + MASKED + tail)
            last = m.end()
    out.append(text[last:])
    return "".join(out)


LINK_RE = re.compile(r"(?:https?://|www\.)[^\s，。；！？、）)\]】”\"'<>]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|io|xyz|top)(?:/[^\s，。；）)]*)?",
                     re.IGNORECASE)

_NUM = "零〇一二三四五六七八九十百千两"
_ARTICLE_RE = re.compile(
    rf"(?:《([^《》]{{1,40}})》|((?:(?![第条款项和及与或以的在、，])[\u4e00-\u9fff]){{1,16}}?法(?:典)?))?\s*第\s*([{_NUM}]+|\d+)\s*条(之[一二三四五六七八九十])?"
)
_CASE_RE = re.compile(r"(检例|指导案例|指导性案例)\s*第?\s*(\d+|[" + _NUM + r"]+)\s*号")


def law_key(name: str | None) -> str | None:
    """'《中华人民共和国刑法》', '刑法', '刑诉法' -> one key per law."""
    if not name:
        return None
    name = name.strip("《》 ").removeprefix("中华人民共和国")
    name = re.sub(r"^(根据|依照|依据|按照|适用|违反|参照|关于|本案|以及|和|及|与|或)+", "", name)
    name = ALIASES.get(name, name)
    return name or None


def article_mentions(text: str) -> list[tuple[str | None, str]]:
    """(law key or None, article number as int string, with 之X) for each 第X条 in ``text``;
    case numbers as ('检例', '45')."""
    found = []
    for m in _ARTICLE_RE.finditer(text):
        try:
            number = cn_to_int(m.group(3))
        except ValueError:
            continue
        law = law_key(m.group(1) or m.group(2))
        if law in ("本法", "该法", "此法", "上述法", "前款法"):
            law = None
        found.append((law, f"{number}{m.group(4) or ''}"))
    for m in _CASE_RE.finditer(text):
        try:
            number = cn_to_int(m.group(2))
        except ValueError:
            continue
        found.append(("检例" if m.group(1) == "检例" else "指导案例", str(number)))
    return found


_CONTROLS_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def drop_controls(text: str) -> str:
    """Text without C0 control characters (tab, newline and form feed stay): PDF extraction can
    yield NUL, which PostgreSQL refuses in text."""
    return _CONTROLS_RE.sub("", text)
