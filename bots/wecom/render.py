"""Neutral replies -> WeCom message bodies (``msgtype`` and its object; the client adds the
recipient and the AgentId).

- Text goes out in pieces of at most 2,048 UTF-8 bytes (WeCom truncates a longer text or
  markdown message), cut on sentence ends with the [n] labels kept (split_text).
- Buttons become a ``button_interaction`` template card: each button's key is the
  Button.action, which comes back as EventKey of a ``template_card_event``. A short text rides
  in the card; a long one goes first as text, with its last paragraph (an answer's source labels)
  in the card when that is short.
- A single-answer Choice becomes a ``button_interaction`` card with one button per option
  (WeCom allows 6); a multiple-answer Choice becomes a ``vote_interaction`` card in multi-select
  mode (question key = the Choice's ref, option ids = the letters). The question itself rides in
  the card when it is short, else as a text message just before the card. Where a card cannot
  carry it (more options than the card takes, or an application group chat, which takes no
  template cards), the question goes as lettered text and is answered by typing the letters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from assistant.conversation.messages import LETTERS, Button, Choice, Reply, split_text, utf8_bytes

TEXT_BYTES = 2048  # text.content and markdown.content, message/send and appchat/send
MAX_BUTTONS = 6  # button_interaction: button_list
MAX_VOTE_OPTIONS = 20  # vote_interaction: checkbox.option_list
TITLE_CHARS = 36  # main_title.title, recommended
SUBTITLE_CHARS = 160  # sub_title_text, recommended
BUTTON_CHARS = 10  # button_list.text, recommended
OPTION_CHARS = 17  # checkbox.option_list.text, recommended
TASK_ID_BYTES = 128  # unique per application; digits, letters and _-@
TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
CARD_TITLE = "检学"


def new_task_id() -> str:
    return f"jx-{uuid.uuid4().hex}"


def render_reply(reply: Reply, *, cards: bool = True, markdown: bool = False,
                 task_id: Callable[[], str] = new_task_id) -> list[dict]:
    """The messages that carry ``reply``, in order. ``cards`` is False where template cards
    cannot be sent (an application group chat)."""
    if reply.choice is not None:
        messages = text_messages(reply.text, markdown=markdown) if reply.text.strip() else []
        return messages + choice_messages(reply.choice, cards=cards, markdown=markdown, task_id=task_id)
    if not reply.buttons or not cards:
        return text_messages(reply.text, markdown=markdown)
    # a short text rides in the card; a long one goes first, and its last paragraph (an answer's
    # source labels) rides in the card when that is short
    text = reply.text.strip()
    head, _, last = text.rpartition("\n\n") if len(text) > SUBTITLE_CHARS else ("", "", text)
    if len(last) > SUBTITLE_CHARS:
        head, last = text, ""
    messages = text_messages(head, markdown=markdown)
    groups = [reply.buttons[i:i + MAX_BUTTONS] for i in range(0, len(reply.buttons), MAX_BUTTONS)]
    for n, group in enumerate(groups):
        body = last if n == 0 else ""
        messages.append(button_card(group, title=CARD_TITLE if body else "请选择", text=body, task_id=task_id()))
    return messages


def text_messages(text: str, *, markdown: bool = False) -> list[dict]:
    """Text in pieces within WeCom's limit; none for blank text (WeCom refuses an empty message)."""
    if not text.strip():
        return []
    measure = (lambda piece: utf8_bytes(_markdown(piece))) if markdown else utf8_bytes
    return [_text(piece, markdown) for piece in split_text(text, TEXT_BYTES, measure=measure)]


def choice_messages(choice: Choice, *, cards: bool = True, markdown: bool = False,
                    task_id: Callable[[], str] = new_task_id) -> list[dict]:
    limit = MAX_VOTE_OPTIONS if choice.multiple else MAX_BUTTONS
    if not cards or len(choice.options) > limit:
        return text_messages(choice.lettered(), markdown=markdown)
    title = f"第{choice.number}/{choice.total}题{'（多选）' if choice.multiple else ''}"[:TITLE_CHARS]
    body = choice.stem + "\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(choice.options))
    messages = [] if len(body) <= SUBTITLE_CHARS else text_messages(body, markdown=markdown)
    hint = "勾选全部正确选项后提交" if choice.multiple else "点击选项作答"
    text = body if len(body) <= SUBTITLE_CHARS else hint
    if choice.multiple:
        messages.append(vote_card(choice, title=title, text=text, task_id=task_id()))
    else:
        buttons = tuple(Button(_label(LETTERS[i], option, BUTTON_CHARS), choice.action(i))
                        for i, option in enumerate(choice.options))
        messages.append(button_card(buttons, title=title, text=text, task_id=task_id()))
    return messages


def button_card(buttons: tuple[Button, ...], *, title: str, text: str, task_id: str) -> dict:
    card: dict = {"card_type": "button_interaction", "main_title": {"title": title[:TITLE_CHARS]}, "task_id": _task(task_id),
                  "button_list": [{"type": 0, "text": _cut(b.label, BUTTON_CHARS), "style": 1, "key": b.action}
                                  for b in buttons[:MAX_BUTTONS]]}
    if text:
        card["sub_title_text"] = text
    return {"msgtype": "template_card", "template_card": card}


def vote_card(choice: Choice, *, title: str, text: str, task_id: str) -> dict:
    options = [{"id": LETTERS[i], "text": _label(LETTERS[i], o, OPTION_CHARS), "is_checked": False}
               for i, o in enumerate(choice.options)]
    card = {"card_type": "vote_interaction", "main_title": {"title": title[:TITLE_CHARS]}, "task_id": _task(task_id),
            "checkbox": {"question_key": choice.ref, "option_list": options, "mode": 1},
            "submit_button": {"text": "提交", "key": f"submit:{choice.ref}"}}
    if text:
        card["sub_title_text"] = text
    return {"msgtype": "template_card", "template_card": card}


def _text(piece: str, markdown: bool) -> dict:
    if markdown:
        return {"msgtype": "markdown", "markdown": {"content": _markdown(piece)}}
    return {"msgtype": "text", "text": {"content": piece}}


def _markdown(text: str) -> str:
    """Citation labels in bold; everything else as written."""
    return re.sub(r"\[(\d+)\]", r"**[\1]**", text)


def _label(letter: str, option: str, limit: int) -> str:
    """``A. option`` when it fits the recommended length, else the letter alone (the options are
    then written out in the card's text or the message before it)."""
    full = f"{letter}. {option}"
    return full if len(full) <= limit else letter


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _task(task_id: str) -> str:
    if not TASK_ID.match(task_id):
        raise ValueError(f"a WeCom task_id is 1-128 of [0-9A-Za-z_-@]: {task_id!r}")
    return task_id
