"""Quizzes: generate, read, answer, publish, export. A quiz is visible to a caller only with
the questions whose every cited document that caller may read; learners never see answers
before they have answered."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Response

from assistant.errors import NotFound
from assistant.models import Principal, Question
from bots.http.deps import AssistantDep, AuditDep, CallerDep, TrainerDep, is_trainer
from bots.http.schemas import AnswerBody, QuizBody

router = APIRouter(prefix="/v1/quizzes")
MEDIA = {"json": "application/json", "moodle": "application/xml", "anki": "application/octet-stream"}


@router.post("", summary="Generate a draft quiz")
async def make_quiz(body: QuizBody, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    quiz = await asyncio.to_thread(assistant.make_quiz, principal=principal, topic=body.topic, case=body.case,
                                   line=body.line.value if body.line else None, n=body.n)
    audit.write("quiz", principal, quiz=quiz.id, ids=[q.id for q in quiz.questions])
    return quiz_view(quiz, principal)


@router.get("/{quiz_id}", summary="A quiz (answers only for trainers)")
async def get_quiz(quiz_id: str, principal: CallerDep, assistant: AssistantDep):
    return quiz_view(await asyncio.to_thread(visible_quiz, assistant, quiz_id, principal), principal)


@router.post("/{quiz_id}/answers", summary="Grade and record an answer")
async def answer_quiz(quiz_id: str, body: AnswerBody, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    quiz = await asyncio.to_thread(visible_quiz, assistant, quiz_id, principal)
    if body.question_id not in {q.id for q in quiz.questions}:
        raise NotFound(f"no question {body.question_id!r} in quiz {quiz_id!r}")
    grade = await asyncio.to_thread(assistant.grade, body.question_id, body.chosen, principal=principal, quiz_id=quiz_id)
    audit.write("quiz_answer", principal, quiz=quiz_id, ids=[body.question_id], correct=grade.correct)
    return grade.to_dict()


@router.post("/{quiz_id}/publish", summary="Publish a reviewed quiz (trainers)")
async def publish(quiz_id: str, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep):
    await asyncio.to_thread(visible_quiz, assistant, quiz_id, principal)
    quiz = await asyncio.to_thread(assistant.learners.publish, quiz_id)
    audit.write("quiz_publish", principal, quiz=quiz_id)
    return quiz_view(quiz, principal)


@router.get("/{quiz_id}/export", summary="Export: gift, moodle, anki, json or md (trainers)")
async def export_quiz(quiz_id: str, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep,
                      format: Literal["gift", "moodle", "anki", "json", "md"] = "md"):
    from assistant.quiz.export import SUFFIX, export

    quiz = await asyncio.to_thread(visible_quiz, assistant, quiz_id, principal)
    data = await asyncio.to_thread(export, quiz, format)
    audit.write("quiz_export", principal, quiz=quiz_id, format=format)
    return Response(data, media_type=MEDIA.get(format, "text/plain; charset=utf-8"),
                    headers={"Content-Disposition": f'attachment; filename="{quiz_id}{SUFFIX[format]}"'})


def visible_questions(assistant, questions: list[Question], principal: Principal) -> list[Question]:
    if principal.sees_everything:
        return questions
    readable = {d["doc_id"] for d in assistant.documents(principal)}
    return [q for q in questions if all(c.doc_id in readable for c in q.citations)]


def visible_quiz(assistant, quiz_id: str, principal: Principal):
    quiz = assistant.get_quiz(quiz_id)
    quiz.questions = visible_questions(assistant, quiz.questions, principal)
    if not quiz.questions:
        raise NotFound(f"no quiz {quiz_id!r}")
    return quiz


def question_view(q: Question, principal: Principal) -> dict:
    data = q.to_dict()
    if not is_trainer(principal):
        for hidden in ("answer", "explanation", "citations", "source_hash"):
            data.pop(hidden, None)
    return data


def quiz_view(quiz, principal: Principal) -> dict:
    data = quiz.to_dict()
    data["questions"] = [question_view(q, principal) for q in quiz.questions]
    if not is_trainer(principal):
        data.pop("dropped", None)
    return data
