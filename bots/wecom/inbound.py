"""A decrypted WeCom callback -> :class:`Incoming`.

A self-built application receives what members send it in its own conversation (text, and
events such as a template-card button press or an app-menu click); WeCom does not deliver group
messages to a self-built application, so every delivery here is a direct one (``group`` is
False, ``chat_id`` is the sender). The callback carries no department ids: the runner reads them
from the directory (client.user_departments) before the core sees the delivery.
"""

from __future__ import annotations

from assistant.conversation.messages import LETTERS, Incoming, answer_action
from bots.wecom.crypto import CallbackRejected, parse_xml

CHANNEL = "wecom"
CARD_EVENTS = {"template_card_event", "template_card_menu_event"}
APP_EVENTS_WITH_KEY = {"click"}  # an app-menu item: its key is passed on as a command or an action


def parse_delivery(xml: str, *, agent_id: int) -> Incoming | None:
    """The delivery as the core sees it, None for what jianxue does not act on (entering the app,
    subscribing, pictures and voice); :class:`CallbackRejected` when a required field is missing."""
    message = parse_xml(xml, lists=("SelectedItem", "OptionId"))
    kind = _field(message, "MsgType").lower()
    sender = _field(message, "FromUserName")
    agent = message.get("AgentID")
    if agent not in (None, "") and str(agent).strip() != str(agent_id):
        raise CallbackRejected("the callback is for another application (AgentID)", status=403)
    if kind == "text":
        return Incoming(channel=CHANNEL, delivery_id=_field(message, "MsgId"), user_id=sender, chat_id=sender,
                        text=str(message.get("Content") or "").strip())
    if kind != "event":
        return None
    event = _field(message, "Event").lower()
    created = _field(message, "CreateTime")
    if event in CARD_EVENTS:
        task = str(message.get("TaskId") or "")
        action = _card_action(message)
        if action is None:
            return None
        # an event has no MsgId; WeCom's retries repeat sender, time and card, a new press does not
        return Incoming(channel=CHANNEL, delivery_id=f"evt:{sender}:{created}:{task}:{action}"[:256],
                        user_id=sender, chat_id=sender, action=action)
    if event in APP_EVENTS_WITH_KEY:  # a menu item whose key is a command ("/quiz") is that command typed
        key = _field(message, "EventKey")
        typed = {"text": key} if key.startswith("/") else {"action": key}
        return Incoming(channel=CHANNEL, delivery_id=f"evt:{sender}:{created}:{event}:{key}"[:256],
                        user_id=sender, chat_id=sender, **typed)
    return None


def response_code(xml: str) -> str:
    """The ResponseCode of a template-card event (what lets the card be updated once, e.g. its
    buttons greyed out after the press), else ""."""
    message = parse_xml(xml)
    code = message.get("ResponseCode") if str(message.get("Event") or "").lower() in CARD_EVENTS else None
    return code.strip() if isinstance(code, str) else ""


def _card_action(message: dict) -> str | None:
    """The pressed button's key, or for a vote card (multiple answers) the answer action built
    from the ticked option ids (the letters) under the question key (the Choice's ref); None for
    a vote card submitted with nothing ticked."""
    selected = message.get("SelectedItems")
    items = selected.get("SelectedItem") if isinstance(selected, dict) else None
    if not items:
        return _field(message, "EventKey")
    item = items[0] if isinstance(items[0], dict) else {}
    ref = str(item.get("QuestionKey") or "")
    ids = item.get("OptionIds")
    options = ids.get("OptionId") if isinstance(ids, dict) else None
    ticked = {str(o) for o in options or []}
    if ref and not ticked:
        return None
    if not ref or not ticked <= set(LETTERS):  # option ids are single letters
        raise CallbackRejected("the card event's selection is not one jianxue sent")
    return answer_action(ref, "".join(sorted(ticked)))


def _field(message: dict, name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CallbackRejected(f"the callback has no {name}")
    return value.strip()
