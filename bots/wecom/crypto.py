"""WeCom's callback security (WXBizMsgCrypt): the msg_signature check, AES decryption of
``echostr`` and of the ``Encrypt`` element, the receive id (our CorpID) inside the cipher text,
and a timestamp that must be recent. Decryption is wechatpy's enterprise PrpCrypto; the
signature is compared here in constant time and before anything is decrypted, and whatever
goes wrong comes out as one :class:`CallbackRejected` with the HTTP status to answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException

from assistant.errors import ConfigError, JianxueError

MAX_BODY_BYTES = 64 * 1024  # a callback is a few hundred bytes; anything this large is not WeCom's


class CallbackRejected(JianxueError):
    """A callback that is forged, stale, meant for another organisation or malformed."""

    code = "wecom_callback_rejected"

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """SHA1 over the four values sorted and joined, as WeCom signs a callback."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


class CallbackCrypto:
    def __init__(self, *, token: str, aes_key: str, corp_id: str, max_skew_s: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        if not (token and aes_key and corp_id):
            raise ConfigError("set JIANXUE_WECOM__CORP_ID, __TOKEN and __AES_KEY (the callback page of the application)")
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(aes_key) != 43 or len(key) != 32:
            raise ConfigError("JIANXUE_WECOM__AES_KEY is the 43-character EncodingAESKey from the callback page")
        self._token, self._key, self._corp_id = token, key, corp_id
        self._max_skew_s, self._clock = max_skew_s, clock

    def verify_url(self, *, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The plain echo string to answer the URL check with (GET when the admin saves the URL)."""
        self._check(msg_signature, timestamp, nonce, echostr)
        return self._decrypt(echostr)

    def decrypt(self, body: bytes, *, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The plain XML of a POSTed callback."""
        envelope = parse_xml(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise CallbackRejected("the callback has no Encrypt element")
        to_user = envelope.get("ToUserName")
        if isinstance(to_user, str) and to_user and to_user != self._corp_id:
            raise CallbackRejected("the callback is addressed to another organisation", status=403)
        self._check(msg_signature, timestamp, nonce, encrypted)
        return self._decrypt(encrypted)

    def encrypt(self, plain: str, *, nonce: str, timestamp: str) -> tuple[str, str]:
        """(Encrypt, MsgSignature) of a passive reply; the adapter answers empty, tests use it."""
        encrypted = PrpCrypto(self._key).encrypt(plain, self._corp_id).decode()
        return encrypted, signature(self._token, timestamp, nonce, encrypted)

    def _check(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        if not (msg_signature and timestamp and nonce and encrypted):
            raise CallbackRejected("msg_signature, timestamp, nonce and the encrypted text are all required")
        expected = signature(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), msg_signature.encode("utf-8", "replace")):
            raise CallbackRejected("bad signature", status=403)
        try:
            sent = int(timestamp)
        except ValueError:
            raise CallbackRejected("the timestamp is not a number") from None
        if abs(self._clock() - sent) > self._max_skew_s:
            raise CallbackRejected("stale timestamp", status=403)

    def _decrypt(self, encrypted: str) -> str:
        try:
            return PrpCrypto(self._key).decrypt(encrypted, self._corp_id)
        except InvalidCorpIdException:
            raise CallbackRejected("the cipher text is for another organisation (receive id)", status=403) from None
        except Exception:  # noqa: BLE001 - bad base64, block size, padding, length or UTF-8: all one thing
            raise CallbackRejected("the encrypted text cannot be decrypted") from None


def parse_xml(data: bytes | str, *, lists: tuple[str, ...] = ()) -> dict:
    """The children of the root ``<xml>`` element (``lists``: elements always read as lists);
    entity declarations are refused (xmltodict's default), so no entity expansion bomb."""
    if len(data) > MAX_BODY_BYTES:
        raise CallbackRejected("the body is too large", status=413)
    try:
        parsed = xmltodict.parse(data, force_list=lists)
    except (ExpatError, ValueError):
        raise CallbackRejected("the body is not XML") from None
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise CallbackRejected("the body is not a WeCom <xml> document")
    return root
