"""The trainer console's figures for the departments a trainer may see (an admin: all, or the
one asked for): assignment completion, the score week by week, a topic × department mastery
heat map, the hardest questions and the ones most often answered wrong, and the draft quizzes
to review. Read from the roll-ups (store.topic_stats, store.question_stats) and one pass over
the roster, so that a year of attempts by 500 learners answers in milliseconds; ``rebuild``
fills the roll-ups from the attempts of a database that had them before."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import and_, func, select

from assistant.access import require_trainer
from assistant.db import aware, now
from assistant.errors import AccessDenied, InvalidRequest, NotFound
from assistant.learners import attempts
from assistant.models import Principal
from assistant.quiz.source import question_id as question_id_of
from assistant.training.assignments import departments_of
from assistant.training.record import week_of
from assistant.training.store import (
    assignment_progress,
    assignments,
    question_stats,
    roster,
    targets,
    topic_stats,
)

HEAT_TOPICS = 12


def made_here(principal: Principal, created_by: str) -> bool:
    """Whether a quiz was made by the principal or in one of their departments (an admin: any)."""
    makers = set(created_by.partition("@")[2].split("+")) - {""}
    return principal.sees_everything or created_by == principal.learner or bool(makers & set(principal.departments))


def mastery(attempted: int, correct: int) -> float:
    return round((correct + 1) / (attempted + 2), 3)


class Console:
    def __init__(self, engine, *, quizzes, assignments, clock=now) -> None:
        self.engine, self.quizzes, self.assignments_flow, self.clock = engine, quizzes, assignments, clock

    def overview(self, *, principal: Principal, department: str | None = None, weeks: int = 52) -> dict:
        require_trainer(principal, "the trainer console")
        scope = departments_of(principal, [department] if department else None)
        since = (self.clock() - timedelta(weeks=weeks)).date().isoformat()
        this_week = week_of(self.clock())  # still under way: fewer answers so far, not fewer learners
        within = (lambda column: column.in_(scope)) if scope is not None else (lambda column: column.is_not(None))
        with self.engine.connect() as conn:
            by_week = conn.execute(select(topic_stats.c.week, func.sum(topic_stats.c.attempts),
                                          func.sum(topic_stats.c.correct))
                                   .where(and_(within(topic_stats.c.department), topic_stats.c.week >= since))
                                   .group_by(topic_stats.c.week).order_by(topic_stats.c.week)).all()
            cells = conn.execute(select(topic_stats.c.department, topic_stats.c.topic, topic_stats.c.line,
                                        func.sum(topic_stats.c.attempts), func.sum(topic_stats.c.correct))
                                 .where(within(topic_stats.c.department))
                                 .group_by(topic_stats.c.department, topic_stats.c.topic, topic_stats.c.line)).all()
            per_question = conn.execute(select(question_stats.c.question_id, func.sum(question_stats.c.attempts),
                                               func.sum(question_stats.c.correct))
                                        .where(within(question_stats.c.department))
                                        .group_by(question_stats.c.question_id)).all()
            completion = self._completion(conn, scope)
        totals: dict[tuple, int] = defaultdict(int)
        for _dept, topic, line, n, _c in cells:
            totals[(topic, line)] += n
        top = sorted(totals, key=lambda k: (-totals[k], k))[:HEAT_TOPICS]
        departments = sorted({c[0] for c in cells} | set(scope or ()))
        grid = {(d, t, ln): (n, c) for d, t, ln, n, c in cells}
        heat = {"topics": [{"topic": t, "line": ln} for t, ln in top], "departments": departments,
                "mastery": [[mastery(*grid[(d, t, ln)]) if (d, t, ln) in grid else None for d in departments]
                            for t, ln in top],
                "attempts": [[grid.get((d, t, ln), (0, 0))[0] for d in departments] for t, ln in top]}
        asked = [(q, n, c) for q, n, c in per_question if n >= 5]
        hardest = sorted(asked, key=lambda r: (r[2] / r[1], -r[1], r[0]))[:10]
        wrongest = sorted((r for r in per_question if r[1] > r[2]), key=lambda r: (-(r[1] - r[2]), r[0]))[:10]
        found = self.quizzes.store.get_questions({r[0] for r in hardest + wrongest})
        stems = {q.id: q for q in self.quizzes.readable(list(found.values()), principal=principal)}
        hardest = [r for r in hardest if r[0] in stems]
        wrongest = [r for r in wrongest if r[0] in stems]

        def item(r) -> dict:
            q = stems.get(r[0])
            return {"question_id": r[0], "attempts": r[1], "wrong": r[1] - r[2], "correct_rate": round(r[2] / r[1], 3),
                    "stem": q.stem[:80] if q else "", "topic": q.topic if q else ""}

        return {"departments": departments, "scope": list(scope) if scope is not None else None,
                "weeks": [{"week": w, "attempts": n, "score": round(c / n, 3) if n else None, "partial": w == this_week}
                          for w, n, c in by_week],
                "heat": heat, "hardest": [item(r) for r in hardest], "mistakes": [item(r) for r in wrongest],
                "assignments": completion}

    def _completion(self, conn, scope) -> list[dict]:
        """The 20 latest assignments in scope: targeted, completed, mean score (one roster read)."""
        rows = conn.execute(select(assignments).order_by(assignments.c.created_at.desc()).limit(100)).mappings().all()
        rows = [r for r in rows if scope is None or not r["departments"] or set(r["departments"]) & set(scope)][:20]
        if not rows:
            return []
        wanted = sorted({d for r in rows for d in r["departments"]} | set(scope or ()))
        people = [p for p in roster(conn, wanted) if scope is None or set(p.departments) & set(scope)]
        done = defaultdict(list)
        for assignment_id, departments, score in conn.execute(
                select(assignment_progress.c.assignment_id, assignment_progress.c.departments,
                       assignment_progress.c.score)
                .where(and_(assignment_progress.c.assignment_id.in_([r["assignment_id"] for r in rows]),
                            assignment_progress.c.completed_at.is_not(None)))):
            if scope is None or set(departments) & set(scope):
                done[assignment_id].append(score or 0.0)
        out = []
        for r in rows:
            targeted = sum(1 for p in people if targets(r, p))
            scores = done[r["assignment_id"]]
            out.append({"id": r["assignment_id"], "title": r["title"], "due_at": aware(r["due_at"]).isoformat(),
                        "targeted": max(targeted, len(scores)), "completed": len(scores),
                        "mean_score": round(sum(scores) / len(scores), 3) if scores else None})
        return out

    # -- drafts ---------------------------------------------------------------------------------

    def drafts(self, *, principal: Principal) -> list[dict]:
        """Draft quizzes made in the trainer's departments (by anyone of them), newest first."""
        from assistant.quiz.store import quizzes

        require_trainer(principal, "draft quizzes")
        with self.engine.connect() as conn:
            rows = conn.execute(select(quizzes.c.quiz_id, quizzes.c.title, quizzes.c.created_by, quizzes.c.created_at,
                                       quizzes.c.question_ids).where(quizzes.c.status == "draft")
                                .order_by(quizzes.c.created_at.desc()).limit(200)).all()
        return [{"id": r.quiz_id, "title": r.title, "created_by": r.created_by, "questions": len(r.question_ids),
                 "created_at": aware(r.created_at).isoformat()}
                for r in rows if made_here(principal, r.created_by)][:50]

    def edit_question(self, quiz_id: str, question_id: str, *, principal: Principal, stem: str | None = None,
                      options: list[str] | None = None) -> dict:
        """A trainer's correction of a draft's question: its stem or its options (the key stays). The
        corrected question gets an id of its own; other quizzes that share the old one keep it."""
        quiz = self._draft(quiz_id, principal)
        question = next((q for q in quiz.questions if q.id == question_id), None)
        if question is None:
            raise NotFound(f"no question {question_id!r} in quiz {quiz_id!r}")
        before = [question.stem, *question.options]
        if stem is not None:
            if not stem.strip():
                raise InvalidRequest("a stem cannot be empty")
            question.stem = stem.strip()
        if options is not None:
            cleaned = [o.strip() for o in options]
            if len(cleaned) != len(question.options) or not all(cleaned) or len(set(cleaned)) != len(cleaned):
                raise InvalidRequest(f"give {len(question.options)} distinct, non-empty options (the key stays)")
            question.options = cleaned
        if [question.stem, *question.options] == before:
            return self.quizzes.view(quiz, principal=principal)
        old_id = question.id
        question.id = question_id_of(old_id, "edited", question.stem, question.options, question.answer)
        question.status = "draft"  # the shared one may be published; this text is not, until the quiz is
        self.quizzes.store.replace_question(quiz_id, old_id, question)
        return self.quizzes.view(self.quizzes.get(quiz_id, principal=principal), principal=principal)

    def drop_question(self, quiz_id: str, question_id: str, *, principal: Principal) -> dict:
        quiz = self._draft(quiz_id, principal)
        if question_id not in {q.id for q in quiz.questions}:
            raise NotFound(f"no question {question_id!r} in quiz {quiz_id!r}")
        if len(quiz.questions) == 1:
            raise InvalidRequest("a quiz keeps at least one question")
        self.quizzes.store.drop_question(quiz_id, question_id)
        return self.quizzes.view(self.quizzes.get(quiz_id, principal=principal), principal=principal)

    def _draft(self, quiz_id: str, principal: Principal):
        require_trainer(principal, "editing a quiz")
        quiz = self.quizzes.get(quiz_id, principal=principal)
        if not made_here(principal, quiz.created_by):
            raise AccessDenied("a trainer edits the drafts made in their own departments")
        if quiz.status != "draft":
            raise InvalidRequest("a published quiz is not edited: make a new one")
        return quiz

    # -- roll-ups ---------------------------------------------------------------------------------

    def rebuild(self) -> int:
        """The roll-ups again from every attempt (a database with attempts from before training)."""
        with self.engine.begin() as conn:
            return rebuild_rollups(conn)


def rebuild_rollups(conn) -> int:
    """The console's roll-ups made again from every attempt, on ``conn`` (migration 0005 runs it, so
    a database with attempts from before training opens with its figures); how many attempts."""
    topics: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    per_question: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    count = 0
    conn.execute(topic_stats.delete())
    conn.execute(question_stats.delete())
    result = conn.execute(select(attempts.c.departments, attempts.c.topic, attempts.c.line,
                                 attempts.c.question_id, attempts.c.correct, attempts.c.at))
    for depts, topic, line, question_id, correct, at in result:
        count += 1
        week = week_of(aware(at))
        for dept in depts or [""]:
            for key, table in (((dept, week, topic[:256], line), topics), ((dept, question_id), per_question)):
                table[key][0] += 1
                table[key][1] += int(correct)
    if topics:
        conn.execute(topic_stats.insert(), [
            {"department": d, "week": w, "topic": t, "line": ln, "attempts": n, "correct": c}
            for (d, w, t, ln), (n, c) in topics.items()])
    if per_question:
        conn.execute(question_stats.insert(), [
            {"department": d, "question_id": q, "attempts": n, "correct": c}
            for (d, q), (n, c) in per_question.items()])
    return count
