"""The callback server of the WeCom self-built application (`jianxue bot wecom`), over the
conversation core.

GET <path> answers the URL check with the decrypted echo string; POST <path> verifies and
decrypts a delivery, answers at once with an empty 200 (WeCom retries a callback it has no
answer to within 5 s), and hands the delivery on: the sender's department ids are read from the
directory, the core (assistant/conversation) turns it into replies, and each reply goes out
through the message-send API as soon as the core yields it. One chat's deliveries are handled in
the order they came, so its replies never overtake each other. A forged, stale, misaddressed or
malformed callback gets a 4xx and reaches nobody. What the core sends on its own (reminders of
due reviews every JIANXUE_WECOM__NUDGE_HOURS, and its extensions' pushes) is looked for every
minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from assistant.config import Settings, WecomSettings
from assistant.conversation import texts
from assistant.conversation.core import push_period_s, settle
from assistant.conversation.extensions import serving_core
from assistant.conversation.messages import Incoming, Progress, Push, Reply
from assistant.errors import ConfigError
from assistant.service import Assistant, build_assistant
from bots.common import ChatLanes, read_body
from bots.wecom.client import WecomAPIError, WecomClient
from bots.wecom.crypto import MAX_BODY_BYTES, CallbackCrypto, CallbackRejected
from bots.wecom.inbound import CHANNEL, parse_delivery, response_code

log = logging.getLogger("jianxue.wecom")



class Core(Protocol):
    """What the adapter needs of the conversation core (assistant.conversation.core.Conversations)."""

    def handle(self, incoming: Incoming) -> AsyncIterator[Progress | Reply]: ...

    def pushes(self, channel: str, *, nudge_hours: float) -> list[Push]: ...


CoreFactory = Callable[[], AbstractAsyncContextManager[Core]]


class Deliveries:
    """Runs each accepted delivery in the background: one chat's in the order they came, at most
    ``workers`` at once."""

    def __init__(self, core: Core, client: WecomClient, *, workers: int) -> None:
        self.core, self.client = core, client
        self._lanes = ChatLanes(workers)

    def hand_on(self, incoming: Incoming, *, card: str = "") -> None:
        """``card``: the ResponseCode of the pressed card, whose buttons are greyed out at once."""
        if card:
            self._lanes.track(asyncio.get_running_loop().create_task(self._close_card(incoming.user_id, card)))
        self._lanes.run(incoming.chat_id, lambda: self._handle(incoming))

    def push(self, push: Push) -> None:
        """A message the core sends on its own (a reminder), after what the chat is already getting."""
        async def send() -> None:
            try:
                sent = await self._send(push.chat_id, push.reply)
            except Exception:  # noqa: BLE001 - not WeCom's refusal (a bug, a card that would not render)
                log.exception("%s to %s not sent", push.key or "a push", push.chat_id)
                sent = False
            await settle(push, sent)

        self._lanes.run(push.chat_id, send)

    async def drain(self, timeout: float = 30) -> None:
        """Let the deliveries in hand finish (shutdown), then cancel what is left."""
        await self._lanes.drain(timeout)

    async def _close_card(self, user_id: str, code: str) -> None:
        try:
            await self.client.close_card(user_id, code)
        except WecomAPIError as exc:  # the press still counts; the card just stays pressable
            log.warning("card of %s not closed: %s", user_id, exc)

    async def _handle(self, incoming: Incoming) -> None:
        try:
            departments = await self.client.user_departments(incoming.user_id)
        except WecomAPIError as exc:
            log.warning("department ids of %s unknown: %s", incoming.user_id, exc)
            departments = ()
        incoming = dataclasses.replace(incoming, platform_departments=departments)
        try:
            async with contextlib.aclosing(self.core.handle(incoming)) as events:
                async for event in events:
                    if isinstance(event, Reply):  # a message cannot be edited as a model writes: Progress waits
                        await self.client.send_reply(incoming.chat_id, event)
        except WecomAPIError as exc:  # WeCom itself failed: telling the member would fail as well
            log.error("reply to %s not sent: %s", incoming.chat_id, exc)
        except Exception:  # noqa: BLE001 - one edge: log it, tell the member politely
            log.exception("delivery %s failed", incoming.delivery_id)
            await self._send(incoming.chat_id, Reply(texts.FAILED))

    async def _send(self, chat_id: str, reply: Reply) -> bool:
        """Whether WeCom took it; a failure is logged, WeCom's words never reach the member."""
        try:
            await self.client.send_reply(chat_id, reply)
            return True
        except WecomAPIError as exc:
            log.error("message to %s not sent: %s", chat_id, exc)
            return False


def build_app(settings: Settings, *, assistant_factory: Callable[[Settings], Assistant] = build_assistant,
              client: WecomClient | None = None, push_check_s: float | None = None) -> Starlette:
    """The adapter: the callback over the conversation core, the assistant built once when the
    server starts (and its question embedder served) and closed when it stops."""
    return callback_app(settings.wecom, serving_core(settings, assistant_factory), client=client,
                        push_check_s=push_check_s)


def callback_app(wecom: WecomSettings, core: CoreFactory, *, client: WecomClient | None = None,
                 push_check_s: float | None = None) -> Starlette:
    """The Starlette app of the callback; ``core`` is entered when the server starts."""
    check_settings(wecom)
    crypto = CallbackCrypto(token=_secret(wecom.token), aes_key=_secret(wecom.aes_key), corp_id=wecom.corp_id,
                            max_skew_s=wecom.max_clock_skew_s)
    api = client or WecomClient(wecom)
    state: dict[str, Deliveries] = {}

    async def verify(request: Request) -> Response:
        q = request.query_params
        try:
            echo = crypto.verify_url(msg_signature=q.get("msg_signature", ""), timestamp=q.get("timestamp", ""),
                                     nonce=q.get("nonce", ""), echostr=q.get("echostr", ""))
        except CallbackRejected as exc:
            return _refuse(request, exc)
        return PlainTextResponse(echo)

    async def receive(request: Request) -> Response:
        q = request.query_params
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            if body is None:
                raise CallbackRejected("the body is too large", status=413)
            xml = crypto.decrypt(body, msg_signature=q.get("msg_signature", ""), timestamp=q.get("timestamp", ""),
                                 nonce=q.get("nonce", ""))
            incoming = parse_delivery(xml, agent_id=wecom.agent_id)
            card = response_code(xml) if incoming is not None and incoming.action else ""
        except CallbackRejected as exc:
            return _refuse(request, exc)
        if incoming is not None:
            state["deliveries"].hand_on(incoming, card=card)
        return Response(status_code=200)  # empty: nothing to reply passively, and no retry

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            async with core() as conversations:
                deliveries = state["deliveries"] = Deliveries(conversations, api, workers=wecom.workers)
                pushing = asyncio.get_running_loop().create_task(
                    _push(conversations, deliveries, nudge_hours=wecom.nudge_hours,
                          check_s=push_check_s or push_period_s(wecom.nudge_hours)))
                try:
                    yield
                finally:
                    pushing.cancel()
                    await deliveries.drain()
        finally:
            await api.aclose()

    return Starlette(routes=[Route(wecom.path, verify, methods=["GET"]), Route(wecom.path, receive, methods=["POST"])],
                     lifespan=lifespan)


def run(settings: Settings, *, assistant_factory: Callable[[Settings], Assistant] = build_assistant, **build) -> None:
    """Serve the callback until stopped (Ctrl-C / SIGTERM). The database is opened first, so that a
    problem with it is reported as such before anything is served."""
    import uvicorn

    assistant = assistant_factory(settings)
    assistant.docstore  # noqa: B018 - opens (and migrates) the database now
    app = build_app(settings, assistant_factory=lambda _settings: assistant, **build)
    wecom = settings.wecom
    log.info("WeCom callback on http://%s:%s%s", wecom.listen, wecom.port, wecom.path)
    uvicorn.run(app, host=wecom.listen, port=wecom.port, log_level="info", access_log=False)


def check_settings(wecom: WecomSettings) -> None:
    """A :class:`ConfigError` naming every required setting that is unset."""
    given = {"CORP_ID": wecom.corp_id.strip(), "AGENT_ID": wecom.agent_id, "SECRET": _secret(wecom.secret).strip(),
             "TOKEN": _secret(wecom.token).strip(), "AES_KEY": _secret(wecom.aes_key).strip()}
    missing = [f"JIANXUE_WECOM__{name}" for name, value in given.items() if not value]
    if missing:
        raise ConfigError(f"set {', '.join(missing)}: the WeCom application's values from the admin console "
                          "(see the README's WeCom section)")
    CallbackCrypto(token=given["TOKEN"], aes_key=given["AES_KEY"], corp_id=given["CORP_ID"])  # the key's form


async def _push(core: Core, deliveries: Deliveries, *, nudge_hours: float, check_s: float) -> None:
    """Send what the core has to send on its own, every ``check_s``."""
    while True:
        await asyncio.sleep(check_s)
        try:
            pushes = await asyncio.to_thread(core.pushes, CHANNEL, nudge_hours=nudge_hours)
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("could not ask the core what to send")
            pushes = []
        for push in pushes:
            deliveries.push(push)


def _refuse(request: Request, exc: CallbackRejected) -> Response:
    client = request.client.host if request.client else "?"
    log.warning("callback from %s refused: %s", client, exc)
    return PlainTextResponse(str(exc), status_code=exc.status)


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""
