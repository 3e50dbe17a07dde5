"""Telegram as a translation layer over the conversation core (assistant/conversation): updates
in — a text message, a button press, a quiz poll answer — as :class:`Incoming`; the core's
replies out as messages with inline keyboards and native quiz polls; a model's answer edited
into one message as it is written. What a chat does, and who may read what, is the core's."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from telegram import Message, MessageEntity, Poll, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from assistant.config import TelegramSettings
from assistant.conversation import texts
from assistant.conversation.core import Conversations, settle
from assistant.conversation.messages import LETTERS, Incoming, Progress, Reply, answer_action
from bots.telegram import render

log = logging.getLogger("jianxue.telegram")
CHANNEL = "telegram"


@dataclass
class Runtime:
    """What the handlers share, built once in post_init."""

    conversations: Conversations
    settings: TelegramSettings


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    return context.bot_data["runtime"]


# -- updates in ------------------------------------------------------------------------------------


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None or update.effective_user is None or not message.text:
        return
    text, mentioned = _without_mention(message, context.bot.username)
    group = message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
    incoming = Incoming(channel=CHANNEL, delivery_id=str(update.update_id), user_id=str(update.effective_user.id),
                        chat_id=str(message.chat.id), text=text, group=group, mentioned=mentioned)
    await _run(context, incoming, message)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    await query.answer()
    incoming = Incoming(channel=CHANNEL, delivery_id=str(update.update_id), user_id=str(query.from_user.id),
                        chat_id=str(query.message.chat.id), action=query.data or "",
                        group=query.message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP))
    await _run(context, incoming, None)


async def on_poll_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A vote on one of our quiz polls is the answer to the question the poll carried."""
    answer = update.poll_answer
    if answer is None or not answer.option_ids or answer.user is None:  # a retracted vote, or an anonymous one
        return
    store = runtime(context).conversations.store
    delivered = await asyncio.to_thread(store.by_platform_ref, CHANNEL, answer.poll_id)
    if delivered is None:
        return
    letters = "".join(LETTERS[i] for i in sorted(answer.option_ids) if i < len(LETTERS))
    incoming = Incoming(channel=CHANNEL, delivery_id=str(update.update_id), user_id=str(answer.user.id),
                        chat_id=delivered.chat_id, action=answer_action(delivered.ref, letters))
    await _run(context, incoming, None)


def _without_mention(message: Message, username: str | None) -> tuple[str, bool]:
    """The text without an @-mention of the bot, and whether it mentioned (or replied to) the bot."""
    text = message.text or ""
    mentioned = bool(message.reply_to_message and message.reply_to_message.from_user
                     and message.reply_to_message.from_user.username == username)
    if username:
        for value in message.parse_entities([MessageEntity.MENTION]).values():
            if value.lstrip("@").lower() == username.lower():
                mentioned = True
                text = text.replace(value, " ")
        if text.startswith("/") and f"@{username}" in text.split(" ", 1)[0]:
            mentioned = True
    return " ".join(text.split()), mentioned


# -- replies out --------------------------------------------------------------------------------------


async def _run(context: ContextTypes.DEFAULT_TYPE, incoming: Incoming, message: Message | None) -> None:
    rt = runtime(context)
    chat_id = int(incoming.chat_id)
    placeholder: Message | None = None
    shown, last_edit = "…", 0.0
    async for event in rt.conversations.handle(incoming):
        if isinstance(event, Progress):
            if not event.text.strip():
                if placeholder is None:
                    await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
                continue
            if placeholder is None:
                placeholder = await context.bot.send_message(chat_id, "…")
                last_edit = time.monotonic()
            visible = render.split(event.text)[0]
            if visible != shown and time.monotonic() - last_edit >= rt.settings.edit_interval_s:
                await _edit(placeholder, visible)
                shown, last_edit = visible, time.monotonic()
        elif event.choice is not None:
            await _send_poll(context, chat_id, event, rt)
        else:
            await _send(context, chat_id, event, placeholder)
            placeholder = None


async def _send(context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply, placeholder: Message | None) -> None:
    """A reply in as many messages as Telegram's limit needs; the last one carries the buttons."""
    pieces = render.split(reply.text)
    markup = render.keyboard(reply.buttons)
    for i, piece in enumerate(pieces):
        last = markup if i == len(pieces) - 1 else None
        if i == 0 and placeholder is not None:
            await _edit(placeholder, piece, last)
        else:
            await context.bot.send_message(chat_id, piece, reply_markup=last)


async def _send_poll(context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply, rt: Runtime) -> None:
    choice = reply.choice
    assert choice is not None
    parts = render.poll_parts(choice)
    if reply.text:
        await context.bot.send_message(chat_id, reply.text)
    if parts.preface:
        await context.bot.send_message(chat_id, parts.preface)
    sent = await context.bot.send_poll(
        chat_id, parts.question, parts.options, is_anonymous=False, type=Poll.QUIZ,
        allows_multiple_answers=choice.multiple, correct_option_ids=list(choice.answer),
        explanation=parts.explanation or None)
    await asyncio.to_thread(rt.conversations.store.link, choice.ref, sent.poll.id)


async def _edit(message: Message, text: str, markup=None) -> Message:
    try:
        edited = await message.edit_text(text, reply_markup=markup)
        return edited if isinstance(edited, Message) else message
    except BadRequest as exc:  # "message is not modified" when nothing changed
        if "not modified" not in str(exc).lower():
            raise
        return message


# -- reminders and errors ------------------------------------------------------------------------


async def push(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A job: what the core sends on its own — reminders of due reviews (at most once per
    nudge_hours; 0 never) and the extensions' messages."""
    rt = runtime(context)
    pushes = await asyncio.to_thread(rt.conversations.pushes, CHANNEL, nudge_hours=rt.settings.nudge_hours)
    for item in pushes:
        try:
            await _send(context, int(item.chat_id), item.reply, None)
        except Exception:  # noqa: BLE001 - one member who blocked the bot stops no one else's message
            log.warning("could not send to %s", item.user_id, exc_info=True)
            await settle(item, False)
        else:
            await settle(item, True)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("handling an update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, texts.FAILED)
        except Exception:  # noqa: BLE001 - the reply itself may be what fails
            log.warning("could not tell the user about the failure", exc_info=True)
