"""Event subscription by webhook: what Feishu posts to the request URL, verified before anything
reads it.

With an Encrypt Key set (required here) Feishu posts ``{"encrypt": base64(iv + AES-256-CBC(json))}``,
the key being sha256(Encrypt Key), and signs every event with
``X-Lark-Signature = sha256(X-Lark-Request-Timestamp + X-Lark-Request-Nonce + Encrypt Key + body)``;
the decrypted event carries the Verification Token (``header.token``, or ``token`` in the URL
verification challenge). Anything that fails a check gets a 4xx and is handed to nobody:
lark-oapi's dispatcher, which checks the same again, would answer 500 and leak its reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from bots.feishu.errors import EventRejected

MAX_BODY_BYTES = 1 << 20
TIMESTAMP, NONCE, SIGNATURE = "X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature"
URL_VERIFICATION = "url_verification"


def open_event(body: bytes, headers: Mapping[str, str], *, encrypt_key: str, verification_token: str) -> dict:
    """The decrypted event of a webhook request, verified (signature unless it is the URL
    verification challenge, which Feishu does not sign; the Verification Token always)."""
    try:
        outer = json.loads(body)
    except ValueError:
        raise EventRejected("the body is not JSON") from None
    encrypted = outer.get("encrypt") if isinstance(outer, dict) else None
    if not isinstance(encrypted, str) or not encrypted:
        raise EventRejected("the event is not encrypted: set the same Encrypt Key in the console and "
                            "JIANXUE_FEISHU__ENCRYPT_KEY")
    event = _decrypt(encrypted, encrypt_key)
    if event.get("type") == URL_VERIFICATION:
        _check_token(event.get("token"), verification_token)
        if not isinstance(event.get("challenge"), str):
            raise EventRejected("a URL verification without challenge")
        return event
    _check_signature(body, headers, encrypt_key)
    header = event.get("header") if event.get("schema") == "2.0" else None
    _check_token(header.get("token") if isinstance(header, dict) else event.get("token"), verification_token)
    return event


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def _decrypt(encrypted: str, encrypt_key: str) -> dict:
    from lark_oapi.core.utils.decryptor import AESCipher  # sha256(key), iv first, PKCS#7 checked

    try:
        event = json.loads(AESCipher(encrypt_key).decrypt_str(encrypted))
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise EventRejected("the event does not decrypt with the Encrypt Key", status=401) from None
    if not isinstance(event, dict):
        raise EventRejected("the event is not a JSON object")
    return event


def _check_signature(body: bytes, headers: Mapping[str, str], encrypt_key: str) -> None:
    timestamp, nonce, given = (headers.get(h) or "" for h in (TIMESTAMP, NONCE, SIGNATURE))
    if not (timestamp and nonce and given):
        raise EventRejected("the request is not signed (X-Lark-Signature)", status=401)
    if not hmac.compare_digest(given.encode(), signature(timestamp, nonce, encrypt_key, body).encode()):
        raise EventRejected("the signature does not match", status=401)


def _check_token(token, verification_token: str) -> None:
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), verification_token.encode()):
        raise EventRejected("the Verification Token does not match", status=403)
