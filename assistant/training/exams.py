"""Mock exams (模拟考试): a blueprint (questions per line, topic and difficulty, a time limit,
学时) builds a paper from published questions, the same paper for the same blueprint, seed
and question pool. A sitting's clock is the server's: it starts when the learner starts, an
answer that arrives after the deadline is kept aside and not counted, and the paper is graded
on submission (or whenever it is submitted after the deadline) with a report per topic."""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import and_, select

from assistant.access import require_trainer
from assistant.db import aware, dialect_insert, now
from assistant.errors import Conflict, InvalidRequest, NotFound
from assistant.models import Principal
from assistant.training.practice import published_questions
from assistant.training.record import credit
from assistant.training.store import assignment_progress, assignments, exam_sittings, exams, targets

LINES = ("criminal", "civil", "administrative", "public_interest", "procuratorial", "general")


def check_blueprint(blueprint) -> dict:
    """The blueprint as data, or InvalidRequest saying what is wrong with it."""
    if not isinstance(blueprint, dict):
        raise InvalidRequest("a blueprint is a mapping with title, time_limit_minutes and sections")
    sections = blueprint.get("sections")
    if not isinstance(sections, list) or not sections:
        raise InvalidRequest("a blueprint needs sections: a list of {line, topic, difficulty, count}")
    try:
        limit = float(blueprint.get("time_limit_minutes", 0))
        hours = float(blueprint.get("hours", 0))
    except (TypeError, ValueError):
        raise InvalidRequest("time_limit_minutes and hours are numbers") from None
    if not 0 < limit <= 600 or not 0 <= hours <= 100:
        raise InvalidRequest("time_limit_minutes is more than 0 and at most 600; hours 0 to 100")
    clean = []
    for i, s in enumerate(sections, 1):
        if not isinstance(s, dict) or not isinstance(s.get("count"), int) or not 1 <= s["count"] <= 200:
            raise InvalidRequest(f"section {i}: count is a whole number from 1 to 200")
        if s.get("line") is not None and s["line"] not in LINES:
            raise InvalidRequest(f"section {i}: line is one of {', '.join(LINES)}")
        if s.get("difficulty") is not None and s["difficulty"] not in (1, 2, 3):
            raise InvalidRequest(f"section {i}: difficulty is 1, 2 or 3")
        topic = str(s["topic"])[:100] if s.get("topic") else None
        clean.append({"line": s.get("line"), "topic": topic, "difficulty": s.get("difficulty"),
                      "count": s["count"]})
    return {"title": str(blueprint.get("title") or "模拟考试")[:200], "time_limit_minutes": limit, "hours": hours,
            "sections": clean}


class Exams:
    def __init__(self, engine, *, quizzes, clock=now) -> None:
        self.engine, self.quizzes, self.clock = engine, quizzes, clock

    def make(self, blueprint, *, seed: int, principal: Principal) -> dict:
        require_trainer(principal, "making a mock exam")
        blueprint = check_blueprint(blueprint)
        pool = self.quizzes.readable(published_questions(self.engine), principal=principal)
        rng = random.Random(seed)
        chosen: list[str] = []
        for i, s in enumerate(blueprint["sections"], 1):
            fits = [q for q in pool if q.id not in chosen and (s["line"] is None or q.line == s["line"])
                    and (s["topic"] is None or s["topic"] in q.topic) and (s["difficulty"] in (None, q.difficulty))]
            if len(fits) < s["count"]:
                raise InvalidRequest(f"section {i} asks for {s['count']} published questions and {len(fits)} fit: "
                                     "publish more quizzes or ask for fewer")
            chosen += [q.id for q in rng.sample(fits, s["count"])]
        digest = hashlib.sha256(json.dumps([blueprint, seed, chosen], ensure_ascii=False).encode()).hexdigest()
        exam_id = "x" + digest[:11]
        with self.engine.begin() as conn:
            conn.execute(dialect_insert(conn, exams).values(
                exam_id=exam_id, title=blueprint["title"], blueprint=blueprint, seed=seed, question_ids=chosen,
                time_limit_s=round(blueprint["time_limit_minutes"] * 60), hours=blueprint["hours"],
                created_by=principal.learner, created_at=self.clock())
                .on_conflict_do_nothing(index_elements=[exams.c.exam_id]))
        return self.get(exam_id, principal=principal)

    def _row(self, exam_id: str):
        with self.engine.connect() as conn:
            row = conn.execute(select(exams).where(exams.c.exam_id == exam_id)).mappings().first()
        if row is None:
            raise NotFound(f"no mock exam {exam_id!r}")
        return row

    def get(self, exam_id: str, *, principal: Principal) -> dict:
        """The paper as this principal may see it (answers only for trainers)."""
        row = self._row(exam_id)
        stored = self.quizzes.store.get_questions(row["question_ids"])
        questions = self.quizzes.readable([stored[i] for i in row["question_ids"] if i in stored], principal=principal)
        return {"id": row["exam_id"], "title": row["title"], "seed": row["seed"], "blueprint": row["blueprint"],
                "time_limit_s": row["time_limit_s"], "hours": row["hours"],
                "questions": [self.quizzes.question_view(q, principal=principal) for q in questions]}

    def start(self, exam_id: str, *, principal: Principal) -> dict:
        """Start (or resume) the principal's sitting: the deadline is set now, by the server."""
        row = self._row(exam_id)
        at = self.clock()
        with self.engine.begin() as conn:
            conn.execute(dialect_insert(conn, exam_sittings).values(
                exam_id=exam_id, learner=principal.learner, user=principal.user,
                departments=list(principal.departments), started_at=at,
                deadline_at=at + timedelta(seconds=row["time_limit_s"]), answers={}, late=[])
                .on_conflict_do_nothing(index_elements=[exam_sittings.c.exam_id, exam_sittings.c.learner]))
        return self.get(exam_id, principal=principal) | self._sitting_view(exam_id, principal)

    def _sitting(self, conn, exam_id: str, principal: Principal, *, lock: bool = False):
        query = select(exam_sittings).where(and_(exam_sittings.c.exam_id == exam_id,
                                                 exam_sittings.c.learner == principal.learner))
        row = conn.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            raise NotFound(f"no sitting of {exam_id!r}: start the exam first")
        return row

    def _sitting_view(self, exam_id: str, principal: Principal) -> dict:
        with self.engine.connect() as conn:
            s = self._sitting(conn, exam_id, principal)
        left = (aware(s["deadline_at"]) - self.clock()).total_seconds()
        return {"started_at": aware(s["started_at"]).isoformat(), "deadline_at": aware(s["deadline_at"]).isoformat(),
                "seconds_left": max(0, round(left)), "answered": sorted(s["answers"]),
                "submitted": s["submitted_at"] is not None}

    def answer(self, exam_id: str, question_id: str, chosen, *, principal: Principal) -> dict:
        """Keep an answer given in time (a later one for the same question replaces it); one that
        arrives after the deadline is noted and not counted."""
        row = self._row(exam_id)
        if question_id not in row["question_ids"]:
            raise NotFound(f"no question {question_id!r} in exam {exam_id!r}")
        self.quizzes.question(question_id, principal=principal)  # one they may read
        chosen = sorted({int(i) for i in chosen})
        at = self.clock()
        with self.engine.begin() as conn:
            s = self._sitting(conn, exam_id, principal, lock=True)
            if s["submitted_at"] is not None:
                raise Conflict("this exam has been submitted")
            if at > aware(s["deadline_at"]):
                conn.execute(exam_sittings.update().where(and_(
                    exam_sittings.c.exam_id == exam_id, exam_sittings.c.learner == principal.learner))
                    .values(late=sorted({*s["late"], question_id})))
                return {"question_id": question_id, "counted": False, "reason": "after the time limit"}
            conn.execute(exam_sittings.update().where(and_(
                exam_sittings.c.exam_id == exam_id, exam_sittings.c.learner == principal.learner))
                .values(answers={**s["answers"], question_id: chosen}))
        return {"question_id": question_id, "counted": True,
                "seconds_left": max(0, round((aware(s["deadline_at"]) - at).total_seconds()))}

    def submit(self, exam_id: str, *, principal: Principal) -> dict:
        """Grade the answers given in time (each recorded like any answer: 错题本, reviews, figures),
        credit 学时, complete the exam's assignments; the report per topic."""
        row = self._row(exam_id)
        at = self.clock()
        with self.engine.begin() as conn:
            s = self._sitting(conn, exam_id, principal, lock=True)
            if s["submitted_at"] is not None:
                return self.report(exam_id, principal=principal)
            conn.execute(exam_sittings.update().where(and_(
                exam_sittings.c.exam_id == exam_id, exam_sittings.c.learner == principal.learner))
                .values(submitted_at=at))
        correct = 0
        for question_id, chosen in s["answers"].items():
            correct += self.quizzes.grade(question_id, chosen, principal=principal).correct
        score = round(correct / max(1, len(row["question_ids"])), 3)
        with self.engine.begin() as conn:
            conn.execute(exam_sittings.update().where(and_(
                exam_sittings.c.exam_id == exam_id, exam_sittings.c.learner == principal.learner)).values(score=score))
            credit(conn, principal, activity="exam", ref=exam_id, title=row["title"], hours=row["hours"], at=at)
            for a in conn.execute(select(assignments).where(and_(
                    assignments.c.kind == "exam", assignments.c.ref == exam_id))).mappings().all():
                if not targets(a, principal):
                    continue
                conn.execute(dialect_insert(conn, assignment_progress).values(
                    assignment_id=a["assignment_id"], learner=principal.learner, user=principal.user,
                    departments=list(principal.departments), answered=sorted(s["answers"]), correct=correct,
                    score=score, completed_at=at).on_conflict_do_nothing(
                    index_elements=[assignment_progress.c.assignment_id, assignment_progress.c.learner]))
                if at <= aware(a["due_at"]):
                    credit(conn, principal, activity="assignment", ref=str(a["assignment_id"]), title=a["title"],
                           hours=a["hours"], at=at)
        return self.report(exam_id, principal=principal)

    def report(self, exam_id: str, *, principal: Principal) -> dict:
        row = self._row(exam_id)
        with self.engine.connect() as conn:
            s = self._sitting(conn, exam_id, principal)
        if s["submitted_at"] is None:
            raise Conflict("the exam has not been submitted yet")
        stored = self.quizzes.store.get_questions(row["question_ids"])
        topics = defaultdict(lambda: {"questions": 0, "answered": 0, "correct": 0})
        items = []
        for qid in row["question_ids"]:
            q = stored.get(qid)
            if q is None:
                continue
            given = s["answers"].get(qid)
            right = given is not None and sorted(given) == sorted(q.answer)
            t = topics[(q.topic, q.line)]
            t["questions"] += 1
            t["answered"] += given is not None
            t["correct"] += right
            items.append({"question_id": qid, "chosen": given, "answer": q.answer, "correct": right,
                          "late": qid in s["late"], "topic": q.topic})
        correct = sum(i["correct"] for i in items)
        return {"exam_id": exam_id, "title": row["title"], "learner": principal.learner,
                "started_at": aware(s["started_at"]).isoformat(), "deadline_at": aware(s["deadline_at"]).isoformat(),
                "submitted_at": aware(s["submitted_at"]).isoformat(), "questions": len(items), "correct": correct,
                "score": round(correct / max(1, len(items)), 3), "late_answers": list(s["late"]),
                "topics": [{"topic": k[0], "line": k[1], **v, "score": round(v["correct"] / v["questions"], 3)}
                           for k, v in sorted(topics.items())], "items": items}
