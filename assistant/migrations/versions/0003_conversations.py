"""One conversation store for every messenger: members, pairings, chats, sources behind buttons,
delivered questions, seen deliveries and mapped platform departments, keyed by channel. The
Telegram bot's own tables (tg_*) are copied in (channel 'telegram') and dropped.

Revision ID: 0003_conversations
Revises: 0002_owners_and_learners
Create Date: 2026-12-07
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003_conversations"
down_revision = "0002_owners_and_learners"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("user", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("line", sa.String(length=32), nullable=True),
        sa.Column("platform_departments", sa.JSON(), nullable=True),
        sa.Column("nudged_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("channel", "platform_id"),
    )
    op.create_table(
        "pairings",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_by", sa.String(length=160), nullable=True),
        sa.Column("used_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_table(
        "chats",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("turns", sa.JSON(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id"),
    )
    op.create_table(
        "chat_sources",
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("ref"),
    )
    op.create_index(op.f("ix_chat_sources_created_at"), "chat_sources", ["created_at"], unique=False)
    op.create_table(
        "chat_questions",
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("platform_ref", sa.String(length=128), nullable=True),
        sa.Column("quiz_id", sa.String(length=64), nullable=True),
        sa.Column("question_id", sa.String(length=64), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("ref"),
    )
    op.create_index(op.f("ix_chat_questions_created_at"), "chat_questions", ["created_at"], unique=False)
    op.create_index(op.f("ix_chat_questions_platform_ref"), "chat_questions", ["platform_ref"], unique=False)
    op.create_table(
        "chat_deliveries",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=128), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("channel", "delivery_id"),
    )
    op.create_index(op.f("ix_chat_deliveries_at"), "chat_deliveries", ["at"], unique=False)
    op.create_table(
        "platform_departments",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("platform_department", sa.String(length=128), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("channel", "platform_department"),
    )
    _copy_telegram()
    for table, indexes in (("tg_updates", ["ix_tg_updates_at"]), ("tg_polls", ["ix_tg_polls_created_at"]),
                           ("tg_answers", ["ix_tg_answers_created_at"]), ("tg_pairings", []), ("tg_chats", []),
                           ("tg_members", [])):
        for index in indexes:
            op.drop_index(index, table_name=table)
        op.drop_table(table)


def _copy_telegram() -> None:
    """The Telegram bot's members, pairings, conversations and open polls, as channel 'telegram'.
    (Citations behind old 来源 buttons are not carried: those buttons then say the sources are gone.)"""
    bind = op.get_bind()
    meta = sa.MetaData()
    meta.reflect(bind=bind, only=["tg_members", "tg_pairings", "tg_chats", "tg_polls"])
    new = sa.MetaData()
    new.reflect(bind=bind, only=["members", "pairings", "chats", "chat_questions"])
    rows = bind.execute(sa.select(meta.tables["tg_members"])).mappings().all()
    if rows:
        bind.execute(new.tables["members"].insert(), [
            {"channel": "telegram", "platform_id": str(r["telegram_id"]), "user": r["user"], "role": r["role"],
             "departments": r["departments"], "line": r["line"], "nudged_at": r["nudged_at"],
             "created_at": r["created_at"]} for r in rows])
    rows = bind.execute(sa.select(meta.tables["tg_pairings"])).mappings().all()
    if rows:
        bind.execute(new.tables["pairings"].insert(), [
            {"code_hash": r["code_hash"], "channel": "telegram", "role": r["role"], "departments": r["departments"],
             "expires_at": r["expires_at"], "used_by": None if r["used_by"] is None else f"telegram:{r['used_by']}",
             "used_at": r["used_at"]} for r in rows])
    rows = bind.execute(sa.select(meta.tables["tg_chats"])).mappings().all()
    if rows:
        bind.execute(new.tables["chats"].insert(), [
            {"channel": "telegram", "chat_id": str(r["chat_id"]), "turns": r["turns"], "updated_at": r["updated_at"]}
            for r in rows])
    rows = bind.execute(sa.select(meta.tables["tg_polls"])).mappings().all()
    if rows:
        bind.execute(new.tables["chat_questions"].insert(), [
            {"ref": secrets.token_urlsafe(9), "channel": "telegram", "chat_id": str(r["chat_id"]),
             "platform_id": str(r["telegram_id"]), "platform_ref": r["poll_id"], "quiz_id": r["quiz_id"],
             "question_id": r["question_id"], "answered": r["answered"], "created_at": r["created_at"]}
            for r in rows])


def downgrade() -> None:
    for table in ("platform_departments", "chat_deliveries", "chat_questions", "chat_sources", "chats", "pairings",
                  "members"):
        op.drop_table(table)
