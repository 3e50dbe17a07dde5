"""The callback security against a cipher text made independently, as WeCom makes it."""

from __future__ import annotations

import time

import pytest

from assistant.errors import ConfigError
from bots.wecom.crypto import CallbackCrypto, CallbackRejected
from tests.fakes.wecom_callback import CallbackSender, sign

CORP, TOKEN, KEY = "wwcorp42", "tok-en", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SENDER = CallbackSender(token=TOKEN, aes_key=KEY, corp_id=CORP, agent_id=7)


def crypto(**kw) -> CallbackCrypto:
    return CallbackCrypto(token=TOKEN, aes_key=KEY, corp_id=CORP, **kw)


def post_args(xml: str, **kw) -> tuple[bytes, dict]:
    encrypted = SENDER.encrypt(xml, receive_id=kw.pop("receive_id", None))
    return SENDER.envelope(encrypted).encode(), SENDER.query(encrypted, **kw)


def test_url_check_answers_the_plain_echo():
    encrypted = SENDER.encrypt("1616140317555161061")
    q = SENDER.query(encrypted)
    assert crypto().verify_url(echostr=encrypted, **q) == "1616140317555161061"


def test_a_delivery_decrypts_to_the_message_sent():
    xml = SENDER.text("zhangsan", "正当防卫的限度怎么认定？", msg_id="123")
    body, q = post_args(xml)
    assert crypto().decrypt(body, **q) == xml


@pytest.mark.parametrize("case", ["signature", "stale", "future", "corp", "receive_id", "not_xml", "no_encrypt",
                                  "garbage", "short", "no_nonce", "entities"])
def test_forged_stale_misaddressed_or_malformed_callbacks_are_refused(case):
    xml = SENDER.text("zhangsan", "hi")
    body, q = post_args(xml)
    status = 403
    if case == "signature":
        q["msg_signature"] = "0" * 40
    elif case == "stale":
        body, q = post_args(xml, timestamp=int(time.time()) - 301)
    elif case == "future":
        body, q = post_args(xml, timestamp=int(time.time()) + 301)
    elif case == "corp":
        body = body.replace(CORP.encode(), b"wwsomeoneelse", 1)
    elif case == "receive_id":  # signed correctly, but encrypted for another organisation
        body, q = post_args(xml, receive_id="wwsomeoneelse")
    elif case == "not_xml":
        body, status = b"{\"Encrypt\": 1}", 400
    elif case == "no_encrypt":
        body, status = b"<xml><ToUserName>x</ToUserName></xml>", 400
    elif case in ("garbage", "short"):
        encrypted = "@@not base64@@" if case == "garbage" else "QUJD"
        body, q, status = SENDER.envelope(encrypted).encode(), SENDER.query(encrypted), 400
    elif case == "no_nonce":
        q["nonce"], status = "", 400
    elif case == "entities":
        body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
        status = 400
    with pytest.raises(CallbackRejected) as refused:
        crypto().decrypt(body, **q)
    assert refused.value.status == status


def test_a_bad_url_check_signature_is_refused():
    encrypted = SENDER.encrypt("echo")
    q = SENDER.query(encrypted)
    q["msg_signature"] = sign("another token", q["timestamp"], q["nonce"], encrypted)
    with pytest.raises(CallbackRejected, match="bad signature"):
        crypto().verify_url(echostr=encrypted, **q)


def test_the_clock_window_is_a_setting():
    body, q = post_args(SENDER.text("u", "hi"), timestamp=int(time.time()) - 1000)
    assert "hi" in crypto(max_skew_s=3600).decrypt(body, **q)


def test_a_passive_reply_encrypted_here_decrypts_independently():
    encrypted, signed = crypto().encrypt("<xml><Content>好</Content></xml>", nonce="n1", timestamp="1700000000")
    assert SENDER.decrypt(encrypted) == ("<xml><Content>好</Content></xml>", CORP)
    assert signed == sign(TOKEN, "1700000000", "n1", encrypted)


@pytest.mark.parametrize("key", ["", "short", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!"])
def test_a_wrong_aes_key_is_a_configuration_error(key):
    with pytest.raises(ConfigError, match="AES_KEY|CORP_ID"):
        CallbackCrypto(token=TOKEN, aes_key=key, corp_id=CORP)
