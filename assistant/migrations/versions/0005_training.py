"""Targeted training: assignments and each learner's progress on them, the wrong-answer
notebook, training-hour credits, daily sets and their push opt-ins, monthly focus topics,
mock exams and their sittings, and the console's per-department roll-ups.

Revision ID: 0005_training
Revises: 0004_experts
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_training"
down_revision = "0004_experts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assignment_progress',
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('learner', sa.String(length=160), nullable=False),
    sa.Column('user', sa.String(length=128), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('answered', sa.JSON(), nullable=False),
    sa.Column('correct', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('assignment_id', 'learner')
    )
    op.create_table('assignments',
    sa.Column('assignment_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('users', sa.JSON(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=160), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('assignment_id')
    )
    op.create_index(op.f('ix_assignments_due_at'), 'assignments', ['due_at'], unique=False)
    op.create_table('daily_optins',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('platform_id', sa.String(length=128), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('last_day', sa.String(length=10), nullable=True),
    sa.PrimaryKeyConstraint('channel', 'platform_id')
    )
    op.create_table('daily_sets',
    sa.Column('learner', sa.String(length=160), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('question_ids', sa.JSON(), nullable=False),
    sa.Column('answered', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('learner', 'day')
    )
    op.create_table('exam_sittings',
    sa.Column('exam_id', sa.String(length=64), nullable=False),
    sa.Column('learner', sa.String(length=160), nullable=False),
    sa.Column('user', sa.String(length=128), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('late', sa.JSON(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('exam_id', 'learner')
    )
    op.create_table('exams',
    sa.Column('exam_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('blueprint', sa.JSON(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('question_ids', sa.JSON(), nullable=False),
    sa.Column('time_limit_s', sa.Integer(), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=160), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('exam_id')
    )
    op.create_table('focus_topics',
    sa.Column('department', sa.String(length=128), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('set_by', sa.String(length=160), nullable=False),
    sa.PrimaryKeyConstraint('department', 'month')
    )
    op.create_table('hour_credits',
    sa.Column('credit_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('learner', sa.String(length=160), nullable=False),
    sa.Column('user', sa.String(length=128), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('activity', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('credit_id'),
    sa.UniqueConstraint('learner', 'activity', 'ref', name='uq_hour_credits_once')
    )
    op.create_index(op.f('ix_hour_credits_learner'), 'hour_credits', ['learner'], unique=False)
    op.create_table('mistakes',
    sa.Column('learner', sa.String(length=160), nullable=False),
    sa.Column('question_id', sa.String(length=64), nullable=False),
    sa.Column('user', sa.String(length=128), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('chosen', sa.JSON(), nullable=False),
    sa.Column('wrong', sa.Integer(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('learner', 'question_id')
    )
    op.create_table('training_question_stats',
    sa.Column('department', sa.String(length=128), nullable=False),
    sa.Column('question_id', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('correct', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('department', 'question_id')
    )
    op.create_table('training_topic_stats',
    sa.Column('department', sa.String(length=128), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('topic', sa.String(length=256), nullable=False),
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('correct', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('department', 'week', 'topic', 'line')
    )
    # attempts from before training: the console opens with their figures, not with empty charts
    from assistant.training.console import rebuild_rollups

    rebuild_rollups(op.get_bind())


def downgrade() -> None:
    op.drop_table('training_topic_stats')
    op.drop_table('training_question_stats')
    op.drop_table('mistakes')
    op.drop_index(op.f('ix_hour_credits_learner'), table_name='hour_credits')
    op.drop_table('hour_credits')
    op.drop_table('focus_topics')
    op.drop_table('exams')
    op.drop_table('exam_sittings')
    op.drop_table('daily_sets')
    op.drop_table('daily_optins')
    op.drop_index(op.f('ix_assignments_due_at'), table_name='assignments')
    op.drop_table('assignments')
    op.drop_table('assignment_progress')
