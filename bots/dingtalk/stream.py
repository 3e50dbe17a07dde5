"""The robot in Stream mode: the official ``dingtalk-stream`` SDK keeps the connection (the
gateway's connections/open, then a WebSocket to the endpoint it names, SYSTEM pings answered,
reconnects after a ``disconnect``); this module ACKs every robot message and card press at once,
parses it, hands the :class:`Incoming` to ``handler`` (``Conversations.handle``: an async
iterator of :class:`Progress` and :class:`Reply`) and sends each reply through
:class:`DingtalkClient` as it comes. One chat's deliveries are handled one after another in the
order they came, so that its replies keep their order; different chats are handled at once (up
to ``workers``). No public URL is needed.

The SDK takes its OpenAPI address from the environment variable DINGTALK_OPENAPI_ENDPOINT, read
once: ``dingtalk_stream/utils.py`` evaluates ``os.getenv`` when the package is first imported, and
``stream.py`` builds ``DingTalkStreamClient.OPEN_CONNECTION_API`` from it when the class is
defined. :func:`load_sdk` therefore sets the variable from JIANXUE_DINGTALK__ENDPOINT before the
first import, and refuses to go on if the SDK was already imported with another address.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from types import ModuleType

from assistant.config import DingtalkSettings
from assistant.conversation.messages import Incoming, Progress, Reply
from assistant.conversation.texts import FAILED
from assistant.errors import ConfigError
from bots.common import ChatLanes
from bots.dingtalk.client import DingtalkClient
from bots.dingtalk.errors import DeliveryError, DingtalkAPIError
from bots.dingtalk.inbound import CARD_TOPIC, ROBOT_TOPIC, ReplyTarget, parse_card_callback, parse_robot_message

log = logging.getLogger("jianxue.dingtalk")

ENDPOINT_VARIABLE = "DINGTALK_OPENAPI_ENDPOINT"
STOP_GRACE_S = 10  # replies still being written get this long when the robot stops
RESTART_MIN_S, RESTART_MAX_S = 1.0, 60.0  # pauses before the SDK's loop is started again

Handler = Callable[[Incoming], AsyncIterator[Progress | Reply]]  # Conversations.handle


def load_sdk(endpoint: str) -> ModuleType:
    """``dingtalk_stream``, imported with its OpenAPI address set to ``endpoint``."""
    if "dingtalk_stream.utils" not in sys.modules:
        os.environ[ENDPOINT_VARIABLE] = endpoint
    try:
        import dingtalk_stream
    except ImportError:  # pragma: no cover - the extra is part of dev
        raise ConfigError('the dingtalk bot needs its extra: pip install -c constraints.txt -e ".[dingtalk]"') from None
    fixed = dingtalk_stream.utils.DINGTALK_OPENAPI_ENDPOINT.rstrip("/")
    if fixed != endpoint.rstrip("/"):
        raise ConfigError(f"the dingtalk-stream SDK was already imported with {ENDPOINT_VARIABLE}={fixed}; it reads "
                          f"the address once, so {endpoint} can only be used in a fresh process")
    return dingtalk_stream


class DingtalkStream:
    """One robot connection. ``await run()`` serves until ``await stop()`` or cancellation."""

    def __init__(self, settings: DingtalkSettings, handler: Handler, *, client: DingtalkClient | None = None) -> None:
        self.settings, self.handler = settings, handler
        self.client = client or DingtalkClient(settings)  # checks the credentials are set
        sdk = load_sdk(settings.endpoint)
        secret = settings.client_secret.get_secret_value()  # type: ignore[union-attr]
        credential = sdk.Credential(settings.client_id, secret)
        self.sdk_client = sdk.DingTalkStreamClient(credential, logger=logging.getLogger("jianxue.dingtalk.sdk"))
        self.sdk_client.register_callback_handler(ROBOT_TOPIC, _ack_at_once(sdk, self._on_robot_message))
        self.sdk_client.register_callback_handler(CARD_TOPIC, _ack_at_once(sdk, self._on_card_press))
        self._lanes = ChatLanes(settings.workers)
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Serve until stopped. The SDK's loop reconnects by itself; should it end all the same (an
        error it does not catch), it is started again after a pause that doubles up to a minute."""
        stopping = asyncio.create_task(self._stopping.wait())
        runner: asyncio.Task | None = None
        pause = RESTART_MIN_S / 2
        try:
            while True:
                runner = asyncio.create_task(self.sdk_client.start(), name="dingtalk-stream")
                began = time.monotonic()
                await asyncio.wait({runner, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():
                    return
                error = runner.exception() if not runner.cancelled() else None
                pause = RESTART_MIN_S if time.monotonic() - began > RESTART_MAX_S else min(pause * 2, RESTART_MAX_S)
                log.error("the SDK's stream loop ended (%r); starting it again in %.0f s", error, pause)
                await asyncio.wait({stopping}, timeout=pause)
                if stopping.done():
                    return
        finally:
            stopping.cancel()
            await self._shutdown(runner)

    async def stop(self) -> None:
        self._stopping.set()

    async def _shutdown(self, runner: asyncio.Task | None) -> None:
        # SDK 0.24.3 catches a cancellation to sleep and reconnect: cancel until its loop ends
        while runner is not None and not runner.done():
            runner.cancel()
            await asyncio.wait({runner}, timeout=0.1)
        await self._lanes.drain(STOP_GRACE_S)
        await self.client.aclose()
        log.info("DingTalk stream stopped")

    # -- deliveries ---------------------------------------------------------------------------------

    def _on_robot_message(self, message) -> tuple[int, object]:
        try:
            incoming, target = parse_robot_message(
                message.data, robot_code=self.settings.robot, now_ms=int(time.time() * 1000),
                max_age_s=self.settings.max_delivery_age_s)
        except DeliveryError as exc:
            log.warning("ignored a robot message %s: %s", message.headers.message_id, exc)
            return 400, str(exc)
        self._spawn(incoming, target)
        return 200, "OK"

    def _on_card_press(self, message) -> tuple[int, object]:
        try:
            incoming, target = parse_card_callback(message.data, message_id=message.headers.message_id or "")
        except DeliveryError as exc:
            log.warning("ignored a card callback %s: %s", message.headers.message_id, exc)
            return 400, {}
        self._spawn(incoming, target)
        answered = None if target.group else self.client.answered(incoming.action or "", incoming.user_id)
        if answered is None:
            return 200, {}  # the card stays as it is
        # the ACK's response updates the card: a question's buttons go, the letter chosen shows
        return 200, {"cardUpdateOptions": {"updateCardDataByKey": True}, "cardData": {"cardParamMap": answered}}

    def _spawn(self, incoming: Incoming, target: ReplyTarget) -> None:
        """A task for the delivery, started after the one before it in the same chat has finished."""
        self._lanes.run((target.group, target.chat_id), lambda: self._handle(incoming, target),
                        name=f"dingtalk-{incoming.delivery_id}")

    async def _handle(self, incoming: Incoming, target: ReplyTarget) -> None:
        if self.settings.directory_departments and not incoming.platform_departments:
            try:
                departments = await self.client.user_departments(incoming.user_id)
                incoming = replace(incoming, platform_departments=departments)
            except (DingtalkAPIError, ConfigError) as exc:
                log.warning("departments of %s unknown: %s", incoming.user_id, exc)
        try:
            async for event in self.handler(incoming):
                if isinstance(event, Reply):  # a model's answer so far cannot be shown: DingTalk edits no message
                    await self._send(incoming, target, event)
        except Exception:
            log.exception("the handler failed on delivery %s", incoming.delivery_id)
            await self._send(incoming, target, Reply(FAILED))

    async def _send(self, incoming: Incoming, target: ReplyTarget, reply: Reply) -> None:
        """One reply; a failure to send it is logged (DingTalk's words never reach the member) and
        the next reply is still tried."""
        try:
            await self.client.deliver(target, [reply])
        except DingtalkAPIError as exc:
            log.error("a reply to delivery %s not sent: %s", incoming.delivery_id, exc)
        except Exception:
            log.exception("a reply to delivery %s not sent", incoming.delivery_id)


def _ack_at_once(sdk: ModuleType, on_frame: Callable[[object], tuple[int, object]]):
    """An SDK callback handler whose ``process`` only parses and schedules, so that the SDK sends
    the ACK frame at once; the work goes on in a task of its own."""

    class AckAtOnce(sdk.CallbackHandler):  # type: ignore[name-defined,misc]
        async def process(self, message):
            return on_frame(message)

    return AckAtOnce()
