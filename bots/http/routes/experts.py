"""The expert pool over HTTP: escalate a question, the experts' queue, claim, draft, answer
(checked like a model's: 422 with every problem), give back; publish, edit and withdraw
(trainers); votes on answers and their figures. Who sees which question is the core's
(assistant/experts/pool.py) decision from the key's principal."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from assistant.experts.pool import Asked
from assistant.models import Line
from bots.http.deps import AssistantDep, AuditDep, CallerDep, TrainerDep
from bots.http.schemas import QUESTION_CHARS

router = APIRouter(prefix="/v1")
ANSWER_CHARS = 8000
QuestionId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The question's id.")]


class EscalateBody(BaseModel):
    question: str = Field(..., min_length=1, max_length=QUESTION_CHARS)
    line: Line | None = Field(None, description="The prosecution line whose experts should answer; default: the "
                              "question's, as its words suggest.")
    history: list[Annotated[str, Field(max_length=QUESTION_CHARS)]] = Field(
        default_factory=list, max_length=10, description="Earlier questions of the conversation.")
    reason: str = Field("declined", pattern="^(declined|unsatisfied)$")
    comment: str | None = Field(None, max_length=2000, description="Why jianxue's answer was not enough (不满意).")
    show_identity: bool = Field(False, description="Experts may see the asker's name (default: the department only).")
    restricted: bool = Field(False, description="Only experts of the asker's departments may see it.")


class TextBody(BaseModel):
    text: str = Field(..., max_length=ANSWER_CHARS)


class ReleaseBody(BaseModel):
    to: str | None = Field(None, max_length=128, description="Reassign to this expert (trainers).")


class PublishBody(BaseModel):
    access: list[str] | None = Field(None, max_length=20, description="Departments that may read it; default as asked.")


class FeedbackBody(BaseModel):
    vote: int = Field(..., description="1 赞, -1 踩.")
    comment: str | None = Field(None, max_length=2000)
    question: str = Field(..., min_length=1, max_length=QUESTION_CHARS)
    answer: str = Field(..., min_length=1, max_length=20000)
    citations: list[dict] = Field(default_factory=list, max_length=20)
    mode: str = Field("extractive", pattern="^(extractive|llm|refusal|expert)$")


@router.post("/questions", status_code=201, summary="Send a question to the experts of its line")
async def escalate(body: EscalateBody, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    # what jianxue found is looked up here, as this caller, never taken from the client
    found = await asyncio.to_thread(assistant.ask, body.question, principal=principal)
    view = await asyncio.to_thread(
        assistant.experts.escalate, body.question, principal=principal, line=body.line.value if body.line else None,
        history=body.history,
        found={"text": found.text, "citations": [c.to_dict() for c in found.citations]}, reason=body.reason,
        comment=body.comment, show_identity=body.show_identity, restricted=body.restricted, asked=Asked("http"))
    audit.write("escalate", principal, question=body.question, ids=[str(view["id"])])
    return view


@router.get("/questions", summary="Questions: the queue of one's lines (experts, trainers), or one's own (mine=true)")
async def questions(principal: CallerDep, assistant: AssistantDep, status: str | None = None, mine: bool = False):
    return {"questions": await asyncio.to_thread(assistant.experts.list, principal, status=status, mine=mine)}


@router.get("/questions/{question_id}", summary="One question (with its passages for the expert who claimed it)")
async def question(question_id: QuestionId, principal: CallerDep, assistant: AssistantDep):
    view = await asyncio.to_thread(assistant.experts.get, question_id, principal)
    if view["claimed_by"] == principal.user and view["status"] == "claimed":
        view = await asyncio.to_thread(assistant.experts.work, question_id, principal)
    return view


@router.post("/questions/{question_id}/claim", summary="Claim an open question (409 when another was first)")
async def claim(question_id: QuestionId, principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.experts.claim, question_id, principal)


@router.put("/questions/{question_id}/draft", summary="Save the answer written so far")
async def draft(question_id: QuestionId, body: TextBody, principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.experts.save_draft, question_id, principal, body.text)


@router.post("/questions/{question_id}/answer", summary="Send the answer; 422 lists what does not check out")
async def answer(question_id: QuestionId, body: TextBody, principal: CallerDep, assistant: AssistantDep,
                 audit: AuditDep):
    view = await asyncio.to_thread(assistant.experts.answer, question_id, principal, body.text)
    audit.write("expert_answer", principal, ids=[str(question_id)])
    return view


@router.post("/questions/{question_id}/release", summary="Give a claimed question back, or reassign it")
async def release(question_id: QuestionId, body: ReleaseBody, principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.experts.release, question_id, principal, to=body.to)


@router.post("/questions/{question_id}/publish", summary="Publish the answer as material, kind qa (trainers)")
async def publish(question_id: QuestionId, body: PublishBody, principal: TrainerDep, assistant: AssistantDep,
                  audit: AuditDep):
    view = await asyncio.to_thread(assistant.review.publish, question_id, principal, access=body.access)
    audit.write("expert_publish", principal, ids=[str(question_id), view["doc_id"] or ""])
    return view


@router.post("/questions/{question_id}/edit", summary="Correct the answer; a published one is replaced (trainers)")
async def edit(question_id: QuestionId, body: TextBody, principal: TrainerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.review.edit, question_id, principal, body.text)


@router.post("/questions/{question_id}/withdraw", summary="Take a published answer out of the materials (trainers)")
async def withdraw(question_id: QuestionId, principal: TrainerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.review.withdraw, question_id, principal)


@router.get("/stats/experts", summary="Each expert's load, each line's median time to answer (trainers)")
async def expert_stats(principal: TrainerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.review.stats, principal)


@router.post("/feedback", status_code=201, summary="赞 (1) or 踩 (-1) on an answer, with an optional comment")
async def feedback(body: FeedbackBody, principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.review.vote, principal, vote=body.vote, question=body.question,
                                   answer=body.answer, citations=body.citations, comment=body.comment,
                                   channel="http", mode=body.mode)


@router.get("/stats/feedback", summary="Votes since a time ago (7d, 24h, 2w), every 踩 with its comment (trainers)")
async def feedback_stats(principal: TrainerDep, assistant: AssistantDep, since: str = "7d"):
    return await asyncio.to_thread(assistant.review.feedback, principal, since=since)
