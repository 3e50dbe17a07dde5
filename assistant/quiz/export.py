"""Quiz exports: GIFT and Moodle XML (Moodle imports both), Anki .apkg, JSON, and a printable
Markdown handout with answer key and citations."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from xml.etree import ElementTree as ET

from assistant.errors import JianxueError
from assistant.models import Question, QuestionType, Quiz

FORMATS = ("gift", "moodle", "anki", "json", "md")
SUFFIX = {"gift": ".gift", "moodle": ".xml", "anki": ".apkg", "json": ".json", "md": ".md"}


class ExportError(JianxueError):
    """An export that cannot be made (unknown format)."""


def export(quiz: Quiz, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return {"gift": to_gift, "moodle": to_moodle_xml, "anki": to_anki, "json": to_json, "md": to_markdown}[fmt](quiz)


def _sources(q: Question) -> str:
    return "；".join(f"{c.label}：{c.quote.rstrip('；;')}" for c in q.citations)


# -- GIFT --------------------------------------------------------------------------------------

_GIFT_SPECIAL = re.compile(r"([~=#{}:\\])")


def gift_escape(text: str) -> str:
    return _GIFT_SPECIAL.sub(r"\\\1", text).replace("\n", "\\n")


def to_gift(quiz: Quiz) -> bytes:
    parts = [f"// {quiz.title} ({quiz.id})", f"$CATEGORY: jianxue/{gift_escape(quiz.topic or quiz.title)}", ""]
    for i, q in enumerate(quiz.questions, start=1):
        feedback = gift_escape(f"{q.explanation}（出处：{_sources(q)}）")
        head = f"::{gift_escape(f'{quiz.id}-{i}')}::{gift_escape(q.stem)}"
        if q.type is QuestionType.true_false:
            parts.append(f"{head} {{{'TRUE' if q.answer == [0] else 'FALSE'}####{feedback}}}")
        elif len(q.answer) == 1:
            options = " ".join(("=" if j in q.answer else "~") + gift_escape(o) for j, o in enumerate(q.options))
            parts.append(f"{head} {{{options} ####{feedback}}}")
        else:
            right = 100 / len(q.answer)
            wrong = 100 / max(len(q.options) - len(q.answer), 1)
            options = " ".join(f"~%{_pct(right) if j in q.answer else '-' + _pct(wrong)}%{gift_escape(o)}"
                               for j, o in enumerate(q.options))
            parts.append(f"{head} {{{options} ####{feedback}}}")
        parts.append("")
    return "\n".join(parts).encode("utf-8")


def _pct(value: float) -> str:
    return f"{value:.5f}".rstrip("0").rstrip(".")


# -- Moodle XML --------------------------------------------------------------------------------


def to_moodle_xml(quiz: Quiz) -> bytes:
    root = ET.Element("quiz")
    category = ET.SubElement(root, "question", type="category")
    ET.SubElement(ET.SubElement(category, "category"), "text").text = f"$course$/jianxue/{quiz.topic or quiz.title}"
    for i, q in enumerate(quiz.questions, start=1):
        qtype = "truefalse" if q.type is QuestionType.true_false else "multichoice"
        node = ET.SubElement(root, "question", type=qtype)
        ET.SubElement(ET.SubElement(node, "name"), "text").text = f"{quiz.id}-{i}"
        text = ET.SubElement(node, "questiontext", format="plain_text")
        ET.SubElement(text, "text").text = q.stem
        feedback = ET.SubElement(node, "generalfeedback", format="plain_text")
        ET.SubElement(feedback, "text").text = f"{q.explanation}（出处：{_sources(q)}）"
        ET.SubElement(node, "defaultgrade").text = "1"
        if q.type is QuestionType.true_false:
            for j, word in enumerate(("true", "false")):
                answer = ET.SubElement(node, "answer", fraction="100" if j in q.answer else "0", format="moodle_auto_format")
                ET.SubElement(answer, "text").text = word
            continue
        ET.SubElement(node, "single").text = "true" if len(q.answer) == 1 else "false"
        ET.SubElement(node, "shuffleanswers").text = "true"
        ET.SubElement(node, "answernumbering").text = "ABCD"
        for j, option in enumerate(q.options):
            if len(q.answer) == 1:
                fraction = "100" if j in q.answer else "0"
            else:
                fraction = _pct(100 / len(q.answer)) if j in q.answer else "-" + _pct(100 / max(len(q.options) - len(q.answer), 1))
            answer = ET.SubElement(node, "answer", fraction=fraction, format="plain_text")
            ET.SubElement(answer, "text").text = option
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


# -- Anki --------------------------------------------------------------------------------------


def _stable_id(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8], 16) % (1 << 30) + (1 << 30)


def to_anki(quiz: Quiz) -> bytes:
    import genanki

    model = genanki.Model(
        _stable_id("jianxue-model-v1"), "jianxue 选择题",
        fields=[{"name": "Question"}, {"name": "Options"}, {"name": "Answer"}, {"name": "Explanation"},
                {"name": "Sources"}, {"name": "QuestionId"}],
        templates=[{"name": "Card 1",
                    "qfmt": "{{Question}}<br><br>{{Options}}",
                    "afmt": "{{FrontSide}}<hr id=answer>{{Answer}}<br><br>{{Explanation}}<br><small>{{Sources}}</small>"}],
        sort_field_index=5,
    )
    deck = genanki.Deck(_stable_id("jianxue-deck", quiz.id), f"jianxue::{quiz.title}")
    letters = "ABCDEF"
    for q in quiz.questions:
        options = "<br>".join(f"{letters[j]}. {_html(o)}" for j, o in enumerate(q.options))
        answer = "、".join(f"{letters[j]}. {_html(q.options[j])}" for j in q.answer)
        deck.add_note(genanki.Note(model=model, guid=genanki.guid_for(q.id),
                                   fields=[_html(q.stem), options, answer, _html(q.explanation), _html(_sources(q)), q.id]))
    fd, path = tempfile.mkstemp(suffix=".apkg")
    os.close(fd)
    try:
        genanki.Package(deck).write_to_file(path)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")


# -- JSON and Markdown -------------------------------------------------------------------------


def to_json(quiz: Quiz) -> bytes:
    return json.dumps(quiz.to_dict(), ensure_ascii=False, indent=2).encode("utf-8")


def to_markdown(quiz: Quiz) -> bytes:
    letters = "ABCDEF"
    lines = [f"# {quiz.title}", "", f"主题：{quiz.topic or '—'}　　共 {len(quiz.questions)} 题", ""]
    for i, q in enumerate(quiz.questions, start=1):
        kind = {"single": "单选", "multi": "多选", "true_false": "判断", "case_analysis": "案例分析"}[q.type.value]
        lines += [f"## {i}. （{kind}）", "", q.stem, ""]
        lines += [f"- {letters[j]}. {o}" for j, o in enumerate(q.options)]
        lines.append("")
    lines += ["---", "", "# 答案与解析", ""]
    for i, q in enumerate(quiz.questions, start=1):
        lines += [f"**{i}. {'、'.join(letters[j] for j in q.answer)}**　{q.explanation}", ""]
        lines += [f"> 出处：{c.label}　“{c.quote}”" for c in q.citations]
        lines.append("")
    return "\n".join(lines).encode("utf-8")
