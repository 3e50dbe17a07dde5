"""Text for Telegram: answers with compact source labels, the quoted passages behind 来源,
quiz polls within Telegram's limits, grades and progress. Plain text throughout (no parse
mode), so nothing in a passage can break the markup."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.models import Answer, Question

MAX_TEXT = 4096  # a message
MAX_POLL_QUESTION = 300
MAX_POLL_OPTION = 100
MAX_EXPLANATION = 200  # at most two line feeds
LETTERS = "ABCDEFGHIJKL"
LINES = {"criminal": "刑事检察", "civil": "民事检察", "administrative": "行政检察", "public_interest": "公益诉讼检察",
         "general": "综合"}

HELP = (
    "检学 · 检察业务学习助手\n\n"
    "直接发送问题即可，例如：正当防卫的限度怎么认定？回答中的 [1][2] 对应下方来源，点“来源”查看原文。"
    "追问（如“那防卫过当呢？”）会沿用上文。\n\n"
    "/quiz [主题] — 五道选择题（Telegram 测验投票），答后给出解析和出处\n"
    "/review — 到期需要复习的题目\n"
    "/progress — 各主题掌握情况\n"
    "/line [刑事|民事|行政|公益诉讼|全部] — 只看某一检察业务条线的资料\n"
    "/new — 开始新的对话（清除上文）\n"
    "/help — 本说明"
)
NOT_ADMITTED = ("您好！本机器人仅供经授权的检察人员使用。请向本单位管理员索取配对码，"
                "然后发送：/start 配对码")
PAIRED = "配对成功，欢迎使用检学。\n\n" + HELP
BAD_CODE = "配对码无效、已使用或已过期，请向管理员重新索取。"
FAILED = "抱歉，处理您的消息时出错了，请稍后再试。"


def answer_text(answer: Answer) -> str:
    """The answer, a notice if something was taken out or a fallback happened, then the labels."""
    parts = [answer.text.strip()]
    if answer.notice:
        parts.append(f"（{answer.notice}）")
    if answer.citations:
        parts.append("来源：" + "；".join(f"[{c.n}] {c.label}" for c in answer.citations))
    return "\n\n".join(p for p in parts if p)


def sources_text(citations: list[dict]) -> str:
    blocks = [f"[{c['n']}] {c['label']}\n“{c['quote']}”" for c in citations]
    return "原文出处：\n\n" + "\n\n".join(blocks) if blocks else "这条回答没有引用资料。"


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces under Telegram's limit, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return [p.rstrip("\n") or "…" for p in pieces]


@dataclass(frozen=True)
class PollParts:
    preface: str | None  # sent as a message first when the question or options are too long for a poll
    question: str
    options: list[str]


def poll_parts(question: Question, number: int, total: int) -> PollParts:
    several = len(question.answer) > 1
    head = f"第{number}/{total}题{'（多选）' if several else ''}："
    fits = len(head) + len(question.stem) <= MAX_POLL_QUESTION and all(len(o) <= MAX_POLL_OPTION
                                                                       for o in question.options)
    if fits:
        return PollParts(None, head + question.stem, list(question.options))
    lettered = "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(question.options))
    return PollParts(f"{head}{question.stem}\n\n{lettered}", f"第{number}/{total}题：请选择{'所有' if several else ''}正确选项（题目见上）",
                     [LETTERS[i] for i in range(len(question.options))])


def short_explanation(question: Question) -> str:
    """What the poll itself shows after answering (the full explanation follows as a message)."""
    label = question.citations[0].label if question.citations else ""
    text = f"出处：{label}" if label else question.explanation
    return text.replace("\n", " ")[:MAX_EXPLANATION]


def grade_text(correct: bool, question: Question) -> str:
    letters = "、".join(LETTERS[i] for i in question.answer)
    head = "回答正确。" if correct else f"回答错误。正确答案：{letters}"
    quotes = "\n".join(f"出处：{c.label}\n“{c.quote}”" for c in question.citations)
    return "\n\n".join(p for p in (head, question.explanation.strip(), quotes) if p)


def progress_text(progress: dict) -> str:
    if not progress["attempts"]:
        return "还没有答题记录。发送 /quiz 开始练习。"
    lines = [f"已答 {progress['attempts']} 题，答对 {progress['correct']} 题；待复习 {progress['due']} 题。", "",
             "各主题掌握度："]
    for t in sorted(progress["topics"], key=lambda t: t["mastery"]):
        lines.append(f"· {t['topic']}（{LINES.get(t['line'], t['line'])}）：{round(t['mastery'] * 100)}%，"
                     f"{t['correct']}/{t['attempts']}")
    return "\n".join(lines)
