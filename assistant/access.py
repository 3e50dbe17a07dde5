"""API keys -> principals. Keys are shown once, stored as SHA-256 hashes, compared in constant
time, and never logged; a key's id (its first part) is what logs and audit lines carry.

A server remembers a key it has checked for KEY_CACHE_S seconds, so that its requests do
not each cost a database query: a key revoked by another process (``jianxue keys revoke``)
stops working within that time, one revoked by this process at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, Column, DateTime, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine

from assistant.errors import AccessDenied, ConfigError, NotFound
from assistant.models import Principal

ROLES = ("learner", "trainer", "admin")
KEY_CACHE_S = 10.0
RANK = {role: i for i, role in enumerate(ROLES)}

metadata = MetaData()
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("user", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)


def may_read(principal: Principal, access) -> bool:
    """The one rule of who may read what: material restricted to departments (``access``) is
    readable by members of one of them and by admins; unrestricted material by everyone."""
    return principal.sees_everything or not access or bool(set(access) & set(principal.departments))


def is_trainer(principal: Principal) -> bool:
    return RANK.get(principal.role, -1) >= RANK["trainer"]


def require_trainer(principal: Principal, what: str = "this") -> None:
    if not is_trainer(principal):
        raise AccessDenied(f"{what} needs a trainer's role")


def may_manage(principal: Principal, owner: str | None) -> bool:
    """Whether the principal may change or remove a document of this owner: admins any, a
    trainer those uploaded by one of their departments (the operator's own, owner None, only
    admins and the command line)."""
    if principal.sees_everything:
        return True
    return is_trainer(principal) and owner is not None and owner in principal.departments


def principal_for(user: str, role: str, departments: tuple[str, ...]) -> Principal:
    """Admins see every department's material; everyone else sees unrestricted material and their own."""
    return Principal(user=user, role=role, departments=departments, sees_everything=role == "admin")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Keys:
    def __init__(self, engine: Engine, *, cache_s: float = KEY_CACHE_S) -> None:
        self.engine = engine
        self.cache_s = cache_s
        self._checked: dict[str, tuple[float, str, Principal]] = {}  # digest -> (valid until, key id, principal)
        self._checked_lock = threading.Lock()

    def create(self, *, user: str, role: str, departments: tuple[str, ...]) -> tuple[str, str]:
        """(key id, the key itself). The key is not stored and cannot be shown again."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}")
        if not user.strip():
            raise ConfigError("a key needs a user name")
        key_id = secrets.token_hex(6)
        secret = f"jx_{key_id}_{secrets.token_urlsafe(24)}"
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(
                key_id=key_id, key_hash=_digest(secret), user=user.strip(), role=role,
                departments=[d.strip() for d in departments if d.strip()], created_at=datetime.now(timezone.utc),
                revoked=False))
        return key_id, secret

    def authenticate(self, secret: str | None) -> tuple[str, Principal] | None:
        """(key id, principal) for a valid, unrevoked key; None otherwise."""
        if not secret or not secret.startswith("jx_") or secret.count("_") < 2:
            return None
        key_id = secret.split("_", 2)[1]
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
        expected = row["key_hash"] if row is not None else _digest("x" + secret)
        digest = _digest(secret)
        if not hmac.compare_digest(expected, digest) or row is None or row["revoked"]:
            return None
        principal = principal_for(row["user"], row["role"], tuple(row["departments"] or ()))
        with self._checked_lock:
            if len(self._checked) >= 10_000:
                self._checked.clear()
            self._checked[digest] = (time.monotonic() + self.cache_s, key_id, principal)
        return key_id, principal

    def recent(self, secret: str | None) -> tuple[str, Principal] | None:
        """(key id, principal) of a key that ``authenticate`` accepted less than ``cache_s``
        seconds ago, without asking the database; None means: ask ``authenticate``."""
        if not secret:
            return None
        entry = self._checked.get(_digest(secret))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def list(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings().all()
        return [{"key_id": r["key_id"], "user": r["user"], "role": r["role"], "departments": r["departments"],
                 "revoked": r["revoked"]} for r in rows]

    def revoke(self, key_id: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked=True))
        with self._checked_lock:
            self._checked = {d: e for d, e in self._checked.items() if e[1] != key_id}
        if not done.rowcount:
            raise NotFound(f"no key {key_id!r}")
