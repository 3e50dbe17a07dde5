"""Learners' attempts, mastery per topic and line, and the FSRS review schedule (SQLAlchemy:
SQLite in the data directory by default, any SQLAlchemy URL otherwise). A learner is
``Principal.learner``: a user name within their departments. The questions themselves are
the quiz store's (assistant/quiz/store.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

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

from assistant.db import aware, dialect_insert, now
from assistant.models import Question

metadata = MetaData()

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


class Learners:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- attempts and reviews -------------------------------------------------------------

    def record(self, *, learner: str, departments: tuple[str, ...], question: Question, chosen: list[int],
               quiz_id: str | None = None, at: datetime | None = None) -> Grade:
        from fsrs import Card, Rating, Scheduler

        at = at or now()
        correct = sorted(set(chosen)) == sorted(question.answer)
        with self.engine.begin() as conn:
            conn.execute(attempts.insert().values(
                user=learner, departments=list(departments), quiz_id=quiz_id, question_id=question.id,
                topic=question.topic, line=question.line, chosen=list(chosen), correct=correct, at=at))
            # the card row is made if missing, then locked: two answers at the same moment (two
            # devices, two workers) are scheduled one after the other, not lost or duplicated
            fresh = Card()
            conn.execute(dialect_insert(conn, cards).values(user=learner, question_id=question.id, card=fresh.to_json(),
                                                         due=fresh.due)
                         .on_conflict_do_nothing(index_elements=[cards.c.user, cards.c.question_id]))
            mine = and_(cards.c.user == learner, cards.c.question_id == question.id)
            card = Card.from_json(conn.execute(select(cards.c.card).where(mine).with_for_update()).scalar_one())
            card, _log = Scheduler(enable_fuzzing=False).review_card(card, Rating.Good if correct else Rating.Again,
                                                                     review_datetime=at)
            conn.execute(cards.update().where(mine).values(card=card.to_json(), due=card.due))
        return Grade(question_id=question.id, correct=correct, chosen=list(chosen), answer=list(question.answer),
                     explanation=question.explanation, citations=list(question.citations),
                     next_review=aware(card.due).isoformat())

    def due(self, learner: str, *, at: datetime | None = None, limit: int = 20) -> list[str]:
        """The ids of the learner's questions due for review, the longest due first."""
        at = at or now()
        with self.engine.connect() as conn:
            return list(conn.execute(select(cards.c.question_id).where(and_(cards.c.user == learner, cards.c.due <= at))
                                     .order_by(cards.c.due).limit(limit)).scalars())

    def progress(self, learner: str, *, at: datetime | None = None) -> dict:
        with self.engine.connect() as conn:
            rows = conn.execute(select(attempts.c.topic, attempts.c.line, attempts.c.correct)
                                .where(attempts.c.user == learner)).all()
            due = len(conn.execute(select(cards.c.question_id).where(
                and_(cards.c.user == learner, cards.c.due <= (at or now())))).all())
        return {"learner": learner, "attempts": len(rows), "correct": sum(r.correct for r in rows),
                "topics": _mastery(rows, key=lambda r: (r.topic, r.line)),
                "lines": _mastery(rows, key=lambda r: (r.line,)), "due": due}

    def group(self, department: str | None) -> dict:
        """A trainer's view: each learner's score, the weakest topics and the hardest questions."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(attempts)).mappings().all()
        rows = [r for r in rows if department is None or department in (r["departments"] or [])]
        by_user: dict[str, list] = defaultdict(list)
        names: dict[str, str] = {}
        by_question: dict[str, list] = defaultdict(list)
        for r in rows:
            by_user[r["user"]].append(r["correct"])
            names[r["user"]] = display_name(r["user"], r["departments"] or ())
            by_question[r["question_id"]].append(r["correct"])
        learners = sorted(({"user": names[u], "learner": u, "attempts": len(v), "correct": sum(v),
                            "score": round(sum(v) / len(v), 3)} for u, v in by_user.items()),
                          key=lambda x: x["learner"])
        topics = sorted(_mastery(rows, key=lambda r: (r["topic"], r["line"])), key=lambda t: (t["mastery"], t["topic"]))
        hardest = sorted(({"question_id": q, "attempts": len(v), "correct_rate": round(sum(v) / len(v), 3)}
                          for q, v in by_question.items()), key=lambda x: (x["correct_rate"], -x["attempts"]))
        return {"department": department, "learners": learners, "weakest_topics": topics[:10],
                "hardest_questions": hardest[:10]}


def display_name(learner: str, departments) -> str:
    """The user name of a learner identity (Principal.learner: the name within its departments)."""
    suffix = "@" + "+".join(sorted(d for d in departments if d))
    return learner[: -len(suffix)] if suffix != "@" and learner.endswith(suffix) else learner


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


