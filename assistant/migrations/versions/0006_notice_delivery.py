"""A message is marked sent only once a messenger took it: when an expert notice was handed out
and how many times it was tried, and how many of an assignment's messages were refused.

Revision ID: 0006_notice_delivery
Revises: 0005_training
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_notice_delivery"
down_revision = "0005_training"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("expert_notices") as batch:
        batch.add_column(sa.Column("taken_at", TZ, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("assignment_progress") as batch:
        batch.add_column(sa.Column("push_failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("assignment_progress") as batch:
        batch.drop_column("push_failures")
    with op.batch_alter_table("expert_notices") as batch:
        batch.drop_column("attempts")
        batch.drop_column("taken_at")
