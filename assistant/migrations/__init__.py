"""The database schema, created and migrated by Alembic (assistant/db.py runs it on first use).

New revision: ``alembic -c assistant/migrations/alembic.ini revision -m "what changes"`` and edit
the file it writes under versions/.
"""
