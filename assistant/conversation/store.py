"""What chats keep between messages and across restarts, for every messenger, in the jianxue
database: members (a platform user id in a channel -> a principal, and the line they chose),
one-time pairing codes (stored hashed), each chat's recent turns, the citations behind each
answer's 来源 button, the quiz questions delivered and whether they were answered, the
delivery ids already handled (platforms deliver twice), and platform departments mapped to
jianxue departments.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    JSON,
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
from assistant.db import aware, now
from assistant.errors import ConfigError, NotFound
from assistant.models import Principal, Turn

metadata = MetaData()

members = Table(
    "members", metadata,
    Column("channel", String(16), primary_key=True),
    Column("platform_id", String(128), primary_key=True),
    Column("user", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("line", String(32)),
    Column("platform_departments", JSON),  # as the platform's directory last reported them
    Column("nudged_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
pairings = Table(
    "pairings", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("channel", String(16)),  # None: any channel
    Column("role", String(16), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_by", String(160)),  # channel:platform id
    Column("used_at", DateTime(timezone=True)),
)
chats = Table(
    "chats", metadata,
    Column("channel", String(16), primary_key=True),
    Column("chat_id", String(128), primary_key=True),
    Column("turns", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
sources = Table(
    "chat_sources", metadata,
    Column("ref", String(32), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("citations", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)
deliveries = Table(
    "chat_questions", metadata,
    Column("ref", String(32), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("platform_id", String(128), nullable=False),  # the member it was sent to
    Column("platform_ref", String(128), index=True),  # the platform's id of what was sent (a Telegram poll)
    Column("quiz_id", String(64)),
    Column("question_id", String(64), nullable=False),
    Column("answered", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)
seen = Table(
    "chat_deliveries", metadata,
    Column("channel", String(16), primary_key=True),
    Column("delivery_id", String(128), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)
department_map = Table(
    "platform_departments", metadata,
    Column("channel", String(16), primary_key=True),
    Column("platform_department", String(128), primary_key=True),
    Column("department", String(128), nullable=False),
)

KEEP = timedelta(days=30)  # sources, delivered questions and seen delivery ids are kept this long
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


@dataclass(frozen=True)
class Member:
    channel: str
    platform_id: str
    principal: Principal
    line: str | None


@dataclass(frozen=True)
class Delivered:
    """A quiz question sent to a member."""

    ref: str
    channel: str
    chat_id: str
    platform_id: str
    quiz_id: str | None
    question_id: str
    answered: bool


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def _clean(departments) -> list[str]:
    return [d.strip() for d in departments if d and d.strip()]


def new_ref() -> str:
    return secrets.token_urlsafe(9)  # 12 characters, fits any platform's button data


class ConversationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- members and pairing ------------------------------------------------------------

    def allow(self, channel: str, platform_id: str, *, role: str, departments: tuple[str, ...],
              user: str | None = None) -> Member:
        """Admit a platform user (or change their role, departments and name)."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}")
        platform_id = str(platform_id).strip()
        if not platform_id:
            raise ConfigError("a member needs the platform's user id")
        where = and_(members.c.channel == channel, members.c.platform_id == platform_id)
        with self.engine.begin() as conn:
            current = conn.execute(select(members.c.user).where(where)).scalar()
            values = {"user": (user or current or f"{channel}:{platform_id}").strip(), "role": role,
                      "departments": _clean(departments)}
            if current is None:
                conn.execute(insert(members).values(channel=channel, platform_id=platform_id, created_at=now(),
                                                    **values))
            else:
                conn.execute(update(members).where(where).values(**values))
        member = self.member(channel, platform_id)
        assert member is not None
        return member

    def remove(self, channel: str, platform_id: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(members).where(and_(members.c.channel == channel,
                                                           members.c.platform_id == str(platform_id)))).rowcount:
                raise NotFound(f"{channel} user {platform_id} is not a member")

    def member(self, channel: str, platform_id: str, *,
               platform_departments: tuple[str, ...] = ()) -> Member | None:
        """The member, with departments from the platform's directory where those are mapped
        (``jianxue bot map-dept``), else the ones given when they were admitted. Without
        ``platform_departments`` (a reminder, say) the ones the platform last reported count."""
        where = and_(members.c.channel == channel, members.c.platform_id == str(platform_id))
        with self.engine.connect() as conn:
            row = conn.execute(select(members).where(where)).mappings().first()
        if row is None:
            return None
        if platform_departments and list(platform_departments) != (row["platform_departments"] or []):
            with self.engine.begin() as conn:  # kept for what is sent on the member's behalf later (reminders)
                conn.execute(update(members).where(where).values(platform_departments=list(platform_departments)))
        platform_departments = tuple(platform_departments or row["platform_departments"] or ())
        departments = tuple(row["departments"] or ())
        mapped = self.mapped_departments(channel, platform_departments) if platform_departments else ()
        if mapped:
            departments = mapped
        return Member(channel, row["platform_id"], principal_for(row["user"], row["role"], departments), row["line"])

    def members(self, channel: str | None = None) -> list[dict]:
        query = select(members).order_by(members.c.created_at)
        if channel is not None:
            query = query.where(members.c.channel == channel)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{"channel": r["channel"], "platform_id": r["platform_id"], "user": r["user"], "role": r["role"],
                 "departments": list(r["departments"] or ()), "line": r["line"]} for r in rows]

    def set_line(self, channel: str, platform_id: str, line: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(members).where(and_(members.c.channel == channel, members.c.platform_id == platform_id))
                         .values(line=line))

    def make_pairing(self, *, role: str, departments: tuple[str, ...], hours: float, channel: str | None = None) -> str:
        """A one-time code, shown once: whoever sends it first (in ``channel``, or any) becomes a member."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}")
        code = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        with self.engine.begin() as conn:
            conn.execute(insert(pairings).values(code_hash=_digest(code), channel=channel, role=role,
                                                 departments=_clean(departments),
                                                 expires_at=now() + timedelta(hours=hours)))
        return code

    def redeem(self, code: str, channel: str, platform_id: str, *, name: str | None = None) -> Member | None:
        """The member a valid, unused, unexpired code makes; None otherwise (and the code stays unused)."""
        at = now()
        with self.engine.begin() as conn:
            row = conn.execute(select(pairings).where(pairings.c.code_hash == _digest(code))).mappings().first()
            if (row is None or row["used_by"] is not None or aware(row["expires_at"]) <= at
                    or row["channel"] not in (None, channel)):
                return None
            claimed = conn.execute(update(pairings).where(and_(pairings.c.code_hash == row["code_hash"],
                                                               pairings.c.used_by.is_(None)))
                                   .values(used_by=f"{channel}:{platform_id}", used_at=at))
            if not claimed.rowcount:  # someone else redeemed it a moment ago
                return None
        existing = self.member(channel, platform_id)
        user = existing.principal.user if existing else name
        return self.allow(channel, platform_id, role=row["role"], departments=tuple(row["departments"]), user=user)

    # -- platform departments --------------------------------------------------------------

    def map_department(self, channel: str, platform_department: str, department: str) -> None:
        where = and_(department_map.c.channel == channel, department_map.c.platform_department == platform_department)
        with self.engine.begin() as conn:
            if not conn.execute(update(department_map).where(where).values(department=department)).rowcount:
                conn.execute(insert(department_map).values(channel=channel, platform_department=platform_department,
                                                           department=department))

    def unmap_department(self, channel: str, platform_department: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(department_map).where(and_(
                    department_map.c.channel == channel,
                    department_map.c.platform_department == platform_department))).rowcount:
                raise NotFound(f"{channel} department {platform_department} is not mapped")

    def department_maps(self, channel: str | None = None) -> list[dict]:
        query = select(department_map).order_by(department_map.c.channel, department_map.c.platform_department)
        if channel is not None:
            query = query.where(department_map.c.channel == channel)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def mapped_departments(self, channel: str, platform_departments: tuple[str, ...]) -> tuple[str, ...]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(department_map.c.department).where(
                department_map.c.channel == channel,
                department_map.c.platform_department.in_([str(d) for d in platform_departments]))).scalars().all()
        return tuple(sorted(set(rows)))

    # -- conversations -------------------------------------------------------------------

    def history(self, channel: str, chat_id: str) -> list[Turn]:
        with self.engine.connect() as conn:
            turns = conn.execute(select(chats.c.turns).where(and_(chats.c.channel == channel,
                                                                  chats.c.chat_id == chat_id))).scalar()
        return [Turn.from_dict(t) for t in turns or []]

    def add_turn(self, channel: str, chat_id: str, turn: Turn, *, keep: int) -> None:
        turns = [t.to_dict() for t in (self.history(channel, chat_id) + [turn])[-keep:]] if keep else []
        where = and_(chats.c.channel == channel, chats.c.chat_id == chat_id)
        with self.engine.begin() as conn:
            if not conn.execute(update(chats).where(where).values(turns=turns, updated_at=now())).rowcount:
                conn.execute(insert(chats).values(channel=channel, chat_id=chat_id, turns=turns, updated_at=now()))

    def forget(self, channel: str, chat_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(chats).where(and_(chats.c.channel == channel, chats.c.chat_id == chat_id)))

    def save_sources(self, channel: str, chat_id: str, citations: list[dict]) -> str:
        """Keep an answer's citations for its 来源 button; returns the button's reference."""
        ref = new_ref()
        with self.engine.begin() as conn:
            conn.execute(delete(sources).where(sources.c.created_at < now() - KEEP))
            conn.execute(insert(sources).values(ref=ref, channel=channel, chat_id=chat_id, citations=citations,
                                                created_at=now()))
        return ref

    def sources(self, channel: str, chat_id: str, ref: str) -> list[dict] | None:
        with self.engine.connect() as conn:
            return conn.execute(select(sources.c.citations).where(and_(
                sources.c.ref == ref, sources.c.channel == channel, sources.c.chat_id == chat_id))).scalar()

    # -- delivered questions -----------------------------------------------------------------

    def deliver(self, channel: str, chat_id: str, platform_id: str, *, quiz_id: str | None, question_id: str) -> str:
        ref = new_ref()
        with self.engine.begin() as conn:
            conn.execute(delete(deliveries).where(deliveries.c.created_at < now() - KEEP))
            conn.execute(insert(deliveries).values(ref=ref, channel=channel, chat_id=chat_id, platform_id=platform_id,
                                                   quiz_id=quiz_id, question_id=question_id, answered=False,
                                                   created_at=now()))
        return ref

    def link(self, ref: str, platform_ref: str) -> None:
        """Remember the platform's id of what carried the question (a Telegram poll id)."""
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.ref == ref).values(platform_ref=platform_ref))

    def delivered(self, ref: str) -> Delivered | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.ref == ref)).mappings().first()
        return None if row is None else _delivered(row)

    def by_platform_ref(self, channel: str, platform_ref: str) -> Delivered | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(deliveries).where(and_(deliveries.c.channel == channel,
                                                             deliveries.c.platform_ref == platform_ref))
                               ).mappings().first()
        return None if row is None else _delivered(row)

    def pending(self, channel: str, chat_id: str, platform_id: str) -> Delivered | None:
        """The oldest question sent to this member in this chat and not answered yet."""
        with self.engine.connect() as conn:
            row = conn.execute(select(deliveries).where(and_(
                deliveries.c.channel == channel, deliveries.c.chat_id == chat_id,
                deliveries.c.platform_id == platform_id, deliveries.c.answered.is_(False)))
                .order_by(deliveries.c.created_at).limit(1)).mappings().first()
        return None if row is None else _delivered(row)

    def mark_answered(self, ref: str) -> bool:
        """True for the first answer to a delivered question; a second answer gets False."""
        with self.engine.begin() as conn:
            done = conn.execute(update(deliveries).where(and_(deliveries.c.ref == ref,
                                                              deliveries.c.answered.is_(False))).values(answered=True))
        return bool(done.rowcount)

    # -- delivery ----------------------------------------------------------------------------

    def first_delivery(self, channel: str, delivery_id: str) -> bool:
        """True the first time a delivery id is seen in a channel; a replayed one gets False."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(seen).values(channel=channel, delivery_id=str(delivery_id), at=now()))
        except IntegrityError:
            return False
        return True

    def prune(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(seen).where(seen.c.at < now() - KEEP))

    def to_nudge(self, channel: str, every: timedelta) -> list[Member]:
        """Members of a channel not reminded within ``every`` (the caller checks who has reviews due)."""
        cutoff = now() - every
        with self.engine.connect() as conn:
            ids = conn.execute(select(members.c.platform_id).where(
                members.c.channel == channel,
                (members.c.nudged_at.is_(None)) | (members.c.nudged_at < cutoff))).scalars().all()
        return [m for i in ids if (m := self.member(channel, i)) is not None]

    def nudged(self, channel: str, platform_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(members).where(and_(members.c.channel == channel, members.c.platform_id == platform_id))
                         .values(nudged_at=now()))


def _delivered(row) -> Delivered:
    return Delivered(row["ref"], row["channel"], row["chat_id"], row["platform_id"], row["quiz_id"],
                     row["question_id"], bool(row["answered"]))
