"""The Feishu bot over the conversation core, whichever way events arrive (webhook or long
connection): lark-oapi's event dispatcher parses each event, this module turns it into an
:class:`Incoming`, answers the event at once (Feishu gives 3 s and delivers an unanswered event
again) and does the work in a task of its own on the bot's event loop: the sender's department
ids read from the contact API, the core's replies sent through the message API as they come.
One chat's deliveries are handled in the order they came, so that its replies keep their
order; different chats at once (up to ``workers``).

The dispatcher's handlers run synchronously, on the webhook server's loop or on the thread of
lark-oapi's long-connection client; either way they only parse and hand the delivery to the
bot's loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from assistant.config import FeishuSettings
from assistant.conversation import texts
from assistant.conversation.core import push_period_s, settle
from assistant.conversation.messages import Incoming, Progress, Push, QuestionCards, Reply
from bots.common import ChatLanes
from bots.feishu.client import FeishuClient
from bots.feishu.errors import EventRejected, FeishuAPIError
from bots.feishu.inbound import CHANNEL, ReplyTarget, parse_card_action, parse_message
from bots.feishu.render import answered_card, question_ref, render_reply

log = logging.getLogger("jianxue.feishu")
CARDS_KEPT = 2000  # question cards remembered until pressed, to answer the press with the card answered


class Core(Protocol):
    """What the bot needs of the conversation core (assistant.conversation.core.Conversations)."""

    def handle(self, incoming: Incoming) -> AsyncIterator[Progress | Reply]: ...

    def pushes(self, channel: str, *, nudge_hours: float) -> list[Push]: ...


def dispatcher(settings: FeishuSettings, bot: "FeishuBot"):
    """lark-oapi's EventDispatcherHandler with the bot's two events registered (the webhook's Encrypt
    Key and Verification Token given, so that it checks them too)."""
    import lark_oapi as lark

    key = settings.encrypt_key.get_secret_value() if settings.encrypt_key else ""
    token = settings.verification_token.get_secret_value() if settings.verification_token else ""
    return (lark.EventDispatcherHandler.builder(key, token)
            .register_p2_im_message_receive_v1(bot.on_message)
            .register_p2_card_action_trigger(bot.on_card_action)
            .build())


class FeishuBot:
    def __init__(self, settings: FeishuSettings, core: Core, client: FeishuClient) -> None:
        self.settings, self.core, self.client = settings, core, client
        self.bot_open_id: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lanes = ChatLanes(settings.workers)
        self._cards = QuestionCards(CARDS_KEPT)  # a direct chat's question cards, until pressed

    async def start(self) -> None:
        """On the loop that does the work: learn the bot's open_id (how a mention of it is told)."""
        self._loop = asyncio.get_running_loop()
        try:
            self.bot_open_id = await self.client.bot_open_id()
        except FeishuAPIError as exc:
            log.warning("the bot's open_id is unknown (%s): in groups any mention counts", exc)

    async def drain(self, timeout: float = 30) -> None:
        """Let the deliveries in hand finish (shutdown), then cancel what is left."""
        await self._lanes.drain(timeout)

    # -- the dispatcher's handlers (synchronous, on whichever thread delivers) ----------------------

    def on_message(self, event) -> None:
        try:
            parsed = parse_message(event, bot_open_id=self.bot_open_id, now_ms=int(time.time() * 1000),
                                   max_age_s=self.settings.max_event_age_s)
        except EventRejected as exc:
            log.warning("ignored a message event: %s", exc)
            return
        if parsed is not None:
            self._hand_on(*parsed)

    def on_card_action(self, event):
        from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse as Answer

        try:
            parsed = parse_card_action(event)
        except EventRejected as exc:
            log.warning("ignored a card action: %s", exc)
            return Answer({"toast": {"type": "error", "content": "无法处理此操作"}})
        if parsed is None:
            return Answer({"toast": {"type": "info", "content": "已收到"}})
        self._hand_on(*parsed)
        answer: dict = {"toast": {"type": "info", "content": "已收到"}}
        pressed = self._cards.pressed(parsed[0].action or "", parsed[0].user_id)
        if pressed is not None:  # the question's buttons go: a second press has nothing to press
            answer["card"] = {"type": "raw", "data": answered_card(*pressed)}
        return Answer(answer)

    def _hand_on(self, incoming: Incoming, target: ReplyTarget) -> None:
        if self._loop is None:
            raise RuntimeError("the bot was not started")
        self._loop.call_soon_threadsafe(self._lanes.run, target.chat_id, lambda: self._handle(incoming, target))

    # -- the work, on the bot's loop ---------------------------------------------------------------

    def push(self, push: Push) -> None:
        """A message the core sends on its own (a reminder), after what the chat is already getting."""
        target = ReplyTarget(push.chat_id, group=push.chat_id.startswith("oc_"))
        async def send() -> None:
            try:
                sent = await self._send(target, push.reply, what=push.key or "a push")
            except Exception:  # noqa: BLE001 - not Feishu's refusal (a bug, a card that would not render)
                log.exception("%s to %s not sent", push.key or "a push", push.chat_id)
                sent = False
            await settle(push, sent)

        self._lanes.run(push.chat_id, send)

    async def _handle(self, incoming: Incoming, target: ReplyTarget) -> None:
        if self.settings.directory_departments:
            try:
                departments = await self.client.user_departments(incoming.user_id)
                incoming = dataclasses.replace(incoming, platform_departments=departments)
            except FeishuAPIError as exc:
                log.warning("department ids of %s unknown: %s", incoming.user_id, exc)
        try:
            async with contextlib.aclosing(self.core.handle(incoming)) as events:
                async for event in events:
                    if isinstance(event, Reply):  # a message is not edited as a model writes: Progress waits
                        await self._send(target, event, what=f"a reply to {incoming.delivery_id}")
        except Exception:  # noqa: BLE001 - one edge: log it, tell the member politely
            log.exception("delivery %s failed", incoming.delivery_id)
            await self._send(target, Reply(texts.FAILED), what="the failure notice")

    async def _send(self, target: ReplyTarget, reply: Reply, *, what: str) -> bool:
        """Every message of ``reply``; a failure is logged (Feishu's words never reach the member)
        and stops the rest of this reply. Whether it all went out."""
        try:
            for message in render_reply(reply, text_limit=self.settings.text_limit, group=target.group):
                ref = question_ref(message) if not target.group else None  # a direct chat's: its member's
                if ref is not None:  # kept before it goes: a press may come back before send() does
                    self._cards.sent(ref, target.chat_id, message.content)
                if target.group and target.message_id:
                    await self.client.reply(target.message_id, message)
                else:
                    await self.client.send(target.chat_id, message)
        except FeishuAPIError as exc:
            log.error("%s to %s not sent: %s", what, target.chat_id, exc)
            return False
        return True

    async def push_forever(self, *, check_s: float | None = None) -> None:
        """Send what the core has to send on its own, every ``check_s`` (by default as often as the
        core's push_period_s says for the reminders' period)."""
        check_s = push_period_s(self.settings.nudge_hours) if check_s is None else check_s
        while True:
            await asyncio.sleep(check_s)
            try:
                pushes = await asyncio.to_thread(self.core.pushes, CHANNEL, nudge_hours=self.settings.nudge_hours)
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("could not ask the core what to send")
                pushes = []
            for push in pushes:
                self.push(push)
