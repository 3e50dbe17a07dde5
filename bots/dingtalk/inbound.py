"""Deliveries from the DingTalk stream, parsed into :class:`Incoming`.

Two topics reach the robot (the official SDK has already taken the frame apart and JSON-decoded
its ``data``): robot messages on ``/v1.0/im/bot/messages/get`` and interactive-card presses on
``/v1.0/card/instances/callback``. There is no signature to check on a stream: the connection
itself was opened with the app's Client Secret. What is checked here is that a delivery is well
formed, is for this robot, and is not stale; anything else raises :class:`DeliveryError`, which
the stream ACKs and ignores.

Facts relied on (DingTalk's receive-message docs and the stream protocol description in
open-dingtalk/developerpedia, and the SDK's ``ChatbotMessage`` / ``CardCallbackMessage``):
``conversationType`` is "1" for a direct chat and "2" for a group; in a group only messages that
@-mention the robot are delivered, ``isInAtList`` says so and DingTalk has already removed the
robot's @-mention from ``text.content`` (a leading space is what is left of it);
``senderStaffId`` is the sender's userid in the organisation; a robot message carries no
department ids (they are read from the directory, see ``DingtalkClient.user_departments``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from assistant.conversation.messages import MAX_ACTION_BYTES, Incoming
from bots.dingtalk.errors import DeliveryError

CHANNEL = "dingtalk"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
DIRECT, GROUP = "1", "2"  # conversationType
OUT_TRACK_PREFIX = "jianxue-"  # every card this adapter sends has an outTrackId starting so
ACTION_TEXT_PREFIX = "#"  # a link pressed where no card template is set sends "#<action>" as text
_ACTION = re.compile(rf"[\x21-\x7e]{{1,{MAX_ACTION_BYTES}}}")


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where the replies to one delivery go."""

    user_id: str  # the sender's staffId
    chat_id: str  # the sender's staffId in a direct chat, the group's openConversationId otherwise
    group: bool
    session_webhook: str = ""  # the delivery's sessionWebhook ("" for a card press)
    webhook_expires_ms: int = 0  # sessionWebhookExpiredTime, epoch milliseconds


def parse_robot_message(data: Any, *, robot_code: str, now_ms: int,
                        max_age_s: float) -> tuple[Incoming, ReplyTarget]:
    """A robot message (the JSON-decoded ``data`` of a CALLBACK frame) as an Incoming and where
    its replies go; :class:`DeliveryError` if it is malformed, for another robot, or stale."""
    if not isinstance(data, dict):
        raise DeliveryError("a robot message is a JSON object")
    msg_id = _text(data, "msgId")
    code = data.get("robotCode")
    if robot_code and code not in (None, "") and code != robot_code:
        raise DeliveryError(f"a message for robot {code!r}, not this one")
    kind = data.get("conversationType")
    if kind not in (DIRECT, GROUP):
        raise DeliveryError(f"unknown conversationType {kind!r}")
    sender = data.get("senderStaffId")
    if not isinstance(sender, str) or not sender:
        raise DeliveryError("the sender has no senderStaffId (not a member of the organisation)")
    _check_age(data.get("createAt"), now_ms=now_ms, max_age_s=max_age_s)
    group = kind == GROUP
    chat_id = _text(data, "conversationId") if group else sender
    webhook, expires = data.get("sessionWebhook") or "", data.get("sessionWebhookExpiredTime") or 0
    if not isinstance(webhook, str) or not _is_int(expires):
        raise DeliveryError("sessionWebhook is text and sessionWebhookExpiredTime a number")
    text = message_text(data)
    action = action_from_text(text)
    incoming = Incoming(channel=CHANNEL, delivery_id=msg_id, user_id=sender, chat_id=chat_id,
                        text="" if action else text, action=action or "", group=group,
                        mentioned=group and _mentioned(data))
    return incoming, ReplyTarget(user_id=sender, chat_id=chat_id, group=group, session_webhook=webhook,
                                 webhook_expires_ms=int(expires))


def parse_card_callback(data: Any, *, message_id: str) -> tuple[Incoming, ReplyTarget]:
    """A card press (the JSON-decoded ``data`` of a card CALLBACK frame) as an Incoming whose
    ``action`` is the pressed button's; ``message_id`` (the frame's messageId) is its delivery id."""
    if not isinstance(data, dict):
        raise DeliveryError("a card callback is a JSON object")
    if not message_id:
        raise DeliveryError("a card callback frame without a messageId")
    track = _text(data, "outTrackId")
    if not track.startswith(OUT_TRACK_PREFIX):
        raise DeliveryError(f"a press on card {track!r}, which this robot did not send")
    user = _text(data, "userId")
    content = _json_object(data.get("content"), "content")
    private = _json_object(content.get("cardPrivateData"), "cardPrivateData")
    params = private.get("params") or {}
    if not isinstance(params, dict):
        raise DeliveryError("cardPrivateData.params is an object")
    action = params.get("action")
    if action is None:
        ids = private.get("actionIds")
        action = ids[0] if isinstance(ids, list) and ids else None
    if not isinstance(action, str) or not action or not action.isascii() or len(action) > MAX_ACTION_BYTES:
        raise DeliveryError(f"the press carries no valid action: {action!r}")
    group = data.get("spaceType") == "IM_GROUP"
    chat_id = _text(data, "spaceId") if group else user
    incoming = Incoming(channel=CHANNEL, delivery_id=message_id, user_id=user, chat_id=chat_id, action=action,
                        group=group, mentioned=group)  # a press is addressed to the robot
    return incoming, ReplyTarget(user_id=user, chat_id=chat_id, group=group)


def message_text(data: dict) -> str:
    """What was typed: ``text.content``, the text parts of a ``richText``, or DingTalk's own
    recognition of an ``audio`` message; "" for pictures, files and other kinds."""
    kind = data.get("msgtype")
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("content"), str):
            raise DeliveryError("a text message without text.content")
        return text["content"].strip()
    content = data.get("content")
    if kind == "richText":
        parts = content.get("richText") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            raise DeliveryError("a richText message without content.richText")
        return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)).strip()
    if kind == "audio" and isinstance(content, dict) and isinstance(content.get("recognition"), str):
        return content["recognition"].strip()
    if not isinstance(kind, str):
        raise DeliveryError("a robot message without msgtype")
    return ""


def action_from_text(text: str) -> str | None:
    """The action a link sent as ``#<action>`` carries, else None."""
    if text.startswith(ACTION_TEXT_PREFIX) and _ACTION.fullmatch(text[len(ACTION_TEXT_PREFIX):]):
        return text[len(ACTION_TEXT_PREFIX):]
    return None


def action_text(action: str) -> str:
    return ACTION_TEXT_PREFIX + action


def _mentioned(data: dict) -> bool:
    if data.get("isInAtList") is True:
        return True
    robot = data.get("chatbotUserId")
    users = data.get("atUsers") or []
    return bool(robot) and isinstance(users, list) and any(
        isinstance(u, dict) and u.get("dingtalkId") == robot for u in users)


def _check_age(created: Any, *, now_ms: int, max_age_s: float) -> None:
    if created is None:
        return
    if not _is_int(created):
        raise DeliveryError("createAt is a number of milliseconds")
    if abs(now_ms - int(created)) > max_age_s * 1000:
        raise DeliveryError(f"a stale message, created {abs(now_ms - int(created)) / 1000:.0f} s from now")


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise DeliveryError(f"{key} is missing")
    return value


def _json_object(value: Any, name: str) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise DeliveryError(f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise DeliveryError(f"{name} is an object")
    return value


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isdigit()
