"""What the bot keeps between messages and across restarts, in the jianxue database.

Members (Telegram id -> principal and the prosecution line they chose), one-time pairing
codes (stored hashed), each chat's recent turns, the citations behind each answer's 来源
button, the poll -> question mapping that grades poll answers, and the update ids already
handled (Telegram may deliver an update twice).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from assistant.access import ROLES, principal_for
from assistant.errors import ConfigError, NotFound
from assistant.models import Principal, Turn

metadata = MetaData()

members = Table(
    "tg_members", metadata,
    Column("telegram_id", BigInteger, primary_key=True),
    Column("user", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("line", String(32)),
    Column("nudged_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
pairings = Table(
    "tg_pairings", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_by", BigInteger),
    Column("used_at", DateTime(timezone=True)),
)
chats = Table(
    "tg_chats", metadata,
    Column("chat_id", BigInteger, primary_key=True),
    Column("turns", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
answers = Table(
    "tg_answers", metadata,
    Column("chat_id", BigInteger, primary_key=True),
    Column("message_id", BigInteger, primary_key=True),
    Column("citations", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)
polls = Table(
    "tg_polls", metadata,
    Column("poll_id", String(64), primary_key=True),
    Column("quiz_id", String(64)),
    Column("question_id", String(64), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("telegram_id", BigInteger, nullable=False),
    Column("answered", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)
updates = Table(
    "tg_updates", metadata,
    Column("update_id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)

KEEP = timedelta(days=30)  # answers' citations, polls and seen update ids are kept this long
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


@dataclass(frozen=True)
class Member:
    telegram_id: int
    principal: Principal
    line: str | None


@dataclass(frozen=True)
class PollRef:
    quiz_id: str | None
    question_id: str
    chat_id: int
    telegram_id: int
    answered: bool


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def _clean(departments) -> list[str]:
    return [d.strip() for d in departments if d and d.strip()]


class BotState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- members and pairing ------------------------------------------------------------

    def allow(self, telegram_id: int, *, role: str, departments: tuple[str, ...], user: str | None = None) -> Member:
        """Admit a Telegram user (or change their role and departments)."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}")
        values = {"user": (user or f"tg:{telegram_id}").strip(), "role": role, "departments": _clean(departments)}
        with self.engine.begin() as conn:
            done = conn.execute(update(members).where(members.c.telegram_id == telegram_id).values(**values))
            if not done.rowcount:
                conn.execute(insert(members).values(telegram_id=telegram_id, created_at=_now(), **values))
        member = self.member(telegram_id)
        assert member is not None
        return member

    def remove(self, telegram_id: int) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(members).where(members.c.telegram_id == telegram_id)).rowcount:
                raise NotFound(f"Telegram user {telegram_id} is not on the allow-list")

    def member(self, telegram_id: int) -> Member | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(members).where(members.c.telegram_id == telegram_id)).mappings().first()
        if row is None:
            return None
        principal = principal_for(row["user"], row["role"], tuple(row["departments"] or ()))
        return Member(telegram_id, principal, row["line"])

    def members(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(members).order_by(members.c.created_at)).mappings().all()
        return [{"telegram_id": r["telegram_id"], "user": r["user"], "role": r["role"],
                 "departments": list(r["departments"] or ()), "line": r["line"]} for r in rows]

    def set_line(self, telegram_id: int, line: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(members).where(members.c.telegram_id == telegram_id).values(line=line))

    def make_pairing(self, *, role: str, departments: tuple[str, ...], hours: float) -> str:
        """A one-time code, shown once: whoever sends it to the bot first becomes a member."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}")
        code = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        with self.engine.begin() as conn:
            conn.execute(insert(pairings).values(code_hash=_digest(code), role=role, departments=_clean(departments),
                                                 expires_at=_now() + timedelta(hours=hours)))
        return code

    def redeem(self, code: str, telegram_id: int, *, name: str | None = None) -> Member | None:
        """The member a valid, unused, unexpired code makes; None otherwise (and the code stays unused)."""
        now = _now()
        with self.engine.begin() as conn:
            row = conn.execute(select(pairings).where(pairings.c.code_hash == _digest(code))).mappings().first()
            if row is None or row["used_by"] is not None or _aware(row["expires_at"]) <= now:
                return None
            claimed = conn.execute(update(pairings).where(and_(pairings.c.code_hash == row["code_hash"],
                                                               pairings.c.used_by.is_(None)))
                                   .values(used_by=telegram_id, used_at=now))
            if not claimed.rowcount:  # someone else redeemed it a moment ago
                return None
        existing = self.member(telegram_id)
        user = existing.principal.user if existing else (name or f"tg:{telegram_id}")
        return self.allow(telegram_id, role=row["role"], departments=tuple(row["departments"]), user=user)

    # -- conversations -------------------------------------------------------------------

    def history(self, chat_id: int) -> list[Turn]:
        with self.engine.connect() as conn:
            turns = conn.execute(select(chats.c.turns).where(chats.c.chat_id == chat_id)).scalar()
        return [Turn.from_dict(t) for t in turns or []]

    def add_turn(self, chat_id: int, turn: Turn, *, keep: int) -> None:
        turns = [t.to_dict() for t in (self.history(chat_id) + [turn])[-keep:]] if keep else []
        with self.engine.begin() as conn:
            if not conn.execute(update(chats).where(chats.c.chat_id == chat_id)
                                .values(turns=turns, updated_at=_now())).rowcount:
                conn.execute(insert(chats).values(chat_id=chat_id, turns=turns, updated_at=_now()))

    def forget(self, chat_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(chats).where(chats.c.chat_id == chat_id))

    def save_citations(self, chat_id: int, message_id: int, citations: list[dict]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(answers).where(answers.c.created_at < _now() - KEEP))
            conn.execute(insert(answers).values(chat_id=chat_id, message_id=message_id, citations=citations,
                                                created_at=_now()))

    def citations(self, chat_id: int, message_id: int) -> list[dict] | None:
        with self.engine.connect() as conn:
            return conn.execute(select(answers.c.citations).where(
                and_(answers.c.chat_id == chat_id, answers.c.message_id == message_id))).scalar()

    # -- quiz polls ------------------------------------------------------------------------

    def save_poll(self, poll_id: str, *, quiz_id: str | None, question_id: str, chat_id: int, telegram_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(polls).where(polls.c.created_at < _now() - KEEP))
            conn.execute(insert(polls).values(poll_id=poll_id, quiz_id=quiz_id, question_id=question_id,
                                              chat_id=chat_id, telegram_id=telegram_id, answered=False,
                                              created_at=_now()))

    def poll(self, poll_id: str) -> PollRef | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(polls).where(polls.c.poll_id == poll_id)).mappings().first()
        return None if row is None else PollRef(row["quiz_id"], row["question_id"], row["chat_id"],
                                                row["telegram_id"], row["answered"])

    def answer_poll(self, poll_id: str) -> PollRef | None:
        """The poll's question, marked answered; None for an unknown poll or a second answer."""
        with self.engine.begin() as conn:
            row = conn.execute(select(polls).where(polls.c.poll_id == poll_id)).mappings().first()
            if row is None or row["answered"]:
                return None
            conn.execute(update(polls).where(polls.c.poll_id == poll_id).values(answered=True))
        return PollRef(row["quiz_id"], row["question_id"], row["chat_id"], row["telegram_id"], True)

    # -- delivery ----------------------------------------------------------------------------

    def first_delivery(self, update_id: int) -> bool:
        """True the first time an update id is seen; a replayed update gets False."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(updates).values(update_id=update_id, at=_now()))
        except IntegrityError:
            return False
        return True

    def prune_deliveries(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(updates).where(updates.c.at < _now() - KEEP))

    def to_nudge(self, every: timedelta) -> list[Member]:
        """Members not reminded within ``every`` (the caller checks who has reviews due)."""
        cutoff = _now() - every
        with self.engine.connect() as conn:
            ids = conn.execute(select(members.c.telegram_id).where(
                (members.c.nudged_at.is_(None)) | (members.c.nudged_at < cutoff))).scalars().all()
        return [m for i in ids if (m := self.member(i)) is not None]

    def nudged(self, telegram_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(members).where(members.c.telegram_id == telegram_id).values(nudged_at=_now()))


__all__ = ["BotState", "Member", "PollRef"]
