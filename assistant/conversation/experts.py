"""The expert pool in every messenger, as a conversation extension (assistant/conversation/core.py).

Under each answer: 赞/踩 and 不满意 (an answer jianxue gave), or 请专家解答 (one it declined;
具名请专家解答 lets the experts see the asker's name, otherwise they see the department); the
question, what jianxue found and the conversation so far go to the experts of the member's line.
Experts get a message with 认领 when a question arrives (and a reminder when it waits too long),
claim it with the button, see the numbered passages retrieved for them, and answer with
``/answer ID 答复`` (checked like a model's: a claim that does not check out is sent back to be
fixed). The asker is told in the chat they asked from. Trainers publish with ``/publish ID``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator

from assistant.conversation.core import Context, Event, Extension
from assistant.conversation.messages import Button, Push, Reply
from assistant.errors import Conflict, InvalidRequest, UnverifiedAnswer
from assistant.experts.pool import CLAIM, VOTE_DOWN, VOTE_UP, Asked
from assistant.ingest.legal import infer_line
from assistant.models import Answer

log = logging.getLogger("jianxue.experts")

ESCALATE, NAMED, UNSATISFIED, UP, DOWN = "xq:esc:", "xq:named:", "xq:bad:", VOTE_UP, VOTE_DOWN
EXPERT_HELP = ("/queue — 待解答的问题（专家）\n/answer 编号 答复 — 提交答复，每一论断注明 [n]（专家）\n"
        "/draft 编号 草稿 — 保存草稿（专家）\n/publish 编号 — 发布为检答资料（培训管理员）")
USAGE_ANSWER = "用法：/answer 编号 答复内容（每一论断注明所依据资料的 [n]）"


def expert_extension(assistant) -> Extension:
    """The expert pool's commands, buttons and messages for the conversation core."""
    pool, review = assistant.experts, assistant.review

    async def buttons(ctx: Context, answer: Answer) -> list[Button]:
        shown = await asyncio.to_thread(
            review.shown, ctx.member.principal, channel=ctx.incoming.channel, question=answer.question,
            answer=answer.text, citations=[c.to_dict() for c in answer.citations], mode=answer.mode)
        if answer.refused:
            return [Button("请专家解答", f"{ESCALATE}{shown}"), Button("具名请专家解答", f"{NAMED}{shown}")]
        return [Button("赞", f"{UP}{shown}"), Button("踩", f"{DOWN}{shown}"), Button("不满意", f"{UNSATISFIED}{shown}")]

    async def escalate(ctx: Context, rest: str, reason: str, named: bool = False) -> AsyncIterator[Event]:
        row = await asyncio.to_thread(pool.store.feedback_row, _int(rest))
        principal = ctx.member.principal
        if row is None or row["user"] != principal.learner:
            yield Reply("这条回答已不在记录中，请重新提问。")
            return
        history = await asyncio.to_thread(ctx.conversations.store.history, ctx.incoming.channel, ctx.incoming.chat_id)
        line = ctx.member.line or infer_line(row["question"]).value
        view = await asyncio.to_thread(
            pool.escalate, row["question"], principal=principal, line=line,
            history=[t.question for t in history if t.question != row["question"]],
            found={"text": row["answer"], "citations": row["citations"]}, reason=reason, show_identity=named,
            asked=Asked(ctx.incoming.channel, ctx.incoming.chat_id, ctx.incoming.user_id))
        if view.get("answer"):
            yield Reply(f"已有专家解答过相同的问题（#{view['linked_to']}）：\n{_answer_text(view)}")
        elif view["linked_to"]:
            yield Reply(f"相同的问题已在专家解答队列中（#{view['linked_to']}），解答后会通知您。")
        else:
            yield Reply(f"已提交给{_line_name(line)}条线的专家（问题 #{view['id']}），解答后会在这里通知您。"
                        "可发送 /comment 补充说明。")

    async def on_escalate(ctx: Context, rest: str) -> AsyncIterator[Event]:
        async for event in escalate(ctx, rest, "declined"):
            yield event

    async def on_named(ctx: Context, rest: str) -> AsyncIterator[Event]:  # experts may see the asker's name
        async for event in escalate(ctx, rest, "declined", named=True):
            yield event

    async def on_unsatisfied(ctx: Context, rest: str) -> AsyncIterator[Event]:
        async for event in escalate(ctx, rest, "unsatisfied"):
            yield event

    async def vote(ctx: Context, rest: str, value: int) -> AsyncIterator[Event]:
        try:
            await asyncio.to_thread(review.vote, ctx.member.principal, vote=value, feedback_id=_int(rest),
                                    channel=ctx.incoming.channel)
        except InvalidRequest:
            return
        yield Reply("谢谢反馈。可发送 /comment 补充说明。" if value > 0
                    else "谢谢反馈，我们会改进。可发送 /comment 说明哪里不足；如需专家解答，请点“不满意”。")

    async def on_up(ctx: Context, rest: str) -> AsyncIterator[Event]:
        async for event in vote(ctx, rest, 1):
            yield event

    async def on_down(ctx: Context, rest: str) -> AsyncIterator[Event]:
        async for event in vote(ctx, rest, -1):
            yield event

    async def on_comment(ctx: Context, rest: str) -> AsyncIterator[Event]:
        if not rest.strip():
            yield Reply("用法：/comment 说明（附在您最近的评价或提交给专家的问题上）")
            return
        went = await asyncio.to_thread(review.comment, ctx.member.principal, channel=ctx.incoming.channel, text=rest)
        yield Reply({"question": "说明已附在您提交给专家的问题上。", "vote": "说明已附在您的评价上。"}.get(
            went or "", "没有可以附上说明的评价或问题。"))

    async def on_claim(ctx: Context, rest: str) -> AsyncIterator[Event]:
        try:
            work = await asyncio.to_thread(pool.claim, _int(rest), ctx.member.principal)
        except Conflict:
            yield Reply(f"问题 #{rest} 已由其他专家认领或已解答。")
            return
        yield Reply(_work_text(work))

    async def on_queue(ctx: Context, _rest: str) -> AsyncIterator[Event]:
        waiting = await asyncio.to_thread(pool.list, ctx.member.principal, status="open")
        if not waiting:
            yield Reply("目前没有待解答的问题。")
            return
        for q in waiting[:10]:
            yield Reply(_question_text(q), buttons=(Button("认领", f"{CLAIM}{q['id']}"),))

    async def on_answer(ctx: Context, rest: str) -> AsyncIterator[Event]:
        number, _, text = rest.partition(" ")
        if not number.isdigit() or not text.strip():
            yield Reply(USAGE_ANSWER)
            return
        try:
            view = await asyncio.to_thread(pool.answer, int(number), ctx.member.principal, text)
        except UnverifiedAnswer as exc:
            problems = "\n".join(f"· {p}" for p in exc.problems)
            yield Reply(f"答复未通过核验，草稿已保存，请修改后重新发送：\n{problems}")
            return
        except Conflict:
            yield Reply(f"问题 #{number} 不是由您认领的。")
            return
        yield Reply(f"答复已发送给提问人（问题 #{number}）：\n{_answer_text(view)}")

    async def on_draft(ctx: Context, rest: str) -> AsyncIterator[Event]:
        number, _, text = rest.partition(" ")
        if not number.isdigit():
            yield Reply("用法：/draft 编号 草稿内容")
            return
        try:
            await asyncio.to_thread(pool.save_draft, int(number), ctx.member.principal, text)
        except Conflict:
            yield Reply(f"问题 #{number} 不是由您认领的。")
            return
        yield Reply("草稿已保存。")

    async def on_publish(ctx: Context, rest: str) -> AsyncIterator[Event]:
        if not rest.strip().isdigit():
            yield Reply("用法：/publish 编号")
            return
        try:
            view = await asyncio.to_thread(review.publish, int(rest), ctx.member.principal)
        except Conflict as exc:
            yield Reply(f"不能发布：{exc}")
            return
        yield Reply(f"已发布为 {view['label']}，现在起可检索、可引用。")

    def pushes(channel: str) -> list[Push]:
        try:
            pool.reminders()
        except Exception:  # noqa: BLE001 - a failed reminder round must not stop the messages already waiting
            log.warning("expert reminders failed this time", exc_info=True)
        return [Push(channel, n["platform_id"], n["chat_id"],
                     Reply(n["text"], buttons=tuple(Button(label, action) for label, action in n["buttons"])),
                     key=n["key"], settle=functools.partial(pool.store.settle_notice, n["id"], n["taken_at"]))
                for n in pool.store.take_notices(channel)]

    return Extension(
        commands={"/comment": on_comment, "/queue": on_queue, "/answer": on_answer, "/draft": on_draft,
                  "/publish": on_publish},
        actions={ESCALATE: on_escalate, NAMED: on_named, UNSATISFIED: on_unsatisfied, UP: on_up, DOWN: on_down,
                 CLAIM: on_claim},
        answer_buttons=buttons, pushes=pushes, help="")  # /help stays as learners know it: experts are told
    # how to answer in the message that hands them a question, and /queue is in the bot's command menu


def _int(text: str) -> int:
    return int(text) if text.strip().isdigit() else -1


def _line_name(line: str) -> str:
    from assistant.conversation.texts import LINES

    return LINES.get(line, line)


def _question_text(q: dict) -> str:
    who = q["asker"] or q["asker_departments"]
    extra = f"\n补充说明：{q['comment']}" if q.get("comment") else ""
    return f"问题 #{q['id']}（{_line_name(q['line'])}，{who}）：{q['text']}{extra}"


def _work_text(work: dict) -> str:
    passages = "\n\n".join(f"[{p['n']}] {p['label']}\n{p['text']}" for p in work["passages"])
    return (f"您已认领{_question_text(work)}\n\n检学找到的资料（答复中用 [n] 注明依据，引用须与原文一致）：\n\n"
            f"{passages}\n\n{EXPERT_HELP}")


def _answer_text(view: dict) -> str:
    sources = "\n".join(f"[{c['n']}] {c['label']}" for c in view.get("citations") or [])
    return f"{view['answer']}\n来源：\n{sources}" if sources else view["answer"]
