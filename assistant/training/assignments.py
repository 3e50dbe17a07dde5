"""Assignments (训练任务): a trainer gives a published quiz or a mock exam to departments or
named learners, with a start, a deadline and 学时; learners see theirs; the trainer sees
completion and scores per person and per department. Only their own departments, unless an
admin (assistant/access.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select

from assistant.access import is_trainer, require_trainer
from assistant.db import aware, now
from assistant.errors import AccessDenied, InvalidRequest, NotFound
from assistant.learners import display_name
from assistant.models import Principal
from assistant.training.store import assignment_progress, assignments, exams, roster, targets


def parse_moment(value, timezone: str, *, end_of_day: bool) -> datetime:
    """A datetime, or a date (its end, for a deadline; its start otherwise) in the configured zone."""
    if isinstance(value, datetime):
        return aware(value)
    try:
        if isinstance(value, str) and len(value.strip()) > 10:
            moment = datetime.fromisoformat(value.strip())
            return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))
        day = value if isinstance(value, date) else date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidRequest(f"not a date: {value!r} (give 2027-01-15 or 2027-01-15T18:00)") from None
    return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=ZoneInfo(timezone))


def departments_of(principal: Principal, wanted) -> tuple[str, ...] | None:
    """The departments a trainer's view covers (None: every one, for an admin who names none)."""
    wanted = tuple(d for d in (wanted or ()) if d)
    if principal.sees_everything:
        return wanted or None
    if not wanted:
        return tuple(principal.departments)
    if not set(wanted) <= set(principal.departments):
        raise AccessDenied("a trainer sees and assigns only to their own departments")
    return wanted


class Assignments:
    def __init__(self, engine, *, quizzes, settings, clock=now) -> None:
        self.engine, self.quizzes, self.settings, self.clock = engine, quizzes, settings, clock

    def assign(self, *, principal: Principal, quiz_id: str | None = None, exam_id: str | None = None,
               cases=(), departments=(), users=(), due, starts=None, hours: float = 0.0,
               title: str | None = None, per_case: int = 3) -> dict:
        """Assign a published quiz, a mock exam, or a set of cases (a quiz of ``per_case`` questions
        on each is made from them and published)."""
        require_trainer(principal, "assigning training")
        cases = [c.strip() for c in cases or () if c.strip()]
        if sum((quiz_id is not None, exam_id is not None, bool(cases))) != 1:
            raise InvalidRequest("assign one of: a quiz, a mock exam, a set of cases")
        if not 0 <= hours <= 100:
            raise InvalidRequest("学时 must be between 0 and 100")
        depts = departments_of(principal, departments) or ()
        names = sorted({u.strip() for u in users or () if u.strip()})
        if not depts and not names and not principal.sees_everything:
            raise InvalidRequest("give a department or learners to assign to")
        zone = self.settings.timezone
        starts_at = parse_moment(starts, zone, end_of_day=False) if starts else self.clock()
        due_at = parse_moment(due, zone, end_of_day=True)
        if due_at <= starts_at or due_at <= self.clock():
            raise InvalidRequest("the deadline must be after the start and in the future")
        if cases:
            quiz_id = self._case_quiz(principal, cases, per_case=per_case).id
        if quiz_id is not None:
            quiz = self.quizzes.get(quiz_id, principal=principal)
            if quiz.status != "published":
                raise InvalidRequest(f"quiz {quiz_id} is a draft: publish it before assigning it")
            kind, ref, default_title = "quiz", quiz.id, quiz.title
        else:
            with self.engine.connect() as conn:
                exam = conn.execute(select(exams.c.exam_id, exams.c.title).where(exams.c.exam_id == exam_id)).first()
            if exam is None:
                raise NotFound(f"no mock exam {exam_id!r}")
            kind, ref, default_title = "exam", exam.exam_id, exam.title
        values = dict(title=(title or default_title).strip()[:200], kind=kind, ref=ref, departments=list(depts),
                      users=names, starts_at=starts_at, due_at=due_at, hours=float(hours),
                      created_by=principal.learner, created_at=self.clock())
        with self.engine.begin() as conn:
            assignment_id = conn.execute(assignments.insert().values(**values)).inserted_primary_key[0]
        return self.describe({"assignment_id": assignment_id, **values})

    def _case_quiz(self, principal: Principal, cases: list[str], *, per_case: int):
        """One published quiz of ``per_case`` questions on each case (an unknown case: NotFound, named)."""
        import secrets

        from assistant.quiz import assemble

        questions = []
        for case in cases[:20]:
            made = self.quizzes.make(principal=principal, case=case, n=per_case, save=False)
            questions += [q for q in made.questions if q.id not in {x.id for x in questions}]
        quiz = assemble(questions, title=f"案例训练 · {len(cases)}案{len(questions)}题", topic="、".join(cases)[:200],
                        line=questions[0].line, user=principal.learner, salt=secrets.token_hex(4), dropped=[])
        self.quizzes.store.save_quiz(quiz)
        return self.quizzes.store.publish(quiz.id)

    @staticmethod
    def describe(row, progress=None) -> dict:
        data = {"id": row["assignment_id"], "title": row["title"], "kind": row["kind"], "ref": row["ref"],
                "departments": list(row["departments"]), "users": list(row["users"]),
                "starts_at": aware(row["starts_at"]).isoformat(), "due_at": aware(row["due_at"]).isoformat(),
                "hours": row["hours"], "created_by": row["created_by"]}
        if progress is not None:
            data.update(progress)
        return data

    def get(self, assignment_id: int) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(select(assignments).where(assignments.c.assignment_id == assignment_id)
                               ).mappings().first()
        if row is None:
            raise NotFound(f"no assignment {assignment_id}")
        return dict(row)

    def mine(self, *, principal: Principal, include_closed: bool = False) -> list[dict]:
        """The learner's assignments that have started, open first (deadline order), with their progress."""
        at = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(select(assignments).where(assignments.c.starts_at <= at)
                                .order_by(assignments.c.due_at)).mappings().all()
            rows = [r for r in rows if targets(r, principal)]
            done = {p.assignment_id: p for p in conn.execute(select(assignment_progress).where(and_(
                assignment_progress.c.learner == principal.learner,
                assignment_progress.c.assignment_id.in_([r["assignment_id"] for r in rows]))))}
        out = []
        for row in rows:
            progress = done.get(row["assignment_id"])
            state = "completed" if progress is not None and progress.completed_at else (
                "overdue" if aware(row["due_at"]) < at else "open")
            if state != "open" and not include_closed and aware(row["due_at"]) < at - timedelta(days=30):
                continue
            out.append(self.describe(row, {
                "state": state, "answered": len(progress.answered) if progress else 0,
                "score": progress.score if progress else None,
                "completed_at": (aware(progress.completed_at).isoformat()
                                 if progress and progress.completed_at else None)}))
        return out

    def status(self, assignment_id: int, *, principal: Principal) -> dict:
        """Completion and scores per learner and per department (a trainer's own departments only)."""
        require_trainer(principal, "an assignment's status")
        row = self.get(assignment_id)
        scope = departments_of(principal, None)
        if scope is not None and row["departments"] and not set(row["departments"]) & set(scope):
            raise NotFound(f"no assignment {assignment_id}")
        with self.engine.connect() as conn:
            people = roster(conn, row["departments"] or (scope or ())) if row["departments"] or scope else []
            progress = {p.learner: p for p in conn.execute(select(assignment_progress).where(
                assignment_progress.c.assignment_id == assignment_id)).mappings()}
        people = [p for p in people if targets(row, p) and (scope is None or set(p.departments) & set(scope))]
        known = {p.learner for p in people}
        for learner, p in progress.items():  # someone who did it but is no longer in the roster still counts
            if learner not in known and (scope is None or set(p["departments"]) & set(scope)):
                people.append(Principal(user=p["user"], role="learner", departments=tuple(p["departments"])))
        total = self._question_count(row)
        persons, by_dept = [], defaultdict(lambda: {"learners": 0, "completed": 0, "scores": []})
        for person in people:
            p = progress.get(person.learner)
            completed = bool(p and p["completed_at"])
            persons.append({"learner": person.learner, "user": display_name(person.learner, person.departments),
                            "departments": list(person.departments), "answered": len(p["answered"]) if p else 0,
                            "total": total, "completed": completed, "score": p["score"] if p else None,
                            "completed_at": aware(p["completed_at"]).isoformat() if completed else None,
                            "late": completed and aware(p["completed_at"]) > aware(row["due_at"])})
            for dept in person.departments if scope is None else set(person.departments) & set(scope):
                d = by_dept[dept]
                d["learners"] += 1
                d["completed"] += completed
                if completed and p["score"] is not None:
                    d["scores"].append(p["score"])
        departments = [{"department": k, "learners": v["learners"], "completed": v["completed"],
                        "completion": round(v["completed"] / v["learners"], 3) if v["learners"] else 0.0,
                        "mean_score": round(sum(v["scores"]) / len(v["scores"]), 3) if v["scores"] else None}
                       for k, v in sorted(by_dept.items())]
        done = sum(p["completed"] for p in persons)
        return self.describe(row, {"learners": persons, "departments_status": departments,
                                   "completed": done, "targeted": len(persons),
                                   "completion": round(done / len(persons), 3) if persons else 0.0})

    def _question_count(self, row) -> int:
        with self.engine.connect() as conn:
            if row["kind"] == "exam":
                ids = conn.execute(select(exams.c.question_ids).where(exams.c.exam_id == row["ref"])).scalar()
            else:
                from assistant.quiz.store import quizzes

                ids = conn.execute(select(quizzes.c.question_ids).where(quizzes.c.quiz_id == row["ref"])).scalar()
        return len(ids or ())

    def listing(self, *, principal: Principal, departments=None) -> list[dict]:
        """The assignments a trainer may see (their departments'), newest first, with completion."""
        require_trainer(principal, "assignments")
        scope = departments_of(principal, departments)
        with self.engine.connect() as conn:
            rows = conn.execute(select(assignments).order_by(assignments.c.created_at.desc())
                                .limit(200)).mappings().all()
        rows = [r for r in rows if scope is None or not r["departments"] or set(r["departments"]) & set(scope)]
        return [self.status(r["assignment_id"], principal=principal) for r in rows[:30]]

    def visible(self, row, principal: Principal) -> bool:
        return targets(row, principal) or (is_trainer(principal) and (
            principal.sees_everything or bool(set(row["departments"]) & set(principal.departments))))
