"""Telegram's limits: message length, poll question and option length, explanation length."""

from __future__ import annotations

from assistant.conversation import texts
from assistant.conversation.messages import Choice
from assistant.models import Citation, Question, QuestionType
from bots.telegram import render


def question(stem: str, options: list[str], answer: list[int]) -> Question:
    cite = Citation(n=1, label="检例第45号·要旨", source_id="检例第45号", chunk_id="c1", doc_id="d1", kind="case",
                    title="t", quote="原文。")
    return Question(id="q1", type=QuestionType.multi if len(answer) > 1 else QuestionType.single, stem=stem,
                    options=options, answer=answer, explanation="解析" * 300, citations=[cite], difficulty=2,
                    topic="正当防卫", line="criminal", kind="charge")


def choice(q: Question, number: int, total: int) -> Choice:
    return Choice("r1", number, total, q.stem, tuple(q.options), len(q.answer) > 1, tuple(q.answer),
                  texts.short_explanation(q))


def test_long_text_is_split_at_line_ends_under_the_limit():
    text = "\n".join(f"第{i}行：" + "正当防卫" * 30 for i in range(100))
    pieces = render.split(text)
    assert len(pieces) > 1 and all(len(p) <= render.MAX_TEXT for p in pieces)
    assert "\n".join(pieces) == text
    assert render.split("字" * 10000) == ["字" * 4096, "字" * 4096, "字" * 1808]
    assert render.split("") == ["…"]


def test_a_short_question_is_a_poll_as_it_is():
    parts = render.poll_parts(choice(question("哪一罪名？", ["盗窃罪", "诈骗罪", "抢夺罪"], [1]), 1, 5))
    assert parts.preface is None and parts.question == "第1/5题：哪一罪名？" and parts.options == ["盗窃罪", "诈骗罪", "抢夺罪"]


def test_a_long_question_goes_first_as_a_message_with_lettered_options():
    q = question("【案情】" + "某甲" * 200, ["选项" * 60, "短", "中等长度"], [0, 2])
    parts = render.poll_parts(choice(q, 2, 5))
    assert parts.preface.startswith("第2/5题（多选）：【案情】") and "A. 选项" in parts.preface and "C. 中等长度" in parts.preface
    assert parts.options == ["A", "B", "C"] and len(parts.question) <= render.MAX_POLL_QUESTION and "所有" in parts.question
    assert parts.explanation == "出处：检例第45号·要旨" and len(parts.explanation) <= render.MAX_EXPLANATION


def test_grades_name_the_right_letters_and_quote_the_source():
    text = texts.grade_text(False, question("哪一罪名？", ["盗窃罪", "诈骗罪", "抢夺罪"], [0, 2]))
    assert text.startswith("回答错误。正确答案：A、C") and "出处：检例第45号·要旨\n“原文。”" in text
