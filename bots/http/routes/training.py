"""Training: assignments, 每日一练, the 错题本, focus topics, 学时 and mock exams. Who may do and
see what (a trainer their departments, an admin all, a learner their own) is the core's
(assistant/training/); these routes translate."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from assistant.errors import Conflict
from bots.http.deps import AssistantDep, AuditDep, CallerDep, TrainerDep
from bots.http.errors import ApiError
from bots.http.schemas import AnswerBody

router = APIRouter(prefix="/v1")
Name = Annotated[str, Field(min_length=1, max_length=128)]
Year = Annotated[int | None, Query(ge=2000, le=2100)]
AssignmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class AssignmentBody(BaseModel):
    quiz_id: str | None = Field(None, max_length=64, description="A published quiz (or exam_id).")
    exam_id: str | None = Field(None, max_length=64, description="A mock exam (or quiz_id).")
    cases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20, description="Or a set of cases: three questions on each, published.")
    departments: list[Name] = Field(default_factory=list, max_length=50)
    users: list[Name] = Field(default_factory=list, max_length=500, description="Only these learners (user names).")
    starts: str | None = Field(None, max_length=40, description="When it opens (default now).")
    due: str = Field(..., min_length=10, max_length=40, description="2027-01-15 (its end) or 2027-01-15T18:00.")
    hours: float = Field(0.0, ge=0, le=100, description="学时 on completion by the deadline.")
    title: str | None = Field(None, max_length=200)


class FocusBody(BaseModel):
    department: Name
    topics: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(..., max_length=20)
    month: str | None = Field(None, pattern=r"^\d{4}-\d{2}$")


class ExamBody(BaseModel):
    blueprint: dict[str, Any]
    seed: int = Field(1, ge=0, le=2**31)


def _conflict(exc: Conflict) -> ApiError:
    return ApiError(409, "conflict", str(exc))


# -- assignments --------------------------------------------------------------------------------


@router.post("/assignments", summary="Assign a published quiz or a mock exam (trainers)")
async def assign(body: AssignmentBody, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep):
    made = await asyncio.to_thread(
        assistant.training.assignments.assign, principal=principal, quiz_id=body.quiz_id, exam_id=body.exam_id,
        cases=body.cases,
        departments=body.departments, users=body.users, due=body.due, starts=body.starts, hours=body.hours,
        title=body.title)
    audit.write("assign", principal, assignment=made["id"], ref=made["ref"], departments=made["departments"])
    return made


@router.get("/assignments/me", summary="My assignments: open ones first, with my progress")
async def my_assignments(principal: CallerDep, assistant: AssistantDep):
    return {"assignments": await asyncio.to_thread(assistant.training.assignments.mine, principal=principal)}


@router.get("/assignments", summary="Recent assignments of my departments with completion (trainers)")
async def assignments(principal: TrainerDep, assistant: AssistantDep, department: str | None = None):
    found = await asyncio.to_thread(assistant.training.assignments.listing, principal=principal,
                                    departments=[department] if department else None)
    return {"assignments": found}


@router.get("/assignments/{assignment_id}", summary="Completion and scores per learner and department (trainers)")
async def assignment_status(assignment_id: AssignmentId, principal: TrainerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.training.assignments.status, assignment_id, principal=principal)


# -- daily practice, the notebook, focus ----------------------------------------------------------


@router.get("/daily/me", summary="Today's 每日一练 (without answers)")
async def daily(principal: CallerDep, assistant: AssistantDep):
    today = await asyncio.to_thread(assistant.training.practice.daily, principal=principal)
    return {**today, "questions": [assistant.quizzes.question_view(q, principal=principal)
                                   for q in today["questions"]]}


@router.post("/practice/answers", summary="Answer a daily or 错题本 question: graded and recorded")
async def practice_answer(body: AnswerBody, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    result = await asyncio.to_thread(assistant.training.practice.redo, body.question_id, body.chosen,
                                     principal=principal)
    audit.write("practice_answer", principal, ids=[body.question_id], correct=result["correct"])
    return result


@router.get("/mistakes/me", summary="My 错题本: choice, key, explanation, citation")
async def mistakes(principal: CallerDep, assistant: AssistantDep, topic: str | None = None, line: str | None = None,
                   resolved: bool = False):
    found = await asyncio.to_thread(assistant.training.practice.mistakes, principal=principal, topic=topic,
                                    line=line, include_resolved=resolved)
    return {"mistakes": found}


@router.post("/focus", summary="A department's focus topics for the month (trainers)")
async def focus(body: FocusBody, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep):
    done = await asyncio.to_thread(assistant.training.practice.set_focus, principal=principal,
                                   department=body.department, topics=body.topics, month=body.month)
    audit.write("focus", principal, department=body.department)
    return done


# -- 学时 -----------------------------------------------------------------------------------------


@router.get("/hours/me", summary="My 学时 for a year, with the activities behind it")
async def my_hours(principal: CallerDep, assistant: AssistantDep, year: Year = None):
    return await asyncio.to_thread(assistant.training.hours.mine, principal=principal, year=year or date.today().year)


@router.get("/hours", summary="One row per learner of my departments (trainers): JSON, CSV or XLSX")
async def hours(principal: TrainerDep, assistant: AssistantDep, audit: AuditDep, department: str | None = None,
                year: Year = None, format: Literal["json", "csv", "xlsx"] = "json"):
    from assistant.training.hours import to_csv, to_xlsx

    year = year or date.today().year
    rows = await asyncio.to_thread(assistant.training.hours.department, principal=principal, department=department,
                                   year=year)
    audit.write("hours_export", principal, department=department, format=format)
    if format == "json":
        return {"year": year, "learners": rows}
    data, media = ((to_csv(rows), "text/csv; charset=utf-8") if format == "csv" else
                   (to_xlsx(rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    disposition = f'attachment; filename="hours-{year}.{format}"'
    return Response(data, media_type=media, headers={"Content-Disposition": disposition})


# -- mock exams ----------------------------------------------------------------------------------


@router.post("/exams", summary="Build a mock exam's paper from a blueprint (trainers)")
async def make_exam(body: ExamBody, principal: TrainerDep, assistant: AssistantDep, audit: AuditDep):
    exam = await asyncio.to_thread(assistant.training.exams.make, body.blueprint, seed=body.seed, principal=principal)
    audit.write("exam", principal, exam=exam["id"])
    return exam


@router.get("/exams/{exam_id}", summary="A mock exam's paper (answers only for trainers)")
async def get_exam(exam_id: str, principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.training.exams.get, exam_id, principal=principal)


@router.post("/exams/{exam_id}/start", summary="Start (or resume) my sitting: the server's clock starts")
async def start_exam(exam_id: str, principal: CallerDep, assistant: AssistantDep):
    return await asyncio.to_thread(assistant.training.exams.start, exam_id, principal=principal)


@router.post("/exams/{exam_id}/answers", summary="An answer: counted only within the time limit")
async def answer_exam(exam_id: str, body: AnswerBody, principal: CallerDep, assistant: AssistantDep):
    try:
        return await asyncio.to_thread(assistant.training.exams.answer, exam_id, body.question_id, body.chosen,
                                       principal=principal)
    except Conflict as exc:
        raise _conflict(exc) from None


@router.post("/exams/{exam_id}/submit", summary="Submit: graded, with a report per topic")
async def submit_exam(exam_id: str, principal: CallerDep, assistant: AssistantDep, audit: AuditDep):
    report = await asyncio.to_thread(assistant.training.exams.submit, exam_id, principal=principal)
    audit.write("exam_submit", principal, exam=exam_id, score=report["score"])
    return report


@router.get("/exams/{exam_id}/report", summary="My report of a submitted exam")
async def exam_report(exam_id: str, principal: CallerDep, assistant: AssistantDep):
    try:
        return await asyncio.to_thread(assistant.training.exams.report, exam_id, principal=principal)
    except Conflict as exc:
        raise _conflict(exc) from None
