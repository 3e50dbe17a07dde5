"""Training in the messengers, as an Extension of the conversation core: /tasks (assignments,
with a button that delivers the quiz's questions, answers counted for the assignment), /daily
(today's set; /daily 8 pushes it at 8 o'clock, /daily off stops), /mistakes [topic] (the 错题本
and a button to redo it), /hours (学时 this year). On its own it sends each new assignment once,
a reminder before the deadline to whoever has not finished, and the daily set at the hour a
member chose."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import and_, select

from assistant.conversation import texts
from assistant.conversation.core import Context, Extension
from assistant.conversation.messages import LETTERS, Button, Push, Reply
from assistant.conversation.store import ConversationStore, members
from assistant.db import aware, dialect_insert, now
from assistant.errors import JianxueError, NotFound
from assistant.training.store import assignment_progress

PUSH_FAILURES = 5  # refused messages of one assignment to one learner, then it is left to /tasks
log = logging.getLogger("jianxue.training")
PREFIX = "tr:"
START, DAILY, REDO = "a:", "daily", "redo"


def training_extension(assistant) -> Extension:
    training = assistant.training
    store = ConversationStore(assistant.docstore.engine)

    async def deliver(ctx: Context, quiz_id: str | None, questions) -> list[Reply]:
        return await asyncio.to_thread(ctx.conversations._deliver, ctx.incoming, ctx.member, quiz_id, list(questions))

    async def tasks(ctx: Context, _rest: str):
        mine = await asyncio.to_thread(training.assignments.mine, principal=ctx.member.principal)
        if not mine:
            yield Reply("目前没有训练任务。")
            return
        lines, buttons = [], []
        for a in mine[:8]:
            state = {"completed": f"已完成（{(a['score'] or 0):.0%}）", "overdue": "已逾期",
                     "open": f"进行中，已答 {a['answered']} 题"}[a["state"]]
            lines.append(f"· {a['title']}：截止 {a['due_at'][:16].replace('T', ' ')}，{state}")
            if a["state"] == "open" and a["kind"] == "quiz":
                buttons.append(Button(f"开始：{a['title'][:12]}", f"{PREFIX}{START}{a['id']}"))
        yield Reply("训练任务：\n" + "\n".join(lines), buttons=tuple(buttons))

    async def start(ctx: Context, assignment_id: str):
        principal = ctx.member.principal
        try:
            row = await asyncio.to_thread(training.assignments.get, int(assignment_id))
        except NotFound:
            row = None
        if row is None or not training.assignments.visible(row, principal) or row["kind"] != "quiz":
            yield Reply("这个训练任务不在您的任务列表中，或需在网页中完成（模拟考试）。")
            return
        quiz = await asyncio.to_thread(assistant.quizzes.get, row["ref"], principal=principal)

        def answered() -> list[str]:
            with assistant.docstore.engine.connect() as conn:
                return conn.execute(select(assignment_progress.c.answered).where(and_(
                    assignment_progress.c.assignment_id == row["assignment_id"],
                    assignment_progress.c.learner == principal.learner))).scalar() or []

        done = await asyncio.to_thread(answered)
        left = [q for q in quiz.questions if q.id not in done]
        if not left:
            yield Reply(f"「{row['title']}」的题目都已作答。")
            return
        yield Reply(f"训练任务「{row['title']}」：{len(left)} 题，截止 {aware(row['due_at']).isoformat()[:16]}。")
        for reply in await deliver(ctx, quiz.id, left):
            yield reply

    async def daily(ctx: Context, rest: str):
        word = rest.strip().lower()
        if word in ("off", "关闭", "停止"):
            await asyncio.to_thread(training.practice.opt_in, ctx.incoming.channel, ctx.member.platform_id, None)
            yield Reply("已停止每日推送。随时发送 /daily 练习。")
            return
        if word:
            if not word.isdigit() or not 0 <= int(word) <= 23:
                yield Reply("用法：/daily 练习今天的题；/daily 8 每天 8 点推送；/daily off 停止推送。")
                return
            await asyncio.to_thread(training.practice.opt_in, ctx.incoming.channel, ctx.member.platform_id, int(word))
            yield Reply(f"好的，每天 {int(word)} 点推送每日一练。")
            return
        today = await asyncio.to_thread(training.practice.daily, principal=ctx.member.principal)
        left = [q for q in today["questions"] if q.id not in today["answered"]]
        if not left:
            yield Reply("今天的每日一练已完成。" if today["questions"] else "还没有可以练习的题目。")
            return
        yield Reply(f"每日一练 {today['day']}：{len(left)} 题。")
        for reply in await deliver(ctx, None, left):
            yield reply

    async def mistakes(ctx: Context, topic: str):
        topic = "" if topic.strip() in ("全部", "all") else topic.strip()
        line = texts.LINE_NAMES.get(topic) if topic else None  # /mistakes 刑事: a line, else a topic
        items = await asyncio.to_thread(training.practice.mistakes, principal=ctx.member.principal,
                                        topic=None if line or not topic else topic, line=line)
        if not items:
            yield Reply("错题本是空的。" if not topic else f"错题本中没有“{topic}”的题。")
            return
        lines = []
        for i, m in enumerate(items[:5], 1):
            cite = f"（{m['citations'][0]['label']}）" if m["citations"] else ""
            lines.append(f"{i}. {m['stem'][:80]}\n   你的答案 {_letters(m['chosen'])}，"
                         f"正确答案 {_letters(m['answer'])}。{m['explanation'][:120]}{cite}")
        more = f"\n……共 {len(items)} 题" if len(items) > 5 else ""
        yield Reply("错题本：\n" + "\n".join(lines) + more + "\n连续答对两次即移出错题本。",
                    buttons=(Button("重做错题", PREFIX + REDO),))

    async def redo(ctx: Context):
        items = await asyncio.to_thread(training.practice.mistakes, principal=ctx.member.principal)
        found = await asyncio.to_thread(assistant.quizzes.store.get_questions, [m["question_id"] for m in items[:5]])
        questions = [found[m["question_id"]] for m in items[:5] if m["question_id"] in found]
        if not questions:
            yield Reply("错题本是空的。")
            return
        for reply in await deliver(ctx, None, questions):
            yield reply

    async def hours(ctx: Context, _rest: str):
        data = await asyncio.to_thread(training.hours.mine, principal=ctx.member.principal, year=now().year)
        lines = [f"· {a['at'][:10]} {a['name']}「{a['title']}」{a['hours']:g}" for a in data["activities"][-10:]]
        yield Reply(f"{data['year']} 年学时：{data['total']:g}" + ("\n" + "\n".join(lines) if lines else ""))

    async def action(ctx: Context, rest: str):
        if rest.startswith(START) and rest[len(START):].isdigit():
            events = start(ctx, rest[len(START):])
        elif rest == DAILY:
            events = daily(ctx, "")
        elif rest == REDO:
            events = redo(ctx)
        else:
            return
        async for event in events:
            yield event

    def pushes(channel: str) -> list[Push]:
        out: list[Push] = []
        try:
            out += _assignment_pushes(channel)
            for platform_id in training.practice.due_pushes(channel):
                out.append(Push(channel, platform_id, platform_id, Reply(
                    "今天的每日一练已经准备好了。", buttons=(Button("开始练习", PREFIX + DAILY),)), key="daily"))
        except JianxueError:
            log.warning("training pushes for %s failed", channel, exc_info=True)
        return out

    def _assignment_pushes(channel: str) -> list[Push]:
        """Each open assignment once to each member it is for; a reminder within remind_hours of the deadline."""
        remind = timedelta(hours=training.settings.remind_hours)
        at = now()
        engine = assistant.docstore.engine
        with engine.connect() as conn:
            ids = conn.execute(select(members.c.platform_id).where(members.c.channel == channel)).scalars().all()
        out = []
        for platform_id in ids:
            member = store.member(channel, platform_id)
            if member is None or member.principal.role != "learner":
                continue
            for a in training.assignments.mine(principal=member.principal):
                if a["state"] != "open":
                    continue
                key = and_(assignment_progress.c.assignment_id == a["id"],
                           assignment_progress.c.learner == member.principal.learner)
                with engine.begin() as conn:
                    conn.execute(dialect_insert(conn, assignment_progress).values(
                        assignment_id=a["id"], learner=member.principal.learner, user=member.principal.user,
                        departments=list(member.principal.departments), answered=[], correct=0)
                        .on_conflict_do_nothing(index_elements=[assignment_progress.c.assignment_id,
                                                                assignment_progress.c.learner]))
                    row = conn.execute(select(assignment_progress).where(key).with_for_update()).mappings().one()
                    due = aware(datetime_of(a["due_at"]))
                    button = (Button("开始", f"{PREFIX}{START}{a['id']}"),) if a["kind"] == "quiz" else ()
                    when = a["due_at"][:16].replace("T", " ")
                    if row["delivered_at"] is None:
                        conn.execute(assignment_progress.update().where(key).values(delivered_at=at))
                        out.append(Push(channel, platform_id, platform_id, Reply(
                            f"新的训练任务：「{a['title']}」，截止 {when}，完成可得 {a['hours']:g} 学时。",
                            buttons=button), key=f"assignment-{a['id']}",
                            settle=_unless_sent(a["id"], member.principal.learner, "delivered_at")))
                    elif row["reminded_at"] is None and due - at <= remind:
                        conn.execute(assignment_progress.update().where(key).values(reminded_at=at))
                        out.append(Push(channel, platform_id, platform_id, Reply(
                            f"提醒：训练任务「{a['title']}」将于 {when} 截止，您已答 {len(row['answered'])} 题。",
                            buttons=button), key=f"assignment-reminder-{a['id']}",
                            settle=_unless_sent(a["id"], member.principal.learner, "reminded_at")))
        return out

    def _unless_sent(assignment_id: int, learner: str, column: str) -> Callable[[bool], None]:
        """An assignment (or its reminder) the messenger refused is handed out again next round while
        the assignment is open, until PUSH_FAILURES messages for it were refused (a learner who
        blocked the bot still finds it under /tasks)."""

        def settle(sent: bool) -> None:
            if sent:
                return
            key = and_(assignment_progress.c.assignment_id == assignment_id,
                       assignment_progress.c.learner == learner)
            with assistant.docstore.engine.begin() as conn:
                failures = conn.execute(select(assignment_progress.c.push_failures).where(key)
                                        .with_for_update()).scalar_one() + 1
                again = {column: None} if failures < PUSH_FAILURES else {}
                conn.execute(assignment_progress.update().where(key).values(push_failures=failures, **again))

        return settle

    return Extension(commands={"/tasks": tasks, "/daily": daily, "/mistakes": mistakes, "/hours": hours},
                     actions={PREFIX: action}, pushes=pushes)


def datetime_of(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def _letters(indexes) -> str:
    return "、".join(LETTERS[i] for i in indexes) or "—"
