"""What every graded answer does to training, in the transaction after it is recorded: the
错题本 (a wrong answer in, two correct redos in a row out), the console's roll-ups, the
learner's progress on assignments of that quiz (complete: 学时 credited once), and today's
daily set (complete: 学时 credited once)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select

from assistant.db import aware, dialect_insert
from assistant.models import Principal, Question
from assistant.training.store import (
    assignment_progress,
    assignments,
    daily_sets,
    hour_credits,
    mistakes,
    question_stats,
    targets,
    topic_stats,
)

REDOS_TO_RESOLVE = 2


def week_of(at: datetime) -> str:
    return (at.date() - timedelta(days=at.weekday())).isoformat()


def credit(conn, principal: Principal, *, activity: str, ref: str, title: str, hours: float, at: datetime) -> None:
    """学时 for one activity, once (a second completion of the same thing credits nothing)."""
    if hours <= 0:
        return
    conn.execute(dialect_insert(conn, hour_credits).values(
        learner=principal.learner, user=principal.user, departments=list(principal.departments), activity=activity,
        ref=ref, title=title, hours=hours, at=at).on_conflict_do_nothing(
        index_elements=[hour_credits.c.learner, hour_credits.c.activity, hour_credits.c.ref]))


def add_stats(conn, departments, *, topic: str, line: str, question_id: str, correct: bool, at: datetime,
              count: int = 1, right: int | None = None) -> None:
    right = int(correct) * count if right is None else right
    for department in departments or [""]:
        stmt = dialect_insert(conn, topic_stats).values(department=department, week=week_of(at), topic=topic[:256],
                                                         line=line, attempts=count, correct=right)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[topic_stats.c.department, topic_stats.c.week, topic_stats.c.topic, topic_stats.c.line],
            set_={"attempts": topic_stats.c.attempts + count, "correct": topic_stats.c.correct + right}))
        stmt = dialect_insert(conn, question_stats).values(department=department, question_id=question_id,
                                                            attempts=count, correct=right)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[question_stats.c.department, question_stats.c.question_id],
            set_={"attempts": question_stats.c.attempts + count, "correct": question_stats.c.correct + right}))


class Recorder:
    """Called by QuizWorkflow.grade after each recorded answer (``observers``)."""

    def __init__(self, engine, *, daily_hours: float, timezone: str) -> None:
        self.engine = engine
        self.daily_hours = daily_hours
        self.timezone = timezone

    def __call__(self, *, principal: Principal, question: Question, chosen: list[int], correct: bool,
                 quiz_id: str | None, at: datetime) -> None:
        with self.engine.begin() as conn:
            self._notebook(conn, principal, question, chosen, correct, at)
            add_stats(conn, principal.departments, topic=question.topic, line=question.line,
                      question_id=question.id, correct=correct, at=at)
            if quiz_id is not None:
                self._assignments(conn, principal, question.id, correct, quiz_id, at)
            self._daily(conn, principal, question.id, at)

    def _notebook(self, conn, principal, question, chosen, correct, at) -> None:
        mine = and_(mistakes.c.learner == principal.learner, mistakes.c.question_id == question.id)
        row = conn.execute(select(mistakes).where(mine)).mappings().first()
        if not correct:
            values = dict(user=principal.user, departments=list(principal.departments), topic=question.topic,
                          line=question.line, chosen=list(chosen), streak=0, last_at=at, resolved_at=None)
            if row is None:
                conn.execute(dialect_insert(conn, mistakes).values(
                    learner=principal.learner, question_id=question.id, wrong=1, first_at=at, **values)
                    .on_conflict_do_update(index_elements=[mistakes.c.learner, mistakes.c.question_id],
                                           set_={"wrong": mistakes.c.wrong + 1, **values}))
            else:
                conn.execute(mistakes.update().where(mine).values(wrong=mistakes.c.wrong + 1, **values))
        elif row is not None and row["resolved_at"] is None:
            streak = row["streak"] + 1
            conn.execute(mistakes.update().where(mine).values(
                streak=streak, last_at=at, resolved_at=at if streak >= REDOS_TO_RESOLVE else None))

    def _assignments(self, conn, principal, question_id, correct, quiz_id, at) -> None:
        from assistant.quiz.store import quizzes

        rows = conn.execute(select(assignments).where(and_(assignments.c.kind == "quiz", assignments.c.ref == quiz_id,
                                                           assignments.c.starts_at <= at))).mappings().all()
        rows = [r for r in rows if targets(r, principal)]
        if not rows:
            return
        wanted = set(conn.execute(select(quizzes.c.question_ids).where(quizzes.c.quiz_id == quiz_id)).scalar() or ())
        for row in rows:
            key = and_(assignment_progress.c.assignment_id == row["assignment_id"],
                       assignment_progress.c.learner == principal.learner)
            conn.execute(dialect_insert(conn, assignment_progress).values(
                assignment_id=row["assignment_id"], learner=principal.learner, user=principal.user,
                departments=list(principal.departments), answered=[], correct=0)
                .on_conflict_do_nothing(index_elements=[assignment_progress.c.assignment_id,
                                                        assignment_progress.c.learner]))
            progress = conn.execute(select(assignment_progress).where(key).with_for_update()).mappings().one()
            if progress["completed_at"] is not None or question_id in progress["answered"]:
                continue  # the first answer to each question is the one that counts
            answered = [*progress["answered"], question_id]
            right = progress["correct"] + int(correct)
            done = wanted <= set(answered)
            score = round(right / max(1, len(wanted)), 3) if done else None
            conn.execute(assignment_progress.update().where(key).values(
                answered=answered, correct=right, score=score, completed_at=at if done else None))
            if done and at <= aware(row["due_at"]):  # 学时 for work done by the deadline
                credit(conn, principal, activity="assignment", ref=str(row["assignment_id"]), title=row["title"],
                       hours=row["hours"], at=at)

    def _daily(self, conn, principal, question_id, at) -> None:
        from assistant.training.practice import local_day

        day = local_day(at, self.timezone)
        key = and_(daily_sets.c.learner == principal.learner, daily_sets.c.day == day)
        row = conn.execute(select(daily_sets).where(key)).mappings().first()
        if row is None or row["completed_at"] is not None or question_id not in row["question_ids"]:
            return
        answered = sorted({*row["answered"], question_id})
        done = set(row["question_ids"]) <= set(answered)
        conn.execute(daily_sets.update().where(key).values(answered=answered, completed_at=at if done else None))
        if done:
            credit(conn, principal, activity="daily", ref=day, title=f"每日一练 {day}", hours=self.daily_hours, at=at)
