"""The expert pool's tables: who answers which lines, the questions escalated to them (with
what the asker was shown and what the expert drafted), the messages waiting to be sent to a
member in their messenger, and every vote on an answer. Everything lives in the jianxue
database, so nothing is lost across restarts and every worker sees the same queue.

A claim is one conditional UPDATE (``... WHERE status = 'open'``): of two experts pressing
at once exactly one changes a row, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine

from assistant.db import aware, now
from assistant.errors import NotFound

metadata = MetaData()
TZ = DateTime(timezone=True)

OPEN, CLAIMED, ANSWERED, PUBLISHED = "open", "claimed", "answered", "published"
WITHDRAWN, LINKED = "withdrawn", "linked"  # taken out of the materials; merged into a question asked before
STATUSES = (OPEN, CLAIMED, ANSWERED, PUBLISHED, WITHDRAWN, LINKED)
NOTICE_LEASE = timedelta(minutes=10)  # a message handed to an adapter that never said how it went
NOTICE_ATTEMPTS = 5  # then a member out of reach stops being tried

experts = Table(
    "experts", metadata,
    Column("user", String(128), primary_key=True),
    Column("lines", JSON, nullable=False),
    Column("departments", JSON, nullable=False),
    Column("created_at", TZ, nullable=False),
)
questions = Table(
    "expert_questions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("line", String(32), nullable=False),
    Column("reason", String(16), nullable=False),  # declined | unsatisfied
    Column("comment", Text),
    Column("history", JSON, nullable=False),  # the conversation before the question (questions asked)
    Column("found", JSON, nullable=False),  # what jianxue answered: text, citations
    Column("asker", String(160), nullable=False),  # Principal.learner
    Column("asker_user", String(128), nullable=False),
    Column("asker_departments", JSON, nullable=False),
    Column("show_identity", Boolean, nullable=False),
    Column("access", JSON, nullable=False),  # departments whose experts may see it; [] = every expert of the line
    Column("channel", String(16)),  # where the asker asked (cli, http, telegram …) and how to reach them there
    Column("chat_id", String(128)),
    Column("platform_id", String(128)),
    Column("status", String(16), nullable=False),
    Column("linked_to", Integer),
    Column("claimed_by", String(128)),
    Column("claimed_at", TZ),
    Column("passages", JSON),  # chunk ids retrieved for the claiming expert, in the order shown: [n] = n-th
    Column("draft", Text),
    Column("draft_at", TZ),
    Column("answer", Text),
    Column("citations", JSON),
    Column("answered_by", String(128)),
    Column("answered_at", TZ),
    Column("published_by", String(128)),
    Column("published_at", TZ),
    Column("doc_id", String(512)),
    Column("label", String(64)),
    Column("published_access", JSON),
    Column("reminded_at", TZ),
    Column("created_at", TZ, nullable=False),
    Index("ix_expert_questions_status_line", "status", "line"),
    Index("ix_expert_questions_linked_to", "linked_to"),
)
notices = Table(
    "expert_notices", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("platform_id", String(128), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("buttons", JSON, nullable=False),  # [[label, action], ...]
    Column("key", String(64), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("sent_at", TZ),
    Column("taken_at", TZ),  # handed to an adapter; handed out again after NOTICE_LEASE unless settled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Index("ix_expert_notices_channel_sent_at", "channel", "sent_at"),
)
feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(160), nullable=False),  # Principal.learner
    Column("channel", String(16), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", JSON, nullable=False),
    Column("mode", String(16), nullable=False),  # extractive | llm | refusal | expert
    Column("question_id", Integer),  # the escalated question whose answer this was, if any
    Column("vote", Integer),  # +1 赞, -1 踩; None: shown, not voted on
    Column("comment", Text),
    Column("created_at", TZ, nullable=False),
    Column("voted_at", TZ),
    Index("ix_feedback_voted_at", "voted_at"),
)


class ExpertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- the pool ---------------------------------------------------------------------------------

    def add_expert(self, user: str, lines: list[str], departments: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(experts).where(experts.c.user == user))
            conn.execute(insert(experts).values(user=user, lines=lines, departments=departments, created_at=now()))

    def remove_expert(self, user: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(experts).where(experts.c.user == user)).rowcount:
                raise NotFound(f"{user!r} is not in the expert pool")

    def expert(self, user: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(experts).where(experts.c.user == user)).mappings().first()
        return dict(row) if row is not None else None

    def experts(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(experts).order_by(experts.c.user)).mappings()]

    # -- questions ----------------------------------------------------------------------------------

    def add_question(self, **values) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(insert(questions).values(created_at=now(), **values))
            return int(done.inserted_primary_key[0])

    def question(self, question_id: int) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(select(questions).where(questions.c.id == question_id)).mappings().first()
        if row is None:
            raise NotFound(f"no question {question_id}")
        return dict(row)

    def questions(self, *, statuses: tuple[str, ...] = (), lines: tuple[str, ...] | None = None,
                  asker: str | None = None, linked_to: int | None = None, since: datetime | None = None) -> list[dict]:
        query = select(questions).order_by(questions.c.id)
        if statuses:
            query = query.where(questions.c.status.in_(statuses))
        if lines is not None:
            query = query.where(questions.c.line.in_(lines))
        if asker is not None:
            query = query.where(questions.c.asker == asker)
        if linked_to is not None:
            query = query.where(questions.c.linked_to == linked_to)
        if since is not None:
            query = query.where(questions.c.created_at >= since)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def claim(self, question_id: int, user: str, passages: list[str]) -> bool:
        """Whether this expert got the question: only an open one can be claimed, once."""
        with self.engine.begin() as conn:
            done = conn.execute(update(questions).where(and_(questions.c.id == question_id, questions.c.status == OPEN))
                                .values(status=CLAIMED, claimed_by=user, claimed_at=now(), passages=passages))
            return done.rowcount == 1

    def release(self, question_id: int, *, user: str | None = None) -> bool:
        """Back to the queue (the claimer gives up, or a trainer reassigns); the draft goes with the claim."""
        where = and_(questions.c.id == question_id, questions.c.status == CLAIMED)
        if user is not None:
            where = and_(where, questions.c.claimed_by == user)
        with self.engine.begin() as conn:
            done = conn.execute(update(questions).where(where).values(
                status=OPEN, claimed_by=None, claimed_at=None, passages=None, draft=None, draft_at=None))
            return done.rowcount == 1

    def save_draft(self, question_id: int, user: str, text: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(update(questions).where(and_(
                questions.c.id == question_id, questions.c.status == CLAIMED, questions.c.claimed_by == user))
                .values(draft=text, draft_at=now()))
            return done.rowcount == 1

    def answered(self, question_id: int, user: str, text: str, citations: list[dict]) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(update(questions).where(and_(
                questions.c.id == question_id, questions.c.claimed_by == user,
                questions.c.status.in_((CLAIMED, ANSWERED))))
                .values(status=ANSWERED, answer=text, citations=citations, answered_by=user, answered_at=now(),
                        draft=None, draft_at=None))
            return done.rowcount == 1

    def set_fields(self, question_id: int, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(questions).where(questions.c.id == question_id).values(**values))

    def documents_removed(self, doc_ids) -> int:
        """Published answers whose document was removed (as a document, not withdrawn here) are
        withdrawn: they are no longer in the materials. How many."""
        ids = list(doc_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(update(questions).where(and_(questions.c.doc_id.in_(ids),
                                                            questions.c.status == PUBLISHED))
                                .values(status=WITHDRAWN, doc_id=None)).rowcount

    def published_doc_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(questions.c.doc_id).where(and_(
                questions.c.status == PUBLISHED, questions.c.doc_id.is_not(None)))).scalars())

    def reminded(self, question_ids: list[int]) -> None:
        if question_ids:
            with self.engine.begin() as conn:
                conn.execute(update(questions).where(questions.c.id.in_(question_ids)).values(reminded_at=now()))

    # -- messages to members ------------------------------------------------------------------------

    def notify(self, channel: str, platform_id: str, chat_id: str, text: str, *, buttons=(), key: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(notices).values(channel=channel, platform_id=platform_id, chat_id=chat_id, text=text,
                                                buttons=[list(b) for b in buttons], key=key[:64], created_at=now()))

    def take_notices(self, channel: str) -> list[dict]:
        """The messages of a channel to send now: never sent, not in an adapter's hands (or handed out
        longer than NOTICE_LEASE ago, by a worker that stopped), fewer than NOTICE_ATTEMPTS tries.
        Each is handed to one caller, even of two workers; settle_notice says how it went."""
        at = now()
        waiting = and_(notices.c.channel == channel, notices.c.sent_at.is_(None),
                       notices.c.attempts < NOTICE_ATTEMPTS,
                       or_(notices.c.taken_at.is_(None), notices.c.taken_at < at - NOTICE_LEASE))
        with self.engine.begin() as conn:
            rows = [dict(r) for r in conn.execute(select(notices).where(waiting).order_by(notices.c.id)).mappings()]
            taken = []
            for row in rows:
                done = conn.execute(update(notices).where(and_(notices.c.id == row["id"], waiting))
                                    .values(taken_at=at, attempts=notices.c.attempts + 1))
                if done.rowcount == 1:
                    taken.append({**row, "taken_at": at, "attempts": row["attempts"] + 1})
            return taken

    def settle_notice(self, notice_id: int, taken_at: datetime, sent: bool) -> None:
        """A taken message went out (it is done) or did not: then it is handed out again next round,
        until NOTICE_ATTEMPTS tries were made, unless another worker took it meanwhile (``taken_at``
        is when this caller took it; a failure reported after the lease ran out changes nothing)."""
        with self.engine.begin() as conn:
            if sent:
                conn.execute(update(notices).where(and_(notices.c.id == notice_id, notices.c.sent_at.is_(None)))
                             .values(sent_at=now()))
            else:
                conn.execute(update(notices).where(and_(notices.c.id == notice_id, notices.c.sent_at.is_(None),
                                                        notices.c.taken_at == taken_at))
                             .values(taken_at=None))

    # -- feedback -----------------------------------------------------------------------------------

    def shown(self, **values) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(insert(feedback).values(created_at=now(), **values)).inserted_primary_key[0])

    def vote(self, feedback_id: int, user: str, vote: int, comment: str | None) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(update(feedback).where(and_(feedback.c.id == feedback_id, feedback.c.user == user))
                                .values(vote=vote, comment=comment, voted_at=now()))
            return done.rowcount == 1

    def last_vote(self, user: str, channel: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(feedback).where(and_(
                feedback.c.user == user, feedback.c.channel == channel, feedback.c.vote.is_not(None)))
                .order_by(feedback.c.voted_at.desc()).limit(1)).mappings().first()
        return dict(row) if row is not None else None

    def last_question(self, asker: str, channel: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(questions).where(and_(questions.c.asker == asker, questions.c.channel == channel))
                               .order_by(questions.c.id.desc()).limit(1)).mappings().first()
        return dict(row) if row is not None else None

    def comment_on_vote(self, feedback_id: int, comment: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(feedback).where(feedback.c.id == feedback_id).values(comment=comment))

    def feedback_row(self, feedback_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(feedback).where(feedback.c.id == feedback_id)).mappings().first()
        return dict(row) if row is not None else None

    def votes(self, since: datetime) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(feedback).where(and_(feedback.c.vote.is_not(None), or_(
                feedback.c.voted_at >= since))).order_by(feedback.c.voted_at)).mappings()
            return [dict(r) for r in rows]


def stamp(value) -> str | None:
    return aware(value).isoformat() if value is not None else None
