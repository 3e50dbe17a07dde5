"""The conversation core: what a chat with jianxue does, for every messenger.

``Conversations.handle(incoming)`` takes one verified delivery and yields what to send back:
:class:`Progress` while a model writes an answer (for platforms that can edit a message), then
:class:`Reply` items (text with buttons, quiz questions as :class:`Choice`). Before anything
else a delivery is handled once (platforms retry), group messages without a mention are left
alone, and strangers are refused before anything is looked up. Who may read what is the
core's: every call below passes the member's principal.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from assistant.conversation import texts
from assistant.conversation.messages import (
    LETTERS,
    Button,
    Choice,
    Incoming,
    Progress,
    Push,
    Reply,
    parse_answer_action,
)
from assistant.conversation.store import ConversationStore, Member
from assistant.errors import AccessDenied, JianxueError, NotFound
from assistant.models import Answer, Question

log = logging.getLogger("jianxue.conversation")

PUSH_CHECK_S = 60  # how often an adapter asks pushes() what to send (reminders keep their own period)


def push_period_s(nudge_hours: float) -> float:
    """How often an adapter asks :meth:`Conversations.pushes`: every minute, or four times per
    reminder period where that is shorter (a period of minutes is an administrator's test)."""
    return min(PUSH_CHECK_S, nudge_hours * 3600 / 4) if nudge_hours > 0 else PUSH_CHECK_S


async def settle(push: Push, sent: bool) -> None:
    """Tell whoever made ``push`` whether the platform took it: an adapter calls this after each
    push it tried. A failure here is logged; the message itself was sent or not already."""
    if push.settle is None:
        return
    try:
        await asyncio.to_thread(push.settle, sent)
    except Exception:  # noqa: BLE001 - the database away for a moment: at worst the message comes twice
        log.warning("could not record how %s to %s went", push.key or "a push", push.user_id, exc_info=True)
SOURCES, LINE = "src:", "line:"  # button actions; answers are messages.answer_action
_PAIR = re.compile(r"^/(?:start|pair)(?:@\w+)?\s+(\S+)\s*$|^配对\s*(\S+)\s*$")
_LETTERS_ONLY = re.compile(r"^[A-La-l][A-La-l,，、\s]*$")
Event = Progress | Reply


@dataclass(frozen=True)
class Context:
    """One delivery from an admitted member, as an extension's handler sees it."""

    incoming: Incoming
    member: Member
    conversations: "Conversations"


Handler = Callable[[Context, str], AsyncIterator[Event]]  # (context, the rest of the command or action)


@dataclass
class Extension:
    """More that a chat can do, in a module of its own (the expert pool, training): its
    commands ("/daily"), its button actions by prefix ("fb:"), buttons under an answer, and
    what it sends on its own. The core dispatches to it; it calls the Assistant with the
    member's principal like the core does."""

    commands: dict[str, Handler] = field(default_factory=dict)
    actions: dict[str, Handler] = field(default_factory=dict)
    answer_buttons: Callable[[Context, Answer], Awaitable[Sequence[Button]]] | None = None
    pushes: Callable[[str], list[Push]] | None = None  # channel -> messages to send now
    help: str = ""  # lines added to /help


class Conversations:
    def __init__(self, assistant, store: ConversationStore, *, extensions: Sequence[Extension] = ()) -> None:
        self.assistant = assistant
        self.store = store
        self.extensions = list(extensions)
        self._commands = {name: handler for e in self.extensions for name, handler in e.commands.items()}
        self._actions = {prefix: handler for e in self.extensions for prefix, handler in e.actions.items()}

    async def handle(self, incoming: Incoming) -> AsyncIterator[Event]:
        """What to send back for one delivery (nothing for a repeat, or a group message that
        does not mention the bot)."""
        if incoming.group and not incoming.mentioned and not incoming.action:
            return
        if not await asyncio.to_thread(self.store.first_delivery, incoming.channel, incoming.delivery_id):
            log.info("%s delivery %s seen before; ignored", incoming.channel, incoming.delivery_id)
            return
        member = await asyncio.to_thread(self.store.member, incoming.channel, incoming.user_id,
                                         platform_departments=incoming.platform_departments)
        text = incoming.text.strip()
        pairing = _PAIR.match(text) if not incoming.action else None
        if pairing:
            code = pairing.group(1) or pairing.group(2)
            paired = await asyncio.to_thread(self.store.redeem, code, incoming.channel, incoming.user_id)
            yield Reply(texts.PAIRED if paired else texts.BAD_CODE)
            return
        if member is None:
            yield Reply(texts.NOT_ADMITTED)
            return
        try:
            async for event in self._dispatch(incoming, member, text):
                yield event
        except AccessDenied:
            yield Reply(texts.DENIED)
        except NotFound:
            yield Reply(texts.NOT_FOUND)

    async def _dispatch(self, incoming: Incoming, member: Member, text: str) -> AsyncIterator[Event]:
        action = incoming.action
        if action:
            answered = parse_answer_action(action)
            if answered is not None:
                async for event in self._grade(incoming, member, *answered):
                    yield event
            elif action.startswith(SOURCES):
                yield await self._sources(incoming, member, action[len(SOURCES):])
            elif action.startswith(LINE):
                yield await self._set_line(member, texts.LINE_NAMES.get(action[len(LINE):]))
            else:
                prefix = next((p for p in self._actions if action.startswith(p)), None)
                if prefix is not None:
                    async for event in self._actions[prefix](Context(incoming, member, self), action[len(prefix):]):
                        yield event
            return
        command, _, rest = text.partition(" ")
        command = command.split("@", 1)[0].lower() if command.startswith("/") else ""
        rest = rest.strip()
        if command in ("/start", "/help"):
            yield Reply(self.help())
        elif command in self._commands:
            async for event in self._commands[command](Context(incoming, member, self), rest):
                yield event
        elif command == "/new":
            await asyncio.to_thread(self.store.forget, incoming.channel, incoming.chat_id)
            yield Reply(texts.NEW)
        elif command == "/line":
            yield await self._line(member, rest)
        elif command == "/progress":
            progress = await asyncio.to_thread(self.assistant.quizzes.progress, principal=member.principal)
            yield Reply(texts.progress_text(progress))
        elif command == "/quiz":
            async for event in self._quiz(incoming, member, rest or None):
                yield event
        elif command == "/review":
            async for event in self._review(incoming, member):
                yield event
        elif command:
            yield Reply(self.help())
        elif text and _LETTERS_ONLY.match(text):
            async for event in self._typed_answer(incoming, member, text):
                yield event
        elif text:
            async for event in self._ask(incoming, member, text):
                yield event

    # -- questions ---------------------------------------------------------------------------

    async def _ask(self, incoming: Incoming, member: Member, question: str) -> AsyncIterator[Event]:
        assistant = self.assistant
        yield Progress("")  # working on it (a platform may show that it is typing)
        history = await asyncio.to_thread(self.store.history, incoming.channel, incoming.chat_id)
        lines = (member.line,) if member.line else ()
        answer: Answer | None = None
        if await asyncio.to_thread(assistant.chat_model) is None:
            answer = await asyncio.to_thread(assistant.ask, question, principal=member.principal, history=history,
                                             lines=lines)
        else:
            written = ""
            events = assistant.ask_stream(question, principal=member.principal, history=history, lines=lines)
            try:
                async for event in events:
                    if event["type"] == "delta":
                        written += event["text"]
                        yield Progress(written)
                    elif event["type"] == "reset":
                        written = ""
                        yield Progress(written)
                    else:
                        answer = event["answer"]
            finally:
                await events.aclose()
        assert answer is not None, "ask_stream always ends with the answer"
        keep = assistant.settings.answer.history_turns
        await asyncio.to_thread(self.store.add_turn, incoming.channel, incoming.chat_id, answer.turn(), keep=keep)
        buttons: tuple[Button, ...] = ()
        if answer.citations:
            ref = await asyncio.to_thread(self.store.save_sources, incoming.channel, incoming.chat_id,
                                          [c.to_dict() for c in answer.citations])
            buttons = (Button("来源", SOURCES + ref),)
        for extension in self.extensions:
            if extension.answer_buttons is not None:
                buttons += tuple(await extension.answer_buttons(Context(incoming, member, self), answer))
        yield Reply(texts.answer_text(answer), buttons=buttons)

    async def _sources(self, incoming: Incoming, member: Member, ref: str) -> Reply:
        """The quoted passages behind an answer, re-checked against what the member may read now."""
        citations = await asyncio.to_thread(self.store.sources, incoming.channel, incoming.chat_id, ref)
        if citations is None:
            return Reply(texts.SOURCES_GONE)
        readable = await asyncio.to_thread(self.assistant.documents.readable, {c["doc_id"] for c in citations},
                                           principal=member.principal)
        return Reply(texts.sources_text([c for c in citations if c["doc_id"] in readable]))

    # -- quizzes -----------------------------------------------------------------------------

    async def _quiz(self, incoming: Incoming, member: Member, topic: str | None) -> AsyncIterator[Event]:
        try:
            made = await asyncio.to_thread(self.assistant.quizzes.make, principal=member.principal, topic=topic,
                                           line=member.line, n=5)
        except NotFound:
            yield Reply(texts.no_quiz(topic))
            return
        yield Reply(texts.quiz_intro(made.title, len(made.questions)))
        for event in await asyncio.to_thread(self._deliver, incoming, member, made.id, made.questions):
            yield event

    async def _review(self, incoming: Incoming, member: Member) -> AsyncIterator[Event]:
        due = await asyncio.to_thread(self.assistant.quizzes.due, principal=member.principal, limit=5)
        if not due:
            yield Reply(texts.NO_REVIEWS)
            return
        yield Reply(f"到期复习：{len(due)} 题。")
        for event in await asyncio.to_thread(self._deliver, incoming, member, None, due):
            yield event

    def _deliver(self, incoming: Incoming, member: Member, quiz_id: str | None,
                 questions: list[Question]) -> list[Reply]:
        out = []
        for number, question in enumerate(questions, 1):
            ref = self.store.deliver(incoming.channel, incoming.chat_id, member.platform_id, quiz_id=quiz_id,
                                     question_id=question.id)
            out.append(Reply("", choice=Choice(
                ref=ref, number=number, total=len(questions), stem=question.stem, options=tuple(question.options),
                multiple=len(question.answer) > 1, answer=tuple(question.answer),
                explanation=texts.short_explanation(question))))
        return out

    async def _typed_answer(self, incoming: Incoming, member: Member, text: str) -> AsyncIterator[Event]:
        pending = await asyncio.to_thread(self.store.pending, incoming.channel, incoming.chat_id, member.platform_id)
        if pending is None:  # letters with no question waiting: a question after all
            async for event in self._ask(incoming, member, text):
                yield event
            return
        letters = "".join(ch for ch in text.upper() if ch in LETTERS)
        async for event in self._grade(incoming, member, pending.ref, letters):
            yield event

    async def _grade(self, incoming: Incoming, member: Member, ref: str, letters: str) -> AsyncIterator[Event]:
        """Grade and record a member's answer to a question delivered to them, then explain it."""
        delivered = await asyncio.to_thread(self.store.delivered, ref)
        if delivered is None or delivered.platform_id != member.platform_id or delivered.channel != incoming.channel:
            return
        if not await asyncio.to_thread(self.store.mark_answered, ref):  # a second answer counts once: silence
            return
        quizzes = self.assistant.quizzes
        chosen = sorted({LETTERS.index(ch) for ch in letters})
        grade = await asyncio.to_thread(quizzes.grade, delivered.question_id, chosen, principal=member.principal,
                                        quiz_id=delivered.quiz_id)
        question = await asyncio.to_thread(quizzes.question, delivered.question_id, principal=member.principal)
        yield Reply(texts.grade_text(grade.correct, question))

    # -- the member's line ----------------------------------------------------------------------

    async def _line(self, member: Member, word: str) -> Reply:
        if not word:
            current = texts.LINES.get(member.line, "全部条线") if member.line else "全部条线"
            buttons = tuple(Button(name, LINE + value) for value, name in texts.LINES.items() if value != "general")
            return Reply(f"当前：{current}。选择要查看的检察业务条线：", buttons=(*buttons, Button("全部", LINE + "all")))
        if word not in texts.LINE_NAMES:
            return Reply(texts.LINE_USAGE)
        return await self._set_line(member, texts.LINE_NAMES[word])

    async def _set_line(self, member: Member, value: str | None) -> Reply:
        await asyncio.to_thread(self.store.set_line, member.channel, member.platform_id, value)
        return Reply(f"已设置：{texts.LINES[value]}。回答和测验只用这一条线的资料。" if value else "已设置：全部条线。")

    def help(self) -> str:
        extra = "\n".join(e.help for e in self.extensions if e.help)
        return texts.HELP.replace("\n/new", f"\n{extra}\n/new", 1) if extra else texts.HELP

    # -- on its own ------------------------------------------------------------------------------

    def pushes(self, channel: str, *, nudge_hours: float) -> list[Push]:
        """Everything to send on its own in a channel now: review reminders (every ``nudge_hours``,
        0 = never) and what the extensions have to say."""
        out = self.nudges(channel, every_hours=nudge_hours) if nudge_hours else []
        for extension in self.extensions:
            if extension.pushes is not None:
                out += extension.pushes(channel)
        return out

    def nudges(self, channel: str, *, every_hours: float) -> list[Push]:
        """Reminders for members of a channel whose reviews are due, at most once per ``every_hours``;
        they count as sent once returned. Also forgets delivery ids older than the store keeps."""
        pushes = []
        for member in self.store.to_nudge(channel, timedelta(hours=every_hours)):
            try:
                due = self.assistant.quizzes.progress(principal=member.principal)["due"]
            except JianxueError:
                log.warning("could not count the reviews due for %s", member.platform_id, exc_info=True)
                continue
            if due:
                pushes.append(Push(channel, member.platform_id, member.platform_id, Reply(texts.nudge(due)),
                                   key="review-nudge"))
                self.store.nudged(channel, member.platform_id)
        self.store.prune()
        return pushes
