"""Telegram's side of the conversation core's replies: messages under 4,096 characters, inline
keyboards for buttons, and quiz questions as native quiz polls within Telegram's limits (a
question or option too long for a poll goes first as a message with lettered options)."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from assistant.conversation.messages import LETTERS, Button, Choice, split_text

MAX_TEXT = 4096  # a message
MAX_POLL_QUESTION = 300
MAX_POLL_OPTION = 100
MAX_EXPLANATION = 200  # at most two line feeds
BUTTONS_PER_ROW = 2


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces under Telegram's limit, cut at line and sentence ends (never an empty message)."""
    return [p or "…" for p in split_text(text, limit)] if text.strip() else ["…"]


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    rows = [buttons[i:i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)] \
        if len(buttons) > 2 else [buttons]
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row] for row in rows])


@dataclass(frozen=True)
class PollParts:
    preface: str | None  # sent as a message first when the question or options are too long for a poll
    question: str
    options: list[str]
    explanation: str


def poll_parts(choice: Choice) -> PollParts:
    head = f"第{choice.number}/{choice.total}题{'（多选）' if choice.multiple else ''}："
    explanation = choice.explanation.replace("\n", " ")[:MAX_EXPLANATION]
    fits = len(head) + len(choice.stem) <= MAX_POLL_QUESTION and all(len(o) <= MAX_POLL_OPTION for o in choice.options)
    if fits:
        return PollParts(None, head + choice.stem, list(choice.options), explanation)
    lettered = "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(choice.options))
    return PollParts(f"{head}{choice.stem}\n\n{lettered}",
                     f"第{choice.number}/{choice.total}题：请选择{'所有' if choice.multiple else ''}正确选项（题目见上）",
                     [LETTERS[i] for i in range(len(choice.options))], explanation)
