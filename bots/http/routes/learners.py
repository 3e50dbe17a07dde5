"""A learner's progress and due reviews; a trainer's view of a group."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from bots.http.deps import AssistantDep, CallerDep, TrainerDep
from bots.http.errors import ApiError
from bots.http.routes.quizzes import question_view, visible_questions

router = APIRouter(prefix="/v1")


@router.get("/progress/me", summary="My mastery by topic and line")
async def progress(principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.learners.progress, principal.user)


@router.get("/reviews/due", summary="Questions due for review (without answers)")
async def due(principal: CallerDep, assistant: AssistantDep):
    questions = await asyncio.to_thread(assistant.learners.due, principal.user)
    visible = await asyncio.to_thread(visible_questions, assistant, questions, principal)
    return {"questions": [question_view(q, principal) for q in visible]}


@router.get("/stats/groups", summary="A group's scores, weakest topics, hardest questions (trainers)")
async def groups(principal: TrainerDep, assistant: AssistantDep, department: str | None = None):
    if not principal.sees_everything:
        if department is None:
            if not principal.departments:
                raise ApiError(400, "bad_request", "give ?department=")
            department = principal.departments[0]
        elif department not in principal.departments:
            raise ApiError(403, "forbidden", "a trainer sees only their own departments")
    return await asyncio.to_thread(assistant.learners.group, department)
