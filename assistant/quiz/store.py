"""Quizzes and their questions as stored: a question's id is its content, so a question two
quizzes share is stored once and keeps the status a trainer gave it."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Text, select
from sqlalchemy.engine import Engine

from assistant.db import aware, dialect_insert, now
from assistant.errors import Conflict, NotFound
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


class QuizStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save_quiz(self, quiz: Quiz) -> None:
        with self.engine.begin() as conn:
            for q in quiz.questions:
                # an id is its content: a question two quizzes share is stored once, keeps the status a
                # trainer gave it, and two workers saving it at the same moment do not collide
                conn.execute(dialect_insert(conn, questions).values(question_id=q.id, data=q.to_dict(), status=q.status)
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
                    created_by=row["created_by"], created_at=aware(row["created_at"]).isoformat(),
                    dropped=list(row["dropped"]))

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

    def get_questions(self, question_ids) -> dict[str, Question]:
        """The stored questions among ``question_ids`` (those gone are absent)."""
        ids = sorted(set(question_ids))
        with self.engine.connect() as conn:
            rows = conn.execute(select(questions.c.question_id, questions.c.data)
                                .where(questions.c.question_id.in_(ids))).all() if ids else []
        return {r.question_id: Question.from_dict(r.data) for r in rows}

    def replace_question(self, quiz_id: str, old_id: str, question: Question) -> None:
        """A trainer's correction of a draft's question, stored under its own (new) id and put in the
        old one's place in this quiz only: a question is shared by content, so other quizzes, and the
        attempts already made, keep the question as it was."""
        with self.engine.begin() as conn:
            ids = conn.execute(select(quizzes.c.question_ids).where(quizzes.c.quiz_id == quiz_id)
                               .with_for_update()).scalar()  # two trainers editing one draft: one after the other
            if ids is None:
                raise NotFound(f"no quiz {quiz_id!r}")
            if old_id not in ids:
                raise Conflict(f"question {old_id!r} is no longer in quiz {quiz_id!r}")
            conn.execute(dialect_insert(conn, questions).values(question_id=question.id, data=question.to_dict(),
                                                                status=question.status)
                         .on_conflict_do_nothing(index_elements=[questions.c.question_id]))
            conn.execute(quizzes.update().where(quizzes.c.quiz_id == quiz_id)
                         .values(question_ids=[question.id if i == old_id else i for i in ids]))

    def drop_question(self, quiz_id: str, question_id: str) -> None:
        """Take a question out of a quiz (the question itself stays for other quizzes and attempts)."""
        with self.engine.begin() as conn:
            ids = conn.execute(select(quizzes.c.question_ids).where(quizzes.c.quiz_id == quiz_id)
                               .with_for_update()).scalar()
            if ids is None:
                raise NotFound(f"no quiz {quiz_id!r}")
            conn.execute(quizzes.update().where(quizzes.c.quiz_id == quiz_id)
                         .values(question_ids=[i for i in ids if i != question_id]))
