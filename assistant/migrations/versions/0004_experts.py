"""The expert pool: experts and their lines, escalated questions with their claims, drafts and
answers, messages waiting for a member's messenger, and votes on answers.

Revision ID: 0004_experts
Revises: 0003_conversations
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_experts"
down_revision = "0003_conversations"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "experts",
        sa.Column("user", sa.String(length=128), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("user"),
    )
    op.create_table(
        "expert_questions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("line", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("found", sa.JSON(), nullable=False),
        sa.Column("asker", sa.String(length=160), nullable=False),
        sa.Column("asker_user", sa.String(length=128), nullable=False),
        sa.Column("asker_departments", sa.JSON(), nullable=False),
        sa.Column("show_identity", sa.Boolean(), nullable=False),
        sa.Column("access", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("platform_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("linked_to", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("passages", sa.JSON(), nullable=True),
        sa.Column("draft", sa.Text(), nullable=True),
        sa.Column("draft_at", TZ, nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("citations", sa.JSON(), nullable=True),
        sa.Column("answered_by", sa.String(length=128), nullable=True),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("published_by", sa.String(length=128), nullable=True),
        sa.Column("published_at", TZ, nullable=True),
        sa.Column("doc_id", sa.String(length=512), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("published_access", sa.JSON(), nullable=True),
        sa.Column("reminded_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_expert_questions_status_line", "expert_questions", ["status", "line"], unique=False)
    op.create_index("ix_expert_questions_linked_to", "expert_questions", ["linked_to"], unique=False)
    op.create_table(
        "expert_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_expert_notices_channel_sent_at", "expert_notices", ["channel", "sent_at"], unique=False)
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("vote", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("voted_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_voted_at", "feedback", ["voted_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_feedback_voted_at", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_expert_notices_channel_sent_at", table_name="expert_notices")
    op.drop_table("expert_notices")
    op.drop_index("ix_expert_questions_linked_to", table_name="expert_questions")
    op.drop_index("ix_expert_questions_status_line", table_name="expert_questions")
    op.drop_table("expert_questions")
    op.drop_table("experts")
