"""A :class:`Reply` as Feishu messages (``msg_type`` and its ``content`` object).

- Text goes out as ``text`` messages of at most ``text_limit`` characters, cut at sentence ends
  with each [n] label kept with its sentence (split_text).
- Buttons go on an ``interactive`` message card (card JSON 1.0: a ``div`` of plain text and an
  ``action`` block of buttons) whose buttons carry ``value`` {"jx": <Button.action>, "group":
  <in a group chat>}; a press comes back as a ``card.action.trigger`` callback with that value.
  The text before them goes as text messages, its last piece rides in the card.
- A single-answer quiz question is a card: its stem and lettered options, one button per letter.
  A multiple-answer question, or one whose card would be too large, goes as lettered text and is
  answered by typing the letters (``AC``). Once pressed, the card is replaced (in the callback's
  answer) by the same card with what was chosen in place of its buttons (answered_card).
"""

from __future__ import annotations

import json

from assistant.conversation.messages import (
    LETTERS,
    Button,
    Choice,
    Reply,
    parse_answer_action,
    split_text,
    utf8_bytes,
)
from bots.feishu.client import Message

TITLE = "检学"
HOW_TO_ANSWER = "\n点击选项作答。"
CARD_BYTES = 30 * 1024  # an interactive message's request body (text: 150 KB)
ACTION_KEY = "jx"


def render_reply(reply: Reply, *, text_limit: int, group: bool) -> list[Message]:
    """The messages that carry ``reply``; ``group``: they go to a group chat (a card press there
    comes back with the group as its chat)."""
    out = text_messages(reply.text, text_limit)
    if reply.choice is not None:
        card = choice_card(reply.choice, group=group) if not reply.choice.multiple else None
        if card is not None and utf8_bytes(json.dumps(card.content, ensure_ascii=False)) < CARD_BYTES:
            out.append(card)
        else:
            out += text_messages(reply.choice.lettered(), text_limit)
    if reply.buttons:
        last = out.pop().content["text"] if out and out[-1].msg_type == "text" else ""
        out.append(card_message(TITLE, last, reply.buttons, group=group))
    return out


def text_messages(text: str, limit: int) -> list[Message]:
    """Text in pieces within ``limit``; none for blank text (Feishu refuses an empty message)."""
    if not text.strip():
        return []
    return [Message("text", {"text": piece}) for piece in split_text(text, limit)]


def choice_card(choice: Choice, *, group: bool) -> Message:
    title = f"第{choice.number}/{choice.total}题"
    body = choice.stem + "\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(choice.options))
    buttons = tuple(Button(LETTERS[i], choice.action(i)) for i in range(len(choice.options)))
    return card_message(title, body + HOW_TO_ANSWER, buttons, group=group)


def card_message(title: str, text: str, buttons: tuple[Button, ...], *, group: bool) -> Message:
    elements: list[dict] = []
    if text.strip():
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": text}})
    elements.append({"tag": "action", "actions": [
        {"tag": "button", "text": {"tag": "plain_text", "content": b.label}, "type": "default",
         "value": {ACTION_KEY: b.action, "group": group}} for b in buttons]})
    card = {"config": {"wide_screen_mode": True, "update_multi": False},
            "header": {"title": {"tag": "plain_text", "content": title}, "template": "blue"},
            "elements": elements}
    return Message("interactive", card)


def question_ref(message: Message) -> str | None:
    """The question a quiz question's card asks (its buttons answer it: ``ans:<ref>:<letter>``)."""
    if message.msg_type != "interactive":
        return None
    for element in message.content.get("elements", []):
        for button in element.get("actions", []) if element.get("tag") == "action" else []:
            parsed = parse_answer_action(str((button.get("value") or {}).get(ACTION_KEY, "")))
            if parsed is not None:
                return parsed[0]
    return None


def answered_card(card: dict, letters: str) -> dict:
    """A question card once answered: its stem and options as they were, and in place of the
    buttons the letters chosen, so that nothing is left to press."""
    elements = []
    for element in card.get("elements", []):
        if element.get("tag") == "action":
            continue
        if element.get("tag") == "div" and element.get("text", {}).get("content", "").endswith(HOW_TO_ANSWER):
            text = element["text"]["content"].removesuffix(HOW_TO_ANSWER)
            element = {**element, "text": {**element["text"], "content": text}}
        elements.append(element)
    elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": f"已作答：{letters}"}]})
    return {**card, "elements": elements}
