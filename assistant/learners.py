"""Quizzes, attempts, mastery per topic and line, and the FSRS review schedule (SQLAlchemy:
SQLite in the data directory by default, any SQLAlchemy URL otherwise)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    select,
)
from sqlalchemy.engine import Engine

from assistant.errors import NotFound
from assistant.models import Question, Quiz

metadata = MetaData()

quizzes = Table(
    "quizzes",
    metadata,
    Column("quiz_id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("line", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("question_ids", JSON, nullable=False),
    Column("dropped", JSON, nullable=False),
)

questions = Table(
    "quiz_questions",
    metadata,
    Column("question_id", String(64), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("status", String(16), nullable=False),
)

attempts = Table(
    "attempts",
    metadata,
    Column("attempt_id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(128), nullable=False, index=True),
    Column("departments", JSON, nullable=False),
    Column("quiz_id", String(64)),
    Column("question_id", String(64), nullable=False, index=True),
    Column("topic", Text, nullable=False),
    Column("line", String(32), nullable=False),
    Column("chosen", JSON, nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

cards = Table(
    "review_cards",
    metadata,
    Column("user", String(128), primary_key=True),
    Column("question_id", String(64), primary_key=True),
    Column("card", Text, nullable=False),  # fsrs.Card as JSON
    Column("due", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class Grade:
    question_id: str
    correct: bool
    chosen: list[int]
    answer: list[int]
    explanation: str
    citations: list
    next_review: str

    def to_dict(self) -> dict:
        return {"question_id": self.question_id, "correct": self.correct, "chosen": self.chosen,
                "answer": self.answer, "explanation": self.explanation,
                "citations": [c.to_dict() for c in self.citations], "next_review": self.next_review}


def now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Learners:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- quizzes ---------------------------------------------------------------------------

    def save_quiz(self, quiz: Quiz) -> None:
        with self.engine.begin() as conn:
            for q in quiz.questions:
                # an id is its content: a question two quizzes share is stored once, keeps the status a
                # trainer gave it, and two workers saving it at the same moment do not collide
                conn.execute(_insert_new(conn, questions).values(question_id=q.id, data=q.to_dict(), status=q.status)
                             .on_conflict_do_nothing(index_elements=[questions.c.question_id]))
            conn.execute(quizzes.insert().values(
                quiz_id=quiz.id, title=quiz.title, topic=quiz.topic, line=quiz.line, status=quiz.status,
                created_by=quiz.created_by, created_at=now(), question_ids=[q.id for q in quiz.questions],
                dropped=list(quiz.dropped)))

    def get_quiz(self, quiz_id: str) -> Quiz:
        with self.engine.connect() as conn:
            row = conn.execute(select(quizzes).where(quizzes.c.quiz_id == quiz_id)).mappings().first()
            if row is None:
                raise NotFound(f"no quiz {quiz_id!r}")
            found = {r.question_id: Question.from_dict(r.data)
                     for r in conn.execute(select(questions).where(questions.c.question_id.in_(row["question_ids"])))}
        return Quiz(id=row["quiz_id"], title=row["title"], topic=row["topic"], line=row["line"],
                    questions=[found[i] for i in row["question_ids"] if i in found], status=row["status"],
                    created_by=row["created_by"], created_at=_aware(row["created_at"]).isoformat(),
                    dropped=list(row["dropped"]))

    def list_quizzes(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(quizzes).order_by(quizzes.c.created_at.desc())).mappings().all()
        return [{"id": r["quiz_id"], "title": r["title"], "topic": r["topic"], "line": r["line"],
                 "status": r["status"], "questions": len(r["question_ids"])} for r in rows]

    def publish(self, quiz_id: str) -> Quiz:
        quiz = self.get_quiz(quiz_id)
        with self.engine.begin() as conn:
            conn.execute(quizzes.update().where(quizzes.c.quiz_id == quiz_id).values(status="published"))
            for q in quiz.questions:
                q.status = "published"
                conn.execute(questions.update().where(questions.c.question_id == q.id)
                             .values(status="published", data=q.to_dict()))
        quiz.status = "published"
        return quiz

    def get_question(self, question_id: str) -> Question:
        with self.engine.connect() as conn:
            row = conn.execute(select(questions.c.data).where(questions.c.question_id == question_id)).first()
        if row is None:
            raise NotFound(f"no question {question_id!r}")
        return Question.from_dict(row.data)

    # -- attempts and reviews -------------------------------------------------------------

    def record(self, *, user: str, departments: tuple[str, ...], question: Question, chosen: list[int],
               quiz_id: str | None = None, at: datetime | None = None) -> Grade:
        from fsrs import Card, Rating, Scheduler

        at = at or now()
        correct = sorted(set(chosen)) == sorted(question.answer)
        with self.engine.begin() as conn:
            conn.execute(attempts.insert().values(
                user=user, departments=list(departments), quiz_id=quiz_id, question_id=question.id,
                topic=question.topic, line=question.line, chosen=list(chosen), correct=correct, at=at))
            # the card row is made if missing, then locked: two answers at the same moment (two
            # devices, two workers) are scheduled one after the other, not lost or duplicated
            fresh = Card()
            conn.execute(_insert_new(conn, cards).values(user=user, question_id=question.id, card=fresh.to_json(),
                                                         due=fresh.due)
                         .on_conflict_do_nothing(index_elements=[cards.c.user, cards.c.question_id]))
            mine = and_(cards.c.user == user, cards.c.question_id == question.id)
            card = Card.from_json(conn.execute(select(cards.c.card).where(mine).with_for_update()).scalar_one())
            card, _log = Scheduler(enable_fuzzing=False).review_card(card, Rating.Good if correct else Rating.Again,
                                                                     review_datetime=at)
            conn.execute(cards.update().where(mine).values(card=card.to_json(), due=card.due))
        return Grade(question_id=question.id, correct=correct, chosen=list(chosen), answer=list(question.answer),
                     explanation=question.explanation, citations=list(question.citations),
                     next_review=_aware(card.due).isoformat())

    def due(self, user: str, *, at: datetime | None = None, limit: int = 20) -> list[Question]:
        at = at or now()
        with self.engine.connect() as conn:
            rows = conn.execute(select(cards.c.question_id).where(and_(cards.c.user == user, cards.c.due <= at))
                                .order_by(cards.c.due).limit(limit)).all()
        out = []
        for (question_id,) in rows:
            try:
                out.append(self.get_question(question_id))
            except NotFound:
                continue
        return out

    def progress(self, user: str, *, at: datetime | None = None) -> dict:
        with self.engine.connect() as conn:
            rows = conn.execute(select(attempts.c.topic, attempts.c.line, attempts.c.correct)
                                .where(attempts.c.user == user)).all()
            due = len(conn.execute(select(cards.c.question_id).where(
                and_(cards.c.user == user, cards.c.due <= (at or now())))).all())
        return {"user": user, "attempts": len(rows), "correct": sum(r.correct for r in rows),
                "topics": _mastery(rows, key=lambda r: (r.topic, r.line)),
                "lines": _mastery(rows, key=lambda r: (r.line,)), "due": due}

    def group(self, department: str | None) -> dict:
        """A trainer's view: each learner's score, the weakest topics and the hardest questions."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(attempts)).mappings().all()
        rows = [r for r in rows if department is None or department in (r["departments"] or [])]
        by_user: dict[str, list] = defaultdict(list)
        by_question: dict[str, list] = defaultdict(list)
        for r in rows:
            by_user[r["user"]].append(r["correct"])
            by_question[r["question_id"]].append(r["correct"])
        learners = sorted(({"user": u, "attempts": len(v), "correct": sum(v), "score": round(sum(v) / len(v), 3)}
                           for u, v in by_user.items()), key=lambda x: x["user"])
        topics = sorted(_mastery(rows, key=lambda r: (r["topic"], r["line"])), key=lambda t: (t["mastery"], t["topic"]))
        hardest = sorted(({"question_id": q, "attempts": len(v), "correct_rate": round(sum(v) / len(v), 3)}
                          for q, v in by_question.items()), key=lambda x: (x["correct_rate"], -x["attempts"]))
        for item in hardest[:10]:
            try:
                item["stem"] = self.get_question(item["question_id"]).stem[:80]
            except NotFound:
                item["stem"] = ""
        return {"department": department, "learners": learners, "weakest_topics": topics[:10],
                "hardest_questions": hardest[:10]}


def _insert_new(conn, table: Table):
    """INSERT … ON CONFLICT for the connection's database (SQLite and PostgreSQL both have it)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _mastery(rows, *, key) -> list[dict]:
    """Per key: attempts, correct, and mastery = (correct + 1) / (attempts + 2)."""
    groups: dict[tuple, list[bool]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(bool(r["correct"] if isinstance(r, dict) or hasattr(r, "keys") else r.correct))
    out = []
    for k, v in sorted(groups.items()):
        item = {"attempts": len(v), "correct": sum(v), "mastery": round((sum(v) + 1) / (len(v) + 2), 3)}
        item.update(dict(zip(("topic", "line") if len(k) == 2 else ("line",), k, strict=True)))
        out.append(item)
    return out


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)
