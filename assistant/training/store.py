"""Training's tables: assignments and each learner's progress on them, the wrong-answer
notebook (错题本), training-hour credits (学时), daily sets and who wants them pushed, the
trainers' monthly focus topics, mock exams and their sittings, and two roll-ups the trainer
console reads instead of a year of attempts (per department: topic × week, and question).

A learner is ``Principal.learner`` (the user name within their departments), as in
assistant/learners.py; a learner's departments are stored beside it so that a trainer's view
can be limited to their departments without parsing names.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from assistant.access import api_keys, principal_for
from assistant.models import Principal

metadata = MetaData()
TZ = DateTime(timezone=True)

assignments = Table(
    "assignments", metadata,
    Column("assignment_id", Integer, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("kind", String(8), nullable=False),  # quiz | exam
    Column("ref", String(64), nullable=False),  # the quiz's or the exam's id
    Column("departments", JSON, nullable=False),
    Column("users", JSON, nullable=False),  # named learners (user names) within those departments; [] = all
    Column("starts_at", TZ, nullable=False),
    Column("due_at", TZ, nullable=False, index=True),
    Column("hours", Float, nullable=False),
    Column("created_by", String(160), nullable=False),
    Column("created_at", TZ, nullable=False),
)
assignment_progress = Table(
    "assignment_progress", metadata,
    Column("assignment_id", Integer, primary_key=True),
    Column("learner", String(160), primary_key=True),
    Column("user", String(128), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("answered", JSON, nullable=False),  # question ids answered for it
    Column("correct", Integer, nullable=False),
    Column("score", Float),
    Column("completed_at", TZ),
    Column("delivered_at", TZ),  # told in a messenger
    Column("reminded_at", TZ),  # reminded before the deadline
    Column("push_failures", Integer, nullable=False, server_default="0"),  # messages the messenger refused
)
mistakes = Table(
    "mistakes", metadata,
    Column("learner", String(160), primary_key=True),
    Column("question_id", String(64), primary_key=True),
    Column("user", String(128), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("topic", Text, nullable=False),
    Column("line", String(32), nullable=False),
    Column("chosen", JSON, nullable=False),  # the last wrong choice
    Column("wrong", Integer, nullable=False),
    Column("streak", Integer, nullable=False),  # correct redos in a row since the last wrong answer
    Column("first_at", TZ, nullable=False),
    Column("last_at", TZ, nullable=False),
    Column("resolved_at", TZ),  # out of the notebook after two correct redos in a row
)
hour_credits = Table(
    "hour_credits", metadata,
    Column("credit_id", Integer, primary_key=True, autoincrement=True),
    Column("learner", String(160), nullable=False, index=True),
    Column("user", String(128), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("activity", String(16), nullable=False),  # assignment | daily | exam
    Column("ref", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("hours", Float, nullable=False),
    Column("at", TZ, nullable=False),
    UniqueConstraint("learner", "activity", "ref", name="uq_hour_credits_once"),
)
daily_sets = Table(
    "daily_sets", metadata,
    Column("learner", String(160), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("question_ids", JSON, nullable=False),
    Column("answered", JSON, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("completed_at", TZ),
)
daily_optins = Table(
    "daily_optins", metadata,
    Column("channel", String(16), primary_key=True),
    Column("platform_id", String(128), primary_key=True),
    Column("hour", Integer, nullable=False),  # local hour (settings.training.timezone) to push at
    Column("last_day", String(10)),  # the day last pushed
)
focus_topics = Table(
    "focus_topics", metadata,
    Column("department", String(128), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("topics", JSON, nullable=False),
    Column("set_by", String(160), nullable=False),
)
exams = Table(
    "exams", metadata,
    Column("exam_id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("blueprint", JSON, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("question_ids", JSON, nullable=False),
    Column("time_limit_s", Integer, nullable=False),
    Column("hours", Float, nullable=False),
    Column("created_by", String(160), nullable=False),
    Column("created_at", TZ, nullable=False),
)
exam_sittings = Table(
    "exam_sittings", metadata,
    Column("exam_id", String(64), primary_key=True),
    Column("learner", String(160), primary_key=True),
    Column("user", String(128), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("started_at", TZ, nullable=False),
    Column("deadline_at", TZ, nullable=False),
    Column("answers", JSON, nullable=False),  # question id -> {"chosen", "correct"} given in time
    Column("late", JSON, nullable=False),  # question ids answered after the deadline (not counted)
    Column("submitted_at", TZ),
    Column("score", Float),
)
topic_stats = Table(
    "training_topic_stats", metadata,
    Column("department", String(128), primary_key=True),  # "" for learners of no department
    Column("week", String(10), primary_key=True),  # the Monday, ISO
    Column("topic", String(256), primary_key=True),
    Column("line", String(32), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("correct", Integer, nullable=False),
)
question_stats = Table(
    "training_question_stats", metadata,
    Column("department", String(128), primary_key=True),
    Column("question_id", String(64), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("correct", Integer, nullable=False),
)


def targets(assignment, principal: Principal) -> bool:
    """Whether an assignment (a row) is for this learner: one of its departments, and named if it names anyone."""
    departments = assignment["departments"] or []
    if departments and not set(departments) & set(principal.departments):
        return False
    return not assignment["users"] or principal.user in assignment["users"]


def roster(conn, departments) -> list[Principal]:
    """The learners known in any of ``departments``: learner keys and messenger members."""
    from assistant.conversation.store import members

    wanted = set(departments)
    seen: dict[str, Principal] = {}
    rows = [*conn.execute(select(api_keys.c.user, api_keys.c.role, api_keys.c.departments)
                          .where(api_keys.c.revoked.is_(False))),
            *conn.execute(select(members.c.user, members.c.role, members.c.departments))]
    for user, role, depts in rows:
        if role != "learner" or not set(depts or ()) & wanted:
            continue
        principal = principal_for(user, role, tuple(depts))
        seen.setdefault(principal.learner, principal)
    return sorted(seen.values(), key=lambda p: p.learner)
