"""The webhook's checks, on bodies encrypted and signed as Feishu does (tests/fakes/feishu_wire.py,
written without lark-oapi)."""

from __future__ import annotations

import json

import pytest

from bots.feishu.errors import EventRejected
from bots.feishu.webhook import open_event
from tests.fakes.feishu_wire import encrypt, envelope, signed_headers

KEY, TOKEN = "an-encrypt-key", "a-verification-token"


def request(event: dict, *, key: str = KEY) -> tuple[bytes, dict]:
    body = json.dumps({"encrypt": encrypt(json.dumps(event, ensure_ascii=False), key)}).encode()
    return body, signed_headers(body, KEY)


def event(token: str = TOKEN) -> dict:
    return envelope("im.message.receive_v1", {"message": {"content": "{\"text\": \"你好\"}"}}, token=token,
                    app_id="cli_x")


def test_a_signed_encrypted_event_opens_to_what_was_sent():
    body, headers = request(event())
    opened = open_event(body, headers, encrypt_key=KEY, verification_token=TOKEN)
    assert opened["header"]["event_type"] == "im.message.receive_v1" and "你好" in opened["event"]["message"]["content"]


def test_the_url_verification_is_checked_by_its_token_alone():
    challenge = {"challenge": "c-1", "token": TOKEN, "type": "url_verification"}
    body, _ = request(challenge)
    assert open_event(body, {}, encrypt_key=KEY, verification_token=TOKEN)["challenge"] == "c-1"
    forged, _ = request({**challenge, "token": "other"})
    with pytest.raises(EventRejected) as refused:
        open_event(forged, {}, encrypt_key=KEY, verification_token=TOKEN)
    assert refused.value.status == 403


@pytest.mark.parametrize("forgery, status", [
    ("signature", 401), ("unsigned", 401), ("body", 401), ("token", 403), ("key", 401), ("plain", 400), ("junk", 400),
])
def test_forged_or_malformed_events_are_refused_with_a_4xx(forgery, status):
    body, headers = request(event(token="other" if forgery == "token" else TOKEN),
                            key="another-key" if forgery == "key" else KEY)
    if forgery == "signature":
        headers["X-Lark-Signature"] = "0" * 64
    elif forgery == "unsigned":
        del headers["X-Lark-Signature"]
    elif forgery == "body":  # signed, then altered
        body = body.replace(b'"}', b'=="}')
    elif forgery == "plain":
        body = json.dumps(event()).encode()
    elif forgery == "junk":
        body = b"\xff\x00"
    with pytest.raises(EventRejected) as refused:
        open_event(body, headers, encrypt_key=KEY, verification_token=TOKEN)
    assert refused.value.status == status
