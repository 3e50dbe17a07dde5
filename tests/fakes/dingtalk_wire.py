"""DingTalk's wire shapes, built independently of the adapter: Stream frames, robot-message and
card-callback data, and the new API's error body. The fake server sends these; parser tests feed
them to bots/dingtalk/inbound.py directly."""

from __future__ import annotations

import json
import time
import uuid

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
TICKET_LIFETIME_S = 90  # a gateway ticket opens one connection within 90 s
ROBOT_USER_ID = "$:LWCP_v1:$robot0000fake"  # chatbotUserId: the robot's own dingtalkId


def message_id() -> str:
    """A messageId in DingTalk's shape, e.g. 212ca9d7_974_1898c159aa6_1783b."""
    raw = uuid.uuid4().hex
    return f"{raw[:8]}_{int(raw[8:11], 16)}_{raw[11:22]}_{raw[22:27]}"


def frame(kind: str, topic: str, data: dict, *, message_id: str, app_id: str, connection_id: str) -> dict:
    """A frame the server pushes: specVersion, type, headers and data as a JSON string."""
    return {"specVersion": "1.0", "type": kind,
            "headers": {"appId": app_id, "connectionId": connection_id, "contentType": "application/json",
                        "messageId": message_id, "time": str(int(time.time() * 1000)), "topic": topic},
            "data": json.dumps(data, ensure_ascii=False)}


def robot_message_data(user: str, text: str, *, group: str | None = None, mentioned: bool = True,
                       corp_id: str = "ding-corp-1", robot_code: str = "dingtestapp", webhook: str = "",
                       webhook_expires_ms: int = 0, msgtype: str = "text", content: dict | None = None,
                       msg_id: str | None = None, created_ms: int | None = None, nick: str | None = None) -> dict:
    """The data of a robot message as DingTalk delivers it. In a group DingTalk has removed the
    robot's @-mention from the text, which leaves the space that followed it."""
    now = int(time.time() * 1000)
    data = {
        "conversationId": f"cid{uuid.uuid5(uuid.NAMESPACE_URL, group or user).hex[:20]}==" if not group else group,
        "chatbotCorpId": corp_id, "chatbotUserId": ROBOT_USER_ID, "msgId": msg_id or f"msg{uuid.uuid4().hex}==",
        "senderNick": nick or f"用户{user}", "isAdmin": False, "senderStaffId": user,
        "sessionWebhookExpiredTime": webhook_expires_ms or now + 5_400_000, "createAt": created_ms or now,
        "senderCorpId": corp_id, "conversationType": "2" if group else "1", "senderId": f"$:LWCP_v1:${user}",
        "sessionWebhook": webhook, "robotCode": robot_code, "msgtype": msgtype,
    }
    if group:
        data |= {"conversationTitle": "第一检察部学习群", "isInAtList": mentioned,
                 "atUsers": [{"dingtalkId": ROBOT_USER_ID}] if mentioned else []}
    if msgtype == "text":
        data["text"] = {"content": f" {text}" if group and mentioned else text}
    else:
        data["content"] = content or {}
    return data


def card_press_data(track: str, action: str, *, index: int, user: str, corp_id: str, space_type: str,
                    space_id: str) -> dict:
    """The data of a card callback: the presser, the card's outTrackId, and in ``content`` (a JSON
    string) the private data of the press: the button's id and the params it sends."""
    return {"extension": json.dumps({}), "corpId": corp_id, "userId": user, "userIdType": 1, "type": "actionCallback",
            "outTrackId": track, "spaceType": space_type, "spaceId": space_id,
            "content": json.dumps({"cardPrivateData": {"actionIds": [f"button_{index}"], "params": {"action": action}}})}


def api_error(code: str, message: str) -> dict:
    """The new API's error body (with an HTTP 4xx/5xx status)."""
    return {"code": code, "requestid": str(uuid.uuid4()).upper(), "message": message}
