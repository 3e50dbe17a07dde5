"""Feishu events, as lark-oapi's dispatcher hands them over, -> :class:`Incoming`.

- ``im.message.receive_v1``: a member's message. ``delivery_id`` is the event's ``event_id``
  (what Feishu repeats when it delivers the event again), ``user_id`` the sender's open_id,
  ``chat_id`` the sender's open_id in a direct (p2p) chat and the group's chat_id (``oc_...``)
  in a group, as ``Push.chat_id`` takes it. In a group the message counts as addressed to the
  bot only when one of its mentions is the bot's own open_id; the @-placeholders
  (``@_user_1``) of the bot are taken out of the text, others become ``@name``.
- ``card.action.trigger``: a press on a button of a card jianxue sent; its ``value`` carries
  the Button.action (``jx``) and whether the card went to a group.

Messages from other bots, messages of kinds without text (pictures, files, stickers) and stale
events are ignored (None); an event missing what Feishu always sends raises :class:`EventRejected`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assistant.conversation.messages import MAX_ACTION_BYTES, Incoming
from bots.feishu.errors import EventRejected
from bots.feishu.render import ACTION_KEY

CHANNEL = "feishu"
MESSAGE_EVENT, CARD_EVENT = "im.message.receive_v1", "card.action.trigger"


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where the replies to a delivery go: ``chat_id`` (an open_id or an ``oc_`` chat), and in a group
    the message they answer (the reply API quotes it)."""

    chat_id: str
    group: bool = False
    message_id: str = ""


def parse_message(event: Any, *, bot_open_id: str | None, now_ms: int, max_age_s: float
                  ) -> tuple[Incoming, ReplyTarget] | None:
    """``event``: lark-oapi's P2ImMessageReceiveV1. ``bot_open_id`` None: not known (the bot/v3
    API unreadable), then any mention in a group counts."""
    event_id = _required(getattr(event.header, "event_id", None) if event.header else None, "header.event_id")
    data = event.event
    if data is None or data.sender is None or data.message is None:
        raise EventRejected("a message event without sender or message")
    if data.sender.sender_type not in (None, "user"):
        return None  # another application's bot
    sender = _required(data.sender.sender_id.open_id if data.sender.sender_id else None, "sender.sender_id.open_id")
    message = data.message
    created = message.create_time
    if created is not None and str(created).isdigit() and abs(now_ms - int(created)) > max_age_s * 1000:
        return None
    group = message.chat_type != "p2p"
    chat_id = _required(message.chat_id, "message.chat_id") if group else sender
    mentions = list(message.mentions or [])
    ours = {m.key for m in mentions if m.key and m.id is not None and bot_open_id and m.id.open_id == bot_open_id}
    mentioned = bool(ours) if bot_open_id else bool(mentions)
    text = message_text(message.message_type, message.content)
    if text is None:
        return None
    for mention in mentions:
        if mention.key:
            text = text.replace(mention.key, "" if (mention.key in ours or not bot_open_id) else f"@{mention.name}")
    incoming = Incoming(channel=CHANNEL, delivery_id=event_id, user_id=sender, chat_id=chat_id, text=text.strip(),
                        group=group, mentioned=mentioned)
    return incoming, ReplyTarget(chat_id, group, _required(message.message_id, "message.message_id"))


def parse_card_action(event: Any) -> tuple[Incoming, ReplyTarget] | None:
    """``event``: lark-oapi's P2CardActionTrigger. None for a press on something that is not one
    of jianxue's buttons (no ``jx`` in its value)."""
    event_id = _required(getattr(event.header, "event_id", None) if event.header else None, "header.event_id")
    data = event.event
    if data is None or data.operator is None or data.action is None:
        raise EventRejected("a card action without operator or action")
    user = _required(data.operator.open_id, "operator.open_id")
    value = data.action.value if isinstance(data.action.value, dict) else {}
    action = value.get(ACTION_KEY)
    if action is None:
        return None
    if not isinstance(action, str) or not action or not action.isascii() or len(action) > MAX_ACTION_BYTES:
        raise EventRejected(f"the press carries no valid action: {action!r}")
    group = value.get("group") is True
    chat_id = _required(data.context.open_chat_id if data.context else None, "context.open_chat_id") if group else user
    incoming = Incoming(channel=CHANNEL, delivery_id=event_id, user_id=user, chat_id=chat_id, action=action,
                        group=group, mentioned=group)  # a press is addressed to the bot
    return incoming, ReplyTarget(chat_id, group)


def message_text(kind: str | None, content: str | None) -> str | None:
    """What was typed: a ``text`` message's text, the text runs of a ``post`` (rich text); None for
    other kinds."""
    if kind not in ("text", "post"):
        return None
    try:
        body = json.loads(content or "")
    except ValueError:
        raise EventRejected(f"a {kind} message whose content is not JSON") from None
    if not isinstance(body, dict):
        raise EventRejected(f"a {kind} message whose content is not an object")
    if kind == "text":
        if not isinstance(body.get("text"), str):
            raise EventRejected("a text message without text")
        return body["text"]
    post = body if "content" in body else next((v for v in body.values() if isinstance(v, dict)), {})
    lines = []
    for line in post.get("content") or []:
        runs = [r for r in line if isinstance(r, dict)] if isinstance(line, list) else []
        lines.append("".join(str(r.get("text", "")) if r.get("tag") in ("text", "a") else
                             (str(r.get("user_id", "")) if r.get("tag") == "at" else "") for r in runs))
    title = str(post.get("title") or "")
    return "\n".join(([title] if title else []) + lines)


def _required(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise EventRejected(f"the event has no {name}")
    return value
