"""A learner's progress and due reviews; a trainer's view of a group."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from bots.http.deps import AssistantDep, CallerDep, TrainerDep

router = APIRouter(prefix="/v1")


@router.get("/progress/me", summary="My mastery by topic and line")
async def progress(principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.quizzes.progress, principal=principal)


@router.get("/reviews/due", summary="Questions due for review (without answers)")
async def due(principal: CallerDep, assistant: AssistantDep):
    questions = await asyncio.to_thread(assistant.quizzes.due, principal=principal)
    return {"questions": [assistant.quizzes.question_view(q, principal=principal) for q in questions]}


@router.get("/stats/groups", summary="A group's scores, weakest topics, hardest questions (trainers)")
async def groups(principal: TrainerDep, assistant: AssistantDep, department: str | None = None):
    return await asyncio.to_thread(assistant.quizzes.group, department, principal=principal)
