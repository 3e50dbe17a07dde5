"""Documents get an owner (the uploading department); learner data is keyed by the learner,
a user name within their departments, not by the bare name two people may share.

Revision ID: 0002_owners_and_learners
Revises: 0001_baseline
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_owners_and_learners"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def learner_key(user: str, departments) -> str:
    """As assistant.models.Principal.learner makes it (kept here as the migration saw it)."""
    departments = sorted(d for d in (departments or ()) if d)
    return f"{user}@{'+'.join(departments)}" if departments else user


def upgrade() -> None:
    with op.batch_alter_table("ingest_documents") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=128), nullable=True))

    bind = op.get_bind()
    attempts = sa.table("attempts", sa.column("attempt_id", sa.Integer), sa.column("user", sa.String),
                        sa.column("departments", sa.JSON), sa.column("question_id", sa.String),
                        sa.column("at", sa.DateTime))
    cards = sa.table("review_cards", sa.column("user", sa.String), sa.column("question_id", sa.String))
    latest: dict[tuple[str, str], str] = {}  # (old user, question) -> learner of its latest attempt
    rows = bind.execute(sa.select(attempts.c.attempt_id, attempts.c.user, attempts.c.departments,
                                  attempts.c.question_id).order_by(attempts.c.at, attempts.c.attempt_id)).all()
    for attempt_id, user, departments, question_id in rows:
        key = learner_key(user, departments)
        latest[(user, question_id)] = key
        if key != user:
            bind.execute(attempts.update().where(attempts.c.attempt_id == attempt_id).values(user=key))
    for (user, question_id), key in latest.items():
        if key != user:
            bind.execute(cards.update().where(sa.and_(cards.c.user == user, cards.c.question_id == question_id))
                         .values(user=key))


def downgrade() -> None:
    with op.batch_alter_table("ingest_documents") as batch:
        batch.drop_column("owner")
