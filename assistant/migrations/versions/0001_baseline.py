"""Baseline: the schema as it stood before Alembic (ledger, learners, API keys, Telegram bot state).

Databases created before migrations existed keep their tables; the missing ones are added.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Databases made before migrations existed already hold some of these tables: only the
    # missing ones are created (a ledger from before the bot, say, gains the bot's tables).
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'api_keys' not in existing:
        op.create_table('api_keys',
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('user', sa.String(length=128), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('departments', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('key_id')
        )
    if 'attempts' not in existing:
        op.create_table('attempts',
        sa.Column('attempt_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('user', sa.String(length=128), nullable=False),
        sa.Column('departments', sa.JSON(), nullable=False),
        sa.Column('quiz_id', sa.String(length=64), nullable=True),
        sa.Column('question_id', sa.String(length=64), nullable=False),
        sa.Column('topic', sa.Text(), nullable=False),
        sa.Column('line', sa.String(length=32), nullable=False),
        sa.Column('chosen', sa.JSON(), nullable=False),
        sa.Column('correct', sa.Boolean(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('attempt_id')
        )
        op.create_index(op.f('ix_attempts_question_id'), 'attempts', ['question_id'], unique=False)
        op.create_index(op.f('ix_attempts_user'), 'attempts', ['user'], unique=False)
    if 'chunks' not in existing:
        op.create_table('chunks',
        sa.Column('chunk_id', sa.String(length=64), nullable=False),
        sa.Column('doc_id', sa.String(length=512), nullable=False),
        sa.Column('ordinal', sa.Integer(), nullable=False),
        sa.Column('locator', sa.Text(), nullable=False),
        sa.Column('citation', sa.Text(), nullable=False),
        sa.Column('source_id', sa.String(length=512), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('line', sa.String(length=32), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('breadcrumb', sa.JSON(), nullable=False),
        sa.Column('version_date', sa.String(length=32), nullable=True),
        sa.Column('access', sa.JSON(), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('authority', sa.Integer(), nullable=False),
        sa.Column('tokens', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('chunk_id')
        )
        op.create_index(op.f('ix_chunks_doc_id'), 'chunks', ['doc_id'], unique=False)
        op.create_index(op.f('ix_chunks_source_id'), 'chunks', ['source_id'], unique=False)
    if 'index_meta' not in existing:
        op.create_table('index_meta',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key')
        )
    if 'ingest_documents' not in existing:
        op.create_table('ingest_documents',
        sa.Column('doc_id', sa.String(length=512), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('line', sa.String(length=32), nullable=False),
        sa.Column('access', sa.JSON(), nullable=False),
        sa.Column('encoding', sa.String(length=32), nullable=True),
        sa.Column('content_hash', sa.String(length=64), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('chunk_ids', sa.JSON(), nullable=False),
        sa.Column('pending_ids', sa.JSON(), nullable=True),
        sa.Column('cites', sa.JSON(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('doc_id')
        )
    if 'learned_examples' not in existing:
        op.create_table('learned_examples',
        sa.Column('example_id', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('cites', sa.JSON(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('example_id')
        )
    if 'quiz_questions' not in existing:
        op.create_table('quiz_questions',
        sa.Column('question_id', sa.String(length=64), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('question_id')
        )
    if 'quizzes' not in existing:
        op.create_table('quizzes',
        sa.Column('quiz_id', sa.String(length=64), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('topic', sa.Text(), nullable=False),
        sa.Column('line', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('question_ids', sa.JSON(), nullable=False),
        sa.Column('dropped', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('quiz_id')
        )
    if 'review_cards' not in existing:
        op.create_table('review_cards',
        sa.Column('user', sa.String(length=128), nullable=False),
        sa.Column('question_id', sa.String(length=64), nullable=False),
        sa.Column('card', sa.Text(), nullable=False),
        sa.Column('due', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('user', 'question_id')
        )
        op.create_index(op.f('ix_review_cards_due'), 'review_cards', ['due'], unique=False)
    if 'tg_answers' not in existing:
        op.create_table('tg_answers',
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('citations', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('chat_id', 'message_id')
        )
        op.create_index(op.f('ix_tg_answers_created_at'), 'tg_answers', ['created_at'], unique=False)
    if 'tg_chats' not in existing:
        op.create_table('tg_chats',
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('turns', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('chat_id')
        )
    if 'tg_members' not in existing:
        op.create_table('tg_members',
        sa.Column('telegram_id', sa.BigInteger(), nullable=False),
        sa.Column('user', sa.String(length=128), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('departments', sa.JSON(), nullable=False),
        sa.Column('line', sa.String(length=32), nullable=True),
        sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('telegram_id')
        )
    if 'tg_pairings' not in existing:
        op.create_table('tg_pairings',
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('departments', sa.JSON(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_by', sa.BigInteger(), nullable=True),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('code_hash')
        )
    if 'tg_polls' not in existing:
        op.create_table('tg_polls',
        sa.Column('poll_id', sa.String(length=64), nullable=False),
        sa.Column('quiz_id', sa.String(length=64), nullable=True),
        sa.Column('question_id', sa.String(length=64), nullable=False),
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('telegram_id', sa.BigInteger(), nullable=False),
        sa.Column('answered', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('poll_id')
        )
        op.create_index(op.f('ix_tg_polls_created_at'), 'tg_polls', ['created_at'], unique=False)
    if 'tg_updates' not in existing:
        op.create_table('tg_updates',
        sa.Column('update_id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('update_id')
        )
        op.create_index(op.f('ix_tg_updates_at'), 'tg_updates', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_tg_updates_at'), table_name='tg_updates')
    op.drop_table('tg_updates')
    op.drop_index(op.f('ix_tg_polls_created_at'), table_name='tg_polls')
    op.drop_table('tg_polls')
    op.drop_table('tg_pairings')
    op.drop_table('tg_members')
    op.drop_table('tg_chats')
    op.drop_index(op.f('ix_tg_answers_created_at'), table_name='tg_answers')
    op.drop_table('tg_answers')
    op.drop_index(op.f('ix_review_cards_due'), table_name='review_cards')
    op.drop_table('review_cards')
    op.drop_table('quizzes')
    op.drop_table('quiz_questions')
    op.drop_table('learned_examples')
    op.drop_table('ingest_documents')
    op.drop_table('index_meta')
    op.drop_index(op.f('ix_chunks_source_id'), table_name='chunks')
    op.drop_index(op.f('ix_chunks_doc_id'), table_name='chunks')
    op.drop_table('chunks')
    op.drop_index(op.f('ix_attempts_user'), table_name='attempts')
    op.drop_index(op.f('ix_attempts_question_id'), table_name='attempts')
    op.drop_table('attempts')
    op.drop_table('api_keys')
