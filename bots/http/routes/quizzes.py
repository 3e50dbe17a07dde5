"""Quizzes: generate, read, answer, publish, export. What a caller may see of a quiz (the
questions whose sources they may read; drafts only for trainers and their maker; answers only
for trainers) is the core's (assistant/quiz/workflow.py)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Response

from bots.http.deps import AssistantDep, AuditDep, CallerDep, TrainerDep
from bots.http.schemas import AnswerBody, QuizBody

router = APIRouter(prefix="/v1/quizzes")
MEDIA = {"json": "application/json", "moodle": "application/xml", "anki": "application/octet-stream"}


@router.post("", summary="Generate a draft quiz")
async def make_quiz(body: QuizBody, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    quiz = await asyncio.to_thread(assistant.quizzes.make, principal=principal, topic=body.topic, case=body.case,
                                   line=body.line.value if body.line else None, n=body.n)
    audit.write("quiz", principal, quiz=quiz.id, ids=[q.id for q in quiz.questions])
    return assistant.quizzes.view(quiz, principal=principal)


@router.get("/{quiz_id}", summary="A quiz (answers only for trainers)")
async def get_quiz(quiz_id: str, principal: CallerDep, assistant: AssistantDep):
    quiz = await asyncio.to_thread(assistant.quizzes.get, quiz_id, principal=principal)
    return assistant.quizzes.view(quiz, principal=principal)


@router.post("/{quiz_id}/answers", summary="Grade and record an answer")
async def answer_quiz(quiz_id: str, body: AnswerBody, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    grade = await asyncio.to_thread(assistant.quizzes.grade, body.question_id, body.chosen, principal=principal,
                                    quiz_id=quiz_id)
    audit.write("quiz_answer", principal, quiz=quiz_id, ids=[body.question_id], correct=grade.correct)
    return grade.to_dict()


@router.post("/{quiz_id}/publish", summary="Publish a reviewed quiz (trainers)")
async def publish(quiz_id: str, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep):
    quiz = await asyncio.to_thread(assistant.quizzes.publish, quiz_id, principal=principal)
    audit.write("quiz_publish", principal, quiz=quiz_id)
    return assistant.quizzes.view(quiz, principal=principal)


@router.get("/{quiz_id}/export", summary="Export: gift, moodle, anki, json or md (trainers)")
async def export_quiz(quiz_id: str, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep,
                      format: Literal["gift", "moodle", "anki", "json", "md"] = "md"):
    from assistant.quiz.export import SUFFIX

    data = await asyncio.to_thread(assistant.quizzes.export, quiz_id, format, principal=principal)
    audit.write("quiz_export", principal, quiz=quiz_id, format=format)
    return Response(data, media_type=MEDIA.get(format, "text/plain; charset=utf-8"),
                    headers={"Content-Disposition": f'attachment; filename="{quiz_id}{SUFFIX[format]}"'})
