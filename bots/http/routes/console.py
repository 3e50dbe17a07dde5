"""The trainer console: a page served from the package (/console/, uPlot vendored beside it,
no CDN) that signs in with a trainer's key and uses the same API as everyone else — the
figures of /v1/console/overview, the drafts to review, and the quiz and assignment routes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from assistant.errors import JianxueError
from bots.http.deps import AssistantDep, AuditDep, TrainerDep
from bots.http.errors import ApiError
from bots.http.routes.ops import STATIC

router = APIRouter()
FILES = {"console.js": "application/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8",
         "vendor/uPlot.iife.min.js": "application/javascript; charset=utf-8",
         "vendor/uPlot.min.css": "text/css; charset=utf-8", "vendor/uPlot.LICENSE": "text/plain; charset=utf-8"}


class QuestionEdit(BaseModel):
    stem: str | None = Field(None, min_length=1, max_length=2000)
    options: list[str] | None = Field(None, min_length=2, max_length=12)


@router.get("/console", include_in_schema=False)
async def console_root():
    return RedirectResponse("/console/")


@router.get("/console/", include_in_schema=False)
async def console_page():
    return Response((STATIC / "console.html").read_bytes(), media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


@router.get("/console/{name:path}", include_in_schema=False)
async def console_file(name: str):
    if name not in FILES:
        raise ApiError(404, "not_found", "no such file")
    return Response((STATIC / name).read_bytes(), media_type=FILES[name])


@router.get("/v1/console/overview", summary="The console's figures for my departments (trainers)")
async def overview(principal: TrainerDep, assistant: AssistantDep, department: str | None = None):
    data = await asyncio.to_thread(assistant.training.console.overview, principal=principal, department=department)
    review = getattr(assistant, "review", None)  # the expert pool, where this deployment has it
    if review is not None:
        try:
            stats = await asyncio.to_thread(review.stats, principal)
            votes = await asyncio.to_thread(review.feedback, principal, since="30d")
            data["experts"] = {"lines": stats["lines"], "oldest_open": stats["oldest_open"],
                               "feedback": {"votes": votes["votes"], "up": votes["up"], "down": votes["down"]}}
        except JianxueError:
            data["experts"] = None
    return data


@router.get("/v1/console/drafts", summary="Draft quizzes of my departments to review (trainers)")
async def drafts(principal: TrainerDep, assistant: AssistantDep):
    return {"drafts": await asyncio.to_thread(assistant.training.console.drafts, principal=principal)}


@router.patch("/v1/quizzes/{quiz_id}/questions/{question_id}", summary="Correct a draft's stem or options (trainers)")
async def edit_question(quiz_id: str, question_id: str, body: QuestionEdit, principal: TrainerDep,
                        assistant: AssistantDep, audit: AuditDep):
    quiz = await asyncio.to_thread(assistant.training.console.edit_question, quiz_id, question_id,
                                   principal=principal, stem=body.stem, options=body.options)
    audit.write("quiz_edit", principal, quiz=quiz_id, ids=[question_id])
    return quiz


@router.delete("/v1/quizzes/{quiz_id}/questions/{question_id}", summary="Drop a question from a draft (trainers)")
async def drop_question(quiz_id: str, question_id: str, principal: TrainerDep, assistant: AssistantDep,
                        audit: AuditDep):
    quiz = await asyncio.to_thread(assistant.training.console.drop_question, quiz_id, question_id,
                                   principal=principal)
    audit.write("quiz_drop_question", principal, quiz=quiz_id, ids=[question_id])
    return quiz
