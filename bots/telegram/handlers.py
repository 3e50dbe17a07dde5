"""The bot's handlers: a delivery check and an admission gate before everything, then one
function per command, plain messages as questions, the 来源 button, poll answers, and one
error handler. Blocking core calls run in threads so one slow answer holds up no one."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Poll, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, ContextTypes

from assistant.config import TelegramSettings
from assistant.errors import NotFound
from assistant.models import Answer, Question, Turn
from assistant.service import Assistant
from bots.telegram import render
from bots.telegram.state import BotState, Member

log = logging.getLogger("jianxue.telegram")

SOURCES = "src"  # callback data of the 来源 button; the message it sits under says which answer
LINE_NAMES = {"刑事": "criminal", "刑事检察": "criminal", "criminal": "criminal", "民事": "civil", "民事检察": "civil",
              "civil": "civil", "行政": "administrative", "行政检察": "administrative",
              "administrative": "administrative", "公益": "public_interest", "公益诉讼": "public_interest",
              "公益诉讼检察": "public_interest", "public_interest": "public_interest", "全部": None, "all": None}


@dataclass
class Core:
    """What the handlers share, built once in post_init."""

    assistant: Assistant
    state: BotState
    settings: TelegramSettings


def core(context: ContextTypes.DEFAULT_TYPE) -> Core:
    return context.bot_data["core"]


def member_of(context: ContextTypes.DEFAULT_TYPE) -> Member:
    return context.user_data["member"]


# -- before any handler ----------------------------------------------------------------------


async def deduplicate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group -2: an update delivered twice (webhook retries, replays) is handled once."""
    if not await asyncio.to_thread(core(context).state.first_delivery, update.update_id):
        log.info("update %s delivered again; ignored", update.update_id)
        raise ApplicationHandlerStop


async def admit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group -1: members pass; anyone else is refused politely before anything is looked up.
    /start stays open, because /start CODE is how a new member pairs."""
    user = update.effective_user
    if user is None:
        raise ApplicationHandlerStop
    member = await asyncio.to_thread(core(context).state.member, user.id)
    if member is not None:
        context.user_data["member"] = member
        return
    context.user_data.pop("member", None)
    message = update.effective_message
    if message is not None and message.text and message.text.split()[0].split("@")[0] == "/start":
        return
    if update.callback_query is not None:
        await update.callback_query.answer(render.NOT_ADMITTED, show_alert=True)
    elif message is not None and update.poll_answer is None:
        await message.reply_text(render.NOT_ADMITTED)
    raise ApplicationHandlerStop


# -- commands ----------------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if context.args:
        member = await asyncio.to_thread(core(context).state.redeem, context.args[0], update.effective_user.id)
        await update.message.reply_text(render.PAIRED if member else render.BAD_CODE)
        return
    await update.message.reply_text(render.HELP if "member" in context.user_data else render.NOT_ADMITTED)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(render.HELP)


async def new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await asyncio.to_thread(core(context).state.forget, update.effective_chat.id)
    await update.message.reply_text("已开始新的对话，之前的上下文不再沿用。")


async def line(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    member = member_of(context)
    if not context.args:
        current = render.LINES.get(member.line, "全部条线") if member.line else "全部条线"
        buttons = [[InlineKeyboardButton(name, callback_data=f"line:{value}")]
                   for value, name in render.LINES.items() if value != "general"]
        buttons.append([InlineKeyboardButton("全部", callback_data="line:all")])
        await update.message.reply_text(f"当前：{current}。选择要查看的检察业务条线：",
                                        reply_markup=InlineKeyboardMarkup(buttons))
        return
    word = context.args[0].strip()
    if word not in LINE_NAMES:
        await update.message.reply_text("可选：刑事、民事、行政、公益诉讼、全部。例如：/line 刑事")
        return
    await _set_line(context, member, LINE_NAMES[word], update.message.reply_text)


async def line_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    value = query.data.split(":", 1)[1]
    await _set_line(context, member_of(context), LINE_NAMES.get(value), query.message.reply_text)


async def _set_line(context, member: Member, value: str | None, reply) -> None:
    await asyncio.to_thread(core(context).state.set_line, member.telegram_id, value)
    await reply(f"已设置：{render.LINES[value]}。回答和测验只用这一条线的资料。" if value
                else "已设置：全部条线。")


async def progress(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    data = await asyncio.to_thread(core(context).assistant.learners.progress, member_of(context).principal.user)
    await update.message.reply_text(render.progress_text(data))


# -- questions ---------------------------------------------------------------------------------


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c, member = core(context), member_of(context)
    chat_id = update.effective_chat.id
    question = (update.message.text or "").strip()
    if not question:
        return
    history = await asyncio.to_thread(c.state.history, chat_id)
    lines = (member.line,) if member.line else ()
    await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
    if await asyncio.to_thread(c.assistant.chat_model) is None:
        answer = await asyncio.to_thread(c.assistant.ask, question, principal=member.principal, history=history,
                                         lines=lines)
        last = await _deliver(update.message, None, answer)
    else:
        answer, last = await _stream(update.message, c, member, question, history, lines)
    await asyncio.to_thread(c.state.add_turn, chat_id, answer.turn(), keep=c.assistant.settings.answer.history_turns)
    if answer.citations:
        await asyncio.to_thread(c.state.save_citations, chat_id, last.message_id, [x.to_dict() for x in answer.citations])


async def _stream(message: Message, c: Core, member: Member, question: str, history: list[Turn],
                  lines: tuple[str, ...]) -> tuple[Answer, Message]:
    """A model's answer shown as it is written: one message edited at most every edit_interval_s."""
    placeholder = await message.reply_text("…")
    text, shown, last_edit = "", "…", time.monotonic()
    answer: Answer | None = None
    events = c.assistant.ask_stream(question, principal=member.principal, history=history, lines=lines)
    try:
        async for event in events:
            if event["type"] == "delta":
                text += event["text"]
            elif event["type"] == "reset":
                text = ""
            else:
                answer = event["answer"]
                continue
            visible = render.split(text)[0] if text.strip() else "…"
            if visible != shown and time.monotonic() - last_edit >= c.settings.edit_interval_s:
                await _edit(placeholder, visible)
                shown, last_edit = visible, time.monotonic()
    finally:
        await events.aclose()
    assert answer is not None, "ask_stream always ends with the answer"
    return answer, await _deliver(message, placeholder, answer)


async def _deliver(message: Message, placeholder: Message | None, answer: Answer) -> Message:
    """The answer in as many messages as Telegram's limit needs; the last one carries 来源."""
    pieces = render.split(render.answer_text(answer))
    button = InlineKeyboardMarkup([[InlineKeyboardButton("来源", callback_data=SOURCES)]]) if answer.citations else None
    last = placeholder
    for i, piece in enumerate(pieces):
        markup = button if i == len(pieces) - 1 else None
        if i == 0 and placeholder is not None:
            last = await _edit(placeholder, piece, markup)
        else:
            last = await message.reply_text(piece, reply_markup=markup)
    assert last is not None
    return last


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    try:
        edited = await message.edit_text(text, reply_markup=markup)
        return edited if isinstance(edited, Message) else message
    except BadRequest as exc:  # "message is not modified" when nothing changed
        if "not modified" not in str(exc).lower():
            raise
        return message


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The quoted passages behind an answer, re-checked against what the member may read now."""
    c, member = core(context), member_of(context)
    query = update.callback_query
    await query.answer()
    citations = await asyncio.to_thread(c.state.citations, query.message.chat.id, query.message.message_id)
    if citations is None:
        await query.message.reply_text("这条回答的来源已不再保留，请重新提问。")
        return
    if not member.principal.sees_everything:
        readable = {d["doc_id"] for d in await asyncio.to_thread(c.assistant.documents, member.principal)}
        citations = [x for x in citations if x["doc_id"] in readable]
    for piece in render.split(render.sources_text(citations)):
        await query.message.reply_text(piece)


# -- quizzes ---------------------------------------------------------------------------------------


async def quiz(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c, member = core(context), member_of(context)
    topic = " ".join(context.args).strip() or None
    try:
        made = await asyncio.to_thread(c.assistant.make_quiz, principal=member.principal, topic=topic,
                                       line=member.line, n=5)
    except NotFound:
        await update.message.reply_text(f"没有找到{'与“' + topic + '”相关、' if topic else ''}可以出题的资料。"
                                        "换个主题试试，或发送 /quiz 不带主题。")
        return
    await update.message.reply_text(f"{made.title}：共 {len(made.questions)} 题，选择后即给出解析和出处。")
    await _send_polls(context, update.effective_chat.id, member, made.id, made.questions)


async def review(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c, member = core(context), member_of(context)
    due = await asyncio.to_thread(c.assistant.learners.due, member.principal.user, limit=5)
    if not member.principal.sees_everything:
        readable = {d["doc_id"] for d in await asyncio.to_thread(c.assistant.documents, member.principal)}
        due = [q for q in due if all(x.doc_id in readable for x in q.citations)]
    if not due:
        await update.message.reply_text("目前没有到期需要复习的题目。发送 /quiz 做新的练习。")
        return
    await update.message.reply_text(f"到期复习：{len(due)} 题。")
    await _send_polls(context, update.effective_chat.id, member, None, due)


async def _send_polls(context, chat_id: int, member: Member, quiz_id: str | None, questions: list[Question]) -> None:
    state = core(context).state
    for number, question in enumerate(questions, 1):
        parts = render.poll_parts(question, number, len(questions))
        if parts.preface:
            await context.bot.send_message(chat_id, parts.preface)
        sent = await context.bot.send_poll(
            chat_id, parts.question, parts.options, is_anonymous=False, type=Poll.QUIZ,
            allows_multiple_answers=len(question.answer) > 1, correct_option_ids=list(question.answer),
            explanation=render.short_explanation(question))
        await asyncio.to_thread(state.save_poll, sent.poll.id, quiz_id=quiz_id, question_id=question.id,
                                chat_id=chat_id, telegram_id=member.telegram_id)


async def poll_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Grade and record a member's answer to one of our quiz polls, then explain it in full."""
    c, member = core(context), member_of(context)
    answer = update.poll_answer
    if not answer.option_ids:  # a retracted vote
        return
    ref = await asyncio.to_thread(c.state.answer_poll, answer.poll_id)
    if ref is None or ref.telegram_id != member.telegram_id:
        return
    grade = await asyncio.to_thread(c.assistant.grade, ref.question_id, list(answer.option_ids),
                                    principal=member.principal, quiz_id=ref.quiz_id)
    question = await asyncio.to_thread(c.assistant.learners.get_question, ref.question_id)
    for piece in render.split(render.grade_text(grade.correct, question)):
        await context.bot.send_message(ref.chat_id, piece)


# -- reminders and errors ------------------------------------------------------------------------


async def nudge(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A job: remind members whose reviews are due, at most once per nudge_hours."""
    c = core(context)
    for member in await asyncio.to_thread(c.state.to_nudge, timedelta(hours=c.settings.nudge_hours)):
        due = (await asyncio.to_thread(c.assistant.learners.progress, member.principal.user))["due"]
        if due:
            await context.bot.send_message(member.telegram_id, f"您有 {due} 道题到期需要复习，发送 /review 开始。")
            await asyncio.to_thread(c.state.nudged, member.telegram_id)
    await asyncio.to_thread(c.state.prune_deliveries)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("handling an update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, render.FAILED)
        except Exception:  # noqa: BLE001 - the reply itself may be what fails
            log.warning("could not tell the user about the failure", exc_info=True)
