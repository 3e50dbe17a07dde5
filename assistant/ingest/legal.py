"""Legal structure: statutes per article (第X条), cases per section (要旨 …), materials per heading.

Every function here returns :class:`Unit` objects: the pieces no chunk may cross.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.models import Line, Unit
from assistant.numerals import cn_to_int

NUMERAL = "零〇一二三四五六七八九十百千两"
ARTICLE_RE = re.compile(
    rf"^[ \t\u3000]*第[ \t]*([{NUMERAL}\d]+)[ \t]*条(之[一二三四五六七八九十]+)?(?=[ \t\u3000]|$)"
)
STRUCTURE_RE = re.compile(rf"^[ \t\u3000]*第[{NUMERAL}\d]+[编章节](?:[ \t\u3000]+\S.*)?$")
STRUCTURE_LEVEL = {"编": 1, "章": 2, "节": 3}
ITEM_RE = re.compile(rf"^[ \t\u3000]*[（(][{NUMERAL}\d]+[）)]")
MD_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
CASE_MARK_RE = re.compile(r"^[ \t\u3000]*【([^】]{1,16})】[ \t\u3000]*(.*)$")
# Plain-text headings of training materials: "一、……" and "（一）……" on a short line of their own.
PLAIN_HEADING_RES = (
    (2, re.compile(rf"^[{NUMERAL}]+、[^。！？；]{{1,40}}$")),
    (3, re.compile(rf"^[（(][{NUMERAL}]+[）)][^。！？；]{{1,40}}$")),
)
INFO_END = "<!-- INFO END -->"
CASE_SECTIONS = (
    "关键词", "要旨", "裁判要点", "基本案情", "检察机关履职过程", "履职过程", "诉讼过程", "检察履职情况",
    "指导意义", "相关规定", "相关法律规定", "相关立法", "裁判结果", "裁判理由", "案件结果", "评析", "办案要点",
)


def citation_name(title: str) -> str:
    """《刑法》 for 中华人民共和国刑法; inner book-title marks become 〈〉 as Chinese style wants."""
    name = title.strip().removeprefix("中华人民共和国")
    return name.replace("《", "〈").replace("》", "〉")


def article_label(number: str, suffix: str | None) -> str:
    """Normalise '第一百二十八 条' -> '第一百二十八条', keeping 之一."""
    return f"第{number}条{suffix or ''}"


def article_sort_key(label: str) -> tuple[int, int]:
    m = re.match(rf"第([{NUMERAL}\d]+)条(?:之([一二三四五六七八九十]+))?", label)
    if not m:
        return (0, 0)
    return (cn_to_int(m.group(1)), cn_to_int(m.group(2)) if m.group(2) else 0)


def is_item(paragraph: str) -> bool:
    return bool(ITEM_RE.match(paragraph))


def looks_like_statute(text: str) -> bool:
    count = 0
    for line in text.splitlines():
        if ARTICLE_RE.match(line):
            count += 1
            if count >= 3:
                return True
    return False


def looks_like_case(text: str) -> bool:
    marks = {m.group(1).strip() for line in text.splitlines() if (m := CASE_MARK_RE.match(line))}
    headings = {_clean_heading(m.group(2)) for line in text.splitlines() if (m := MD_HEADING_RE.match(line))}
    found = (marks | headings) & set(CASE_SECTIONS)
    return bool(found & {"要旨", "裁判要点", "基本案情"})


def parse_statute_text(body: str, *, title: str, short: str, law_id: str) -> list[Unit]:
    """Cut a LawRefBook-style statute (Markdown or plain text) into one Unit per article.

    ``short`` names the law in citations (《刑法》第二十条); ``law_id`` prefixes the
    article ids (``刑法#第二十条``). Lines before ``<!-- INFO END -->`` are metadata.
    """
    lines = body.splitlines()
    if any(line.strip() == INFO_END for line in lines):
        lines = body.partition(INFO_END)[2].splitlines()
    found_title = title
    headings: dict[int, str] = {}
    units: list[Unit] = []
    preamble: list[str] = []
    label: str | None = None
    paragraphs: list[str] = []
    crumbs: tuple[str, ...] = ()

    def flush() -> None:
        if label is not None and paragraphs:
            units.append(Unit(
                locator=label,
                citation=f"《{citation_name(short)}》{label}",
                paragraphs=tuple(paragraphs),
                breadcrumb=crumbs,
                source_id=f"{law_id}#{label}",
                is_article=True,
            ))

    for raw in lines:
        line = raw.strip().strip("\u3000")
        if not line:
            continue
        if md := MD_HEADING_RE.match(line):
            level, text = len(md.group(1)), _clean_heading(md.group(2))
            if level == 1 and not units and label is None:
                continue
            flush()
            label, paragraphs = None, []
            _push_heading(headings, level, text)
            continue
        if (m := ARTICLE_RE.match(line)) is not None:
            flush()
            label = article_label(m.group(1), m.group(2))
            first = line[m.end():].strip(" \t\u3000")
            paragraphs = [first] if first else []
            crumbs = (found_title, *(headings[k] for k in sorted(headings)))
            continue
        if STRUCTURE_RE.match(line) and len(line) <= 40:
            flush()
            label, paragraphs = None, []
            level = STRUCTURE_LEVEL[re.match(rf"[ \t\u3000]*第[{NUMERAL}\d]+([编章节])", line).group(1)]
            _push_heading(headings, level + 10, re.sub(r"[ \t\u3000]+", " ", line))
            continue
        if label is None:
            preamble.append(line)
        else:
            paragraphs.append(line)
    flush()
    if preamble:
        units.insert(0, Unit(
            locator="序言",
            citation=f"《{citation_name(short)}》序言",
            paragraphs=tuple(preamble),
            breadcrumb=(found_title,),
            source_id=f"{law_id}#序言",
        ))
    return units


def statute_units_from_records(records: Iterable[dict], *, name: str) -> list[Unit]:
    """Units from statutes.jsonl records of one law (each record is one article)."""
    units = []
    for rec in records:
        label = rec["article_label"]
        crumbs = tuple(x for x in (rec.get("law_title"), rec.get("part"), rec.get("chapter"), rec.get("section")) if x)
        whole = label == "全文"
        units.append(Unit(
            locator=label,
            citation=f"《{citation_name(name)}》" + ("" if whole else label),
            paragraphs=tuple(p for p in (s.strip() for s in rec["text"].split("\n")) if p),
            breadcrumb=crumbs,
            source_id=rec["id"],
            is_article=not whole,
        ))
    return units


def parse_case_text(body: str, *, title: str, fallback_title: str, case_no: str | None,
                    case_id: str) -> tuple[str, list[Unit], tuple[str, ...]]:
    """Cut a case commentary into its sections (【要旨】 lines or Markdown headings).

    Returns the title (given, else the first # heading, else ``fallback_title``), the
    units and the keywords of the 【关键词】 section.
    """
    sections: list[tuple[str, list[str]]] = []
    found_title = title
    for raw in body.splitlines():
        line = raw.strip().strip("\u3000")
        if not line:
            continue
        if md := MD_HEADING_RE.match(line):
            text = _clean_heading(md.group(2))
            if len(md.group(1)) == 1 and text not in CASE_SECTIONS:
                found_title = found_title or text
                continue
            sections.append((text, []))
            continue
        if not sections and not found_title and _title_like(line) and not CASE_MARK_RE.match(line):
            found_title = line
            continue
        if (m := CASE_MARK_RE.match(line)) is not None:
            sections.append((m.group(1).strip(), [m.group(2).strip()] if m.group(2).strip() else []))
            continue
        if not sections:
            sections.append(("概要", []))
        sections[-1][1].append(line)
    found_title = found_title or fallback_title
    prefix = case_no or f"《{found_title}》"
    keywords: tuple[str, ...] = ()
    units = []
    for name, paragraphs in sections:
        if name == "关键词":
            keywords = tuple(k for k in re.split(r"[\s、，,；;]+", " ".join(paragraphs)) if k)
            continue
        if paragraphs:
            units.append(Unit(
                locator=name,
                citation=f"{prefix}·{name}",
                paragraphs=tuple(paragraphs),
                breadcrumb=(found_title, name),
                source_id=case_id,
            ))
    return found_title, units, keywords


def case_units_from_record(rec: dict) -> list[Unit]:
    """Units from one guiding_cases.jsonl record, in the order the case reads."""
    prefix = rec.get("case_no") or rec["id"]
    key_name = "裁判要点" if rec.get("issuer") == "SPC" else "要旨"
    parts: list[tuple[str, str | None]] = [(key_name, rec.get("key_points")), ("基本案情", rec.get("facts"))]
    parts += [(s.get("heading") or "其他", s.get("text")) for s in rec.get("sections") or ()]
    parts.append(("指导意义", rec.get("guidance")))
    related = "\n".join(p.get("raw", "") for p in rec.get("related_provisions") or () if p.get("raw"))
    parts.append(("相关规定", related))
    units = []
    for name, text in parts:
        paragraphs = tuple(p for p in (s.strip() for s in (text or "").split("\n")) if p)
        if paragraphs:
            units.append(Unit(
                locator=name,
                citation=f"{prefix}·{name}",
                paragraphs=paragraphs,
                breadcrumb=(rec.get("title") or prefix, name),
                source_id=rec["id"],
            ))
    return units


def qa_units(body: str, *, label: str, title: str) -> list[Unit]:
    """A published expert answer (kind qa): question and answer are one unit cited by its own
    label (检答·第12号), so that a search for the question finds the answer with it. Headings
    are dropped (the title is the question)."""
    paragraphs = tuple(p for p in (raw.strip().strip("\u3000") for raw in body.splitlines())
                       if p and not p.startswith("#"))
    if not paragraphs:
        return []
    return [Unit(locator="解答", citation=label, paragraphs=paragraphs, breadcrumb=(title,), source_id=None)]


def parse_material_text(body: str, *, title: str, fallback_title: str) -> tuple[str, list[Unit]]:
    """Cut a training material along its headings (Markdown, or 一、/（一） lines in plain text).

    The title is the given one, else a # heading before any text, else ``fallback_title``.
    """
    headings: dict[int, str] = {}
    units: list[Unit] = []
    found_title = title
    paragraphs: list[str] = []

    def flush() -> None:
        if paragraphs:
            path = tuple(headings[k] for k in sorted(headings))
            name = found_title or fallback_title
            units.append(Unit(
                locator=" › ".join(path),
                citation=f"《{citation_name(name)}》" + (f"·{path[-1]}" if path else ""),
                paragraphs=tuple(paragraphs),
                breadcrumb=(name, *path),
            ))
            paragraphs.clear()

    for raw in body.splitlines():
        line = raw.strip().strip("\u3000")
        if not line:
            continue
        level, text = _heading_of(line)
        at_start = not units and not paragraphs and not headings
        if at_start and (level == 1 and (not found_title or text == found_title)
                         or not level and (line == found_title or not found_title and _title_like(line))):
            found_title = found_title or text
            continue
        if level:
            flush()
            _push_heading(headings, level, text)
            continue
        paragraphs.append(line)
    flush()
    return found_title or fallback_title, units


def _heading_of(line: str) -> tuple[int, str]:
    if md := MD_HEADING_RE.match(line):
        return len(md.group(1)), _clean_heading(md.group(2))
    for level, pattern in PLAIN_HEADING_RES:
        if pattern.match(line):
            return level, line
    return 0, line


def _title_like(line: str) -> bool:
    """A first line that names the text rather than saying something: short, no sentence end."""
    return len(line) <= 40 and not re.search(r"[。！？；!?;：:，,]", line)


def _push_heading(headings: dict[int, str], level: int, text: str) -> None:
    for deeper in [k for k in headings if k >= level]:
        del headings[deeper]
    headings[level] = text


def _clean_heading(text: str) -> str:
    return text.strip().strip("【】").strip().replace("**", "")


def first_h1(text: str) -> str | None:
    for line in text.splitlines():
        if (m := MD_HEADING_RE.match(line.strip())) and len(m.group(1)) == 1:
            return _clean_heading(m.group(2))
    return None


_LINE_WORDS = (
    (Line.public_interest, ("公益诉讼", "公益损害", "诉前检察建议")),
    (Line.criminal, ("刑", "犯罪", "罪", "逮捕", "起诉", "羁押", "认罪认罚", "侦查")),
    (Line.administrative, ("行政",)),
    (Line.civil, ("民事", "民法", "合同", "婚姻", "继承", "物权", "侵权", "公司", "支付令", "虚假诉讼")),
)


def infer_line(*texts: str | None) -> Line:
    """Best guess of the prosecution line from a title and keywords; front matter overrides it."""
    joined = " ".join(t for t in texts if t)
    for line, words in _LINE_WORDS:
        if any(w in joined for w in words):
            return line
    return Line.general
