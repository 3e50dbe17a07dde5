"""What the conversation core says, in Chinese, for every messenger: help, admission, answers
with their source labels, the passages behind 来源, grades and progress. Plain text throughout,
so nothing in a passage can break a platform's markup."""

from __future__ import annotations

from assistant.models import Answer, Question

LETTERS = "ABCDEFGHIJKL"
LINES = {"criminal": "刑事检察", "civil": "民事检察", "administrative": "行政检察", "public_interest": "公益诉讼检察",
         "general": "综合"}
LINE_NAMES = {"刑事": "criminal", "刑事检察": "criminal", "criminal": "criminal", "民事": "civil", "民事检察": "civil",
              "civil": "civil", "行政": "administrative", "行政检察": "administrative",
              "administrative": "administrative", "公益": "public_interest", "公益诉讼": "public_interest",
              "公益诉讼检察": "public_interest", "public_interest": "public_interest", "全部": None, "all": None}

HELP = (
    "检学 · 检察业务学习助手\n\n"
    "直接发送问题即可，例如：正当防卫的限度怎么认定？回答中的 [1][2] 对应下方来源，点“来源”查看原文。"
    "追问（如“那防卫过当呢？”）会沿用上文。\n\n"
    "/quiz [主题] — 五道选择题，答后给出解析和出处\n"
    "/review — 到期需要复习的题目\n"
    "/progress — 各主题掌握情况\n"
    "/tasks — 训练任务（截止时间、完成情况）\n"
    "/daily [时|off] — 每日一练；加时刻则每天定时推送\n"
    "/mistakes [主题|条线] — 错题本，可重做\n"
    "/hours — 本年度学时\n"
    "/line [刑事|民事|行政|公益诉讼|全部] — 只看某一检察业务条线的资料\n"
    "/comment 说明 — 给最近的评价或提交专家的问题补充说明\n"
    "/queue — 待解答的问题（业务专家）\n"
    "/answer 编号 答复 — 提交答复，每一论断注明 [n]（业务专家）\n"
    "/draft 编号 草稿 — 保存答复草稿（业务专家）\n"
    "/publish 编号 — 把专家答复发布为检答资料（培训管理员）\n"
    "/new — 开始新的对话（清除上文）\n"
    "/help — 本说明"
)
NOT_ADMITTED = ("您好！本机器人仅供经授权的检察人员使用。请向本单位管理员索取配对码，"
                "然后发送：/start 配对码")
PAIRED = "配对成功，欢迎使用检学。\n\n" + HELP
BAD_CODE = "配对码无效、已使用或已过期，请向管理员重新索取。"
FAILED = "抱歉，处理您的消息时出错了，请稍后再试。"
NEW = "已开始新的对话，之前的上下文不再沿用。"
SOURCES_GONE = "这条回答的来源已不再保留，请重新提问。"
NO_REVIEWS = "目前没有到期需要复习的题目。发送 /quiz 做新的练习。"
NO_PENDING = "没有等待作答的题目。发送 /quiz 开始练习。"
LINE_USAGE = "可选：刑事、民事、行政、公益诉讼、全部。例如：/line 刑事"
DENIED = "抱歉，您没有查看这项内容的权限。"
NOT_FOUND = "没有找到相关内容，它可能已被删除或您无权查看。"


def answer_text(answer: Answer) -> str:
    """The answer, a notice if something was taken out or a fallback happened, then the labels."""
    parts = [answer.text.strip()]
    if answer.notice:
        parts.append(f"（{answer.notice}）")
    if answer.citations:
        parts.append("来源：" + "；".join(f"[{c.n}] {c.label}" for c in answer.citations))
    return "\n\n".join(p for p in parts if p)


def sources_text(citations: list[dict]) -> str:
    blocks = [f"[{c['n']}] {c['label']}\n“{c.get('passage') or c['quote']}”" for c in citations]
    return "原文出处：\n\n" + "\n\n".join(blocks) if blocks else "这条回答没有引用资料。"


def grade_text(correct: bool, question: Question) -> str:
    letters = "、".join(LETTERS[i] for i in question.answer)
    head = "回答正确。" if correct else f"回答错误。正确答案：{letters}"
    quotes = "\n".join(f"出处：{c.label}\n“{c.quote}”" for c in question.citations)
    return "\n\n".join(p for p in (head, question.explanation.strip(), quotes) if p)


def short_explanation(question: Question, limit: int = 200) -> str:
    """What a platform's own quiz card can show after answering (the full one follows)."""
    label = question.citations[0].label if question.citations else ""
    text = f"出处：{label}" if label else question.explanation
    return text.replace("\n", " ")[:limit]


def progress_text(progress: dict) -> str:
    if not progress["attempts"]:
        return "还没有答题记录。发送 /quiz 开始练习。"
    lines = [f"已答 {progress['attempts']} 题，答对 {progress['correct']} 题；待复习 {progress['due']} 题。", "",
             "各主题掌握度："]
    for t in sorted(progress["topics"], key=lambda t: t["mastery"]):
        lines.append(f"· {t['topic']}（{LINES.get(t['line'], t['line'])}）：{round(t['mastery'] * 100)}%，"
                     f"{t['correct']}/{t['attempts']}")
    return "\n".join(lines)


def quiz_intro(title: str, count: int) -> str:
    return f"{title}：共 {count} 题，选择后即给出解析和出处。"


def no_quiz(topic: str | None) -> str:
    return (f"没有找到{'与“' + topic + '”相关、' if topic else ''}可以出题的资料。"
            "换个主题试试，或发送 /quiz 不带主题。")


def nudge(due: int) -> str:
    return f"您有 {due} 道题到期需要复习，发送 /review 开始。"
