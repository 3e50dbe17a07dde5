"""Feishu's wire formats, written here without lark-oapi so that the fake checks the SDK rather
than itself: the events Feishu sends (schema 2.0 ``im.message.receive_v1`` and
``card.action.trigger``, and the URL verification challenge), their webhook encryption and
signature, and the protobuf frames of the long connection (pbbp2.Frame)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MESSAGE_EVENT, CARD_EVENT = "im.message.receive_v1", "card.action.trigger"


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def now_ms() -> str:
    return str(int(time.time() * 1000))


# -- events ----------------------------------------------------------------------------------------


def envelope(event_type: str, event: dict, *, token: str, app_id: str, event_id: str | None = None) -> dict:
    return {"schema": "2.0", "header": {"event_id": event_id or uuid.uuid4().hex, "token": token,
                                        "create_time": now_ms(), "event_type": event_type,
                                        "tenant_key": "fake-tenant", "app_id": app_id},
            "event": event}


def message_event(sender: str, content: dict, *, msg_type: str = "text", chat_id: str, chat_type: str,
                  mentions: list[dict], message_id: str | None = None, sender_type: str = "user") -> dict:
    created = now_ms()
    return {"sender": {"sender_id": {"union_id": "on_" + sender[3:], "user_id": sender[3:11], "open_id": sender},
                       "sender_type": sender_type, "tenant_key": "fake-tenant"},
            "message": {"message_id": message_id or new_id("om_"), "root_id": "", "parent_id": "",
                        "create_time": created, "update_time": created, "chat_id": chat_id, "thread_id": "",
                        "chat_type": chat_type, "message_type": msg_type,
                        "content": json.dumps(content, ensure_ascii=False), "mentions": mentions,
                        "user_agent": "Mozilla/5.0 Lark/7.30.0"}}


def mention(key: str, open_id: str, name: str) -> dict:
    return {"key": key, "id": {"union_id": "on_" + open_id[3:], "user_id": "", "open_id": open_id}, "name": name,
            "tenant_key": "fake-tenant"}


def card_action_event(operator: str, value: dict, *, message_id: str, chat_id: str) -> dict:
    return {"operator": {"tenant_key": "fake-tenant", "user_id": operator[3:11], "open_id": operator,
                         "union_id": "on_" + operator[3:]},
            "token": new_id("c-"), "action": {"value": value, "tag": "button"}, "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": chat_id}}


# -- webhook encryption and signature ---------------------------------------------------------------


def encrypt(plaintext: str, encrypt_key: str) -> str:
    """base64(iv + AES-256-CBC(PKCS#7(plaintext))) with the key sha256(Encrypt Key)."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()


def signed_headers(body: bytes, encrypt_key: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:16]
    signature = hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()
    return {"Content-Type": "application/json; charset=utf-8", "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": signature}


# -- the long connection's frames (pbbp2.proto: Frame {SeqID=1 uint64, LogID=2 uint64, service=3 int32,
#    method=4 int32, headers=5 repeated Header{key=1, value=2}, payload_encoding=6, payload_type=7,
#    payload=8 bytes, LogIDNew=9}) --------------------------------------------------------------------

CONTROL, DATA = 0, 1


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def encode_frame(*, method: int, service: int, headers: dict[str, str], payload: bytes = b"", seq_id: int = 0,
                 log_id: int = 0) -> bytes:
    out = _field(1, seq_id) + _field(2, log_id) + _field(3, service) + _field(4, method)
    for key, value in headers.items():
        out += _field(5, _field(1, key) + _field(2, value))
    if payload:
        out += _field(8, payload)
    return out


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def decode_frame(data: bytes) -> dict:
    """{"seq_id", "log_id", "service", "method", "headers": {key: value}, "payload": bytes}; a
    frame missing a required field raises ValueError, as a real server would refuse it."""
    frame: dict = {"headers": {}, "payload": b""}
    names = {1: "seq_id", 2: "log_id", 3: "service", 4: "method"}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
            if number in names:
                frame[names[number]] = value
        elif wire == 2:
            length, i = _read_varint(data, i)
            chunk, i = data[i:i + length], i + length
            if number == 5:
                header = decode_frame_header(chunk)
                frame["headers"][header[0]] = header[1]
            elif number == 8:
                frame["payload"] = chunk
        else:
            raise ValueError(f"unexpected wire type {wire}")
    missing = [n for n in names.values() if n not in frame]
    if missing:
        raise ValueError(f"a frame without {missing}")
    return frame


def decode_frame_header(data: bytes) -> tuple[str, str]:
    key = value = None
    i = 0
    while i < len(data):
        tag, i = _read_varint(data, i)
        length, i = _read_varint(data, i)
        chunk, i = data[i:i + length].decode(), i + length
        if tag >> 3 == 1:
            key = chunk
        elif tag >> 3 == 2:
            value = chunk
    if key is None or value is None:
        raise ValueError("a header without key or value")
    return key, value
