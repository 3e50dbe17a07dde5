"""Targeted daily practice (每日一练) and the wrong-answer notebook (错题本).

A daily set is made once per learner and day: due reviews and open mistakes first, then
published questions of the learner's weakest topics, then of this month's focus topics of
their departments (set by a trainer), then any other published question; never one the
learner answered correctly in the last ``recent_days``, never one they may not read.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select

from assistant.access import require_trainer
from assistant.db import aware, dialect_insert, now
from assistant.errors import InvalidRequest
from assistant.learners import attempts
from assistant.models import Principal, Question
from assistant.training.assignments import departments_of
from assistant.training.store import daily_optins, daily_sets, focus_topics, mistakes


def local_day(at: datetime, timezone: str) -> str:
    return aware(at).astimezone(ZoneInfo(timezone)).date().isoformat()


def published_questions(engine) -> list[Question]:
    from assistant.quiz.store import questions

    with engine.connect() as conn:
        rows = conn.execute(select(questions.c.data).where(questions.c.status == "published")
                            .order_by(questions.c.question_id)).scalars().all()
    return [Question.from_dict(d) for d in rows]


class Practice:
    def __init__(self, engine, *, quizzes, learners, settings, clock=now) -> None:
        self.engine, self.quizzes, self.learners, self.settings, self.clock = engine, quizzes, learners, settings, clock

    # -- 每日一练 -------------------------------------------------------------------------------

    def daily(self, *, principal: Principal) -> dict:
        """Today's set (made on first asking, the same for the rest of the day)."""
        at = self.clock()
        day = local_day(at, self.settings.timezone)
        key = and_(daily_sets.c.learner == principal.learner, daily_sets.c.day == day)
        with self.engine.connect() as conn:
            row = conn.execute(select(daily_sets).where(key)).mappings().first()
        if row is None:
            chosen = self._choose(principal, at, day)
            with self.engine.begin() as conn:
                conn.execute(dialect_insert(conn, daily_sets).values(
                    learner=principal.learner, day=day, question_ids=[q.id for q in chosen], answered=[],
                    created_at=at).on_conflict_do_nothing(index_elements=[daily_sets.c.learner, daily_sets.c.day]))
            with self.engine.connect() as conn:
                row = conn.execute(select(daily_sets).where(key)).mappings().one()
        stored = self.quizzes.store.get_questions(row["question_ids"])
        found = self.quizzes.readable([stored[i] for i in row["question_ids"] if i in stored], principal=principal)
        return {"day": day, "questions": found, "answered": list(row["answered"]),
                "completed": row["completed_at"] is not None}

    def _choose(self, principal: Principal, at: datetime, day: str) -> list[Question]:
        size = self.settings.daily_size
        cutoff = at - timedelta(days=self.settings.recent_days)
        with self.engine.connect() as conn:
            recent = conn.execute(select(attempts.c.question_id, attempts.c.correct, attempts.c.at).where(and_(
                attempts.c.user == principal.learner, attempts.c.at >= cutoff)).order_by(attempts.c.at)).all()
            open_mistakes = conn.execute(select(mistakes.c.question_id).where(and_(
                mistakes.c.learner == principal.learner, mistakes.c.resolved_at.is_(None)))
                .order_by(mistakes.c.last_at)).scalars().all()
            month = local_day(at, self.settings.timezone)[:7]
            focus = [t for row in conn.execute(select(focus_topics.c.topics).where(and_(
                focus_topics.c.month == month, focus_topics.c.department.in_(principal.departments or ("",)))))
                for t in row.topics]
        last = {r.question_id: r.correct for r in recent}
        just_right = {q for q, correct in last.items() if correct}
        pool = self.quizzes.readable(published_questions(self.engine), principal=principal)
        by_id = {q.id: q for q in pool}

        def shuffled(items):
            return sorted(items, key=lambda q: hashlib.sha256(f"{principal.learner}|{day}|{q.id}".encode()).digest())

        picked: list[Question] = []

        def take(candidates) -> None:
            for q in candidates:
                if len(picked) >= size:
                    return
                if q is not None and q.id not in just_right and q not in picked:
                    picked.append(q)

        due = self.quizzes.due(principal=principal, limit=size)
        take(due)
        take(by_id.get(i) for i in open_mistakes)
        topics = self.learners.progress(principal.learner, at=at)["topics"]
        for t in sorted(topics, key=lambda t: (t["mastery"], t["topic"]))[:5]:
            take(shuffled(q for q in pool if q.topic == t["topic"] and q.line == t["line"]))
        for topic in focus:
            take(shuffled(q for q in pool if topic in q.topic or q.topic in topic))
        take(shuffled(pool))
        return picked

    def set_focus(self, *, principal: Principal, department: str, topics, month: str | None = None) -> dict:
        """This month's focus topics of a department (a trainer's own)."""
        require_trainer(principal, "setting focus topics")
        departments_of(principal, [department])
        month = month or local_day(self.clock(), self.settings.timezone)[:7]
        if len(month) != 7 or month[4] != "-":
            raise InvalidRequest("give the month as 2027-01")
        topics = [t.strip() for t in topics if t.strip()][:20]
        with self.engine.begin() as conn:
            conn.execute(dialect_insert(conn, focus_topics).values(
                department=department, month=month, topics=topics, set_by=principal.learner).on_conflict_do_update(
                index_elements=[focus_topics.c.department, focus_topics.c.month],
                set_={"topics": topics, "set_by": principal.learner}))
        return {"department": department, "month": month, "topics": topics}

    def opt_in(self, channel: str, platform_id: str, hour: int | None) -> None:
        """Push the daily set at this local hour in a messenger (None: stop)."""
        with self.engine.begin() as conn:
            conn.execute(daily_optins.delete().where(and_(daily_optins.c.channel == channel,
                                                          daily_optins.c.platform_id == platform_id)))
            if hour is not None:
                if not 0 <= hour <= 23:
                    raise InvalidRequest("the hour is 0 to 23")
                conn.execute(daily_optins.insert().values(channel=channel, platform_id=platform_id, hour=hour))

    def due_pushes(self, channel: str) -> list[str]:
        """Platform ids of a channel whose push hour has come today and who were not pushed today;
        they count as pushed once returned."""
        at = self.clock().astimezone(ZoneInfo(self.settings.timezone))
        day = at.date().isoformat()
        with self.engine.begin() as conn:
            rows = conn.execute(select(daily_optins).where(daily_optins.c.channel == channel)).mappings().all()
            due = [r["platform_id"] for r in rows if r["hour"] <= at.hour and r["last_day"] != day]
            if due:
                conn.execute(daily_optins.update().where(and_(daily_optins.c.channel == channel,
                                                              daily_optins.c.platform_id.in_(due)))
                             .values(last_day=day))
        return due

    # -- 错题本 -----------------------------------------------------------------------------------

    def mistakes(self, *, principal: Principal, topic: str | None = None, line: str | None = None,
                 include_resolved: bool = False, limit: int = 200) -> list[dict]:
        """Each wrong answer kept: the learner's last choice, the key, the explanation, its citations."""
        query = select(mistakes).where(mistakes.c.learner == principal.learner)
        if not include_resolved:
            query = query.where(mistakes.c.resolved_at.is_(None))
        if line:
            query = query.where(mistakes.c.line == line)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(mistakes.c.last_at.desc()).limit(limit)).mappings().all()
        rows = [r for r in rows if not topic or topic in r["topic"]]
        stored = self.quizzes.store.get_questions(r["question_id"] for r in rows)
        readable = {q.id: q for q in self.quizzes.readable(list(stored.values()), principal=principal)}
        out = []
        for r in rows:
            q = readable.get(r["question_id"])
            if q is None:
                continue
            out.append({"question_id": q.id, "stem": q.stem, "options": list(q.options), "chosen": list(r["chosen"]),
                        "answer": list(q.answer), "explanation": q.explanation,
                        "citations": [c.to_dict() for c in q.citations], "topic": r["topic"], "line": r["line"],
                        "wrong": r["wrong"], "streak": r["streak"], "last_at": aware(r["last_at"]).isoformat(),
                        "resolved": r["resolved_at"] is not None})
        return out

    def redo(self, question_id: str, chosen, *, principal: Principal) -> dict:
        """Answer a question again (from the notebook or a daily set): graded and recorded like any answer."""
        grade = self.quizzes.grade(question_id, list(chosen), principal=principal)
        with self.engine.connect() as conn:
            row = conn.execute(select(mistakes.c.streak, mistakes.c.resolved_at).where(and_(
                mistakes.c.learner == principal.learner, mistakes.c.question_id == question_id))).first()
        return grade.to_dict() | {"in_notebook": row is not None and row.resolved_at is None,
                                  "streak": row.streak if row is not None else 0}
