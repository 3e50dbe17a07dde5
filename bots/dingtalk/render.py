"""A :class:`Reply` as DingTalk messages, and those messages as the payloads of each way out.

A reply becomes text messages within ``text_limit`` characters (split at sentence ends, each
[n] label kept with its sentence). Buttons and quiz options go on an interactive card when a card
template is configured (card 2.0, callback over the stream: a press comes back as a card
callback carrying the button's action); a multiple-answer question, and every question when no
template is set, is sent as lettered text that the learner answers by typing the letters.
Without a template, other buttons become a markdown message of links in DingTalk's
``dtmd://dingtalkclient/sendMessage?content=`` form: pressing one sends ``#<action>`` as the
member's own message, which the inbound side turns back into the action. Those links work in
direct chats only: in a group DingTalk delivers only messages that @-mention the robot.

The same messages go out three ways (see client.py): through the delivery's sessionWebhook
(text and markdown only; a session webhook cannot carry an interactive card), through the robot
API (``sampleText`` / ``sampleMarkdown``), and for cards through card/instances/createAndDeliver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from assistant.conversation.messages import LETTERS, Button, Choice, Reply, parse_answer_action, split_text
from bots.dingtalk.inbound import action_text

TEXT, MARKDOWN, CARD = "text", "markdown", "card"
TITLE = "检学"  # what the conversation list and the notification show for a markdown message or card
LINK = "dtmd://dingtalkclient/sendMessage?content="


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One DingTalk message, before it is put in the payload of a particular way out."""

    kind: str  # text | markdown | card
    text: str  # the text, the markdown, or the card's markdown
    title: str = ""
    buttons: tuple[Button, ...] = ()


def render_reply(reply: Reply, *, text_limit: int, cards: bool) -> list[Outgoing]:
    """The messages that carry ``reply``; ``cards`` says a card template is configured."""
    pieces = split_text(reply.text, text_limit) if reply.text.strip() else []
    out = [Outgoing(TEXT, piece) for piece in pieces]
    buttons = reply.buttons
    if reply.choice is not None:
        card = _choice_card(reply.choice, buttons, text_limit) if cards and not reply.choice.multiple else None
        if card is not None:
            return out + [card]
        out += [Outgoing(TEXT, piece) for piece in split_text(reply.choice.lettered(), text_limit)]
    if not buttons:
        return out
    if cards:
        last = out.pop() if out else Outgoing(TEXT, "")
        return out + [Outgoing(CARD, last.text, title=TITLE, buttons=buttons)]
    return out + [Outgoing(MARKDOWN, links(buttons), title=TITLE)]


def links(buttons: tuple[Button, ...]) -> str:
    """Markdown links that send each button's action as the member's message when pressed."""
    return "\n\n".join(f"[{_label(b.label)}]({LINK}{quote(action_text(b.action), safe='')})" for b in buttons)


def webhook_body(message: Outgoing) -> dict:
    """The body POSTed to a sessionWebhook."""
    if message.kind == TEXT:
        return {"msgtype": "text", "text": {"content": message.text}}
    if message.kind == MARKDOWN:
        return {"msgtype": "markdown", "markdown": {"title": message.title or TITLE, "text": message.text}}
    raise ValueError("a session webhook cannot carry an interactive card")


def robot_message(message: Outgoing) -> tuple[str, str]:
    """(msgKey, msgParam) of the robot send APIs (oToMessages/batchSend, groupMessages/send)."""
    if message.kind == TEXT:
        return "sampleText", json.dumps({"content": message.text}, ensure_ascii=False)
    if message.kind == MARKDOWN:
        return "sampleMarkdown", json.dumps({"title": message.title or TITLE, "text": message.text}, ensure_ascii=False)
    raise ValueError("an interactive card goes through card/instances/createAndDeliver")


def card_params(message: Outgoing) -> dict[str, str]:
    """The cardParamMap of a card: every value a string, as the card API requires."""
    buttons = [{"text": b.label, "action": b.action} for b in message.buttons]
    return {"title": message.title or TITLE, "markdown": message.text,
            "buttons": json.dumps(buttons, ensure_ascii=False)}


def _choice_card(choice: Choice, extra: tuple[Button, ...], text_limit: int) -> Outgoing | None:
    """A single-answer question as a card: the stem and lettered options in the body, one button per
    letter; None when the body would exceed the limit (the text form is sent instead)."""
    options = "\n\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(choice.options))
    body = f"{choice.stem}\n\n{options}"
    if len(body) > text_limit:
        return None
    buttons = tuple(Button(LETTERS[i], choice.action(i)) for i in range(len(choice.options))) + extra
    return Outgoing(CARD, body, title=f"第{choice.number}/{choice.total}题", buttons=buttons)


def _label(label: str) -> str:
    return label.replace("[", "【").replace("]", "】")  # brackets would end the link text


def question_ref(message: Outgoing) -> str | None:
    """The question a quiz question's card asks (its letter buttons answer it: ``ans:<ref>:<letter>``)."""
    if message.kind != CARD:
        return None
    return next((parsed[0] for b in message.buttons if (parsed := parse_answer_action(b.action)) is not None), None)


def answered_params(message: Outgoing, letters: str) -> dict[str, str]:
    """The cardParamMap keys that change once a question's card is answered: the letter chosen
    under the stem, and of the buttons only those that do not answer."""
    kept = tuple(b for b in message.buttons if parse_answer_action(b.action) is None)
    params = card_params(Outgoing(CARD, f"{message.text}\n\n**已作答：{letters}**", title=message.title, buttons=kept))
    return {key: params[key] for key in ("markdown", "buttons")}
