"""What WeCom's servers do to reach a callback URL, written from WeCom's description of
WXBizMsgCrypt and independent of the adapter (and of wechatpy): the message is prefixed with 16
random bytes and its length (4 bytes, network order), followed by the receive id (the CorpID),
padded PKCS#7 to a multiple of 32 bytes, AES-256-CBC encrypted with the key from the
EncodingAESKey and the key's first 16 bytes as IV, base64-encoded, and signed with SHA1 over
the sorted token, timestamp, nonce and cipher text.

``CallbackSender.post(url, xml)`` delivers a plain XML message as WeCom would; the black-box
test of phase 2 points it at a `jianxue bot wecom` subprocess.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
import time

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


def sign(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class CallbackSender:
    def __init__(self, *, token: str, aes_key: str, corp_id: str, agent_id: int) -> None:
        self.token, self.corp_id, self.agent_id = token, corp_id, agent_id
        self.key = base64.b64decode(aes_key + "=")
        assert len(self.key) == 32, "an EncodingAESKey is 43 characters of base64"
        self._msg_id = 7_000_000_000_000_000_000

    # -- the cipher ---------------------------------------------------------------------------

    def encrypt(self, plain: str, *, receive_id: str | None = None) -> str:
        data = plain.encode()
        raw = os.urandom(16) + struct.pack(">I", len(data)) + data + (receive_id or self.corp_id).encode()
        pad = BLOCK - len(raw) % BLOCK
        raw += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> tuple[str, str]:
        """(message, receive id) of a cipher text, e.g. a passive reply."""
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        raw = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
        raw = raw[:-raw[-1]]
        length = struct.unpack(">I", raw[16:20])[0]
        return raw[20:20 + length].decode(), raw[20 + length:].decode()

    # -- messages as WeCom writes them --------------------------------------------------------

    def next_msg_id(self) -> str:
        self._msg_id += 1
        return str(self._msg_id)

    def text(self, user: str, content: str, *, msg_id: str | None = None, created: int | None = None) -> str:
        return (f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
                f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
                f"<Content>{cdata(content)}</Content><MsgId>{msg_id or self.next_msg_id()}</MsgId>"
                f"<AgentID>{self.agent_id}</AgentID></xml>")

    def card_event(self, user: str, *, task_id: str, event_key: str, card_type: str = "button_interaction",
                   selected: dict[str, list[str]] | None = None, created: int | None = None,
                   response_code: str | None = None) -> str:
        """A template_card_event: a button pressed (``event_key``), or a vote card submitted with
        ``selected`` = {question key: option ids}."""
        items = "".join(
            f"<SelectedItem><QuestionKey>{cdata(q)}</QuestionKey><OptionIds>"
            + "".join(f"<OptionId>{cdata(o)}</OptionId>" for o in ids) + "</OptionIds></SelectedItem>"
            for q, ids in (selected or {}).items())
        return (f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
                f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType>{cdata('event')}</MsgType>"
                f"<Event>{cdata('template_card_event')}</Event><EventKey>{cdata(event_key)}</EventKey>"
                f"<TaskId>{cdata(task_id)}</TaskId><CardType>{cdata(card_type)}</CardType>"
                f"<ResponseCode>{cdata(response_code or secrets.token_hex(16))}</ResponseCode><AgentID>{self.agent_id}</AgentID>"
                + (f"<SelectedItems>{items}</SelectedItems>" if items else "") + "</xml>")

    def envelope(self, encrypted: str) -> str:
        return (f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName><AgentID>{cdata(str(self.agent_id))}</AgentID>"
                f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>")

    # -- delivering ---------------------------------------------------------------------------

    def query(self, encrypted: str, *, timestamp: int | None = None, nonce: str | None = None,
              signature: str | None = None) -> dict:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        return {"msg_signature": signature or sign(self.token, ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}

    def post(self, url: str, xml: str, *, timestamp: int | None = None, signature: str | None = None,
             receive_id: str | None = None, timeout: float = 10) -> httpx.Response:
        """POST ``xml`` encrypted and signed to the callback ``url``, as WeCom delivers a message."""
        encrypted = self.encrypt(xml, receive_id=receive_id)
        return httpx.post(url, params=self.query(encrypted, timestamp=timestamp, signature=signature),
                          content=self.envelope(encrypted).encode(), headers={"Content-Type": "text/xml"}, timeout=timeout)

    def post_raw(self, url: str, body: bytes, params: dict, *, timeout: float = 10) -> httpx.Response:
        return httpx.post(url, params=params, content=body, headers={"Content-Type": "text/xml"}, timeout=timeout)

    def verify_url(self, url: str, *, echo: str | None = None, timestamp: int | None = None,
                   signature: str | None = None) -> tuple[str, httpx.Response]:
        """The URL check WeCom makes when the admin saves the callback: (the echo it expects, the answer)."""
        echo = echo or secrets.token_hex(8)
        encrypted = self.encrypt(echo)
        params = {**self.query(encrypted, timestamp=timestamp, signature=signature), "echostr": encrypted}
        return echo, httpx.get(url, params=params, timeout=10)
