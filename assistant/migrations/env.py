"""Alembic environment: migrations run on the connection assistant/db.py hands over."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # the alembic command line: connect with the configured URL
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
